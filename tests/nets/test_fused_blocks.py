"""Tests for edd_tf.nets.fused_blocks: fused path == reference path, BN scale, conv kernels."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.arch import genotype
from edd_tf.nets import fused_blocks
from edd_tf.nets import mixed_op
from edd_tf.nets import batch_norm as batch_norm_lib
from edd_tf.nets import ops


def _x(shape, seed=0):
  return tf.constant(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def _weights(n, seed=1):
  return tf.nn.softmax(_x([n], seed))


def _pair(op_names, channels, stride, **kwargs):
  """A fused and a reference MixedOp with the same variables."""
  fused = mixed_op.MixedOp(op_names, channels, stride, fused=True, **kwargs)
  reference = mixed_op.MixedOp(op_names, channels, stride, fused=False, **kwargs)
  x = _x([2, 8, 8, channels])
  w = _weights(len(op_names))
  fused(x, w)
  reference(x, w)
  fused.set_weights(reference.get_weights())
  return fused, reference


@pytest.mark.parametrize('stride,k,size', [(1, 1, 8), (2, 1, 8), (1, 2, 8), (2, 4, 8), (2, 1, 7)])
def test_fused_path_equals_reference_path_in_training(stride, k, size):
  # Stride 2 runs the reference FactorizedReduce with 8 input channels: its
  # subsample-then-1x1 formulation is exact under oneDNN too (ops.py).
  names = genotype.DARTS_OPS + ('nor_conv_1x1', 'nor_conv_3x3', 'conv_7x1_1x7', 'sep_conv_7x7')
  fused, reference = _pair(names, 8, stride, pool_bn=True, partial_channels=k)
  x = _x([4, size, size, 8], seed=3)
  w = _weights(len(names), seed=4)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([x, w])
    y_fused = fused(x, w, training=True)
    y_reference = reference(x, w, training=True)
    loss_fused = tf.reduce_sum(tf.sin(y_fused))
    loss_reference = tf.reduce_sum(tf.sin(y_reference))
  np.testing.assert_allclose(y_fused, y_reference, rtol=1e-5, atol=1e-5)
  for a, b in zip(tape.gradient(loss_fused, [x, w] + fused.trainable_variables),
                  tape.gradient(loss_reference, [x, w] + reference.trainable_variables)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  # Same BatchNorm moving statistics afterwards.
  for a, b in zip(fused.non_trainable_variables, reference.non_trainable_variables):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_fused_path_equals_reference_path_in_inference():
  fused, reference = _pair(genotype.DARTS_OPS, 8, 1, pool_bn=True)
  x, w = _x([2, 8, 8, 8]), _weights(8)
  np.testing.assert_allclose(fused(x, w), reference(x, w), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('name', ['sep_conv_3x3', 'dil_conv_5x5', 'max_pool_3x3', 'skip_connect'])
def test_fused_path_applies_weight_as_bn_scale(name):
  # Ops ending in an affine-free BN take the weight inside the BN, others multiply.
  op = mixed_op.MixedOp((name,), 8, 2, pool_bn=True)
  assert fused_blocks.takes_scale(op.candidates[0][2])
  assert not fused_blocks.takes_scale(ops.Identity())
  assert not fused_blocks.takes_scale(ops.Pool('avg', 1))


def test_pointwise_bn_equals_conv_then_bn_with_gradients_and_stats():
  conv_a, bn_a = ops.conv(6, 1), batch_norm_lib.batch_norm(False)
  conv_b, bn_b = ops.conv(6, 1), batch_norm_lib.batch_norm(False)
  x = _x([4, 5, 5, 3])
  bn_a(conv_a(x))
  bn_b(conv_b(x))
  conv_b.kernel.assign(conv_a.kernel)
  scale = tf.fill([6], 0.3)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([x, scale])
    y_a = fused_blocks.pointwise_bn(x, conv_a.kernel, bn_a, scale, training=True)
    y_b = bn_b(conv_b(x), training=True, scale=scale)
    loss_a, loss_b = tf.reduce_sum(tf.sin(y_a)), tf.reduce_sum(tf.sin(y_b))
  np.testing.assert_allclose(y_a, y_b, rtol=1e-5, atol=1e-6)
  for a, b in zip(tape.gradient(loss_a, [x, scale, conv_a.kernel]),
                  tape.gradient(loss_b, [x, scale, conv_b.kernel])):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  for a, b in ((bn_a.moving_mean, bn_b.moving_mean), (bn_a.moving_variance, bn_b.moving_variance)):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


_ONEDNN_DILATED_CHECK = r'''
import numpy as np, tensorflow as tf
from edd_tf.core import kernels
from edd_tf.nets import fused_blocks
assert kernels.onednn_enabled()
for k, size in ((3, 8), (5, 9)):
  x, w = tf.random.normal([2, size, size, 8]), tf.random.normal([k, k, 8, 1])
  def run(conv):
    with tf.GradientTape() as tape:
      tape.watch([x, w])
      y = conv(x, w)
      loss = tf.reduce_sum(y * tf.sin(y))
    return [y] + tape.gradient(loss, [x, w])
  ref = run(lambda x, w: tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], 'SAME', dilations=[2, 2]))
  dilated = lambda x, w: fused_blocks.dilated_depthwise_conv(x, w, 2)
  for got in (run(dilated), tf.function(lambda: run(dilated))()):
    for a, b in zip(got, ref):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
print('ok')
'''


def test_dilated_depthwise_conv_under_onednn_matches_tf(tmp_path):
  # oneDNN is chosen when TensorFlow is imported, hence a subprocess.
  root = pathlib.Path(__file__).resolve().parents[2]
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS='1', TF_CPP_MIN_LOG_LEVEL='2',
             PYTHONPATH=str(root))
  result = subprocess.run([sys.executable, '-c', _ONEDNN_DILATED_CHECK], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0 and result.stdout.strip().endswith('ok'), result.stderr[-2000:]


def test_dilated_depthwise_conv_without_onednn_is_tf_conv():
  x, w = _x([2, 7, 7, 4]), _x([3, 3, 4, 1], seed=2)
  np.testing.assert_allclose(
      fused_blocks.dilated_depthwise_conv(x, w, 2),
      tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], 'SAME', dilations=[2, 2]), rtol=1e-5, atol=1e-5)
