"""Tests for edd_tf.arch.schedules.simple: the constant schedule and LTS."""

import pytest

from edd_tf.arch import schedules


def test_constant_schedule():
  sched = schedules.constant(0.5)
  assert sched.initial_temperature() == 0.5
  assert sched.temperature(99) == 0.5 and sched.update(1.0, 3) == 0.5


def test_linear_edge_values():
  sched = schedules.linear(1.0, 1e-3, 5)
  assert sched.temperature(0) == 1.0 and sched.temperature(4) == 1e-3
  assert sched.temperature(2) == pytest.approx(0.5005)
  assert sched.temperature(10) == 1e-3  # clamps past the last epoch
  assert schedules.linear(1.0, 1e-3, 1).temperature(0) == 1.0
