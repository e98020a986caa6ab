"""Tests for edd_tf.nets.partial_channel: the PC-DARTS channel shuffle and partial channels."""

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.arch import genotype
from edd_tf.nets import mixed_op
from edd_tf.nets import partial_channel


def _x(shape, seed=0):
  return tf.constant(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def _weights(n, seed=1):
  return tf.nn.softmax(_x([n], seed))


def _torch_channel_shuffle(x_nchw, groups):
  """PC-DARTS channel_shuffle on an NCHW numpy array (view, transpose(1, 2), flatten)."""
  b, c, h, w = x_nchw.shape
  y = x_nchw.reshape(b, groups, c // groups, h, w).transpose(0, 2, 1, 3, 4)
  return y.reshape(b, c, h, w)


@pytest.mark.parametrize('groups,channels', [(2, 8), (4, 8), (4, 12), (3, 12)])
def test_channel_shuffle_is_the_pytorch_permutation(groups, channels):
  x = np.random.default_rng(0).normal(size=(2, 3, 5, channels)).astype(np.float32)
  expected = _torch_channel_shuffle(x.transpose(0, 3, 1, 2), groups).transpose(0, 2, 3, 1)
  np.testing.assert_array_equal(partial_channel.channel_shuffle(tf.constant(x), groups), expected)
  # The docstring's closed form: out[o] = x[(o % g) * (C // g) + o // g].
  perm = [(o % groups) * (channels // groups) + o // groups for o in range(channels)]
  np.testing.assert_array_equal(expected, x[..., perm])


@pytest.mark.parametrize('groups', [0, 3])
def test_channel_shuffle_rejects_groups_not_dividing_channels(groups):
  with pytest.raises(ValueError, match='groups'):
    partial_channel.channel_shuffle(tf.zeros([1, 2, 2, 8]), groups)


@pytest.mark.parametrize('k', [2, 4])
@pytest.mark.parametrize('stride', [1, 2])
def test_partial_channels_shapes_and_op_widths(k, stride):
  c = 8
  op = mixed_op.MixedOp(genotype.DARTS_OPS, c, stride, pool_bn=True, partial_channels=k)
  y = op(_x([2, 8, 8, c]), _weights(8), training=True)
  assert tuple(y.shape) == (2, 8 // stride, 8 // stride, c)
  sep = dict((name, o) for _, name, o in op.candidates)['sep_conv_3x3']
  assert sep.pw_1.kernel.shape == (1, 1, c // k, c // k)
  assert sep.dw_1.conv.kernel.shape[2] == c // k


@pytest.mark.parametrize('k', [2, 4])
def test_partial_channels_bypass_lands_at_the_shuffled_positions(k):
  c = 8
  x = _x([2, 6, 6, c])
  op = mixed_op.MixedOp(('sep_conv_3x3', 'skip_connect'), c, 1, partial_channels=k)
  y = op(x, tf.constant([0.4, 0.6]), training=True).numpy()
  expected = _torch_channel_shuffle(
      np.concatenate([np.zeros_like(x.numpy()[..., :c // k]), x.numpy()[..., c // k:]], -1)
      .transpose(0, 3, 1, 2), k).transpose(0, 2, 3, 1)
  bypass = np.array([(o % k) != 0 for o in range(c)])  # group 0 = the mixed channels
  np.testing.assert_array_equal(y[..., bypass], expected[..., bypass])


def test_partial_channels_reduction_bypass_is_max_pooled():
  c, k = 8, 4
  x = _x([2, 8, 8, c])
  op = mixed_op.MixedOp(('skip_connect',), c, 2, partial_channels=k)
  y = op(x, tf.constant([1.0]), training=True).numpy()
  rest = x.numpy()[..., c // k:].reshape(2, 4, 2, 4, 2, c - c // k).max(axis=(2, 4))
  for o in range(c):
    if o % k:  # bypass channel (o % k - 1) * (C/K) + o // k of x[..., C/K:]
      np.testing.assert_array_equal(y[..., o], rest[..., (o % k - 1) * (c // k) + o // k])


@pytest.mark.parametrize('k,channels', [(3, 8), (0, 8), (16, 8)])
def test_partial_channels_must_divide_the_channels(k, channels):
  with pytest.raises(ValueError, match=rf'model\.partial_channels.*{k}|{channels} channels'):
    mixed_op.MixedOp(genotype.DARTS_OPS, channels, 1, partial_channels=k)


def test_partial_channels_error_names_field_and_channel_count():
  with pytest.raises(ValueError, match=r'model\.partial_channels=3 .* 8 channels'):
    mixed_op.MixedOp(genotype.DARTS_OPS, 8, 1, partial_channels=3)
