"""The building blocks of the final networks: the stem, the NB201 cell, the auxiliary head.

Evaluation-time layers (affine BatchNorm) that `finalnet` assembles into the
NB201, DARTS CIFAR and DARTS ImageNet networks (reference sect. 2.3, 3.7, 3.8);
the DARTS cell and drop path are in darts_cell.py.
They are created by their network's constructor, so a saved network
(`model.save('x.keras')`) rebuilds them from the network's own config.
"""

from keras import layers
from keras import ops as K

from edd_tf.arch import genotype as genotype_lib
from edd_tf.nets import batch_norm as batch_norm_lib
from edd_tf.nets import ops as ops_lib


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
