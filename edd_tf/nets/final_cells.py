"""The building blocks of the final networks: drop path, stems, the NB201 and DARTS cells, aux head.

Evaluation-time layers (affine BatchNorm) that `finalnet` assembles into the
NB201, DARTS CIFAR and DARTS ImageNet networks (reference sect. 2.3, 3.7, 3.8).
They are created by their network's constructor, so a saved network
(`model.save('x.keras')`) rebuilds them from the network's own config.
"""

from keras import layers
from keras import ops as K
import tensorflow as tf

from edd_tf.arch import genotype as genotype_lib
from edd_tf.nets import batch_norm as batch_norm_lib
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


def _fold(seed, index):
  return None if seed is None else tf.random.experimental.stateless_fold_in(seed, index)


class ConvBN(ops_lib.LazyLayer):
  """Bias-free k x k conv (PyTorch symmetric padding (k-1)/2) + affine BN."""

  def __init__(self, channels, kernel, stride=1, **kwargs):
    super().__init__(**kwargs)
    self.pad = (kernel - 1) // 2 if stride > 1 else 0
    self.conv = ops_lib.conv(channels, kernel, stride, padding='valid' if stride > 1 else 'same')
    self.bn = batch_norm_lib.batch_norm(True)

  def call(self, x, training=False):
    return self.bn(self.conv(ops_lib.pad_symmetric(x, self.pad)), training=training)


class NB201Cell(ops_lib.LazyLayer):
  """AutoDL ``InferCell``: node i = sum_{j<i} op_ij(node_j); output node 3.

  'none' edges are not built (they add zeros); a node whose edges are all
  'none' is zero.
  """

  def __init__(self, op_names, channels, **kwargs):
    super().__init__(**kwargs)
    self.edges = [(i, j) for (i, j), name in zip(genotype_lib.NB201_EDGES, op_names)
                  if name != 'none']
    self.edge_ops = [ops_lib.build_op(name, channels, 1, affine=True)
                     for name in op_names if name != 'none']

  def call(self, x, training=False):
    nodes = [x]
    for node in range(1, genotype_lib.NB201_NODES):
      terms = [op(nodes[j], training=training)
               for (i, j), op in zip(self.edges, self.edge_ops) if i == node]
      if not terms:
        nodes.append(K.zeros_like(x))
      else:
        out = terms[0]
        for t in terms[1:]:
          out = out + t
        nodes.append(out)
    return nodes[-1]


class DartsCell(ops_lib.LazyLayer):
  """quark0/darts model.py ``Cell`` (evaluation cell, affine BN).

  Preprocess s0 with FactorizedReduce if the previous cell reduced, else
  ReLUConvBN 1x1; s1 with ReLUConvBN 1x1. Node k = op_a(h_a) + op_b(h_b);
  edges from the two inputs of a reduction cell have stride 2. Output: the
  concatenation of the `concat` states along channels. In training, drop path
  is applied to every op that is not an Identity.
  """

  def __init__(self, pairs, concat, channels, reduction, reduction_prev, **kwargs):
    super().__init__(**kwargs)
    if reduction_prev:
      self.preprocess0 = ops_lib.FactorizedReduce(channels, affine=True)
    else:
      self.preprocess0 = ops_lib.ReLUConvBN(channels, 1, 1, affine=True)
    self.preprocess1 = ops_lib.ReLUConvBN(channels, 1, 1, affine=True)
    self.indices = [int(index) for _, index in pairs]
    self.concat = [int(c) for c in concat]
    self.edge_ops = [ops_lib.build_op(name, channels, 2 if reduction and index < 2 else 1, True)
                     for name, index in pairs]

  def call(self, s0, s1, drop_rate=None, seed=None, training=False):
    states = [self.preprocess0(s0, training=training), self.preprocess1(s1, training=training)]
    for step in range(len(self.edge_ops) // 2):
      node = None
      for k in (2 * step, 2 * step + 1):
        op = self.edge_ops[k]
        h = op(states[self.indices[k]], training=training)
        if training and drop_rate is not None and not isinstance(op, ops_lib.Identity):
          h = drop_path(h, drop_rate, _fold(seed, k))
        node = h if node is None else node + h
      states.append(node)
    return K.concatenate([states[i] for i in self.concat], axis=-1)


class AuxiliaryHead(ops_lib.LazyLayer):
  """DARTS auxiliary head (model.py AuxiliaryHeadCIFAR / AuxiliaryHeadImageNet).

  ReLU, AvgPool 5x5 (stride 3 CIFAR on 8x8 -> 2x2; stride 2 ImageNet on 7x7 ->
  2x2), 1x1 conv 128 + BN + ReLU, 2x2 conv 768 (+ BN on CIFAR only; DARTS'
  ImageNet head omits it), ReLU, flatten, Dense. Needs the spatial size to
  end at 1x1, as in the reference.
  """

  def __init__(self, num_classes, pool_stride, bn_last, **kwargs):
    super().__init__(**kwargs)
    self.pool = layers.AveragePooling2D(5, strides=pool_stride, padding='valid')
    self.conv_1 = ops_lib.conv(128, 1)
    self.bn_1 = batch_norm_lib.batch_norm(True)
    self.conv_2 = ops_lib.conv(768, 2, padding='valid')
    self.bn_2 = batch_norm_lib.batch_norm(True) if bn_last else None
    self.flatten = layers.Flatten()
    self.classifier = layers.Dense(num_classes, dtype='float32')

  def call(self, x, training=False):
    x = K.relu(self.bn_1(self.conv_1(self.pool(K.relu(x))), training=training))
    x = self.conv_2(x)
    if self.bn_2 is not None:
      x = self.bn_2(x, training=training)
    return self.classifier(self.flatten(K.relu(x)))
