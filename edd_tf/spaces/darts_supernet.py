"""The DARTS-space search supernet (quark0/darts model_search.py) and S1-S4.

The architecture variables live outside the model (as in supernet.py): the
search method turns them into mixing weights
``{'alphas_normal': float32[14, n_normal_ops], 'alphas_reduce': float32[14, n_reduce_ops]}``
and passes them to ``DartsSupernet.call``. Edge normalisation (PC-DARTS betas,
reference sect. 4.2) is folded into those weights by the method: node
``sum_j beta_j * MixedOp_j(h_j, alpha_j)`` equals the mixed op with weights
``beta_j * alpha_j``.

DARTS- (``aux_skip=True``): every mixed edge gets an auxiliary skip outside
the softmax, ``edge = sum_o w_o o(x) + beta * aux(x)``, aux the identity at
stride 1 and a learnable FactorizedReduce (affine-free) at stride 2
(../shared/docs/baselines.md part 2 sect. 2). beta is the scalar
``weights[AUX_SKIP_KEY]`` the method passes with the mixing weights; without
that key (read-out, the discretized accuracy, other methods) the term is left
out. ``aux_skip=False`` builds exactly the plain supernet.

R-DARTS(DP) (``call(..., drop_path=(rate, seed))`` in training mode): every
mixed edge's output (its weighted sum, before DARTS-'s aux term) is dropped per
sample with probability ``rate`` and the rest rescaled by 1 / (1 - rate),
RobustDARTS model_search.py 60-63 (baselines.md part 2, sect. 4). Cell i's
seed is ``fold_in(seed, i)``, edge k's ``fold_in(cell seed, k)``, so the fused
and the reference path draw the same masks. ``drop_path=None`` (the default)
builds the same graph as before.

Each edge has its own op list (RobustDARTS S1 differs per edge, reference sect.
5.1; the DARTS space repeats DARTS_OPS 14 times), so a space is a pair
``(normal_ops, reduce_ops)`` of 14 op-name tuples each.
"""

import keras
from keras import layers as layers_lib
from keras import ops as K
import tensorflow as tf

from edd_tf.arch import genotype as genotype_lib
from edd_tf.nets import fused_blocks
from edd_tf.nets import mixed_op
from edd_tf.nets import batch_norm as batch_norm_lib
from edd_tf.nets import ops as ops_lib
from edd_tf.nets import partial_channel


def darts_edges(steps=4):
  """(to_node, from_node) of every mixed edge, in DARTS order.

  Nodes 0 and 1 are the cell inputs; intermediate node i (2 <= i < steps + 2)
  has one edge from every earlier node.
  """
  return tuple((i, j) for i in range(2, steps + 2) for j in range(i))


# quark0/darts model_search.py Cell order (reference sect. 5.1): edges 0-1 ->
# node 2 (from inputs 0, 1); 2-4 -> node 3; 5-8 -> node 4; 9-13 -> node 5.
DARTS_EDGES = darts_edges(4)

AUX_SKIP_KEY = mixed_op.AUX_SKIP_KEY


def edge_groups(steps=4):
  """[(start, end), ...]: the slice of the edges of each intermediate node.

  ``edge_groups(4) == [(0, 2), (2, 5), (5, 9), (9, 14)]``: the slices over which
  PC-DARTS normalises its edge betas (reference sect. 4.2).
  """
  groups, start = [], 0
  for i in range(steps):
    groups.append((start, start + i + 2))
    start += i + 2
  return groups


def _repeat(ops, n=len(DARTS_EDGES)):
  return tuple(tuple(ops) for _ in range(n))


# The DARTS space: the 8 DARTS primitives on every edge of both cells.
DARTS_SPACE = (_repeat(genotype_lib.DARTS_OPS), _repeat(genotype_lib.DARTS_OPS))

# RobustDARTS src/spaces.py, verbatim (reference sect. 5.1):
# {space: (normal op lists, reduce op lists)}, one op tuple per edge.
_S1_NORMAL = (
    ('skip_connect', 'dil_conv_3x3'),  # 0
    ('skip_connect', 'dil_conv_5x5'),  # 1
    ('skip_connect', 'dil_conv_5x5'),  # 2
    ('skip_connect', 'sep_conv_3x3'),  # 3
    ('skip_connect', 'dil_conv_3x3'),  # 4
    ('max_pool_3x3', 'skip_connect'),  # 5
    ('skip_connect', 'sep_conv_3x3'),  # 6
    ('skip_connect', 'sep_conv_3x3'),  # 7
    ('skip_connect', 'dil_conv_3x3'),  # 8
    ('skip_connect', 'sep_conv_3x3'),  # 9
    ('max_pool_3x3', 'skip_connect'),  # 10
    ('skip_connect', 'dil_conv_3x3'),  # 11
    ('dil_conv_3x3', 'dil_conv_5x5'),  # 12
    ('dil_conv_3x3', 'dil_conv_5x5'),  # 13
)
_S1_REDUCE = (
    ('max_pool_3x3', 'avg_pool_3x3'),  # 0
    ('max_pool_3x3', 'dil_conv_3x3'),  # 1
    ('max_pool_3x3', 'avg_pool_3x3'),  # 2
    ('max_pool_3x3', 'avg_pool_3x3'),  # 3
    ('skip_connect', 'dil_conv_5x5'),  # 4
    ('max_pool_3x3', 'avg_pool_3x3'),  # 5
    ('max_pool_3x3', 'sep_conv_3x3'),  # 6
    ('skip_connect', 'dil_conv_3x3'),  # 7
    ('skip_connect', 'dil_conv_5x5'),  # 8
    ('max_pool_3x3', 'avg_pool_3x3'),  # 9
    ('max_pool_3x3', 'avg_pool_3x3'),  # 10
    ('skip_connect', 'dil_conv_5x5'),  # 11
    ('skip_connect', 'dil_conv_5x5'),  # 12
    ('skip_connect', 'dil_conv_5x5'),  # 13
)
ROBUST_DARTS_SPACES = {
    's1': (_S1_NORMAL, _S1_REDUCE),
    's2': (_repeat(('skip_connect', 'sep_conv_3x3')), _repeat(('skip_connect', 'sep_conv_3x3'))),
    's3': (_repeat(('none', 'skip_connect', 'sep_conv_3x3')),
           _repeat(('none', 'skip_connect', 'sep_conv_3x3'))),
    's4': (_repeat(('noise', 'sep_conv_3x3')), _repeat(('noise', 'sep_conv_3x3'))),
}


def check_edge_ops(edge_ops, steps, field):
  """Validates one cell's per-edge op lists and returns them as tuples.

  Args:
    edge_ops: one op-name sequence per edge (``len(darts_edges(steps))``).
    steps: intermediate nodes of the cell.
    field: the argument name for error messages ('normal_ops', ...).

  Returns:
    tuple of op-name tuples.

  Raises:
    ValueError: wrong number of edges, an empty or ragged list (the mixing
      weights are one [num_edges, num_ops] matrix), or an unknown op name.
  """
  num_edges = len(darts_edges(steps))
  if isinstance(edge_ops, str) or len(edge_ops) != num_edges:
    raise ValueError(f'{field} must hold one op list per edge ({num_edges} for steps={steps}), '
                     f'got {edge_ops!r}')
  edge_ops = tuple(tuple(names) for names in edge_ops)
  lengths = {len(names) for names in edge_ops}
  if len(lengths) != 1 or 0 in lengths:
    raise ValueError(f'{field}: every edge needs the same, non-zero number of ops (one '
                     f'weight matrix per cell), got lengths {sorted(lengths)}')
  for names in edge_ops:
    for name in names:
      if name not in ops_lib.OPS:
        raise ValueError(f'{field}: unknown op {name!r}; known ops: {sorted(ops_lib.OPS)}')
  return edge_ops


class DartsSearchCell(ops_lib.LazyLayer):
  """quark0/darts model_search.py ``Cell`` (reference sect. 3.3).

  s0 is preprocessed with FactorizedReduce if the previous cell reduced, else
  with ReLUConvBN 1x1; s1 with ReLUConvBN 1x1 (all affine-free, C channels).
  Intermediate node i is the sum of the mixed edges from every earlier state;
  in a reduction cell the edges from the two inputs have stride 2. The output
  is the concatenation of the last `multiplier` nodes: [B, H', W', multiplier*C].
  """

  def __init__(self, edge_ops, channels, reduction, reduction_prev, *, steps=4, multiplier=4,
               partial_channels=1, fused=True, aux_skip=False, **kwargs):
    """Builds the preprocessing and the mixed edges.

    Args:
      edge_ops: one op-name tuple per edge, in `darts_edges(steps)` order.
      channels: C of every node.
      reduction: whether this cell halves the resolution.
      reduction_prev: whether the previous cell did (s0 is then twice s1's size).
      steps: intermediate nodes.
      multiplier: how many of the last nodes are concatenated.
      partial_channels: PC-DARTS K (1 = DARTS).
      fused: the fused path: weights as BN scales, and the edges leaving a
        node share its ReLU and pooling (`fused_blocks.SharedInput`); False runs
        the reference path edge by edge. Same values either way.
      aux_skip: DARTS-: an auxiliary skip per edge (identity at stride 1, an
        affine-free FactorizedReduce at stride 2), scaled by the mixing
        weights' AUX_SKIP_KEY scalar.
      **kwargs: keras Layer arguments.
    """
    super().__init__(**kwargs)
    if not 1 <= multiplier <= steps:
      raise ValueError(f'multiplier must be in [1, steps={steps}], got {multiplier}')
    self.edge_ops = check_edge_ops(edge_ops, steps, 'edge_ops')
    self.steps, self.multiplier, self.reduction = steps, multiplier, reduction
    self.partial_channels, self.fused = partial_channels, fused
    self.edges = darts_edges(steps)
    # outgoing[j]: the edges leaving state j, in edge order.
    self.outgoing = [[e for e, (_, src) in enumerate(self.edges) if src == j]
                     for j in range(steps + 1)]
    if reduction_prev:
      self.preprocess0 = ops_lib.FactorizedReduce(channels, affine=False)
    else:
      self.preprocess0 = ops_lib.ReLUConvBN(channels, 1, 1, affine=False)
    self.preprocess1 = ops_lib.ReLUConvBN(channels, 1, 1, affine=False)
    self._preprocess_built = False
    self.mixed = [
        mixed_op.MixedOp(names, channels, 2 if reduction and j < 2 else 1, pool_bn=True,
                         partial_channels=partial_channels, fused=fused,
                         name=f'edge_{i}_{j}')
        for (i, j), names in zip(self.edges, self.edge_ops)]
    # DARTS- aux per edge: None = identity (stride 1), else FactorizedReduce.
    self.aux_skip = aux_skip
    self.aux = [ops_lib.FactorizedReduce(channels, affine=False, name=f'aux_{i}_{j}')
                if aux_skip and reduction and j < 2 else None
                for i, j in self.edges] if aux_skip else []
    self._aux_built = False

  def aux_term(self, k, h, beta, training):
    """beta * aux_k(h) for edge k (DARTS-); None when there is no aux term."""
    if not self.aux_skip:
      return None
    aux = self.aux[k]
    if not self._aux_built:  # variables outside any tf.function (see build_eagerly)
      for layer in self.aux:
        if layer is not None:
          mixed_op.build_eagerly(layer, [1] + [d or 8 for d in h.shape[1:]], h.dtype)
      self._aux_built = True
    if beta is None:
      return None
    y = h if aux is None else aux(h, training=training)
    return K.cast(beta, y.dtype) * y

  def call(self, s0, s1, weights, indices=None, training=False, aux_beta=None, drop_path=None):
    """Runs the cell.

    Args:
      s0: float[B, H0, W0, C0] output of the cell before the previous one.
      s1: float[B, H, W, C1] output of the previous cell (H0 = 2H if it reduced).
      weights: float32[num_edges, num_ops] mixing weights of this cell type.
      indices: optional int32[num_edges] sampled op per edge (GDAS).
      training: BatchNorm mode.
      aux_beta: float32 scalar, the DARTS- aux-skip coefficient (None: no term).
      drop_path: None, or (rate, seed) of this cell: R-DARTS' drop path on
        every mixed edge's output (`mixed_op.drop_edge`).

    Returns:
      float[B, H', W', multiplier * C], H' = H/2 in a reduction cell.
    """
    if self.fused and indices is None:
      if not self._preprocess_built:
        for layer, s in ((self.preprocess0, s0), (self.preprocess1, s1)):
          mixed_op.build_eagerly(layer, [1] + [d or 8 for d in s.shape[1:]], s.dtype)
        self._preprocess_built = True
      states = [
          fused_blocks.fused_call(self.preprocess0, fused_blocks.SharedInput(s0), training),
          fused_blocks.fused_call(self.preprocess1, fused_blocks.SharedInput(s1), training)]
      return self._call_per_source(states, weights, training, aux_beta, drop_path)
    states = [self.preprocess0(s0, training=training), self.preprocess1(s1, training=training)]
    for start, end in edge_groups(self.steps):
      terms = []
      for k in range(start, end):
        index = None if indices is None else indices[k]
        h = states[self.edges[k][1]]
        terms.append(self.mixed[k](h, weights[k], index=index, training=training,
                                   drop_path=mixed_op.fold_drop_path(drop_path, k)))
        aux = self.aux_term(k, h, aux_beta, training)
        if aux is not None:
          terms.append(aux)
      states.append(tf.add_n(terms))
    return K.concatenate(states[-self.multiplier:], axis=-1)

  def _call_per_source(self, states, weights, training, aux_beta=None, drop_path=None):
    """The fused path, one source node at a time (same values as per edge).

    Every edge leaving node j gets the same `fused_blocks.SharedInput` (one ReLU,
    one pooling per kind and stride, ... for all of them), and the
    preprocessing runs through `fused_blocks.fused_call`. PC-DARTS: shuffle and
    concat are linear, so sum_e shuffle([mixed_e, bypass_e]) is computed as
    shuffle([sum_e mixed_e, sum_e bypass_e]): one concat and shuffle per node
    instead of per edge, and one bypass (slice, max pool) per source. Drop
    path multiplies an edge's mixed part and its bypass by the same per-sample
    mask, which equals dropping the edge's shuffled output.
    """
    k = self.partial_channels
    incoming = {i: [] for i in range(2, self.steps + 2)}
    bypassed = {i: [] for i in range(2, self.steps + 2)}
    rows = tf.unstack(tf.convert_to_tensor(weights))  # one op, not a slice per edge
    for j in range(self.steps + 1):
      if j >= 2:
        states.append(self._node(incoming[j], bypassed[j], states))
      h = states[j]
      shared = fused_blocks.SharedInput(self.mixed[self.outgoing[j][0]].head(h))
      bypass = {}  # stride -> the PC-DARTS bypass of h (the same for every edge)
      for e in self.outgoing[j]:
        edge = self.mixed[e]
        with keras.name_scope(edge.name, caller=edge):  # as edge.__call__ would
          out = edge.mix_shared(shared, edge.check_inputs(h, rows[e]), training)
        edge_drop = mixed_op.fold_drop_path(drop_path, e)
        out = mixed_op.drop_edge(out, edge_drop)
        if out is not None:
          incoming[self.edges[e][0]].append(out)
        aux = self.aux_term(e, h, aux_beta, training)
        if aux is not None:
          incoming[self.edges[e][0]].append(aux)
        if k > 1:
          if edge.stride not in bypass:
            bypass[edge.stride] = edge.bypass(h)
          bypassed[self.edges[e][0]].append(mixed_op.drop_edge(bypass[edge.stride], edge_drop))
    states.append(self._node(incoming[self.steps + 1], bypassed[self.steps + 1], states))
    return K.concatenate(states[-self.multiplier:], axis=-1)

  def _node(self, terms, bypassed, states):
    """Sum of a node's incoming mixed parts (+ PC-DARTS bypass and shuffle)."""
    if terms:
      mixed = tf.add_n(terms)
    else:  # every incoming edge has only 'none'
      mixed = mixed_op.strided_zeros(self.mixed[0].head(states[1]), 2 if self.reduction else 1)
    if self.partial_channels == 1:
      return mixed
    return partial_channel.shuffle_concat(mixed, tf.add_n(bypassed), self.partial_channels)


class DartsSupernet(keras.Model):
  """quark0/darts model_search.py ``Network`` (reference sect. 3.3) for any space.

  Stem conv3x3 (stem_multiplier * C) + BN (affine); `layers` search cells
  with reductions (C doubles) at layers//3 and 2*layers//3; global average
  pool and Dense. All normal cells share ``weights['alphas_normal']``, all
  reduction cells ``weights['alphas_reduce']``. Pooling ops get an affine-free BN
  (DARTS search MixedOp).
  """

  # A search procedure's edge decisions (bilevel/mixing_edit.py), applied to
  # the mixing weights of every call; None = no procedure edits them.
  mixing_edit = None

  def __init__(self, num_classes, *, normal_ops, reduce_ops, channels=16, layers=8, steps=4,
               multiplier=4, stem_multiplier=3, partial_channels=1, fused=True, aux_skip=False,
               **kwargs):
    """Builds the network.

    Args:
      num_classes: logits.
      normal_ops: 14 (for steps=4) op-name tuples, the candidates of each
        normal-cell edge (e.g. ``DARTS_SPACE[0]`` or
        ``ROBUST_DARTS_SPACES['s1'][0]``).
      reduce_ops: same for the reduction cells.
      channels: C of the first cells (16 in DARTS search).
      layers: number of cells (8 in DARTS search).
      steps: intermediate nodes per cell.
      multiplier: nodes concatenated into a cell's output.
      stem_multiplier: the stem has stem_multiplier * C channels.
      partial_channels: PC-DARTS K (1 = DARTS, 4 = PC-DARTS CIFAR); must
        divide the channels of every cell.
      fused: the fused cell path (see DartsSearchCell); same values.
      aux_skip: DARTS-'s auxiliary skip on every edge (see DartsSearchCell);
        with partial_channels > 1 it is refused.
      **kwargs: keras.Model arguments.
    """
    super().__init__(**kwargs)
    if num_classes < 1 or channels < 1 or layers < 1:
      raise ValueError(f'num_classes, channels and layers must be positive, got {num_classes}, '
                       f'{channels}, {layers}')
    if aux_skip and partial_channels != 1:
      raise ValueError('aux_skip (DARTS-) needs partial_channels=1, got '
                       f'partial_channels={partial_channels}')
    self.num_classes = num_classes
    self.steps = steps
    self.aux_skip = aux_skip
    self.normal_ops = check_edge_ops(normal_ops, steps, 'normal_ops')
    self.reduce_ops = check_edge_ops(reduce_ops, steps, 'reduce_ops')
    self.num_edges = len(darts_edges(steps))
    self.stem_conv = ops_lib.conv(stem_multiplier * channels, 3, name='stem_conv')
    self.stem_bn = batch_norm_lib.batch_norm(True, name='stem_bn')
    self.cells = []
    c, reduction_prev = channels, False
    reductions = (layers // 3, 2 * layers // 3)
    for i in range(layers):
      reduction = i in reductions
      c = 2 * c if reduction else c
      self.cells.append(DartsSearchCell(
          self.reduce_ops if reduction else self.normal_ops, c, reduction, reduction_prev,
          steps=steps, multiplier=multiplier, partial_channels=partial_channels, fused=fused,
          aux_skip=aux_skip, name=f'cell_{i}'))
      reduction_prev = reduction
    self.classifier = layers_lib.Dense(num_classes, dtype='float32', name='classifier')

  def build(self, input_shape=None):
    del input_shape  # sub-layers build on their first call (see ops.LazyLayer)

  def set_active_ops(self, active):
    """Runs only the ops marked in `active` ({'alphas_normal': bool[edges, ops], ...}; None: all).

    For mixing weights that are exactly 0 elsewhere (DrNAS' pruned ops): the
    output is unchanged and the skipped ops cost nothing. Takes effect in the
    steps traced afterwards.
    """
    for cell in self.cells:
      rows = None if active is None else active['alphas_reduce' if cell.reduction else
                                                 'alphas_normal']
      for k, edge in enumerate(cell.mixed):
        edge.active_columns = (None if rows is None else
                               {c for c, on in enumerate(rows[k]) if on})

  def call(self, images, weights, indices=None, training=False, drop_path=None):
    """Logits of the supernet.

    Args:
      images: float32[B, H, W, 3] normalised images.
      weights: {'alphas_normal': float32[num_edges, n_normal_ops],
        'alphas_reduce': float32[num_edges, n_reduce_ops]} mixing weights,
        and with aux_skip optionally AUX_SKIP_KEY: the float32 scalar beta of
        DARTS-'s auxiliary skip (absent: no aux term).
      indices: None, or {'alphas_normal': int32[num_edges], 'alphas_reduce':
        int32[num_edges]}: run only the sampled op of each edge (GDAS).
      training: BatchNorm mode.
      drop_path: None, or (rate, seed): R-DARTS' drop path on every mixed
        edge, float32 scalar rate in [0, 1) and int32[2] seed (the searcher's
        `drop_path`); ignored unless training.

    Returns:
      float32[B, num_classes] logits.
    """
    if self.mixing_edit is not None:   # a search procedure's edge decisions
      weights = self.mixing_edit.apply(weights)
    raw_weights = weights
    weights = {key: tf.convert_to_tensor(weights[key])
               for key in ('alphas_normal', 'alphas_reduce')}
    for key, names in (('alphas_normal', self.normal_ops), ('alphas_reduce', self.reduce_ops)):
      expected = (self.num_edges, len(names[0]))
      if tuple(weights[key].shape) != expected:
        raise ValueError(f"weights['{key}'] must have shape {expected}, got "
                         f'{tuple(weights[key].shape)}')
    if indices is not None:
      indices = {key: tf.convert_to_tensor(indices[key], tf.int32)
                 for key in ('alphas_normal', 'alphas_reduce')}
      for key, value in indices.items():
        if tuple(value.shape) != (self.num_edges,):
          raise ValueError(f"indices['{key}'] must have shape ({self.num_edges},), got "
                           f'{tuple(value.shape)}')
    aux_beta = None
    if self.aux_skip and raw_weights.get(AUX_SKIP_KEY) is not None:
      aux_beta = tf.convert_to_tensor(raw_weights[AUX_SKIP_KEY])
      if aux_beta.shape.rank != 0:
        raise ValueError(f"weights['{AUX_SKIP_KEY}'] must be a scalar, got {aux_beta.shape}")
    if not training:
      drop_path = None
    s0 = s1 = self.stem_bn(self.stem_conv(images), training=training)
    for i, cell in enumerate(self.cells):
      key = 'alphas_reduce' if cell.reduction else 'alphas_normal'
      cell_indices = None if indices is None else indices[key]
      s0, s1 = s1, cell(s0, s1, weights[key], indices=cell_indices, training=training,
                        aux_beta=aux_beta, drop_path=mixed_op.fold_drop_path(drop_path, i))
    return K.cast(self.classifier(K.mean(s1, axis=(1, 2))), 'float32')
