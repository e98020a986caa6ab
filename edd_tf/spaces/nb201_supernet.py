"""The NAS-Bench-201 search supernet (the DARTS-family one is darts_supernet.py).

The architecture parameters live OUTSIDE the Keras model (tf-notes sect. 3):
the search method owns them and turns them into mixing weights (e.g.
``betas = sn_softmax(alphas / t)``); the model takes the weights as a second
input, ``{'alphas': float32[6, num_ops]}``, and optionally per-edge op indices
(GDAS: only the sampled op runs). So ``model.trainable_variables`` are exactly
the operation weights, and the two optimizers never see each other's variables.

DARTS- (``aux_skip=True``): every edge gets the auxiliary skip outside the
softmax, ``edge_ij = sum_o w_o o(node_j) + beta * node_j`` (identity: NB201
cells have no stride-2 edge; ../shared/docs/baselines.md part 2 sect. 2).
beta is the scalar ``weights[AUX_SKIP_KEY]`` the method passes with the
mixing weights; without that key (read-out, discretized accuracy, other
methods) the term is left out, as in darts_supernet.py. The aux skip has no
variables, so ``aux_skip=False`` and ``True`` build the same layers.

``call(..., drop_path=(rate, seed))`` in training mode applies R-DARTS' drop
path to every mixed edge's output, as the DARTS supernet does (cell c's seed
``fold_in(seed, c)``, edge k's ``fold_in(cell seed, k)``; `mixed_op.drop_edge`).
The aux skip sits outside the mixed edge, so drop path leaves it alone.
"""

import keras
from keras import layers
from keras import ops as K
import tensorflow as tf

from edd_tf.nets import mixed_op
from edd_tf.nets import batch_norm as batch_norm_lib
from edd_tf.nets import ops as ops_lib

AUX_SKIP_KEY = mixed_op.AUX_SKIP_KEY


def aux_term(h, beta):
  """DARTS-' beta * h of an edge leaving node h (None when there is no aux term)."""
  return None if beta is None else K.cast(beta, h.dtype) * h


class NB201SearchCell(layers.Layer):
  """The 4-node, 6-edge NB201 cell; node i = sum_{j<i} MixedOp_ij(node_j).

  Edge k of ``betas`` is ``spaces.NB201.edges[k] == (i, j)`` (AutoDL's sorted
  "i<-j" keys, reference sect. 2.2); the cell output is the last node.
  """

  def __init__(self, space, channels, **kwargs):
    super().__init__(**kwargs)
    self.space = space
    self.edges = [mixed_op.MixedOp(space.ops, channels, 1, affine=False, name=f'edge_{i}_{j}')
                  for i, j in space.edges]

  def call(self, x, betas, indices=None, training=False, aux_beta=None, drop_path=None):
    """betas: float32[6, num_ops]; indices: None or int32[6] (run only that op).

    aux_beta: None, or the float32 scalar of DARTS-' aux skip on every edge.
    drop_path: None, or this cell's (rate, seed) (R-DARTS' drop path per edge).
    """
    nodes = [x]
    for node in range(1, self.space.num_nodes):
      terms = []
      for k, (i, j) in enumerate(self.space.edges):
        if i == node:
          terms.append(self.edges[k](nodes[j], betas[k], None if indices is None else indices[k],
                                     training=training,
                                     drop_path=mixed_op.fold_drop_path(drop_path, k)))
          aux = aux_term(nodes[j], aux_beta)
          if aux is not None:
            terms.append(aux)
      nodes.append(terms[0] if len(terms) == 1 else K.sum(K.stack(terms), axis=0))
    return nodes[-1]


class FusedNB201SearchCell(layers.Layer):
  """NB201SearchCell computed per SOURCE node instead of per edge (same maths).

  All edges leaving node j see the same input, so the work that does not
  depend on the edge is done once per source: one ReLU for all its conv
  candidates and one (parameter-free) 3x3 average pool for all its pool
  candidates. Each conv candidate keeps its own conv + affine-free BN, and its
  mixing weight beta is applied as the BN's scale inside the fused BN kernel
  instead of as a separate multiply. Node sums use one AddN. A cell runs 3
  ReLUs instead of 12 and 3 pools instead of 6; ``test_supernet`` checks that
  it equals ``NB201SearchCell`` with the same weights.

  Only the NB201 op set (any subset of it) at stride 1 is supported.
  """

  FUSABLE = frozenset(('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3'))
  KERNELS = {'nor_conv_1x1': 1, 'nor_conv_3x3': 3}

  def __init__(self, space, channels, **kwargs):
    super().__init__(**kwargs)
    unknown = set(space.ops) - self.FUSABLE
    if unknown:
      raise ValueError(f'FusedNB201SearchCell cannot fuse ops {sorted(unknown)}; '
                       f'fusable ops: {sorted(self.FUSABLE)}')
    self.space = space
    self.channels = channels
    self.col = {name: space.ops.index(name) for name in space.ops}
    # targets[j] = [(edge index k, node i), ...] for the edges i <- j.
    self.targets = [[(k, i) for k, (i, jj) in enumerate(space.edges) if jj == j]
                    for j in range(space.num_nodes - 1)]
    # convs[k] = [(column, conv, bn), ...] for edge k (same weights as the
    # per-edge cell's ReLUConvBN ops).
    self.convs = [[(self.col[name], ops_lib.conv(channels, kernel, name=f'{name}_{i}_{j}'),
                    batch_norm_lib.batch_norm(False, name=f'{name}_bn_{i}_{j}'))
                   for name, kernel in self.KERNELS.items() if name in self.col]
                  for i, j in space.edges]
    self.pool = layers.AveragePooling2D(3, strides=1, padding='same')

  def call(self, x, betas, indices=None, training=False, aux_beta=None, drop_path=None):
    if indices is not None:
      raise ValueError('the fused NB201 cell computes every op; a method that runs only the '
                       'sampled op (GDAS) needs config.model.fused=False')
    c = self.channels
    skip, pool = self.col.get('skip_connect'), self.col.get('avg_pool_3x3')
    incoming = {i: [] for i in range(1, self.space.num_nodes)}
    nodes = [x]
    for j, targets in enumerate(self.targets):
      h = nodes[j]
      relu_h = K.relu(h) if any(self.convs[k] for k, _ in targets) else None
      pooled = self.pool(h) if pool is not None else None
      for k, i in targets:
        # Drop path acts on an edge's sum, so its terms are summed first.
        edge = incoming[i] if drop_path is None else []
        if skip is not None:
          edge.append(K.cast(betas[k, skip], h.dtype) * h)
        if pool is not None:
          edge.append(K.cast(betas[k, pool], h.dtype) * pooled)
        for col, conv, bn in self.convs[k]:
          edge.append(bn(conv(relu_h), training=training, scale=tf.fill([c], betas[k, col])))
        if drop_path is not None and edge:
          incoming[i].append(mixed_op.drop_edge(tf.add_n(edge),
                                                mixed_op.fold_drop_path(drop_path, k)))
        aux = aux_term(h, aux_beta)
        if aux is not None:
          incoming[i].append(aux)
      terms = incoming[j + 1]
      nodes.append(tf.add_n(terms) if terms else K.zeros_like(h))
    return nodes[-1]


class NB201Supernet(keras.Model):
  """TinyNetworkDarts (AutoDL search_model_darts.py, reference sect. 2.3).

  stem conv3x3+BN -> N cells (C) -> ResNet block (2C, /2) -> N cells -> ResNet
  block (4C, /2) -> N cells -> BN, ReLU, global average pool, Dense. Every
  search cell shares the same betas (one 6x5 alpha matrix for the network).
  """

  # A search procedure's edge decisions (bilevel/mixing_edit.py), applied to
  # the mixing weights of every call; None = no procedure edits them.
  mixing_edit = None

  def __init__(self, num_classes, channels=16, cells_per_stage=5, space=None, fused=True,
               aux_skip=False, **kwargs):
    super().__init__(**kwargs)
    self.aux_skip = aux_skip   # DARTS-: read weights[AUX_SKIP_KEY] (see the module docstring)
    cell_cls = FusedNB201SearchCell if fused else NB201SearchCell
    self.space = space
    self.num_classes = num_classes
    self.stem_conv = ops_lib.conv(channels, 3)
    self.stem_bn = batch_norm_lib.batch_norm(True)
    self.blocks = []
    for stage, c in enumerate((channels, 2 * channels, 4 * channels)):
      if stage:
        self.blocks.append(ops_lib.ResNetBasicBlock(c, 2, name=f'reduce_{stage}'))
      for n in range(cells_per_stage):
        self.blocks.append(cell_cls(self.space, c, name=f'cell_{stage}_{n}'))
    self.last_bn = batch_norm_lib.batch_norm(True)
    self.classifier = layers.Dense(num_classes, dtype='float32', name='classifier')

  def call(self, images, weights, indices=None, training=False, drop_path=None):
    """images: float[B, H, W, 3] normalised; weights: {'alphas': float32[6, num_ops]}.

    indices: None, or {'alphas': int32[6]} to run only that op per edge (GDAS).
    With aux_skip, weights may hold AUX_SKIP_KEY: DARTS-' scalar beta.
    drop_path: None, or (rate, seed) of R-DARTS' drop path on every mixed edge
      (ignored unless training).
    """
    if self.mixing_edit is not None:   # a search procedure's edge decisions
      weights = self.mixing_edit.apply(weights)
    betas = weights['alphas']
    index = None if indices is None else indices['alphas']
    aux_beta = None
    if self.aux_skip and weights.get(AUX_SKIP_KEY) is not None:
      aux_beta = tf.convert_to_tensor(weights[AUX_SKIP_KEY])
      if aux_beta.shape.rank != 0:
        raise ValueError(f"weights['{AUX_SKIP_KEY}'] must be a scalar, got {aux_beta.shape}")
    if not training:
      drop_path = None
    x = self.stem_bn(self.stem_conv(images), training=training)
    cell = 0
    for block in self.blocks:
      if isinstance(block, (NB201SearchCell, FusedNB201SearchCell)):
        x = block(x, betas, index, training=training, aux_beta=aux_beta,
                  drop_path=mixed_op.fold_drop_path(drop_path, cell))
        cell += 1
      else:
        x = block(x, training=training)
    x = K.relu(self.last_bn(x, training=training))
    x = K.mean(x, axis=(1, 2))
    return K.cast(self.classifier(x), 'float32')
