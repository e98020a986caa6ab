"""Candidate operations and the OPS registry shared by supernets and final nets.

Every op is a Keras layer built by ``build_op(name, channels, stride, affine)``;
images are NHWC. ``affine=False`` gives the search-time ops (BatchNorm without
scale/offset, as in the DARTS and NB201 supernets); ``affine=True`` the
evaluation ops. BatchNorm uses PyTorch's defaults translated to Keras
(momentum 0.1 -> 0.9, eps 1e-5).

Padding follows PyTorch exactly (reference sect. 3.2). A PyTorch conv or pool
with padding p pads p zeros on *both* sides, so output pixel i is centred on
input pixel ``s*i`` and the size is ``floor((H + 2p - d(k-1) - 1)/s) + 1``.
Keras 'same' agrees at stride 1 (odd kernels pad symmetrically), but at stride
2 on even sizes it pads 0 before and 1 after, which shifts the sampling grid
by one pixel. So every strided op here pads ``p = d*(k-1)/2`` explicitly on
both sides and runs a 'valid' conv/pool; stride-1 ops keep 'same'.
"""

import keras
from keras import layers
from keras import ops as K

from edd_tf.nets import batch_norm as batch_norm_lib


class LazyLayer(layers.Layer):
  """A layer whose sub-layers create their weights on their own first call.

  Keras 3 builds a layer without a ``build()`` by first tracing ``call`` on
  symbolic inputs, again at every nesting level; for a 20-cell DARTS network
  that alone took ~20 s on CPU. Composite layers here only hold sub-layers
  (which build themselves lazily), so there is nothing to build.
  """

  def build(self, input_shape=None):
    del input_shape

  def __call__(self, *args, **kwargs):
    outputs = super().__call__(*args, **kwargs)
    # Past Keras' attribute tracking: a plain record, not state.
    object.__setattr__(self, '_output_shape', tuple(getattr(outputs, 'shape', ()) or ()) or None)
    return outputs

  @property
  def output_shape(self):
    """The shape of the last output (what summary() shows; Keras cannot infer it here).

    Overriding compute_output_shape instead would stop Keras from tracing `call`
    on symbolic inputs, which is what builds these layers in a functional model.
    """
    shape = getattr(self, '_output_shape', None)
    if shape is None:
      raise AttributeError('output_shape: the layer has not been called yet')
    return shape


def conv(channels, kernel, stride=1, dilation=1, groups=1, name=None, padding='same'):
  """Bias-free convolution (DARTS/DrNAS use bias=False).

  'same' padding is PyTorch's symmetric padding only at stride 1; strided
  callers pass ``padding='valid'`` and pad with `pad_symmetric` first.
  """
  return layers.Conv2D(channels, kernel, strides=stride, padding=padding,
                       dilation_rate=dilation, groups=groups, use_bias=False, name=name)


def pad_symmetric(x, pad, value=0.0):
  """Pads `pad` pixels on both sides of H and W (PyTorch ``padding=pad``).

  Args:
    x: float[B, H, W, C].
    pad: int, or a (pad_h, pad_w) pair.
    value: the fill value (-inf for max pooling).

  Returns:
    float[B, H + 2 pad_h, W + 2 pad_w, C].
  """
  ph, pw = (pad, pad) if isinstance(pad, int) else pad
  if not ph and not pw:
    return x
  return K.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]], constant_values=value)


class ReLUConvBN(LazyLayer):
  """ReLU -> Conv -> BN (DARTS operations.py, NB201 nor_conv_kxk).

  Padding (kernel-1)/2 on both sides as in PyTorch (see module docstring).
  ``call(x, training, scale=s)`` passes a per-channel ``s`` to the final
  affine-free BN (see `batch_norm.BatchNorm`), i.e. returns ``s * op(x)`` in one kernel.
  """

  def __init__(self, channels, kernel, stride, affine, **kwargs):
    super().__init__(**kwargs)
    self.pad = (kernel - 1) // 2 if stride > 1 else 0
    self.conv = conv(channels, kernel, stride, padding='valid' if stride > 1 else 'same')
    self.bn = batch_norm_lib.batch_norm(affine)

  def call(self, x, training=False, scale=None):
    return self.bn(self.conv(pad_symmetric(K.relu(x), self.pad)), training=training,
                   scale=scale)


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


class FactorizedReduce(LazyLayer):
  """Halves the resolution with two offset 1x1 stride-2 convs (DARTS).

  A 1x1 stride-2 'valid' conv equals a stride-1 1x1 conv of the input
  subsampled at (2i, 2j), which is how it runs here: oneDNN corrupts the heap
  (or returns a wrong kernel gradient) in the filter gradient of a 1x1
  stride-2 conv with few input channels on large maps (C_in 4-8 at 56-64 px;
  oneDNN #6035; core/kernels.py turns oneDNN on by default), and its stride-1
  kernels are fine there. Same weights, outputs and checkpoint keys as the
  strided convs.

  ``scale=`` as in `ReLUConvBN` (affine=False only).
  """

  def __init__(self, channels, affine, **kwargs):
    super().__init__(**kwargs)
    if channels % 2:
      raise ValueError(f'FactorizedReduce needs an even channel count, got {channels}')
    self.conv_1 = layers.Conv2D(channels // 2, 1, padding='valid', use_bias=False)
    self.conv_2 = layers.Conv2D(channels // 2, 1, padding='valid', use_bias=False)
    self.bn = batch_norm_lib.batch_norm(affine)

  def call(self, x, training=False, scale=None):
    return self.bn(self.reduce(K.relu(x)), training=training, scale=scale)

  def reduce(self, r):
    """The two convs' concatenated output for r = relu(x) (before the BN)."""
    # PyTorch's x[:, :, 1:, 1:] with a 1x1 stride-2 conv: pad one row/col at the
    # end so odd and even sizes behave as in the reference.
    shifted = K.pad(r[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])
    return K.concatenate([self.conv_1(r[:, ::2, ::2, :]), self.conv_2(shifted[:, ::2, ::2, :])],
                         axis=-1)


class Pool(LazyLayer):
  """3x3 avg/max pooling, padding 1 on both sides (PyTorch semantics).

  Average pooling divides by the number of non-padding inputs, i.e. PyTorch's
  ``count_include_pad=False`` (TF's SAME average pooling does the same at
  stride 1). At stride > 1 the input is padded explicitly (with -inf for max,
  with zeros for avg, then divided by the pooled count of real pixels) and
  pooled 'valid', so the grid matches PyTorch on even sizes too.

  ``bn=True`` appends an affine-free BN, as DARTS' search MixedOp does for every
  pooling op (reference sect. 3.3); NB201 has none (sect. 2.1). Only then
  ``call(x, training, scale=s)`` passes a per-channel ``s`` to that BN.
  """

  def __init__(self, kind, stride, bn=False, **kwargs):
    super().__init__(**kwargs)
    if kind not in ('avg', 'max'):
      raise ValueError(f'Pool kind must be "avg" or "max", got {kind!r}')
    self.kind = kind
    self.stride = stride
    cls = layers.AveragePooling2D if kind == 'avg' else layers.MaxPooling2D
    self.pool = cls(3, strides=stride, padding='same' if stride == 1 else 'valid')
    self.bn = batch_norm_lib.batch_norm(False) if bn else None

  def call(self, x, training=False, scale=None):
    if scale is not None and self.bn is None:
      raise ValueError('Pool(bn=False) has no BatchNorm to take a scale; build it with bn=True')
    if self.stride == 1:
      y = self.pool(x)
    elif self.kind == 'max':
      y = self.pool(pad_symmetric(x, 1, float('-inf')))
    else:
      ones = K.ones_like(x[:1, :, :, :1])
      y = self.pool(pad_symmetric(x, 1)) / self.pool(pad_symmetric(ones, 1))
    return self.bn(y, training=training, scale=scale) if self.bn is not None else y


class DepthwiseConv(LazyLayer):
  """Bias-free depthwise k x k conv with PyTorch padding ``dilation*(k-1)/2``.

  Equals PyTorch ``Conv2d(C, C, k, stride, padding=dilation*(k-1)//2,
  dilation=dilation, groups=C, bias=False)``; output size
  ``floor((H + 2p - d(k-1) - 1)/s) + 1 = ceil(H/s)``. TF has no strided
  dilated depthwise conv, so for stride s > 1 and dilation d > 1:
    * if s divides d (DARTS' dil_conv in reduction cells, s = d = 2):
      output i sums ``xpad[s*i + d*a]`` over taps a, which only reads every
      s-th padded pixel, so it equals a dilation-d/s conv on ``xpad[::s, ::s]``
      (exact, and s^2 times cheaper than the next variant);
    * otherwise: the stride-1 dilated conv, then ``[:, ::s, ::s]``.
  """

  def __init__(self, kernel, stride=1, dilation=1, **kwargs):
    super().__init__(**kwargs)
    self.kernel, self.stride, self.dilation = kernel, stride, dilation
    self.pad = dilation * (kernel - 1) // 2
    if stride == 1:
      self.mode, conv_stride, conv_dilation, padding = 'same', 1, dilation, 'same'
    elif dilation == 1:
      self.mode, conv_stride, conv_dilation, padding = 'strided', stride, 1, 'valid'
    elif dilation % stride == 0:
      self.mode, conv_stride, conv_dilation, padding = 'subsample_input', 1, dilation // stride, 'valid'
    else:
      self.mode, conv_stride, conv_dilation, padding = 'subsample_output', 1, dilation, 'valid'
    self.conv = layers.DepthwiseConv2D(kernel, strides=conv_stride, dilation_rate=conv_dilation,
                                       padding=padding, use_bias=False)

  def call(self, x):
    s = self.stride
    if self.mode == 'same':
      return self.conv(x)
    x = pad_symmetric(x, self.pad)
    if self.mode == 'strided':
      return self.conv(x)
    if self.mode == 'subsample_input':
      return self.conv(x[:, ::s, ::s, :])
    return self.conv(x)[:, ::s, ::s, :]


class SepConv(LazyLayer):
  """DARTS SepConv: two stacked [ReLU, depthwise k x k, 1x1 conv, BN] blocks.

  The first depthwise conv has the stride, the second stride 1; padding
  (k-1)/2 (reference sect. 3.2). ``scale=`` goes to the last BN (see
  `ReLUConvBN`).
  """

  def __init__(self, channels, kernel, stride, affine, **kwargs):
    super().__init__(**kwargs)
    self.dw_1 = DepthwiseConv(kernel, stride)
    self.pw_1 = conv(channels, 1)
    self.bn_1 = batch_norm_lib.batch_norm(affine)
    self.dw_2 = DepthwiseConv(kernel, 1)
    self.pw_2 = conv(channels, 1)
    self.bn_2 = batch_norm_lib.batch_norm(affine)

  def call(self, x, training=False, scale=None):
    x = self.bn_1(self.pw_1(self.dw_1(K.relu(x))), training=training)
    return self.bn_2(self.pw_2(self.dw_2(K.relu(x))), training=training, scale=scale)


class DilConv(LazyLayer):
  """DARTS DilConv: ReLU, dilated depthwise k x k (stride s), 1x1 conv, BN.

  Padding dilation*(k-1)/2; see `DepthwiseConv` for the strided dilated case.
  ``scale=`` goes to the BN (see `ReLUConvBN`).
  """

  def __init__(self, channels, kernel, stride, dilation, affine, **kwargs):
    super().__init__(**kwargs)
    self.dw = DepthwiseConv(kernel, stride, dilation)
    self.pw = conv(channels, 1)
    self.bn = batch_norm_lib.batch_norm(affine)

  def call(self, x, training=False, scale=None):
    return self.bn(self.pw(self.dw(K.relu(x))), training=training, scale=scale)


class Conv7x1x7(LazyLayer):
  """DARTS 'conv_7x1_1x7': ReLU, 1x7 conv (stride (1,s)), 7x1 conv (stride (s,1)), BN.

  ``scale=`` goes to the BN (see `ReLUConvBN`).
  """

  def __init__(self, channels, stride, affine, **kwargs):
    super().__init__(**kwargs)
    self.stride = stride
    self.conv_1 = layers.Conv2D(channels, (1, 7), strides=(1, stride), padding='valid',
                                use_bias=False)
    self.conv_2 = layers.Conv2D(channels, (7, 1), strides=(stride, 1), padding='valid',
                                use_bias=False)
    self.bn = batch_norm_lib.batch_norm(affine)

  def call(self, x, training=False, scale=None):
    x = self.conv_1(pad_symmetric(K.relu(x), (0, 3)))
    x = self.conv_2(pad_symmetric(x, (3, 0)))
    return self.bn(x, training=training, scale=scale)


class Noise(LazyLayer):
  """RobustDARTS S4 'noise' op (src/operations.py NoiseOp, reference 5.2).

  Returns N(mean, std) noise shaped like the (strided) input, in training and
  at inference alike. It does not depend on the input values, so no gradient
  flows to x. Randomness comes from a Keras SeedGenerator (works in
  tf.function; seeded by ``keras.utils.set_random_seed``).
  """

  def __init__(self, stride, mean=0.0, std=1.0, seed=None, **kwargs):
    super().__init__(**kwargs)
    self.stride, self.mean, self.std = stride, mean, std
    self.seed_generator = keras.random.SeedGenerator(seed)

  def call(self, x, training=False):
    if self.stride > 1:
      x = x[:, ::self.stride, ::self.stride, :]
    return keras.random.normal(K.shape(x), mean=self.mean, stddev=self.std, dtype=x.dtype,
                               seed=self.seed_generator)


def _skip(channels, stride, affine):
  return Identity() if stride == 1 else FactorizedReduce(channels, affine)


# name -> builder(channels, stride, affine). Ops keep the channel count; the
# stride applies to the spatial dims. NB201 ops (reference sect. 2.1), DARTS
# ops (sect. 3.2) and RobustDARTS' 'noise' (sect. 5.2).
OPS = {
    'none': lambda c, s, affine: Zero(s),
    'skip_connect': _skip,
    'nor_conv_1x1': lambda c, s, affine: ReLUConvBN(c, 1, s, affine),
    'nor_conv_3x3': lambda c, s, affine: ReLUConvBN(c, 3, s, affine),
    'avg_pool_3x3': lambda c, s, affine: Pool('avg', s),
    'max_pool_3x3': lambda c, s, affine: Pool('max', s),
    'sep_conv_3x3': lambda c, s, affine: SepConv(c, 3, s, affine),
    'sep_conv_5x5': lambda c, s, affine: SepConv(c, 5, s, affine),
    'sep_conv_7x7': lambda c, s, affine: SepConv(c, 7, s, affine),
    'dil_conv_3x3': lambda c, s, affine: DilConv(c, 3, s, 2, affine),
    'dil_conv_5x5': lambda c, s, affine: DilConv(c, 5, s, 2, affine),
    'conv_7x1_1x7': lambda c, s, affine: Conv7x1x7(c, s, affine),
    'noise': lambda c, s, affine: Noise(s),
}


def build_op(name, channels, stride=1, affine=True):
  """Builds the op `name` from the OPS registry.

  Raises:
    ValueError: for an unknown name, listing the known ones.
  """
  if name not in OPS:
    raise ValueError(f'unknown op {name!r}; known ops: {sorted(OPS)}')
  return OPS[name](channels, stride, affine)


class ResNetBasicBlock(LazyLayer):
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
