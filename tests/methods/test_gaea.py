"""GAEA (methods/gaea.py): the EG step, its floor, uniform theta as the mixing; search.data_mode."""

import math

import numpy as np
import pytest
import tensorflow as tf

from configs import nb201_cifar10_gaea_bilevel
from configs import nb201_cifar10_gaea_erm
from edd_tf import search
from edd_tf import spaces
from edd_tf.data import pipeline as data_lib
from edd_tf.methods import gaea
from tests.methods.test_search_methods import tiny_config

GAEA_FIELDS = {'softmax.kind': 'plain', 'softmax.st': 0.0, 'schedule.name': 'constant',
               'schedule.t0': 1.0, 'optim.arch.weight_decay': 0.0, 'gaea': {'eta': 0.1}}


def test_eg_step_on_a_hand_gradient():
  # theta = 1/4, g = (1, 0, -1, 2), eta = 0.1:
  # 0.25 exp(-0.1 g) = 0.25 (0.904837, 1, 1.105171, 0.818731), sum 0.957185.
  got = gaea.eg_update(tf.constant([[0.25] * 4]), tf.constant([[1.0, 0.0, -1.0, 2.0]]), 0.1)
  np.testing.assert_allclose(got, [[0.236327, 0.261184, 0.288652, 0.213837]], atol=2e-6)


def test_floor_then_renormalise():
  # 0.001 exp(-0.1 * 100) = 4.5e-8 is clamped to 1e-5; the row sums 0.999 + 1e-5 = 0.99901.
  got = gaea.eg_update(tf.constant([[0.999, 0.001]]), tf.constant([[0.0, 100.0]]), 0.1)
  np.testing.assert_allclose(got, [[0.999 / 0.99901, 1e-5 / 0.99901]], rtol=1e-5)
  np.testing.assert_allclose(tf.reduce_sum(got), 1.0, rtol=1e-6)
  # A row that is all below the floor ends uniform.
  got = gaea.eg_update(tf.constant([[0.5, 0.5]]), tf.constant([[300.0, 200.0]]), 0.1)
  np.testing.assert_allclose(got, [[0.5, 0.5]], rtol=1e-6)


def test_uniform_init_is_the_mixing_and_the_readout():
  config = nb201_cifar10_gaea_erm.get_config()
  method = gaea.Gaea(config, spaces.get_space('nb201'))
  theta = method.init_arch(np.random.default_rng(0))
  np.testing.assert_array_equal(theta['alphas'], np.full((6, 5), 0.2, np.float32))
  arch = {'alphas': tf.constant([[0.1, 0.2, 0.3, 0.4, 0.0]] * 6)}
  weights, indices = method.mixing(arch, tf.constant(1e-3), tf.constant([0, 0]))
  assert indices is None
  np.testing.assert_array_equal(weights['alphas'], arch['alphas'])   # no softmax, no temperature
  np.testing.assert_array_equal(method.readout_weights(theta)['alphas'], theta['alphas'])
  assert method.entropies(theta, 1e-3) == pytest.approx((math.log(5), math.log(5)), rel=1e-6)


def test_arch_step_assigns_the_eg_update_of_the_gradient(tmp_path):
  config = tiny_config('gaea', 'nb201', **GAEA_FIELDS, **{'model.fused': True})
  config.gaea.eta = 0.5
  task = search.SearchTask(config, tmp_path)
  s = task.searcher
  s.arch['alphas'].assign(np.array([[0.1, 0.2, 0.3, 0.25, 0.15]] * 6, np.float32))
  train_batch, val_batch = next(iter(task.batches(0)[0]))
  seed = tf.constant([0, 1])
  theta0 = s.arch_numpy()['alphas']
  grads, _, _ = s.arch_gradients(train_batch, val_batch, seed)
  _, _, norm = s.method.arch_step(s, train_batch, val_batch, seed)
  g = grads[0].numpy().astype(np.float64)
  want = np.maximum(theta0 * np.exp(-0.5 * g), 1e-5)
  want /= want.sum(-1, keepdims=True)
  assert np.abs(g).max() > 0
  np.testing.assert_allclose(s.arch_numpy()['alphas'], want, rtol=1e-5, atol=1e-7)
  assert float(norm) == pytest.approx(np.linalg.norm(g), rel=1e-5)


def test_bad_settings_are_named():
  for make in (nb201_cifar10_gaea_erm.get_config, nb201_cifar10_gaea_bilevel.get_config):
    search.check_config(make())
  for field, value, message in [
      ('schedule.name', 'edd', 'config.schedule.name=constant'),
      ('schedule.t0', 0.5, 'config.schedule.t0=1'),
      ('softmax.kind', 'sn', 'config.softmax.kind=plain'),
      ('gaea.eta', 0.0, 'config.gaea.eta must be a number > 0'),
      ('optim.arch.weight_decay', 1e-3, 'config.optim.arch.weight_decay=0'),
      ('search.data_mode', 'split', r"config.search.data_mode 'split'; allowed: \['bilevel', 'erm'\]"),
  ]:
    config = nb201_cifar10_gaea_erm.get_config()
    if field == 'softmax.kind':
      config.softmax.update(kind='sn', st=1.0)
    else:
      *path, last = field.split('.')
      node = config
      for p in path:
        node = node[p]
      node[last] = value
    with pytest.raises(ValueError, match=message):
      search.check_config(config)
  config = nb201_cifar10_gaea_erm.get_config()
  del config['gaea']
  with pytest.raises(ValueError, match='needs config.gaea'):
    search.check_config(config)


def _labels(dataset):
  return np.concatenate([y.numpy() for _, y in dataset])


def test_erm_streams_cover_the_training_set_bilevel_splits_it(tmp_path):
  config = tiny_config('gaea', 'nb201', **GAEA_FIELDS, **{'search.data_mode': 'erm'})
  arrays = data_lib.load_arrays(config.data, 'train')
  task = search.SearchTask(config, tmp_path / 'erm')
  n = len(arrays.labels)
  for part in (task.train_arrays, task.val_arrays):
    np.testing.assert_array_equal(part.images, arrays.images)   # all training images, both steps
  assert task.steps * config.search.batch_size == n
  # Each stream's epoch is a permutation of all labels, in its own order.
  weight_stream = _labels(data_lib.make_dataset(task.train_arrays, 16, training=True,
                                                seed=config.seed, epoch=0))
  arch_stream = _labels(task._val_dataset(0))
  np.testing.assert_array_equal(np.sort(weight_stream), np.sort(arrays.labels))
  np.testing.assert_array_equal(np.sort(arch_stream), np.sort(arrays.labels))
  assert not np.array_equal(weight_stream, arch_stream)
  paired = list(task.batches(0)[0])
  assert len(paired) == n // 16
  np.testing.assert_array_equal(np.concatenate([t[1] for t, _ in paired]), weight_stream)
  np.testing.assert_array_equal(np.concatenate([v[1] for _, v in paired]), arch_stream)

  config.search.data_mode = 'bilevel'
  task = search.SearchTask(config, tmp_path / 'bilevel')
  want_w, want_a = data_lib.split_for_search(arrays, 0.5)
  np.testing.assert_array_equal(task.train_arrays.images, want_w.images)
  np.testing.assert_array_equal(task.val_arrays.images, want_a.images)
  assert search.default_config().search.data_mode == 'bilevel'
