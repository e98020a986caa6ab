"""Fair DARTS (methods/fair_darts.py): sigmoid gates, zero-one loss, thresholded read-out."""

import json

import numpy as np
import pytest
import tensorflow as tf

from configs import darts_cifar10_fair_darts
from edd_tf import search
from edd_tf import spaces
from edd_tf.arch import genotype as genotype_lib
from edd_tf.methods import fair_darts
from edd_tf.nets import darts_cell
from edd_tf.nets import finalnet

SPACE = spaces.get_space('darts_no_none')
OPS = SPACE.op_names('alphas_normal')[0]


def _method(**fields):
  config = darts_cifar10_fair_darts.get_config()
  config.fair_darts.update(fields)
  return fair_darts.FairDarts(config, SPACE)


def test_mixing_is_an_independent_sigmoid_per_op():
  method = _method()
  arch = {k: tf.constant(np.full(s, 0.0, np.float32)) for k, s in SPACE.arch_shapes().items()}
  arch['alphas_normal'] = tf.tensor_scatter_nd_update(arch['alphas_normal'], [[0, 0], [0, 1]],
                                                      [2.0, -1.0])
  weights, indices = method.mixing(arch, tf.constant(1.0), tf.constant([0, 0]))
  assert indices is None
  w = weights['alphas_normal'].numpy()
  assert w[0, 0] == pytest.approx(1 / (1 + np.exp(-2.0)))
  assert w[0, 1] == pytest.approx(1 / (1 + np.exp(1.0)))
  assert w[0, 2] == pytest.approx(0.5) and w[1].sum() == pytest.approx(3.5)  # no normalisation
  tempered, _ = method.mixing(arch, tf.constant(0.5), tf.constant([0, 0]))
  assert tempered['alphas_normal'].numpy()[0, 0] == pytest.approx(1 / (1 + np.exp(-4.0)))


def test_init_is_zero_and_n_is_196():
  method = _method()
  arch = method.init_arch(np.random.default_rng(0))
  assert all(np.all(v == 0) for v in arch.values())
  assert sum(m.sum() for m in method.masks().values()) == 196


def test_zero_one_loss_value_and_gradient_by_hand():
  masks = {'a': np.ones((2, 2), np.float32)}
  alpha = tf.Variable([[0.0, 1.0], [-2.0, 0.5]])
  s = 1 / (1 + np.exp(-alpha.numpy().astype(np.float64)))
  with tf.GradientTape() as tape:
    l01 = fair_darts.zero_one_loss({'a': tf.sigmoid(alpha)}, masks, 'l2')
  assert float(l01) == pytest.approx(-np.mean((s - 0.5) ** 2), rel=1e-6)
  grad = tape.gradient(l01, alpha).numpy()
  np.testing.assert_allclose(grad, -(2 / 4) * (s - 0.5) * s * (1 - s), rtol=1e-5, atol=1e-8)
  assert grad[0, 0] == 0.0  # zero at init
  l1 = fair_darts.zero_one_loss({'a': tf.sigmoid(alpha)}, masks, 'l1')
  assert float(l1) == pytest.approx(-np.mean(np.abs(s - 0.5)), rel=1e-6)


def test_none_entries_are_left_out_of_n():
  method = fair_darts.FairDarts(darts_cifar10_fair_darts.get_config(), spaces.get_space('darts'))
  masks = method.masks()
  assert sum(m.sum() for m in masks.values()) == 196 and masks['alphas_normal'][:, 0].sum() == 0


def _gates():
  """Hand gates: node 2 two inputs, node 3 one, node 4 none, node 5 one (from node 3)."""
  g = np.full((14, 7), 0.1)
  g[0, OPS.index('sep_conv_3x3')] = 0.9     # 2 <- 0
  g[1, OPS.index('skip_connect')] = 0.86    # 2 <- 1
  g[3, OPS.index('dil_conv_3x3')] = 0.95    # 3 <- 1 kept
  g[2, OPS.index('max_pool_3x3')] = 0.8     # 3 <- 0: in the top 2, below 0.85
  g[5, OPS.index('sep_conv_5x5')] = 0.84    # node 4: nothing above 0.85
  g[12, OPS.index('avg_pool_3x3')] = 0.99   # 5 <- 3 kept
  g[13, OPS.index('sep_conv_3x3')] = 0.97   # 5 <- 4: top 2, but node 4 is dead
  return g


def test_threshold_readout_gives_nodes_with_0_1_2_inputs():
  cells, concat = genotype_lib.derive_thresholded(_gates(), OPS)
  assert cells == [('sep_conv_3x3', 2, 0), ('skip_connect', 2, 1), ('dil_conv_3x3', 3, 1),
                   ('avg_pool_3x3', 5, 3)]
  assert concat == [2, 3, 5]
  method = _method()
  arch = {k: np.log(_gates() / (1 - _gates())) for k in SPACE.arch_shapes()}
  g = method.genotype(arch)
  assert g.normal == cells and g.reduce_concat == [2, 3, 5]
  # At init every gate is 0.5: nothing passes; the genotype exists, the network refuses.
  empty = method.genotype(method.init_arch(None))
  assert empty.normal == [] and empty.normal_concat == []
  with pytest.raises(ValueError, match='genotype.normal cannot be built'):
    finalnet.build_final_network('darts_cifar', empty, 10, channels=4, layers=3)


def test_sparse_network_builds_and_runs_with_kept_width():
  cells, concat = genotype_lib.derive_thresholded(_gates(), OPS)
  g = genotype_lib.Genotype(normal=cells, normal_concat=concat, reduce=cells, reduce_concat=concat)
  cell = darts_cell.DartsCell(g.normal, g.normal_concat, 4, False, False)
  x = tf.random.stateless_normal([2, 8, 8, 4], seed=[1, 2])
  assert cell(x, x).shape == (2, 8, 8, 3 * 4)   # 3 kept nodes * C
  assert len(cell.edge_ops) == 4
  model = finalnet.build_final_network('darts_cifar', g, 10, channels=4, layers=3)
  assert model(tf.zeros([2, 16, 16, 3])).shape == (2, 10)
  # A node fed only by a dead node is dropped too (a hand genotype, FairDARTS order).
  cell = darts_cell.DartsCell([('skip_connect', 2, 0), ('skip_connect', 5, 4)], [2, 3, 4, 5], 4,
                              False, False)
  assert cell.out_states == [2] and cell(x, x).shape == (2, 8, 8, 4)


def test_genotype_json_round_trip_old_and_new_forms():
  old = genotype_lib.GENOTYPES['DARTS_V2']
  d = genotype_lib.genotype_to_dict(old)
  assert d['normal'][0] == ['sep_conv_3x3', 0] and d['normal_concat'] == [2, 3, 4, 5]
  assert genotype_lib.genotype_from_dict(json.loads(json.dumps(d))) == old
  cells, concat = genotype_lib.derive_thresholded(_gates(), OPS)
  new = genotype_lib.Genotype(normal=cells, normal_concat=concat, reduce=[], reduce_concat=[])
  d = json.loads(json.dumps(genotype_lib.genotype_to_dict(new)))
  assert d['normal'][0] == ['sep_conv_3x3', 2, 0]
  assert genotype_lib.genotype_from_dict(d) == new
  assert genotype_lib.parse_darts(str(new)) == new
  assert SPACE.parse_genotype(d) == new
  one_hot = SPACE.discretize(new)['alphas_normal']
  assert one_hot.sum() == 4 and one_hot[12, OPS.index('avg_pool_3x3')] == 1


def test_bad_settings_are_named():
  config = darts_cifar10_fair_darts.get_config()
  search.check_config(config)
  for field, value, match in [('softmax.kind', 'sn', 'sn-softmax does not apply'),
                              ('schedule.name', 'edd', 'schedule.name must be one of'),
                              ('fair_darts.zero_one_loss', 'l3', 'allowed'),
                              ('fair_darts.op_threshold', 1.5, 'op_threshold'),
                              ('space', 'nb201', 'DARTS-family')]:
    bad = darts_cifar10_fair_darts.get_config()
    node, key = (bad, field) if '.' not in field else (bad[field.split('.')[0]],
                                                       field.split('.')[1])
    node[key] = value
    if field == 'softmax.kind':
      bad.softmax.update(s=0.0, st=1.0)
    with pytest.raises(ValueError, match=match):
      search.check_config(bad)
