"""The discrete DARTS cell (quark0/darts model.py ``Cell``, FairDARTS' ``DCOCell``) and drop path.

A cell's genotype entries come in two forms (arch/genotype.py): two
(op, input) pairs per node, or (op, node, input) triples where a node may
take 0, 1 or 2 inputs (Fair DARTS' thresholded read-out). `live_plan` decides
what is built: a node without an input from a live state (the two cell
inputs, or a live node) is dropped with the edges leaving it; the output
concatenates the live states of `concat`, so its width varies (DCOCell,
fairdarts/model.py:L60-116). With pairs every node is live: the cell is
exactly the DARTS one (same layers, same order, same drop-path seeds).
"""

from keras import ops as K
import tensorflow as tf

from edd_tf.arch import genotype as genotype_lib
from edd_tf.nets import ops as ops_lib


def drop_path(x, rate, seed):
  """DARTS drop path: zero whole samples with probability `rate`, rescale the rest.

  ``x / keep_prob * Bernoulli(keep_prob)`` per sample (quark0/darts utils.py).

  Args:
    x: float[B, H, W, C].
    rate: float32 scalar drop probability in [0, 1].
    seed: int32/int64[2] seed of the stateless random draw.

  Returns:
    float[B, H, W, C].
  """
  keep = 1.0 - tf.cast(rate, tf.float32)
  u = tf.random.stateless_uniform(tf.stack([tf.shape(x)[0], 1, 1, 1]), seed, dtype=tf.float32)
  scale = tf.math.divide_no_nan(tf.cast(u < keep, tf.float32), keep)
  return x * tf.cast(scale, x.dtype)


def fold_seed(seed, index):
  return None if seed is None else tf.random.experimental.stateless_fold_in(seed, index)


def live_plan(entries, concat, kind='cell'):
  """(edges, outputs) of a cell: what is built and what is concatenated.

  Args:
    entries: the genotype's cell, pairs or triples.
    concat: the states the genotype concatenates.
    kind: the cell's name in error messages ('normal', 'reduce').

  Returns:
    edges: [(k, node, op, input)] kept, k the entry index, in computing order
      (by node, then entry order); outputs: the live states of `concat`.

  Raises:
    ValueError: naming the cell and its nodes when no state of `concat` is left.
  """
  edges = genotype_lib.cell_edges(entries)
  live, kept = {0, 1}, []
  nodes = sorted({node for node, _, _ in edges} | {c for c in concat if c >= 2})
  for node in nodes:
    mine = [(k, node, op, src) for k, (n, op, src) in enumerate(edges)
            if n == node and src in live]
    if mine:
      live.add(node)
      kept.extend(mine)
  outputs = [int(c) for c in concat if int(c) in live]
  if not outputs:
    dead = [c for c in concat if c not in live]
    raise ValueError(f'genotype.{kind} cannot be built: no node of its concat {list(concat)} has '
                     f'an input (nodes {dead} have none; a thresholded read-out kept no op '
                     f'above the threshold)')
  return kept, outputs


class DartsCell(ops_lib.LazyLayer):
  """quark0/darts model.py ``Cell`` (evaluation cell, affine BN), variable nodes allowed.

  Preprocess s0 with FactorizedReduce if the previous cell reduced, else
  ReLUConvBN 1x1; s1 with ReLUConvBN 1x1. Node k = the sum of its kept edges'
  op(h_input); edges from the two inputs of a reduction cell have stride 2.
  Output: the concatenation of the live `concat` states along channels
  (`live_plan`; `self.out_states`). In training, drop path is applied to every
  op that is not an Identity (DARTS' rule; DCOCell drops the node sum).
  """

  def __init__(self, pairs, concat, channels, reduction, reduction_prev, **kwargs):
    super().__init__(**kwargs)
    if reduction_prev:
      self.preprocess0 = ops_lib.FactorizedReduce(channels, affine=True)
    else:
      self.preprocess0 = ops_lib.ReLUConvBN(channels, 1, 1, affine=True)
    self.preprocess1 = ops_lib.ReLUConvBN(channels, 1, 1, affine=True)
    plan, self.out_states = live_plan(pairs, [int(c) for c in concat])
    self.plan = [(k, node, src) for k, node, _, src in plan]
    self.concat = [int(c) for c in concat]
    self.edge_ops = [ops_lib.build_op(name, channels, 2 if reduction and src < 2 else 1, True)
                     for _, _, name, src in plan]

  def call(self, s0, s1, drop_rate=None, seed=None, training=False):
    states = {0: self.preprocess0(s0, training=training),
              1: self.preprocess1(s1, training=training)}
    for (k, node, src), op in zip(self.plan, self.edge_ops):
      h = op(states[src], training=training)
      if training and drop_rate is not None and not isinstance(op, ops_lib.Identity):
        h = drop_path(h, drop_rate, fold_seed(seed, k))
      states[node] = h if node not in states else states[node] + h
    return K.concatenate([states[i] for i in self.out_states], axis=-1)
