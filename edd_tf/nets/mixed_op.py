"""The search-time mixed operation of one edge: DARTS, PC-DARTS and GDAS.

``MixedOp(op_names, channels, stride)`` holds one candidate op per name (built
with ``affine=False``, as in every search supernet) and mixes them with
weights supplied by the caller (the architecture variables live outside the
model, see spaces/darts_supernet.py and spaces/nb201_supernet.py):

  * DARTS (reference sect. 3.3): ``sum_i w_i * op_i(x)``;
  * PC-DARTS (sect. 4.1): the same on the first C/K channels only, the other
    channels bypass the ops, followed by a channel shuffle (partial_channel.py);
  * GDAS (sect. 2.2/2.6): only the sampled op runs,
    ``w[k] * op_k(x) + sum_{i != k} w_i`` for the sampled k (`MixedOp.sample`).

Two paths compute the same sum:
  * the reference path (``fused=False``): ``w_i * op_i(x)`` with every op's
    own ``call``, as the PyTorch references are written (`mix_reference`);
  * the fused path (default): the mixing weight as the BN scale of the ops
    ending in an affine-free BatchNorm, the edge-independent work (leading
    ReLU, pooling) shared by the edges leaving a node, and conv blocks that
    recompute their activations in the backward pass (`mix_shared`; the
    rewrites are in fused_blocks.py).

The reference path (ops' own calls) is kept for tests and for checking a new
op; ``test_fused_blocks`` and ``test_darts_supernet`` check that both paths
give the same outputs, gradients and BatchNorm statistics in training mode.

R-DARTS(DP) drops whole samples of an edge's output (`drop_edge`): the
supernets pass ``drop_path=(rate, seed)`` down to every mixed edge in training
mode (RobustDARTS model_search.py 60-63; ../shared/docs/baselines.md part 2,
sect. 4); None (the default) leaves every graph as it was.
"""

import functools

from keras import ops as K
import tensorflow as tf

from edd_tf.nets import darts_cell
from edd_tf.nets import fused_blocks
from edd_tf.nets import ops as ops_lib
from edd_tf.nets import partial_channel


# DARTS-: the key of the auxiliary-skip coefficient beta (a float32 scalar) in
# the mixing weights a method hands the supernet (spaces/darts_supernet.py adds
# beta * aux(x) to every edge's mixed sum when it is present).
AUX_SKIP_KEY = 'aux_skip'


def fold_drop_path(drop_path, index):
  """(rate, seed) of part `index` (a cell of the supernet, an edge of a cell): seed folded in."""
  if drop_path is None:
    return None
  rate, seed = drop_path
  return rate, darts_cell.fold_seed(seed, index)


def drop_edge(y, drop_path):
  """R-DARTS' ScheduledDropPath on one mixed edge's output: y * m / (1 - p) per sample.

  m ~ Bernoulli(1 - p) of shape [B, 1, 1, 1] (the final networks'
  `darts_cell.drop_path`), drawn statelessly from the edge's seed
  (`fold_drop_path`), so a step's masks are a function of its seed and a
  resumed run draws the same ones.

  Args:
    y: float[B, H, W, C] the edge's mixed output, or None (every op 'none').
    drop_path: None (y is returned as is), or (rate, seed): float32 scalar
      p in [0, 1) and int32[2] the edge's seed.

  Returns:
    float[B, H, W, C], or None when y is None.
  """
  if drop_path is None or y is None:
    return y
  rate, seed = drop_path
  return darts_cell.drop_path(y, rate, seed)


def build_eagerly(layer, shape, dtype=tf.float32):
  """Runs `layer` once on zeros of `shape` in inference mode, eagerly.

  Creates the variables of the layer and its sub-layers through the layer's
  own call (so they get the same paths as in the reference path) outside any
  tf.function or control-flow branch (tf.init_scope); inference mode leaves
  the BatchNorm statistics unchanged.
  """
  with tf.init_scope():
    layer(tf.zeros(shape, dtype), training=False)


def strided_zeros(x, stride):
  """Zeros shaped like the output of a stride-`stride` op on x (the 'none' op).

  Args:
    x: float[B, H, W, C].
    stride: int.

  Returns:
    float[B, ceil(H/stride), ceil(W/stride), C] zeros.
  """
  if stride > 1:
    x = x[:, ::stride, ::stride, :]
  return tf.zeros_like(x)


class MixedOp(ops_lib.LazyLayer):
  """The mixed operation of one search edge (DARTS / PC-DARTS / GDAS).

  'none' is not built: it contributes w * 0 = 0 to the sum and nothing to any
  gradient (as the references' Zero op). If every candidate is 'none' the
  output is zeros of the strided shape.

  Attributes:
    op_names: tuple of the candidate names (column order of `weights`).
    candidates: list of (column, name, op) for the non-'none' candidates.
    op_channels: channels the candidate ops see (channels // partial_channels).
  """

  def __init__(self, op_names, channels, stride, *, pool_bn=False, partial_channels=1,
               affine=False, fused=True, **kwargs):
    """Builds the candidate ops.

    Args:
      op_names: sequence of op names from ops.OPS (one edge's candidates).
      channels: C, input and output channels of the edge.
      stride: 1, or 2 on the reduction edges.
      pool_bn: append an affine-free BN to pooling ops (DARTS model_search.py
        MixedOp; NB201 has none).
      partial_channels: K of PC-DARTS; the ops see C // K channels, the rest
        bypass them. 1 = plain DARTS.
      affine: BN affine parameters in the candidate ops (False in search).
      fused: the fused path (mixing weights as BN scales, shared ReLU and
        pooling); False = the reference path. Same values either way.
      **kwargs: keras.layers.Layer arguments (name, ...).

    Raises:
      ValueError: for an empty op list, an unknown op name, or a
        `partial_channels` that is < 1 or does not divide `channels`.
    """
    super().__init__(**kwargs)
    op_names = tuple(op_names)
    if not op_names:
      raise ValueError('MixedOp needs at least one candidate op, got an empty op_names')
    op_channels = partial_channel.head_channels(channels, partial_channels)
    self.op_names = op_names
    self.channels = channels
    self.stride = stride
    self.partial_channels = partial_channels
    self.op_channels = op_channels
    self.fused = fused
    self.candidates = []
    for column, name in enumerate(op_names):
      if name == 'none':
        continue
      if pool_bn and name in ('avg_pool_3x3', 'max_pool_3x3'):
        # DARTS model_search.py: pooling ops get BatchNorm2d(C, affine=False).
        op = ops_lib.Pool(name[:3], stride, bn=True, name=f'{name}_{column}')
      else:
        op = ops_lib.build_op(name, self.op_channels, stride, affine)
      self.candidates.append((column, name, op))
    # PC-DARTS: the bypassed channels of a reduction edge go through
    # nn.MaxPool2d(2, 2) so that they match the strided ops' output.
    self.bypass_pool = partial_channel.bypass_pool(partial_channels, stride)
    self._candidates_built = False
    # Columns whose op runs (None = all): DrNAS' pruned ops have weight exactly 0
    # and are skipped (DrNAS model_search.py:45). Read when a step is traced.
    self.active_columns = None

  def live_candidates(self):
    """The (column, name, op) candidates that run: all unless `active_columns` is set."""
    if self.active_columns is None:
      return self.candidates
    return [c for c in self.candidates if c[0] in self.active_columns]

  def call(self, x, weights, index=None, training=False, drop_path=None):
    """Mixes the candidate ops.

    Args:
      x: float[B, H, W, C] edge input.
      weights: float32[num_ops] mixing weights of this edge (column i for
        op_names[i]).
      index: optional int32 scalar tensor (GDAS): run only candidate `index`
        and return ``w[index] * op_index(x) + sum_{i != index} w_i`` (AutoDL
        forward_gdas; with straight-through one-hot weights the second term
        is 0 but gives every weight a gradient). The other ops are not run,
        also in graph mode (tf.switch_case).
      training: BatchNorm mode.
      drop_path: None, or this edge's (rate, seed) of R-DARTS' drop path on
        its output (`fold_drop_path`, `drop_edge`); the supernets pass it in
        training mode only.

    Returns:
      float[B, ceil(H/stride), ceil(W/stride), C].
    """
    weights = self.check_inputs(x, weights)
    head = self.head(x)
    if index is not None:
      out = self.sample(head, weights, index, training)
    elif self.fused:
      out = self.mix_shared(fused_blocks.SharedInput(head), weights, training)
    else:
      out = self.mix_reference(head, weights, training)
    if out is None:
      out = strided_zeros(head, self.stride)
    if self.partial_channels > 1:
      out = partial_channel.shuffle_concat(out, self.bypass(x), self.partial_channels)
    return drop_edge(out, drop_path)

  def check_inputs(self, x, weights):
    """Checks the channel count and the weights' shape; returns the weights tensor."""
    c = x.shape[-1]
    if c != self.channels:
      raise ValueError(f'MixedOp built for {self.channels} channels got an input with {c}')
    weights = tf.convert_to_tensor(weights)
    if weights.shape.rank != 1 or weights.shape[0] != len(self.op_names):
      raise ValueError(f'MixedOp weights must have shape [{len(self.op_names)}] for ops '
                       f'{self.op_names}, got {weights.shape}')
    self.build_candidates(x)
    return weights

  def head(self, x):
    """The channels that go through the ops (PC-DARTS xtemp = x[:, :C//k])."""
    return partial_channel.head(x, self.op_channels, self.partial_channels)

  def bypass(self, x):
    """PC-DARTS xtemp2 = x[:, C//k:], max-pooled 2x2 on a reduction edge."""
    return partial_channel.bypass(x, self.op_channels, self.bypass_pool)

  def mix_reference(self, x, weights, training):
    """sum_i w_i * op_i(x) with each op's own call; None if all ops are 'none'."""
    terms = [K.cast(weights[col], x.dtype) * op(x, training=training)
             for col, _, op in self.live_candidates()]
    return tf.add_n(terms) if terms else None

  def mix_shared(self, shared, weights, training):
    """The fused path: sum_i w_i * op_i(shared.x), None if all ops are 'none'.

    Args:
      shared: a `fused_blocks.SharedInput` of the (head of the) edge input;
        edges leaving the same node may pass the same one.
      weights: float32[num_ops].
      training: BatchNorm mode.
    """
    candidates = self.live_candidates()
    if not candidates:
      return None
    # One Unpack (and one BroadcastTo for the BN scales) per edge instead of
    # a slice and a fill per candidate: fewer graph nodes to trace and run.
    columns = tf.unstack(weights)
    scales = None
    if any(fused_blocks.takes_scale(op) for _, _, op in candidates):
      scales = tf.unstack(tf.broadcast_to(tf.cast(weights, tf.float32)[:, None],
                                          [len(self.op_names), self.op_channels]))
    terms = [self.fused_term(op, shared, columns[col],
                             scales[col] if fused_blocks.takes_scale(op) else None, training)
             for col, _, op in candidates]
    return terms[0] if len(terms) == 1 else tf.add_n(terms)

  def fused_term(self, op, shared, w, scale, training):
    """w * op(x) for one candidate, computed on the shared tensors.

    Args:
      op: the candidate.
      shared: the `SharedInput`.
      w: float32 scalar mixing weight.
      scale: float32[op_channels] filled with w if `fused_blocks.takes_scale(op)`,
        else None.
      training: BatchNorm mode.
    """
    x = shared.x
    if isinstance(op, ops_lib.Pool):
      y = shared.pooled(op)
      if scale is not None:
        return op.bn(y, training=training, scale=scale)
      return K.cast(w, y.dtype) * y
    if type(op) in fused_blocks.AFTER_RELU and scale is not None:
      return fused_blocks.fused_call(op, shared, training, scale)
    if isinstance(op, ops_lib.Identity):
      return K.cast(w, x.dtype) * x
    if scale is not None:
      return op(x, training=training, scale=scale)
    return K.cast(w, x.dtype) * op(x, training=training)

  def build_candidates(self, x):
    """Creates every candidate's variables through its own call, once.

    Variables must not be created inside a tf.switch_case branch, and the
    fused path reads the ops' sub-layers' variables directly; see
    `build_eagerly`.
    """
    if self._candidates_built:
      return
    shape = [1, x.shape[1] or 8, x.shape[2] or 8, self.op_channels]
    for _, _, op in self.candidates:
      if not isinstance(op, (ops_lib.Noise, ops_lib.Identity)):
        build_eagerly(op, shape, x.dtype)
    self._candidates_built = True

  def sample(self, x, weights, index, training):
    """GDAS: w[index] * op_index(x) + sum_{i != index} w_i, running only op_index."""
    index = tf.convert_to_tensor(index, tf.int32)
    ops_by_column = {col: op for col, _, op in self.candidates}

    def branch(col):
      op = ops_by_column.get(col)
      if op is None:  # 'none'
        return strided_zeros(x, self.stride)
      w = weights[col]
      if self.fused and fused_blocks.takes_scale(op):
        return op(x, training=training, scale=tf.fill([self.op_channels], tf.cast(w, tf.float32)))
      return K.cast(w, x.dtype) * op(x, training=training)

    n = len(self.op_names)
    out = tf.switch_case(index, [functools.partial(branch, col) for col in range(n)])
    # AutoDL forward_gdas: + hardwts[j] for every j != argmax (a scalar).
    others = tf.reduce_sum(weights * (1.0 - tf.one_hot(index, n, dtype=weights.dtype)))
    return out + K.cast(others, out.dtype)
