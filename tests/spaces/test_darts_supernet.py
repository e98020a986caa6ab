"""Tests for edd_tf.spaces.darts_supernet: edges, S1-S4 data, cells and the supernet."""

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.spaces import darts_supernet as ds
from edd_tf.arch import genotype


def _x(shape, seed=0):
  return tf.constant(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def _weights(space, seed=1):
  normal, reduce = space
  return {'alphas_normal': tf.nn.softmax(_x([14, len(normal[0])], seed)),
          'alphas_reduce': tf.nn.softmax(_x([14, len(reduce[0])], seed + 1))}


def _supernet(space, **kwargs):
  kwargs = dict(dict(channels=4, layers=3), **kwargs)
  return ds.DartsSupernet(10, normal_ops=space[0], reduce_ops=space[1], **kwargs)


@pytest.fixture(scope='module')
def darts_net():
  """A 3-cell (normal, reduce, reduce) DARTS-space supernet, C=4, built on 16x16."""
  model = _supernet(ds.DARTS_SPACE)
  model(_x([2, 16, 16, 3]), _weights(ds.DARTS_SPACE))
  return model


def test_darts_edges_and_groups():
  assert ds.DARTS_EDGES == ((2, 0), (2, 1), (3, 0), (3, 1), (3, 2), (4, 0), (4, 1), (4, 2),
                            (4, 3), (5, 0), (5, 1), (5, 2), (5, 3), (5, 4))
  assert ds.edge_groups(4) == [(0, 2), (2, 5), (5, 9), (9, 14)]
  assert ds.edge_groups(2) == [(0, 2), (2, 5)]
  for i, (start, end) in enumerate(ds.edge_groups()):
    assert all(ds.DARTS_EDGES[e][0] == i + 2 for e in range(start, end))


def test_robust_darts_spaces_are_the_reference_data():
  s1_normal, s1_reduce = ds.ROBUST_DARTS_SPACES['s1']
  assert s1_normal[5] == ('max_pool_3x3', 'skip_connect')
  assert s1_normal[10] == ('max_pool_3x3', 'skip_connect')
  assert s1_normal[12] == s1_normal[13] == ('dil_conv_3x3', 'dil_conv_5x5')
  assert s1_normal[0] == ('skip_connect', 'dil_conv_3x3')
  assert s1_reduce[1] == ('max_pool_3x3', 'dil_conv_3x3')
  assert s1_reduce[4] == ('skip_connect', 'dil_conv_5x5')
  assert s1_reduce[6] == ('max_pool_3x3', 'sep_conv_3x3')
  assert s1_reduce[7] == ('skip_connect', 'dil_conv_3x3')
  expected = {'s2': ('skip_connect', 'sep_conv_3x3'), 's3': ('none', 'skip_connect', 'sep_conv_3x3'),
              's4': ('noise', 'sep_conv_3x3')}
  for name, ops in expected.items():
    normal, reduce = ds.ROBUST_DARTS_SPACES[name]
    assert normal == reduce == (ops,) * 14
  for normal, reduce in ds.ROBUST_DARTS_SPACES.values():
    assert len(normal) == len(reduce) == 14
  assert ds.DARTS_SPACE == ((genotype.DARTS_OPS,) * 14,) * 2


def test_darts_space_output_shape(darts_net):
  logits = darts_net(_x([2, 16, 16, 3]), _weights(ds.DARTS_SPACE), training=True)
  assert logits.shape == (2, 10) and logits.dtype == tf.float32
  assert [c.reduction for c in darts_net.cells] == [False, True, True]
  assert not any('alpha' in v.path for v in darts_net.variables)


def test_darts_space_gradient_reaches_both_weight_matrices(darts_net):
  weights = _weights(ds.DARTS_SPACE)
  with tf.GradientTape() as tape:
    tape.watch(weights)
    loss = tf.reduce_sum(darts_net(_x([2, 16, 16, 3]), weights, training=True) ** 2)
  grads = tape.gradient(loss, weights)
  for key in ('alphas_normal', 'alphas_reduce'):
    g = grads[key].numpy()
    assert g.shape == (14, 8)
    assert np.all(g[:, 0] == 0)  # 'none' is not computed
    assert np.all(g[:, 1:] != 0), key


def test_gdas_indices_output_shape(darts_net):
  indices = {'alphas_normal': tf.constant([4, 3, 1, 2, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7]),
             'alphas_reduce': tf.constant([3, 1, 0, 2, 5, 6, 7, 1, 2, 3, 4, 5, 6, 7])}
  hard = {key: tf.one_hot(indices[key], 8) for key in indices}
  logits = darts_net(_x([2, 16, 16, 3]), hard, indices=indices, training=True)
  assert logits.shape == (2, 10)


def test_s1_per_edge_ops_output_shape():
  model = _supernet(ds.ROBUST_DARTS_SPACES['s1'])
  logits = model(_x([2, 16, 16, 3]), _weights(ds.ROBUST_DARTS_SPACES['s1']), training=True)
  assert logits.shape == (2, 10)
  normal_cell = model.cells[0]
  assert normal_cell.mixed[5].op_names == ('max_pool_3x3', 'skip_connect')
  assert [name for _, name, _ in normal_cell.mixed[13].candidates] == ['dil_conv_3x3',
                                                                        'dil_conv_5x5']


def test_partial_channels_supernet_output_shape():
  space = ds.ROBUST_DARTS_SPACES['s1']
  model = _supernet(space, channels=8, partial_channels=4)
  logits = model(_x([2, 16, 16, 3]), _weights(space), training=True)
  assert logits.shape == (2, 10)
  sep = model.cells[1].mixed[6].candidates[1][2]  # reduce edge 6: sep_conv_3x3 on C/K
  assert sep.pw_1.kernel.shape == (1, 1, 4, 4)  # cell 1 has C = 16, K = 4


def test_partial_channels_not_dividing_a_cell_raises():
  with pytest.raises(ValueError, match=r'model\.partial_channels=4 .* 6 channels'):
    _supernet(ds.ROBUST_DARTS_SPACES['s2'], channels=6, partial_channels=4)


def test_cell_shapes_and_channels():
  space = ds.ROBUST_DARTS_SPACES['s2']
  normal = ds.DartsSearchCell(space[0], 4, reduction=False, reduction_prev=True)
  y = normal(_x([2, 16, 16, 6]), _x([2, 8, 8, 6]), _weights(space)['alphas_normal'], training=True)
  assert tuple(y.shape) == (2, 8, 8, 16)
  reduce = ds.DartsSearchCell(space[1], 4, reduction=True, reduction_prev=False, multiplier=3)
  y = reduce(_x([2, 8, 8, 6]), _x([2, 8, 8, 6]), _weights(space)['alphas_reduce'], training=True)
  assert tuple(y.shape) == (2, 4, 4, 12)


def _cell_pair(edge_ops, channels, reduction, reduction_prev, partial_channels):
  cells = [ds.DartsSearchCell(edge_ops, channels, reduction, reduction_prev, fused=fused,
                              partial_channels=partial_channels) for fused in (True, False)]
  s0 = _x([4, 16 if reduction_prev else 8, 16 if reduction_prev else 8, 12], seed=5)
  s1 = _x([4, 8, 8, 12], seed=6)
  w = tf.fill([14, len(edge_ops[0])], 0.5)
  for cell in cells:
    cell(s0, s1, w)
  cells[0].set_weights(cells[1].get_weights())
  return cells, s0, s1


@pytest.mark.parametrize('reduction,reduction_prev,k', [(False, False, 1), (True, True, 2)])
def test_fused_cell_equals_reference_cell(reduction, reduction_prev, k):
  # S1's per-edge lists hold every kind of op the fused path shares per source
  # (pools, skip / FactorizedReduce, sep and dil convs); test_fused_blocks checks
  # every op edge by edge.
  normal, reduce = ds.ROBUST_DARTS_SPACES['s1']
  (fused, reference), s0, s1 = _cell_pair(reduce if reduction else normal, 8, reduction,
                                          reduction_prev, k)
  w = tf.nn.softmax(_x([14, 2], seed=7))
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(w)
    y_fused = fused(s0, s1, w, training=True)
    y_reference = reference(s0, s1, w, training=True)
    loss_fused, loss_reference = tf.reduce_sum(y_fused ** 2), tf.reduce_sum(y_reference ** 2)
  np.testing.assert_allclose(y_fused, y_reference, rtol=1e-5, atol=1e-5)
  for a, b in zip(tape.gradient(loss_fused, [w] + fused.trainable_variables),
                  tape.gradient(loss_reference, [w] + reference.trainable_variables)):
    # Sums in another order: float32 noise relative to the gradient's scale.
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 + 1e-5 * float(np.abs(b).max()))
  for a, b in zip(fused.non_trainable_variables, reference.non_trainable_variables):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


# A two-step cell (5 edges) keeps the graph-mode tests below fast.
S3_SMALL = ((('none', 'skip_connect', 'sep_conv_3x3'),) * 5,) * 2


def _small_supernet():
  model = ds.DartsSupernet(10, normal_ops=S3_SMALL[0], reduce_ops=S3_SMALL[1], channels=4,
                           layers=3, steps=2, multiplier=2)
  model(_x([2, 8, 8, 3]), _small_weights())
  return model


def _small_weights(seed=1):
  return {'alphas_normal': tf.nn.softmax(_x([5, 3], seed)),
          'alphas_reduce': tf.nn.softmax(_x([5, 3], seed + 1))}


def test_tf_function_does_not_retrace_when_weight_values_change():
  model = _small_supernet()
  images = _x([2, 8, 8, 3])

  @tf.function
  def forward(images, weights):
    return model(images, weights, training=True)

  a = forward(images, _small_weights(seed=1))
  b = forward(images, _small_weights(seed=5))
  assert forward.experimental_get_tracing_count() == 1
  assert not np.allclose(a, b)


def test_gdas_in_tf_function_leaves_unsampled_bn_stats_alone():
  model = _small_supernet()
  images = _x([2, 8, 8, 3])
  # Sample skip_connect everywhere: no sep_conv may run.
  indices = {key: tf.fill([5], 1) for key in ('alphas_normal', 'alphas_reduce')}
  hard = {key: tf.one_hot(indices[key], 3) for key in indices}

  @tf.function
  def step(images, hard, indices):
    with tf.GradientTape() as tape:
      tape.watch(hard)
      loss = tf.reduce_sum(model(images, hard, indices=indices, training=True) ** 2)
    return tape.gradient(loss, hard)

  sep_convs = [op for cell in model.cells for edge in cell.mixed
               for _, name, op in edge.candidates if name == 'sep_conv_3x3']
  before = [v.numpy().copy() for op in sep_convs for v in op.non_trainable_variables]
  grads = step(images, hard, indices)
  after = [v.numpy() for op in sep_convs for v in op.non_trainable_variables]
  assert all(np.array_equal(a, b) for a, b in zip(before, after))
  for key in ('alphas_normal', 'alphas_reduce'):
    assert np.all(grads[key].numpy()[:, 0] != 0)  # the other weights get the straight-through
    assert np.all(grads[key].numpy()[:, 2] != 0)  # gradient although their ops did not run


def test_bad_op_lists_and_weights_raise():
  normal, reduce = ds.DARTS_SPACE
  with pytest.raises(ValueError, match='normal_ops must hold one op list per edge'):
    ds.DartsSupernet(10, normal_ops=normal[:13], reduce_ops=reduce)
  ragged = (('skip_connect',),) + normal[1:]
  with pytest.raises(ValueError, match='same, non-zero number of ops'):
    ds.DartsSupernet(10, normal_ops=ragged, reduce_ops=reduce)
  with pytest.raises(ValueError, match="reduce_ops: unknown op 'conv_9x9'"):
    ds.DartsSupernet(10, normal_ops=normal, reduce_ops=(('conv_9x9', 'skip_connect'),) * 14)
  model = _supernet(ds.ROBUST_DARTS_SPACES['s2'])
  with pytest.raises(ValueError, match=r"weights\['alphas_normal'\] must have shape \(14, 2\)"):
    model(_x([1, 8, 8, 3]), {'alphas_normal': tf.zeros([14, 3]),
                             'alphas_reduce': tf.zeros([14, 2])})
