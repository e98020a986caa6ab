"""beta-DARTS (methods/beta_darts.py): the regulariser, its gradient, the lambda schedule."""

import numpy as np
import pytest
import tensorflow as tf

from configs import darts_cifar10_beta_darts
from configs import nb201_cifar10_beta_darts
from edd_tf import search
from edd_tf.methods import beta_darts


def test_regulariser_value_and_gradient_on_hand_alphas():
  alphas = np.array([[0.0, 0.0, 0.0], [np.log(2.0), 0.0, np.log(3.0)]], np.float32)
  a = tf.Variable(alphas)
  with tf.GradientTape() as tape:
    reg = beta_darts.logsumexp_regulariser({'alphas': a}, ['alphas'])
  # logsumexp rows: log 3 and log(2 + 1 + 3) = log 6; mean over E = 2 edges.
  np.testing.assert_allclose(reg, (np.log(3.0) + np.log(6.0)) / 2, rtol=1e-6)
  # d/d alpha = softmax(alpha_e) / E.
  want = np.array([[1 / 3, 1 / 3, 1 / 3], [2 / 6, 1 / 6, 3 / 6]]) / 2
  np.testing.assert_allclose(tape.gradient(reg, a), want, rtol=1e-6)


def test_darts_family_sums_the_per_cell_type_means():
  normal, reduce = np.zeros((14, 8), np.float32), np.full((14, 8), 1.0, np.float32)
  reg = beta_darts.logsumexp_regulariser(
      {'alphas_normal': tf.constant(normal), 'alphas_reduce': tf.constant(reduce)},
      ['alphas_normal', 'alphas_reduce'])
  np.testing.assert_allclose(reg, np.log(8.0) + (1.0 + np.log(8.0)), rtol=1e-6)


def test_lambda_is_the_public_codes_linear_rule():
  assert beta_darts.lambda_at(0, 50.0, 100) == 0.0
  assert beta_darts.lambda_at(49, 50.0, 100) == 24.5   # the last of 50 epochs
  assert beta_darts.lambda_at(99, 50.0, 100) == 49.5   # the last of 100 epochs


def _tiny(config):
  config.data.update(train_examples=64, image_size=16)
  config.model.update(channels=4, cells_per_stage=1)
  config.search.update(epochs=2, batch_size=16, eval_examples=16, eval_batch_size=16)
  config.benchmark.nb201_table = 'none'
  return config


def test_alpha_step_gradient_adds_lambda_softmax_over_edges():
  config = _tiny(nb201_cifar10_beta_darts.get_config())
  task = search.SearchTask(config, '/nonexistent-never-written')
  searcher, method = task.searcher, task.searcher.method
  rng = np.random.default_rng(0)
  val = (tf.constant(rng.standard_normal((16, 16, 16, 3)), tf.float32),
         tf.constant(rng.integers(0, 10, 16), tf.int32))
  seed = tf.constant([0, 1])
  assert method.begin_epoch(0, 2) == {'beta_lambda': 0.0}
  plain, loss0, _ = method.arch_gradients(searcher, None, val, seed)
  assert method.begin_epoch(40, 100) == {'beta_lambda': 20.0}
  regularised, loss1, _ = method.arch_gradients(searcher, None, val, seed)
  np.testing.assert_allclose(loss1, loss0)   # the reported val loss is L_val alone
  alphas = searcher.arch_numpy()['alphas']
  softmax = np.exp(alphas) / np.exp(alphas).sum(-1, keepdims=True)
  np.testing.assert_allclose(regularised[0] - plain[0], 20.0 * softmax / 6, rtol=1e-3,
                             atol=1e-6)


def test_configs_and_bad_settings():
  for module in (nb201_cifar10_beta_darts, darts_cifar10_beta_darts):
    search.check_config(module.get_config())
  config = nb201_cifar10_beta_darts.get_config()
  config.beta_darts.lam_epochs = 0
  with pytest.raises(ValueError, match='config.beta_darts.lam_epochs must be > 0'):
    search.check_config(config)
  del config['beta_darts']
  with pytest.raises(ValueError, match='config.method=beta_darts needs config.beta_darts'):
    search.check_config(config)
