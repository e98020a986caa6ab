"""SDARTS-RS (methods/sdarts.py): perturbations on the simplex within eps; alpha step as DARTS."""

import numpy as np
import pytest
import tensorflow as tf

from configs import nb201_cifar10_sdarts_rs
from edd_tf import search
from edd_tf import spaces
from edd_tf.methods import base
from edd_tf.methods import sdarts


def test_epsilon_ramps_from_min_to_max():
  assert sdarts.epsilon_at(0, 50, 0.03, 0.3) == pytest.approx(0.03)
  assert sdarts.epsilon_at(25, 50, 0.03, 0.3) == pytest.approx(0.165)
  assert sdarts.epsilon_at(49, 50, 0.03, 0.3) == pytest.approx(0.03 + 0.27 * 49 / 50)


def test_perturbation_stays_on_the_simplex_within_epsilon():
  weights = tf.nn.softmax(tf.random.stateless_normal([200, 5], seed=[0, 1]))
  for eps in (0.0, 0.03, 0.3):
    out = sdarts.perturb(weights, tf.constant(eps), tf.constant([2, 3]))
    np.testing.assert_allclose(tf.reduce_sum(out, -1), 1.0, rtol=1e-5)
    assert float(tf.reduce_min(out)) >= 0.0
    if eps == 0.0:
      np.testing.assert_allclose(out, weights, rtol=1e-6)
  # Before the renormalisation every entry moved by at most eps.
  noise = tf.random.stateless_uniform([200, 5], [2, 3], -0.3, 0.3)
  assert float(tf.reduce_max(tf.abs(noise))) <= 0.3


def test_a_row_clipped_to_zero_becomes_one_hot():
  # Every entry below 0 after the noise: the row clips to zeros.
  out = sdarts.perturb(tf.constant([[-1.0, -0.5, -1.0]]), tf.constant(0.1), tf.constant([0, 0]))
  np.testing.assert_array_equal(out, [[0.0, 1.0, 0.0]])


def test_only_the_weight_step_is_perturbed():
  config = nb201_cifar10_sdarts_rs.get_config()
  method = sdarts.SDartsRS(config, spaces.get_space('nb201'))
  method.build_state()
  assert method.begin_epoch(50, 100) == {'sdarts_epsilon': pytest.approx(0.165)}
  arch = {'alphas': tf.random.stateless_normal([6, 5], seed=[4, 5])}
  seed, t = tf.constant([0, 9]), tf.constant(1.0)
  plain, _ = base.Method(config, method.space).mixing(arch, t, seed)
  alpha_step, _ = method.mixing(arch, t, seed)
  weight_step, _ = method.weight_mixing(arch, t, seed)
  np.testing.assert_array_equal(alpha_step['alphas'], plain['alphas'])   # alpha step = DARTS
  assert not np.allclose(weight_step['alphas'], plain['alphas'])
  np.testing.assert_allclose(tf.reduce_sum(weight_step['alphas'], -1), 1.0, rtol=1e-5)
  again, _ = method.weight_mixing(arch, t, seed)
  np.testing.assert_array_equal(again['alphas'], weight_step['alphas'])   # seeded


def test_bad_settings_are_named():
  config = nb201_cifar10_sdarts_rs.get_config()
  search.check_config(config)
  config.sdarts_rs.eps_min = 0.5
  with pytest.raises(ValueError, match='0 <= eps_min <= eps_max'):
    search.check_config(config)
