"""Tests for edd_tf.nets.mixed_op: shapes, 'none' and noise, pool BN, GDAS sampling.

The PC-DARTS path is tested in test_partial_channel.py, the fused path
(fused == reference) in test_fused_blocks.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.arch import genotype
from edd_tf.nets import mixed_op
from edd_tf.nets import ops

ALL_OPS = tuple(sorted(ops.OPS))


def _x(shape, seed=0):
  return tf.constant(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def _weights(n, seed=1):
  return tf.nn.softmax(_x([n], seed))


@pytest.mark.parametrize('name', ALL_OPS)
@pytest.mark.parametrize('stride', [1, 2])
def test_every_op_through_mixed_op_has_the_strided_shape(name, stride):
  op = mixed_op.MixedOp((name,), 8, stride, pool_bn=True)
  y = op(_x([2, 8, 8, 8]), tf.constant([0.7]), training=True)
  assert tuple(y.shape) == (2, 8 // stride, 8 // stride, 8)


@pytest.mark.parametrize('stride', [1, 2])
def test_darts_ops_mixed_shape_odd_size(stride):
  op = mixed_op.MixedOp(genotype.DARTS_OPS, 8, stride, pool_bn=True)
  y = op(_x([2, 7, 7, 8]), _weights(8), training=True)
  size = -(-7 // stride)  # ceil, PyTorch's size for every op
  assert tuple(y.shape) == (2, size, size, 8)


def test_all_none_edge_gives_zeros_of_the_strided_shape():
  op = mixed_op.MixedOp(('none', 'none'), 4, 2)
  y = op(_x([2, 8, 8, 4]), tf.constant([0.5, 0.5]), training=True)
  assert tuple(y.shape) == (2, 4, 4, 4) and not np.any(y.numpy())


def test_none_column_contributes_nothing_and_gets_no_gradient():
  op = mixed_op.MixedOp(('none', 'skip_connect'), 4, 1)
  x = _x([2, 4, 4, 4])
  w = tf.constant([0.3, 0.7])
  with tf.GradientTape() as tape:
    tape.watch(w)
    y = op(x, w, training=True)
    loss = tf.reduce_sum(y)
  np.testing.assert_allclose(y, 0.7 * x.numpy(), rtol=1e-6)
  grad = tape.gradient(loss, w).numpy()
  assert grad[0] == 0 and grad[1] != 0


def test_noise_has_no_gradient_path_to_the_input():
  op = mixed_op.MixedOp(('noise',), 4, 1)
  x = _x([2, 4, 4, 4])
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = op(x, tf.constant([1.0]), training=True)
    loss = tf.reduce_sum(y)
  grad = tape.gradient(loss, x)
  assert grad is None or not np.any(grad.numpy())
  assert np.std(y.numpy()) > 0.5  # N(0, 1) noise, not a function of x


def test_pool_bn_normalises_pooling_ops():
  op = mixed_op.MixedOp(('max_pool_3x3',), 4, 1, pool_bn=True)
  y = op(_x([4, 8, 8, 4]) * 5.0 + 3.0, tf.constant([1.0]), training=True).numpy()
  np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
  np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1.0, atol=1e-2)
  without = mixed_op.MixedOp(('max_pool_3x3',), 4, 1, pool_bn=False)
  assert without.candidates[0][2].bn is None and op.candidates[0][2].bn is not None


def test_unknown_op_and_bad_weights_raise():
  with pytest.raises(ValueError, match='unknown op'):
    mixed_op.MixedOp(('sep_conv_9x9',), 4, 1)
  op = mixed_op.MixedOp(('skip_connect', 'avg_pool_3x3'), 4, 1)
  with pytest.raises(ValueError, match=r'weights must have shape \[2\]'):
    op(_x([1, 4, 4, 4]), tf.constant([1.0, 0.0, 0.0]))


def _bn_stats(op):
  return [v.numpy().copy() for v in op.non_trainable_variables]


@pytest.mark.parametrize('graph', [True, False])
def test_gdas_runs_only_the_sampled_op(graph):
  names = ('max_pool_3x3', 'sep_conv_3x3', 'dil_conv_3x3', 'skip_connect')
  op = mixed_op.MixedOp(names, 8, 1, pool_bn=True)
  x = _x([2, 8, 8, 8])
  hard = tf.constant([0.0, 0.0, 1.0, 0.0])
  op(x, hard, index=tf.constant(2))  # builds every candidate (inference mode)
  before = {name: _bn_stats(o) for _, name, o in op.candidates}

  def step(x, w, index):
    with tf.GradientTape() as tape:
      tape.watch(w)
      y = op(x, w, index=index, training=True)
      loss = tf.reduce_sum(y * y)
    return y, tape.gradient(loss, [w] + op.trainable_variables)

  if graph:
    step = tf.function(step)
  y, grads = step(x, hard, tf.constant(2))
  sampled = dict((name, o) for _, name, o in op.candidates)['dil_conv_3x3']
  for _, name, o in op.candidates:
    after = _bn_stats(o)
    changed = any(np.any(a != b) for a, b in zip(after, before[name]))
    assert changed == (name == 'dil_conv_3x3'), name
  # Every weight gets a gradient (straight-through); only the sampled op's variables do.
  assert grads[0] is not None and np.all(grads[0].numpy() != 0)
  sampled_ids = {id(v) for v in sampled.trainable_variables}
  for v, g in zip(op.trainable_variables, grads[1:]):
    if id(v) in sampled_ids:
      assert g is not None and np.any(g.numpy() != 0), v.path
    else:
      assert g is None or not np.any(g.numpy()), v.path
  # Value: w[index] * op_index(x) + sum of the other weights.
  expected = sampled(x, training=True).numpy()
  np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_gdas_value_adds_the_other_weights_and_handles_none():
  op = mixed_op.MixedOp(('none', 'skip_connect'), 4, 2)
  x = _x([1, 4, 4, 4])
  w = tf.constant([0.25, 0.75])
  y = op(x, w, index=tf.constant(0), training=True)
  np.testing.assert_allclose(y, np.full((1, 2, 2, 4), 0.75), rtol=1e-6)
  y = op(x, w, index=tf.constant(1), training=True)
  skip = op.candidates[0][2](x, training=True).numpy()
  np.testing.assert_allclose(y, 0.75 * skip + 0.25, rtol=1e-5, atol=1e-6)
