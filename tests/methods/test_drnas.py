"""DrNAS (methods/drnas.py): concentration, Dirichlet samples, pathwise gradients, KL."""

import math

import numpy as np
import pytest
import tensorflow as tf

from configs import nb201_cifar10_drnas
from edd_tf import search
from edd_tf import spaces
from edd_tf.methods import drnas


def test_concentration_is_elu_plus_one():
  np.testing.assert_allclose(drnas.concentration(tf.constant([-2.0, 0.0, 1.5])),
                             [math.exp(-2.0), 1.0, 2.5], rtol=1e-6)


def test_mixing_samples_the_simplex_per_edge_and_is_seeded():
  method = drnas.DrNAS(nb201_cifar10_drnas.get_config(), spaces.get_space('nb201'))
  arch = {'alphas': tf.constant(np.random.default_rng(0).normal(size=(6, 5)), tf.float32)}
  w1, indices = method.mixing(arch, tf.constant(1.0), tf.constant([0, 7]))
  w2, _ = method.mixing(arch, tf.constant(1.0), tf.constant([0, 7]))
  w3, _ = method.mixing(arch, tf.constant(1.0), tf.constant([0, 8]))
  assert indices is None and w1['alphas'].shape == (6, 5)
  np.testing.assert_allclose(tf.reduce_sum(w1['alphas'], -1), 1.0, rtol=1e-5)
  assert float(tf.reduce_min(w1['alphas'])) >= 0
  np.testing.assert_array_equal(w1['alphas'], w2['alphas'])   # same step seed, same sample
  assert not np.allclose(w1['alphas'], w3['alphas'])


def test_mean_of_many_samples_approaches_beta_over_its_sum():
  beta = tf.constant([[0.5, 1.0, 2.0, 4.0]])
  samples = drnas.dirichlet_sample(tf.tile(beta, [20000, 1]), tf.constant([1, 2]))
  np.testing.assert_allclose(tf.reduce_mean(samples, 0), beta[0] / 7.5, atol=4e-3)


def test_pathwise_gradient_matches_the_analytic_gradient_of_the_mean():
  # f(alpha) = E[theta_0^2] = b0 (b0 + 1) / (S (S + 1)), S = sum b, b = ELU(alpha) + 1.
  alpha = tf.Variable([0.3, -0.4, 0.8])
  n = 40000
  with tf.GradientTape() as tape:
    beta = drnas.concentration(alpha)
    theta = drnas.dirichlet_sample(tf.tile(beta[None], [n, 1]), tf.constant([3, 4]))
    estimate = tf.reduce_mean(theta[:, 0] ** 2)
  pathwise = tape.gradient(estimate, alpha).numpy()

  def mean_square(a):
    b = np.where(a > 0, a, np.expm1(np.minimum(a, 0))) + 1.0
    s = b.sum()
    return b[0] * (b[0] + 1) / (s * (s + 1))

  a0, eps = alpha.numpy().astype(np.float64), 1e-5
  finite = np.array([(mean_square(a0 + eps * np.eye(3)[i]) - mean_square(a0 - eps * np.eye(3)[i]))
                     / (2 * eps) for i in range(3)])
  np.testing.assert_allclose(float(estimate), mean_square(a0), rtol=0.02)
  np.testing.assert_allclose(pathwise, finite, atol=0.1 * np.abs(finite).max())


def test_kl_closed_form_equals_a_monte_carlo_estimate():
  beta = np.array([[0.7, 1.5, 3.0], [1.0, 1.0, 1.0]], np.float32)
  closed = float(drnas.kl_to_uniform(tf.constant(beta)))
  theta = drnas.dirichlet_sample(tf.tile(tf.constant(beta[:1]), [200000, 1]),
                                 tf.constant([5, 6])).numpy().astype(np.float64)
  b = beta[0].astype(np.float64)
  log_p = (math.lgamma(b.sum()) - sum(math.lgamma(x) for x in b)
           + ((b - 1) * np.log(theta)).sum(-1))
  monte_carlo = float(np.mean(log_p - math.lgamma(3.0)))   # log Dir(1) density = ln 2!
  np.testing.assert_allclose(closed, monte_carlo, rtol=0.03)   # the uniform row adds 0
  assert float(drnas.kl_to_uniform(tf.constant(beta[1:]))) == pytest.approx(0.0, abs=1e-6)


def test_bad_settings_are_named():
  config = nb201_cifar10_drnas.get_config()
  search.check_config(config)
  config.drnas.reg = 'kl'
  with pytest.raises(ValueError, match='config.drnas.reg=kl replaces the L2'):
    search.check_config(config)
  config.drnas.reg = 'entropy'
  with pytest.raises(ValueError, match=r"unknown config.drnas.reg 'entropy'; allowed: \['l2', 'kl'\]"):
    search.check_config(config)
  config = nb201_cifar10_drnas.get_config()
  config.schedule.name = 'edd'
  with pytest.raises(ValueError, match='set config.schedule.name=constant'):
    search.check_config(config)
