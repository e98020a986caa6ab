"""Candidate operations and the OPS registry shared by supernets and final nets.

Every op is a Keras layer built by ``build_op(name, channels, stride, affine)``;
images are NHWC. ``affine=False`` gives the search-time ops (BatchNorm without
scale/offset, as in the DARTS and NB201 supernets); ``affine=True`` the
evaluation ops. BatchNorm uses PyTorch's defaults translated to Keras
(momentum 0.1 -> 0.9, eps 1e-5).
"""

from keras import layers
from keras import ops as K


def batch_norm(affine, name=None):
  return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, center=affine, scale=affine,
                                   name=name)


def conv(channels, kernel, stride=1, dilation=1, groups=1, name=None):
  """Bias-free 'same'-padded convolution (DARTS/DrNAS use bias=False)."""
  return layers.Conv2D(channels, kernel, strides=stride, padding='same', dilation_rate=dilation,
                       groups=groups, use_bias=False, name=name)


class ReLUConvBN(layers.Layer):
  """ReLU -> Conv -> BN (DARTS operations.py, NB201 nor_conv_kxk)."""

  def __init__(self, channels, kernel, stride, affine, **kwargs):
    super().__init__(**kwargs)
    self.conv = conv(channels, kernel, stride)
    self.bn = batch_norm(affine)

  def call(self, x, training=False):
    return self.bn(self.conv(K.relu(x)), training=training)


class Identity(layers.Layer):

  def call(self, x, training=False):
    return x


class Zero(layers.Layer):
  """The 'none' op: zeros of the (strided) output shape."""

  def __init__(self, stride, **kwargs):
    super().__init__(**kwargs)
    self.stride = stride

  def call(self, x, training=False):
    if self.stride > 1:
      x = x[:, ::self.stride, ::self.stride, :]
    return K.zeros_like(x)


class FactorizedReduce(layers.Layer):
  """Halves the resolution with two offset 1x1 stride-2 convs (DARTS)."""

  def __init__(self, channels, affine, **kwargs):
    super().__init__(**kwargs)
    if channels % 2:
      raise ValueError(f'FactorizedReduce needs an even channel count, got {channels}')
    self.conv_1 = layers.Conv2D(channels // 2, 1, strides=2, padding='valid', use_bias=False)
    self.conv_2 = layers.Conv2D(channels // 2, 1, strides=2, padding='valid', use_bias=False)
    self.bn = batch_norm(affine)

  def call(self, x, training=False):
    x = K.relu(x)
    # PyTorch's x[:, :, 1:, 1:] with a 1x1 stride-2 conv: pad one row/col at the
    # end so odd and even sizes behave as in the reference.
    shifted = K.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])
    y = K.concatenate([self.conv_1(x), self.conv_2(shifted)], axis=-1)
    return self.bn(y, training=training)


class Pool(layers.Layer):
  """3x3 avg/max pooling, padding 1. TF's SAME average pooling divides by the
  number of valid inputs, i.e. PyTorch's ``count_include_pad=False``.

  ``bn=True`` appends an affine-free BN, as DARTS' search MixedOp does for every
  pooling op (reference sect. 3.3); NB201 has none (sect. 2.1).
  """

  def __init__(self, kind, stride, bn=False, **kwargs):
    super().__init__(**kwargs)
    cls = layers.AveragePooling2D if kind == 'avg' else layers.MaxPooling2D
    self.pool = cls(3, strides=stride, padding='same')
    self.bn = batch_norm(False) if bn else None

  def call(self, x, training=False):
    y = self.pool(x)
    return self.bn(y, training=training) if self.bn is not None else y


def _skip(channels, stride, affine):
  return Identity() if stride == 1 else FactorizedReduce(channels, affine)


# name -> builder(channels, stride, affine). Ops keep the channel count; the
# stride applies to the spatial dims.
OPS = {
    'none': lambda c, s, affine: Zero(s),
    'skip_connect': _skip,
    'nor_conv_1x1': lambda c, s, affine: ReLUConvBN(c, 1, s, affine),
    'nor_conv_3x3': lambda c, s, affine: ReLUConvBN(c, 3, s, affine),
    'avg_pool_3x3': lambda c, s, affine: Pool('avg', s),
    'max_pool_3x3': lambda c, s, affine: Pool('max', s),
}


def build_op(name, channels, stride=1, affine=True):
  """Builds the op `name` from the OPS registry.

  Raises:
    ValueError: for an unknown name, listing the known ones.
  """
  if name not in OPS:
    raise ValueError(f'unknown op {name!r}; known ops: {sorted(OPS)}')
  return OPS[name](channels, stride, affine)


class ResNetBasicBlock(layers.Layer):
  """NB201's reduction block: two ReLUConvBN 3x3 + avgpool/1x1 shortcut.

  (AutoDL ``ResNetBasicblock(C_in, C_out, stride=2)``, always affine.)
  """

  def __init__(self, channels, stride=2, **kwargs):
    super().__init__(**kwargs)
    self.conv_a = ReLUConvBN(channels, 3, stride, affine=True)
    self.conv_b = ReLUConvBN(channels, 3, 1, affine=True)
    self.pool = layers.AveragePooling2D(2, strides=2, padding='valid')
    self.short = layers.Conv2D(channels, 1, use_bias=False)

  def call(self, x, training=False):
    y = self.conv_b(self.conv_a(x, training=training), training=training)
    return self.short(self.pool(x)) + y

