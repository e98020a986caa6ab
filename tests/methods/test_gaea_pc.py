"""GAEA PC-DARTS (methods/gaea_pc.py): EG on the per-node edge weights b, theta * b mixing and read-out."""

import numpy as np
import pytest
import tensorflow as tf

from configs import darts_cifar10_gaea_pc
from edd_tf import search
from edd_tf import spaces
from edd_tf.methods import gaea_pc
from edd_tf.spaces import darts as darts_space
from tests.methods.test_search_methods import tiny_config

GAEA_PC_FIELDS = {'softmax.kind': 'plain', 'softmax.st': 0.0, 'schedule.name': 'constant',
                  'schedule.t0': 1.0, 'optim.arch.weight_decay': 0.0,
                  'gaea': {'eta': 0.1, 'edge_eta': 0.1}, 'model.partial_channels': 2}
GROUPS = darts_space.GROUPS   # (0, 2), (2, 5), (5, 9), (9, 14)


def _method(space='darts'):
  return gaea_pc.GaeaPC(darts_cifar10_gaea_pc.get_config(), spaces.get_space(space))


def test_one_eg_step_of_b_on_a_hand_gradient():
  # Node 2: b = (1/2, 1/2), g = (1, -1), eta 0.1: 0.5 (e^-0.1, e^0.1) = (0.452419, 0.552585),
  #   sum 1.005004 -> (0.450166, 0.549834).
  # Node 3: b = 1/3, g = (0, 2, -2): (0.333333, 0.272910, 0.407134), sum 1.013378
  #   -> (0.328933, 0.269308, 0.401760).
  # Nodes 4, 5: g = 0 leaves them uniform (1/4, 1/5).
  b = tf.constant([0.5] * 2 + [1 / 3] * 3 + [0.25] * 4 + [0.2] * 5)
  g = tf.constant([1.0, -1.0, 0.0, 2.0, -2.0] + [0.0] * 9)
  got = gaea_pc.eg_update_per_node(b, g, 0.1, GROUPS).numpy()
  np.testing.assert_allclose(got[:5], [0.450166, 0.549834, 0.328933, 0.269308, 0.401760],
                             atol=2e-6)
  np.testing.assert_allclose(got[5:], [0.25] * 4 + [0.2] * 5, rtol=1e-6)


def test_b_stays_normalised_per_node_over_many_steps():
  rng = np.random.default_rng(0)
  b = tf.constant(_method().init_arch(rng)['betas_normal'])
  for _ in range(300):
    b = gaea_pc.eg_update_per_node(b, tf.constant(rng.normal(0, 20, 14), tf.float32), 0.1, GROUPS)
  b = b.numpy()
  assert np.all(np.isfinite(b)) and np.all(b > 0)
  np.testing.assert_allclose([b[s:e].sum() for s, e in GROUPS], 1.0, rtol=1e-5)
  assert b.max() > 0.99   # the steps did move it far from uniform
  # Every weight of a node underflowing (exp(-0.1 * 2000) = 0 in float32): the floor keeps the
  # node uniform instead of 0 / 0.
  got = gaea_pc.eg_update_per_node(tf.constant([0.5, 0.5]), tf.constant([2000.0, 2000.0]), 0.1,
                                   [(0, 2)])
  np.testing.assert_allclose(got, [0.5, 0.5], rtol=1e-6)


def test_init_and_mixing_is_theta_times_b():
  method = _method()
  arch = method.init_arch(np.random.default_rng(0))
  assert sorted(arch) == ['alphas_normal', 'alphas_reduce', 'betas_normal', 'betas_reduce']
  np.testing.assert_array_equal(arch['alphas_normal'], np.full((14, 8), 0.125, np.float32))
  np.testing.assert_allclose(arch['betas_reduce'],
                             [1 / 2] * 2 + [1 / 3] * 3 + [1 / 4] * 4 + [1 / 5] * 5, rtol=1e-7)
  rng = np.random.default_rng(1)
  theta = rng.dirichlet(np.ones(8), 14).astype(np.float32)
  b = rng.uniform(0.1, 1.0, 14).astype(np.float32)
  tensors = {'alphas_normal': tf.constant(theta), 'alphas_reduce': tf.constant(theta),
             'betas_normal': tf.constant(b), 'betas_reduce': tf.constant(b)}
  weights, indices = method.mixing(tensors, tf.constant(1e-3), tf.constant([0, 0]))
  assert indices is None and sorted(weights) == ['alphas_normal', 'alphas_reduce']
  # No softmax of b (PC-DARTS would take softmax(b) per node), no temperature.
  np.testing.assert_allclose(weights['alphas_normal'], theta * b[:, None], rtol=1e-6)


def test_readout_scores_theta_times_b():
  method = _method()
  ops = list(darts_space.genotype_lib.DARTS_OPS)
  theta = np.full((14, 8), 0.125)
  b = np.array([1 / 2] * 2 + [1 / 3] * 3 + [1 / 4] * 4 + [1 / 5] * 5)
  # Node 3 (edges 2-4, from inputs 0, 1, 2):
  #   edge 2: dil_conv_3x3 0.9, none 0.1;   b 0.1 -> best non-none score 0.09
  #   edge 3: skip 0.6, avg_pool 0.4;      b 0.5 -> 0.30 (skip)
  #   edge 4: none 0.7, sep_conv_3x3 0.3;  b 0.4 -> 0.12 (sep_conv_3x3; 'none' 0.28 ignored)
  # theta alone would keep edge 2 (0.9) first; theta * b keeps edges 3 and 4.
  for edge, row in {2: {'dil_conv_3x3': 0.9, 'none': 0.1},
                    3: {'skip_connect': 0.6, 'avg_pool_3x3': 0.4},
                    4: {'none': 0.7, 'sep_conv_3x3': 0.3}}.items():
    theta[edge] = 0.0
    for op, value in row.items():
      theta[edge, ops.index(op)] = value
  b[2:5] = [0.1, 0.5, 0.4]
  arch = {'alphas_normal': theta, 'alphas_reduce': theta, 'betas_normal': b, 'betas_reduce': b}
  readout = method.readout_weights(arch)
  np.testing.assert_allclose(readout['alphas_normal'], theta * b[:, None])
  genotype = method.genotype(arch)
  assert genotype.normal[2:4] == [('skip_connect', 1), ('sep_conv_3x3', 2)]
  assert genotype.reduce[2:4] == [('skip_connect', 1), ('sep_conv_3x3', 2)]
  theta_only = method.space.derive({'alphas_normal': theta, 'alphas_reduce': theta})
  assert theta_only.normal[2] == ('dil_conv_3x3', 0)


def test_arch_step_assigns_both_eg_updates_of_one_gradient(tmp_path):
  config = tiny_config('gaea_pc', 's2', **GAEA_PC_FIELDS)
  config.gaea.update(eta=0.5, edge_eta=0.3)
  task = search.SearchTask(config, tmp_path)
  s = task.searcher
  rng = np.random.default_rng(2)
  for key in ('normal', 'reduce'):
    s.arch['alphas_' + key].assign(rng.dirichlet(np.ones(2), 14).astype(np.float32))
    b = rng.uniform(0.2, 1.0, 14)
    for start, end in GROUPS:
      b[start:end] /= b[start:end].sum()
    s.arch['betas_' + key].assign(b.astype(np.float32))
  train_batch, val_batch = next(iter(task.batches(0)[0]))
  seed = tf.constant([0, 1])
  before = s.arch_numpy()
  grads, _, _ = s.arch_gradients(train_batch, val_batch, seed)
  grads = {k: g.numpy().astype(np.float64) for k, g in zip(s.arch, grads)}
  s.method.arch_step(s, train_batch, val_batch, seed)
  after = s.arch_numpy()
  for key in ('normal', 'reduce'):
    g_theta, g_b = grads['alphas_' + key], grads['betas_' + key]
    assert np.abs(g_b).max() > 0 and np.abs(g_theta).max() > 0
    want = np.maximum(before['alphas_' + key] * np.exp(-0.5 * g_theta), 1e-5)
    np.testing.assert_allclose(after['alphas_' + key], want / want.sum(-1, keepdims=True),
                               rtol=1e-5, atol=1e-7)
    want = before['betas_' + key] * np.exp(-0.3 * g_b)
    for start, end in GROUPS:
      want[start:end] /= want[start:end].sum()
    np.testing.assert_allclose(after['betas_' + key], want, rtol=1e-5, atol=1e-7)


def test_config_recipe_and_bad_settings():
  config = darts_cifar10_gaea_pc.get_config()
  search.check_config(config)
  assert (config.space, config.model.partial_channels, config.model.layers,
          config.model.channels) == ('darts', 4, 8, 16)
  assert (config.search.epochs, config.search.batch_size, config.search.data_mode,
          config.search.arch_warmup_epochs) == (50, 256, 'bilevel', 0)
  w = config.optim.weights
  assert (w.lr, w.lr_min, w.weight_decay, w.grad_clip) == (0.1, 0.0, 3e-4, 5.0)
  assert 'none' in spaces.get_space(config.space).op_names('alphas_normal')[0]
  for value in (0.0, -0.1, None, 'missing'):
    bad = darts_cifar10_gaea_pc.get_config()
    if value == 'missing':   # GAEA's NB201 section has eta only
      del bad.gaea['edge_eta']
    else:
      bad.gaea.edge_eta = value
    with pytest.raises(ValueError, match='config.gaea.edge_eta'):
      search.check_config(bad)
  bad = darts_cifar10_gaea_pc.get_config()
  bad.schedule.name = 'edd'   # GAEA's own checks still apply
  with pytest.raises(ValueError, match='config.schedule.name=constant'):
    search.check_config(bad)
