"""Tests for edd_tf.arch.schedules.base: E(a) (Sect. 2.2) and the Schedule state checks."""

import math

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.arch import schedules


def test_expectation_of_darts_init_is_positive_part_mean():
  alphas = 1e-3 * np.random.default_rng(0).normal(size=(1000, 1000))
  np.testing.assert_allclose(schedules.expectation_of_alphas(alphas), 1e-3 / math.sqrt(2 * math.pi),
                             rtol=5e-3)  # 3.99e-4


def test_expectation_counts_negative_entries_as_zero():
  assert schedules.expectation_of_alphas(np.array([[-1.0, 2.0], [0.0, 3.0]])) == 1.25


def test_expectation_pools_lists_dicts_and_variables():
  normal, reduce = tf.Variable([[1.0, -1.0]]), np.array([3.0, 0.0, -2.0, 4.0])
  assert schedules.expectation_of_alphas([normal, reduce]) == pytest.approx(8.0 / 6)
  assert schedules.expectation_of_alphas({'n': normal, 'r': reduce}) == pytest.approx(8.0 / 6)


def test_expectation_of_nothing_raises():
  with pytest.raises(ValueError, match='no architecture parameters'):
    schedules.expectation_of_alphas([])


def test_load_state_of_other_schedule_raises():
  state = schedules.constant(1.0).state_dict()
  with pytest.raises(ValueError, match="state is for 'constant', not 'edd'"):
    schedules.EDD(0.06).load_state_dict(state)
