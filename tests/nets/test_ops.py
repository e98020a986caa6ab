"""Tests for edd_tf.nets.ops: shapes, PyTorch padding parity, parameter counts."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.nets import ops
from tests.helpers import ROOT

DARTS_OPS = ('none', 'max_pool_3x3', 'avg_pool_3x3', 'skip_connect', 'sep_conv_3x3',
             'sep_conv_5x5', 'sep_conv_7x7', 'dil_conv_3x3', 'dil_conv_5x5', 'conv_7x1_1x7',
             'noise')


def _torch_out_size(h, k, s, p, d=1):
  return (h + 2 * p - d * (k - 1) - 1) // s + 1


def _ref_depthwise(x, w, stride, pad, dilation):
  """PyTorch Conv2d(groups=C, padding=pad, dilation, stride) by direct loops.

  x: [B, H, W, C]; w: [k, k, C].
  """
  b, h, wd, c = x.shape
  k = w.shape[0]
  xp = np.pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
  ho, wo = _torch_out_size(h, k, stride, pad, dilation), _torch_out_size(wd, k, stride, pad, dilation)
  out = np.zeros((b, ho, wo, c), np.float64)
  for i in range(ho):
    for j in range(wo):
      for a in range(k):
        for e in range(k):
          out[:, i, j, :] += w[a, e] * xp[:, stride * i + dilation * a, stride * j + dilation * e, :]
  return out


def _ref_conv(x, w, stride, pad):
  """PyTorch Conv2d(padding=pad, stride) by direct loops. w: [k, k, Cin, Cout]."""
  k = w.shape[0]
  xp = np.pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
  ho, wo = _torch_out_size(x.shape[1], k, stride, pad), _torch_out_size(x.shape[2], k, stride, pad)
  out = np.zeros((x.shape[0], ho, wo, w.shape[-1]), np.float64)
  for i in range(ho):
    for j in range(wo):
      patch = xp[:, stride * i:stride * i + k, stride * j:stride * j + k, :]
      out[:, i, j, :] = np.einsum('bhwc,hwco->bo', patch, w)
  return out


def _ref_pool(x, kind, stride):
  """PyTorch MaxPool2d / AvgPool2d(3, stride, padding=1, count_include_pad=False)."""
  h, w = x.shape[1:3]
  ho, wo = _torch_out_size(h, 3, stride, 1), _torch_out_size(w, 3, stride, 1)
  out = np.zeros((x.shape[0], ho, wo, x.shape[3]))
  for i in range(ho):
    for j in range(wo):
      r0, c0 = stride * i - 1, stride * j - 1
      win = x[:, max(r0, 0):r0 + 3, max(c0, 0):c0 + 3, :]
      out[:, i, j, :] = win.max(axis=(1, 2)) if kind == 'max' else win.mean(axis=(1, 2))
  return out


def _x(shape, seed=0):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize('name', DARTS_OPS + ('nor_conv_1x1', 'nor_conv_3x3'))
@pytest.mark.parametrize('stride', [1, 2])
@pytest.mark.parametrize('size', [32, 7])
def test_op_output_shape_matches_pytorch(name, stride, size):
  op = ops.build_op(name, 8, stride, affine=False)
  y = op(tf.constant(_x([2, size, size, 8])), training=True)
  expected = _torch_out_size(size, 3, stride, 1)  # = ceil(size / stride) for every op
  assert tuple(y.shape) == (2, expected, expected, 8)


def test_build_op_unknown_name_lists_known_ops():
  with pytest.raises(ValueError, match='sep_conv_3x3'):
    ops.build_op('sep_conv_9x9', 8)


@pytest.mark.parametrize('kernel,stride,dilation,size', [
    (3, 2, 2, 8), (3, 2, 2, 7), (5, 2, 2, 8), (5, 2, 2, 9), (3, 1, 2, 7), (3, 2, 1, 8),
    (5, 2, 1, 7), (3, 3, 2, 10)])
def test_depthwise_matches_pytorch_reference(kernel, stride, dilation, size):
  layer = ops.DepthwiseConv(kernel, stride, dilation)
  x = _x([2, size, size, 3])
  y = layer(tf.constant(x)).numpy()
  w = layer.conv.kernel.numpy()[:, :, :, 0]
  pad = dilation * (kernel - 1) // 2
  np.testing.assert_allclose(y, _ref_depthwise(x, w, stride, pad, dilation), atol=1e-4)


def test_strided_dilated_conv_equals_stride_one_then_subsample():
  op = ops.build_op('dil_conv_5x5', 4, 2)
  x = tf.constant(_x([2, 12, 12, 4]))
  y = op.dw(x).numpy()
  kernel = op.dw.conv.kernel
  padded = tf.pad(x, [[0, 0], [4, 4], [4, 4], [0, 0]])
  ref = tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], 'VALID', dilations=[2, 2])
  np.testing.assert_allclose(y, ref.numpy()[:, ::2, ::2, :], atol=1e-5)


@pytest.mark.parametrize('size', [8, 7])
def test_strided_relu_conv_bn_pads_symmetrically(size):
  # Keras 'same' at stride 2 on even sizes pads only at the end; PyTorch pads both sides.
  op = ops.ReLUConvBN(4, 3, 2, affine=False)
  x = _x([2, size, size, 3])
  y = op(tf.constant(x), training=False).numpy()
  ref = _ref_conv(np.maximum(x, 0), op.conv.kernel.numpy(), 2, 1)
  ref = ref / np.sqrt(1 + 1e-5)  # BN at init: mean 0, var 1, eps 1e-5
  np.testing.assert_allclose(y, ref, atol=1e-4)


@pytest.mark.parametrize('kind', ['max', 'avg'])
@pytest.mark.parametrize('stride,size', [(1, 6), (2, 8), (2, 7), (1, 5)])
def test_pool_matches_pytorch(kind, stride, size):
  x = _x([2, size, size, 3])
  y = ops.Pool(kind, stride)(tf.constant(x)).numpy()
  np.testing.assert_allclose(y, _ref_pool(x, kind, stride), atol=1e-5)


def test_sep_conv_is_two_stacked_blocks():
  op = ops.build_op('sep_conv_3x3', 8, 2, affine=True)
  y = op(tf.constant(_x([1, 8, 8, 8])), training=False)
  assert y.shape == (1, 4, 4, 8)
  assert op.dw_1.stride == 2 and op.dw_2.stride == 1
  # 2 x (depthwise 9C + pointwise C^2 + BN 2C), as PyTorch's SepConv.
  assert sum(int(np.prod(v.shape)) for v in op.trainable_weights) == 2 * (9 * 8 + 64 + 16)


@pytest.mark.parametrize('name,expected', [
    ('dil_conv_3x3', 9 * 8 + 64 + 16), ('dil_conv_5x5', 25 * 8 + 64 + 16),
    ('sep_conv_5x5', 2 * (25 * 8 + 64 + 16)), ('sep_conv_7x7', 2 * (49 * 8 + 64 + 16)),
    ('conv_7x1_1x7', 2 * 7 * 64 + 16), ('skip_connect', 2 * 8 * 4 + 16)])
def test_affine_param_counts(name, expected):
  op = ops.build_op(name, 8, 2, affine=True)
  op(tf.constant(_x([1, 8, 8, 8])), training=False)
  assert sum(int(np.prod(v.shape)) for v in op.trainable_weights) == expected


def test_search_ops_have_no_bn_affine_params():
  op = ops.build_op('sep_conv_3x3', 8, 1, affine=False)
  op(tf.constant(_x([1, 8, 8, 8])), training=True)
  assert sum(int(np.prod(v.shape)) for v in op.trainable_weights) == 2 * (9 * 8 + 64)


def test_noise_op_is_standard_normal_and_independent_of_input():
  op = ops.build_op('noise', 8, 2)
  y = op(tf.constant(_x([4, 16, 16, 8])) * 100.0).numpy()
  assert y.shape == (4, 8, 8, 8)
  assert abs(y.mean()) < 0.1 and abs(y.std() - 1.0) < 0.1


def test_noise_op_has_no_gradient_path():
  op = ops.build_op('noise', 4, 1)
  x = tf.Variable(_x([2, 6, 6, 4]))
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(op(x) * 3.0)
  assert tape.gradient(loss, x) is None


def test_noise_op_works_in_tf_function_and_changes_each_call():
  op = ops.build_op('noise', 4, 1)
  fn = tf.function(lambda x: op(x))
  x = tf.zeros([1, 4, 4, 4])
  assert not np.allclose(fn(x).numpy(), fn(x).numpy())


def test_zero_op_output_is_zero_and_strided():
  y = ops.build_op('none', 4, 2)(tf.constant(_x([1, 7, 7, 4])))
  assert y.shape == (1, 4, 4, 4) and not np.any(y.numpy())


def test_skip_connect_is_identity_at_stride_one_and_reduce_at_two():
  assert isinstance(ops.build_op('skip_connect', 4, 1), ops.Identity)
  assert isinstance(ops.build_op('skip_connect', 4, 2), ops.FactorizedReduce)


def test_pool_with_bn_appends_affine_free_bn():
  op = ops.Pool('max', 2, bn=True)
  op(tf.constant(_x([2, 8, 8, 4])), training=True)
  assert op.bn is not None and not op.trainable_weights


def test_factorized_reduce_equals_two_offset_stride2_convs():
  # The subsample-then-1x1 formulation (ops.FactorizedReduce) against the
  # reference's strided convs, at a shape oneDNN computes correctly (C_in 16).
  op = ops.FactorizedReduce(16, affine=True)
  x = tf.random.stateless_normal([2, 9, 9, 16], seed=[0, 1])
  y = op(x, training=False)
  relu = tf.nn.relu(x)
  shifted = tf.pad(relu[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])
  want = tf.concat([tf.nn.conv2d(relu, op.conv_1.kernel, 2, 'VALID'),
                    tf.nn.conv2d(shifted, op.conv_2.kernel, 2, 'VALID')], axis=-1)
  want = op.bn(want, training=False)
  assert y.shape == (2, 5, 5, 16)
  np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


_FORMERLY_CRASHING = r'''
import numpy as np, tensorflow as tf
from edd_tf.core import kernels
from edd_tf.nets import ops
from tests.helpers import ROOT
assert kernels.onednn_enabled()
# C_in 4 at 64 px: the filter gradient of a 1x1 stride-2 conv corrupted the
# heap here under oneDNN (segfault / abort; oneDNN #6035).
op = ops.FactorizedReduce(4, affine=False)
x = tf.random.stateless_normal([8, 64, 64, 4], seed=[0, 1])
op(x, training=True)
@tf.function
def grads(x):
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.sin(op(x, training=True)))
  return tape.gradient(loss, [op.conv_1.kernel, op.conv_2.kernel])
for _ in range(3):
  g1, g2 = grads(x)
# conv_1's kernel gradient by hand: sum over pixels of relu(x)[::2, ::2] (x) dL/dy.
with tf.GradientTape() as tape:
  y1 = tf.nn.conv2d(tf.nn.relu(x)[:, ::2, ::2, :], op.conv_1.kernel, 1, 'VALID')
  tape.watch(y1)
  out = op.bn(tf.concat([y1, tf.nn.conv2d(tf.pad(tf.nn.relu(x)[:, 1:, 1:, :],
      [[0, 0], [0, 1], [0, 1], [0, 0]])[:, ::2, ::2, :], op.conv_2.kernel, 1, 'VALID')], -1),
      training=True)
  loss = tf.reduce_sum(tf.sin(out))
dy = tape.gradient(loss, y1).numpy()
want = np.einsum('bhwc,bhwo->co', tf.nn.relu(x).numpy()[:, ::2, ::2, :], dy)
np.testing.assert_allclose(g1.numpy()[0, 0], want, rtol=1e-3, atol=1e-3 * np.abs(want).max())
print('ok')
'''


def test_formerly_crashing_factorized_reduce_runs_under_onednn(tmp_path):
  # oneDNN is chosen when TensorFlow loads, hence a fresh process with it on.
  env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS='1', TF_CPP_MIN_LOG_LEVEL='2',
             PYTHONPATH=str(ROOT))
  result = subprocess.run([sys.executable, '-c', _FORMERLY_CRASHING], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0 and result.stdout.strip().endswith('ok'), (
      result.returncode, result.stderr[-2000:])
