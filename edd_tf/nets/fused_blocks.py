"""The fused path of the search-time mixed op: shared inputs and conv blocks.

`mixed_op.MixedOp` computes ``sum_i w_i * op_i(x)`` over one edge's
candidates (DARTS, reference sect. 3.3). Its fused path (the default) gets the
same values as the ops' own calls from the exact rewrites held here:

  * mixing weight as BN scale (`takes_scale`): ops that end in an affine-free
    BatchNorm take their mixing weight as the BN's per-channel scale inside
    the fused kernel (``batch_norm.BatchNorm(scale=)``) instead of as a separate
    multiply: BN(z) * s == fused BN of z with gamma s;
  * shared input (`SharedInput`): the work that does not depend on the edge
    (the leading ReLU of the conv ops, the pooling before the pool ops' BN)
    is done once per input tensor. A search cell passes one SharedInput to
    every edge that leaves the same node, so e.g. a normal DARTS cell runs 5
    ReLUs instead of 56 and 5 max pools instead of 14
    (spaces/nb201_supernet.py FusedNB201SearchCell does the same for NB201);
  * conv blocks that recompute (`pointwise_bn`): each depthwise + 1x1 conv +
    BN block of the conv ops keeps only its input for the backward pass and
    recomputes the rest; FactorizedReduce is one 1x1 conv of a shared
    space_to_depth;
  * dilated depthwise convs (`dilated_depthwise_conv`): under oneDNN,
    stride-1 dilated depthwise convs run without space-to-batch copies.

`AFTER_RELU` maps each op class whose call starts with a ReLU to its call
after that ReLU on a SharedInput; `fused_call` runs it. ``test_fused_blocks``
and ``test_darts_supernet`` check that the fused and the reference path give
the same outputs, gradients and BatchNorm statistics in training mode.
"""

import keras
from keras import ops as K
import tensorflow as tf

from edd_tf.core import kernels
from edd_tf.nets import ops as ops_lib

# Op classes whose last layer is an (affine-free, in search) batch_norm.BatchNorm
# that accepts `scale=`. ops.Pool qualifies only when built with bn=True.
_ENDS_IN_BN = (ops_lib.ReLUConvBN, ops_lib.FactorizedReduce, ops_lib.SepConv,
               ops_lib.DilConv, ops_lib.Conv7x1x7)


def takes_scale(op):
  """Whether ``op(x, scale=s)`` computes ``s * op(x)`` in its final BatchNorm.

  True for ops ending in an affine-free `batch_norm.BatchNorm` (sep/dil convs,
  ReLUConvBN, FactorizedReduce, conv_7x1_1x7, Pool(bn=True)); the mixing
  weight is then exact as the BN scale: BN(z) * s == fused BN of z with gamma s.
  """
  if isinstance(op, ops_lib.Pool):
    return op.bn is not None
  if isinstance(op, _ENDS_IN_BN):
    bn = op.bn_2 if isinstance(op, ops_lib.SepConv) else op.bn
    return not bn.affine
  return False


def _pool_part(op, x):
  """ops.Pool.call without its BatchNorm (the pooling alone)."""
  if op.stride == 1:
    return op.pool(x)
  if op.kind == 'max':
    return op.pool(ops_lib.pad_symmetric(x, 1, float('-inf')))
  ones = K.ones_like(x[:1, :, :, :1])
  return op.pool(ops_lib.pad_symmetric(x, 1)) / op.pool(ops_lib.pad_symmetric(ones, 1))


def dilated_depthwise_conv(x, kernel, dilation):
  """Stride-1 dilated depthwise conv with PyTorch padding d(k-1)/2, no space-to-batch.

  ``tf.nn.depthwise_conv2d(..., dilations=d)`` wraps a plain conv in
  SpaceToBatch / BatchToSpace, which copies the input and output each way
  (~10% of a DARTS cell's time). oneDNN's depthwise kernel dilates natively,
  but its dilated backprop kernels are wrong (TF 2.21), so the gradient is
  custom: the input gradient of a stride-1 'same' conv with an odd kernel is
  the same conv of dy with the flipped kernel; the kernel gradient is taken
  from the space-to-batch formulation (computed only when asked for, e.g. not
  in an alpha step). Without oneDNN (TF's own kernel has no dilation) this is
  tf.nn.depthwise_conv2d.

  Args:
    x: float[B, H, W, C].
    kernel: float[k, k, C, 1] depthwise kernel (the flipped-kernel gradient
      needs k odd; even k takes the space-to-batch path).
    dilation: int >= 1.

  Returns:
    float[B, H, W, C].
  """
  kernel = tf.convert_to_tensor(kernel)
  strides, dilations = [1, 1, 1, 1], [1, dilation, dilation, 1]
  if dilation == 1 or not kernels.onednn_enabled() or kernel.shape[0] % 2 == 0:
    return tf.nn.depthwise_conv2d(x, kernel, strides, 'SAME', dilations=dilations[1:3])

  def native(inputs, filters):
    return tf.raw_ops.DepthwiseConv2dNative(input=inputs, filter=filters, strides=strides,
                                            padding='SAME', dilations=dilations)

  @tf.custom_gradient
  def conv(x, kernel):
    def grad(dy):
      dx = native(dy, kernel[::-1, ::-1])
      # Control dependency: the dataflow executor would otherwise build the
      # space-to-batch copy of x during the forward pass and keep it.
      with tf.control_dependencies([dy]), tf.GradientTape() as tape:
        tape.watch(kernel)
        y = tf.nn.depthwise_conv2d(tf.identity(x), kernel, strides, 'SAME',
                                   dilations=dilations[1:3])
      return dx, tape.gradient(y, kernel, output_gradients=dy)
    return native(x, kernel), grad

  return conv(x, kernel)


def pointwise_bn(x, kernel, bn, scale=None, training=False, depthwise=None):
  """``bn(conv1x1(dw(x), kernel), scale=scale)``, keeping only x for the backward pass.

  A search cell's memory is mostly activations kept for the backward pass:
  the depthwise conv's output (the 1x1 conv's input) and the 1x1 conv's
  output (the BN's input) are two per conv block, 12 of 14 per DARTS edge.
  Here the gradient recomputes them from x (kept anyway: it is the shared
  ReLU or the previous block's output), so a DARTS edge keeps 2 activations
  instead of 14, for one more depthwise and 1x1 conv forward per block and
  backward pass (the cheapest layers of the block). BatchNorm semantics are
  batch_norm.BatchNorm's (biased variance for normalising, unbiased variance into
  the moving average with momentum ``bn.momentum``); in inference mode, in
  low precision and for a BN that synchronises across replicas now, this is
  just the layers.

  Args:
    x: float32[B, H, W, C_in].
    kernel: float32[1, 1, C_in, C_out] bias-free 1x1 conv kernel (stride 1).
    bn: a built, affine-free batch_norm.BatchNorm.
    scale: optional float32[C_out] per-channel multiplier (the mixing weight).
    training: BatchNorm mode.
    depthwise: optional (fn, dw_kernel): a depthwise conv ``fn(x, dw_kernel)``
      (a pure function of its two tensors) before the 1x1 conv; None: none.

  Returns:
    float32[B, H', W', C_out].
  """
  kernel = tf.convert_to_tensor(kernel)
  dw_fn, dw_kernel = depthwise or (lambda x, k: x, tf.zeros([0]))
  dw_kernel = tf.convert_to_tensor(dw_kernel)
  # A synchronised BN all-reduces its statistics: the layer's own call does that.
  if not training or bn.affine or x.dtype != tf.float32 or bn.syncs_now():
    a = dw_fn(x, tf.cast(dw_kernel, x.dtype))
    return bn(tf.nn.conv2d(a, tf.cast(kernel, x.dtype), 1, 'SAME'), training=training,
              scale=scale)
  c = kernel.shape[-1]
  scale = tf.ones([c], tf.float32) if scale is None else tf.cast(scale, tf.float32)
  eps = bn.epsilon

  @tf.custom_gradient
  def block(x, dw_kernel, kernel, scale):
    z = tf.nn.conv2d(dw_fn(x, dw_kernel), kernel, 1, 'SAME')
    y, mean, variance, r1, r2, r3 = tf.raw_ops.FusedBatchNormV3(
        x=z, scale=scale, offset=tf.zeros([c]), mean=tf.constant([]), variance=tf.constant([]),
        epsilon=eps, is_training=True)

    def grad(dy, *unused):
      del unused  # mean and variance only feed the moving averages
      # Recompute only once dy exists (the dataflow executor would otherwise
      # run it during the forward pass), from an Identity of x and with a
      # MatMul (Grappler would merge an identical op with the forward one and
      # keep its output alive).
      with tf.control_dependencies([dy]):
        x_again = tf.identity(x)
      with tf.GradientTape() as tape:
        tape.watch([x_again, dw_kernel])
        a = dw_fn(x_again, dw_kernel)
      z = tf.reshape(tf.matmul(tf.reshape(a, [-1, a.shape[-1]]), kernel[0, 0]), tf.shape(dy))
      dz, dscale = tf.raw_ops.FusedBatchNormGradV3(
          y_backprop=dy, x=z, scale=scale, reserve_space_1=r1, reserve_space_2=r2,
          reserve_space_3=r3, epsilon=eps, is_training=True)[:2]
      da = tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(a), filter=kernel,
                                          out_backprop=dz, strides=[1, 1, 1, 1], padding='SAME')
      dkernel = tf.raw_ops.Conv2DBackpropFilter(input=a, filter_sizes=tf.shape(kernel),
                                                out_backprop=dz, strides=[1, 1, 1, 1],
                                                padding='SAME')
      if depthwise is None:
        dx, d_dw_kernel = da, tf.zeros_like(dw_kernel)
      else:
        dx, d_dw_kernel = tape.gradient(a, [x_again, dw_kernel], output_gradients=da)
      return dx, d_dw_kernel, dkernel, dscale

    return (y, tf.stop_gradient(mean), tf.stop_gradient(variance)), grad

  y, mean, variance = block(x, dw_kernel, kernel, scale)
  m = bn.momentum
  bn.moving_mean.assign(m * bn.moving_mean.value + (1 - m) * mean)
  bn.moving_variance.assign(m * bn.moving_variance.value + (1 - m) * variance)
  return y


class SharedInput:
  """An edge input and what every edge leaving it can share (fused path).

  Everything is computed on first use and cached, so the edges of one source
  node run one ReLU for all their conv candidates, one pooling per (kind,
  stride) for all their pool candidates, one subsampling of the ReLU for
  their stride-2 dilated convs and one space-to-depth for their
  FactorizedReduce ops. The backward pass then sums the edges' gradients
  before one ReluGrad / MaxPoolGrad / StridedSliceGrad per source. All exact:
  the same tensors the ops compute themselves.
  """

  def __init__(self, x):
    """x: float[B, H, W, C] (for PC-DARTS already the first C/K channels)."""
    self.x = x
    self._cache = {}

  def _get(self, key, fn):
    if key not in self._cache:
      self._cache[key] = fn()
    return self._cache[key]

  def relu(self):
    """relu(x): the first layer of every conv op."""
    return self._get('relu', lambda: K.relu(self.x))

  def pooled(self, op):
    """The pooling of ops.Pool `op` (without its BN) applied to x."""
    return self._get(('pool', op.kind, op.stride), lambda: _pool_part(op, self.x))

  def relu_subsampled(self, stride):
    """relu(x)[:, ::stride, ::stride, :]."""
    return self._get(('sub', stride), lambda: self.relu()[:, ::stride, ::stride, :])

  def relu_space_to_depth(self):
    """space_to_depth(relu(x), 2): [B, H/2, W/2, 4C], channel (2 dy + dx) * C + c."""
    return self._get('s2d', lambda: tf.nn.space_to_depth(self.relu(), 2))


def _depthwise(dw, x, shared=None):
  """(input, fn) with ``fn(input, dw.conv.kernel) == dw(x)`` for ops.DepthwiseConv `dw`.

  fn is a pure function of its two tensors (`pointwise_bn` recomputes it).
  Stride-1 dilated convs run without space-to-batch (`dilated_depthwise_conv`).
  A strided dilated conv with the padding a multiple of the stride (DARTS'
  dil_conv in reduction cells: s = d = 2) reads only ``pad(x, p)[::s, ::s] ==
  pad(x[::s, ::s], p/s)``; with a `SharedInput` (x = its ReLU) x[::s, ::s] is
  shared by the source's edges.
  """
  s, d, p = dw.stride, dw.dilation, dw.pad
  if dw.mode == 'same':
    return x, lambda x, k: dilated_depthwise_conv(x, k, d)
  if dw.mode == 'strided':
    return x, lambda x, k: tf.nn.depthwise_conv2d(ops_lib.pad_symmetric(x, p), k, [1, s, s, 1],
                                                  'VALID')
  if dw.mode == 'subsample_input' and p % s == 0:
    sub = shared.relu_subsampled(s) if shared is not None else x[:, ::s, ::s, :]
    return sub, lambda x, k: tf.nn.depthwise_conv2d(ops_lib.pad_symmetric(x, p // s), k,
                                                    [1, 1, 1, 1], 'VALID', dilations=[d // s] * 2)
  return x, lambda x, k: tf.nn.depthwise_conv2d(ops_lib.pad_symmetric(x, p), k, [1, 1, 1, 1],
                                                'VALID', dilations=[d, d])[:, ::s, ::s, :]


def _conv_block(dw, pw, bn, x, training, scale=None, shared=None):
  """bn(pw(dw(x)), scale) through `pointwise_bn` (dw and pw recomputed)."""
  inputs, fn = _depthwise(dw, x, shared)
  return pointwise_bn(inputs, pw.kernel, bn, scale, training, depthwise=(fn, dw.conv.kernel))


# The ops whose call starts with a ReLU of the input, and their call after
# that ReLU, ``fn(op, shared, training, scale)`` on the `SharedInput` of x
# (the same sub-layers and values as the op's own call in ops.py;
# test_fused_blocks checks that both agree).
def _sep_conv_after_relu(op, shared, training, scale):
  y = _conv_block(op.dw_1, op.pw_1, op.bn_1, shared.relu(), training, shared=shared)
  return _conv_block(op.dw_2, op.pw_2, op.bn_2, K.relu(y), training, scale)


def _dil_conv_after_relu(op, shared, training, scale):
  return _conv_block(op.dw, op.pw, op.bn, shared.relu(), training, scale, shared)


def _relu_conv_bn_after_relu(op, shared, training, scale):
  if op.conv.kernel.shape[:2] == (1, 1) and op.conv.strides == (1, 1):
    return pointwise_bn(shared.relu(), op.conv.kernel, op.bn, scale, training)
  return op.bn(op.conv(ops_lib.pad_symmetric(shared.relu(), op.pad)), training=training,
               scale=scale)


def _factorized_reduce_after_relu(op, shared, training, scale):
  """FactorizedReduce as one 1x1 conv of space_to_depth(relu(x)) (even sizes).

  conv_1 (1x1, stride 2 in the reference) reads the pixels (2i, 2j) of relu(x), conv_2 on the
  shifted input the pixels (2i+1, 2j+1): the channel blocks 0 and 3 of
  space_to_depth(relu(x), 2). One conv with a block kernel gives their
  concatenation directly: no slice, pad or concat (whose gradients copy
  full-size tensors), and the space-to-depth is shared by the source's edges.
  """
  r = shared.relu()
  h, w = r.shape[1], r.shape[2]
  if h is None or w is None or h % 2 or w % 2:
    return op.bn(op.reduce(r), training=training, scale=scale)
  k1 = tf.convert_to_tensor(op.conv_1.kernel)[0, 0]  # [C_in, C_out/2]
  k2 = tf.convert_to_tensor(op.conv_2.kernel)[0, 0]
  zeros = tf.zeros_like(k1)
  kernel = tf.concat([tf.concat([k1, zeros], axis=1),
                      tf.zeros([2 * k1.shape[0], 2 * k1.shape[1]], k1.dtype),
                      tf.concat([zeros, k2], axis=1)], axis=0)
  return pointwise_bn(shared.relu_space_to_depth(), kernel[None, None], op.bn, scale, training)


def _conv7x1x7_after_relu(op, shared, training, scale):
  y = op.conv_1(ops_lib.pad_symmetric(shared.relu(), (0, 3)))
  return op.bn(op.conv_2(ops_lib.pad_symmetric(y, (3, 0))), training=training, scale=scale)


AFTER_RELU = {
    ops_lib.SepConv: _sep_conv_after_relu,
    ops_lib.DilConv: _dil_conv_after_relu,
    ops_lib.ReLUConvBN: _relu_conv_bn_after_relu,
    ops_lib.FactorizedReduce: _factorized_reduce_after_relu,
    ops_lib.Conv7x1x7: _conv7x1x7_after_relu,
}


def fused_call(op, shared, training, scale=None):
  """``op(x, training, scale=scale)`` for an op in AFTER_RELU, on the shared tensors of x."""
  with keras.name_scope(op.name, caller=op):
    return AFTER_RELU[type(op)](op, shared, training, scale)
