"""Discrete (final) networks built from genotypes: NB201, DARTS CIFAR and ImageNet.

Plain Keras models with affine BatchNorm, trained from scratch after search:
  * 'nb201': AutoDL ``TinyNetwork`` (reference sect. 2.3 with the inferred
    cell): stem conv3x3+BN, three stages of N cells joined by ResNet blocks,
    BN+ReLU, global average pool, Dense.
  * 'darts_cifar': quark0/darts ``NetworkCIFAR`` (model.py, reference sect.
    3.7); with channels=16, layers=8 it is the RobustDARTS S1-S4 evaluation net.
  * 'darts_imagenet': quark0/darts ``NetworkImageNet`` (sect. 3.8).

Model contract (all three): ``model(images, training=False)`` maps float32
normalised images [B, H, W, 3] to float32 logits [B, num_classes];
``model.call_with_aux(images, training=True)`` returns (logits, aux_logits) for
DARTS nets built with ``auxiliary=True`` (the auxiliary head only runs when
asked, so export/eval graphs never contain it); ``model.drop_path_rate`` is a
non-trainable float32 scalar that a training loop assigns each epoch (DARTS:
``drop_path_prob * epoch / epochs``); ``model.num_classes``.
"""

import json

import keras
from keras import layers
from keras import ops as K
import numpy as np
import tensorflow as tf

from edd_tf.arch import genotype as genotype_lib
from edd_tf.nets import batch_norm as batch_norm_lib
from edd_tf.nets import darts_cell
from edd_tf.nets import final_cells
from edd_tf.nets import ops as ops_lib

# The cells live in final_cells.py and darts_cell.py; these names stay importable from here.
ConvBN = final_cells.ConvBN
NB201Cell = final_cells.NB201Cell
AuxiliaryHead = final_cells.AuxiliaryHead

# network -> the genotype family it takes (spaces.Space.family).
NETWORK_FAMILY = {'nb201': 'nb201', 'darts_cifar': 'darts', 'darts_imagenet': 'darts'}
NETWORKS = tuple(NETWORK_FAMILY)
# Ops a DARTS-family cell may hold: the DARTS primitives, the extra ones of
# quark0's OPS (sep_conv_7x7, conv_7x1_1x7) and RobustDARTS' 'noise'.
DARTS_CELL_OPS = genotype_lib.DARTS_OPS + ('sep_conv_7x7', 'conv_7x1_1x7', 'noise')
# Reference depths when ``layers=0`` (quark0/darts train.py, train_imagenet.py).
# The DARTS cell and drop path live in darts_cell.py (re-exported here).
DartsCell = darts_cell.DartsCell
drop_path = darts_cell.drop_path
_fold = darts_cell.fold_seed
DEFAULT_LAYERS = {'darts_cifar': 20, 'darts_imagenet': 14}


PACKAGE = 'edd_tf'  # keras.saving registration: 'edd_tf>NB201Network', 'edd_tf>DartsNetwork'


class FinalNetwork(keras.Model):
  """Base class: the drop-path rate, randomness, the aux/no-aux call contract, saving.

  A network is a Keras model you can keep: `get_config()` holds what its
  constructor takes (the genotype as a string), so `model.save('x.keras')`
  and `keras.saving.load_model('x.keras')` rebuild the same layers and load
  the weights (the sub-layers build on their first call, so loading runs
  one forward on zeros of the saved input shape first: `build_from_config`).
  """

  def __init__(self, network, arch, num_classes, **kwargs):
    super().__init__(**kwargs)
    self.network = network
    self.arch = arch  # the genotype as a string (NB201 string or DARTS JSON)
    self.num_classes = num_classes
    self.auxiliary_head = None
    self.drop_path_rate = keras.Variable(0.0, dtype='float32', trainable=False, autocast=False,
                                         name='drop_path_rate')
    self.seed_generator = keras.random.SeedGenerator()

  def build(self, input_shape=None):
    del input_shape  # sub-layers build on their first call (see ops.LazyLayer)

  def get_build_config(self):
    shape = getattr(self, '_edd_input_shape', None)
    if not shape:
      return {}
    # Whether the auxiliary head has weights (it runs only when asked).
    aux = self.auxiliary_head is not None and bool(self.auxiliary_head.weights)
    return {'input_shape': shape, 'with_aux': aux}

  def build_from_config(self, config):
    """Creates every variable (one inference-mode call on zeros), as `load_model` needs."""
    shape = config.get('input_shape')
    if shape:
      self(tf.zeros([1] + list(shape[1:]), tf.float32), training=False,
           with_aux=bool(config.get('with_aux')))

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.num_classes)

  def call(self, images, training=False, with_aux=False):
    """images: float32[B, H, W, 3] -> float32 logits [B, num_classes].

    With ``with_aux=True`` returns (logits, aux_logits); use `call_with_aux`.
    """
    if getattr(self, '_edd_input_shape', None) is None:
      self._edd_input_shape = [None] + [int(d) for d in images.shape[1:]]
    if with_aux and self.auxiliary_head is None:
      raise ValueError(f'this {self.network} network has no auxiliary head; build it with '
                       'auxiliary=True')
    logits, aux = self.forward(images, training, with_aux)
    return (logits, aux) if with_aux else logits

  def call_with_aux(self, images, training=True):
    """Returns (logits, aux_logits), both float32[B, num_classes]."""
    return self(images, training=training, with_aux=True)

  def drop_path_args(self, training):
    """(rate, seed) for the cells in training mode, (None, None) otherwise."""
    if not training:
      return None, None
    seed = tf.cast(self.seed_generator.next(), tf.int64)
    return tf.convert_to_tensor(self.drop_path_rate.value), seed

  def forward(self, images, training, with_aux):
    """(logits, aux_logits or None); each network family implements it."""
    raise NotImplementedError(f'{type(self).__name__} must implement forward()')


@keras.saving.register_keras_serializable(package=PACKAGE)
class NB201Network(FinalNetwork):
  """AutoDL ``TinyNetwork`` (cell_infers/tiny_network.py), reference sect. 2.3."""

  def __init__(self, arch, num_classes, channels, cells_per_stage, **kwargs):
    super().__init__('nb201', arch, num_classes, **kwargs)
    self.channels, self.cells_per_stage = channels, cells_per_stage
    op_names = genotype_lib.parse_nb201(arch)
    self.stem = ConvBN(channels, 3, name='stem')
    self.blocks = []
    for stage, c in enumerate((channels, 2 * channels, 4 * channels)):
      if stage:
        self.blocks.append(ops_lib.ResNetBasicBlock(c, 2, name=f'reduce_{stage}'))
      for n in range(cells_per_stage):
        self.blocks.append(NB201Cell(op_names, c, name=f'cell_{stage}_{n}'))
    self.last_bn = batch_norm_lib.batch_norm(True)
    self.classifier = layers.Dense(num_classes, dtype='float32', name='classifier')

  def get_config(self):
    return {**super().get_config(), 'arch': self.arch, 'num_classes': self.num_classes,
            'channels': self.channels, 'cells_per_stage': self.cells_per_stage}

  def forward(self, images, training, with_aux):
    x = self.stem(images, training=training)
    for block in self.blocks:
      x = block(x, training=training)
    x = K.relu(self.last_bn(x, training=training))
    return self.classifier(K.mean(x, axis=(1, 2))), None


@keras.saving.register_keras_serializable(package=PACKAGE)
class DartsNetwork(FinalNetwork):
  """quark0/darts ``NetworkCIFAR`` / ``NetworkImageNet`` (reference 3.7, 3.8).

  CIFAR stem: conv3x3 (3C) + BN. ImageNet stem0: conv3x3/2 (C/2)+BN, ReLU,
  conv3x3/2 (C)+BN; stem1: ReLU, conv3x3/2 (C)+BN; the first cell treats
  stem0's output as coming from a reduction (FactorizedReduce). `layers`
  cells, reductions (C doubles) at layers//3 and 2*layers//3; auxiliary head
  on the output of cell 2*layers//3; global average pool + Dense (ImageNet's
  AvgPool2d(7) on 7x7 maps is the same thing).
  """

  def __init__(self, network, genotype, num_classes, channels, num_layers, auxiliary, **kwargs):
    if isinstance(genotype, (str, dict)):   # from get_config (a saved model)
      genotype = genotype_lib.genotype_from_dict(
          json.loads(genotype) if isinstance(genotype, str) else genotype)
    super().__init__(network, json.dumps(genotype_lib.genotype_to_dict(genotype)), num_classes,
                     **kwargs)
    self.channels, self.num_layers, self.auxiliary = channels, num_layers, auxiliary
    imagenet = network == 'darts_imagenet'
    if imagenet:
      self.stem0 = [ConvBN(channels // 2, 3, 2, name='stem0_a'),
                    ops_lib.ReLUConvBN(channels, 3, 2, affine=True, name='stem0_b')]
      self.stem1 = [ops_lib.ReLUConvBN(channels, 3, 2, affine=True, name='stem1')]
    else:
      self.stem0 = [ConvBN(3 * channels, 3, name='stem')]
      self.stem1 = None
    self.cells = []
    c_curr, reduction_prev = channels, imagenet
    reductions = (num_layers // 3, 2 * num_layers // 3)
    for i in range(num_layers):
      reduction = i in reductions
      c_curr = 2 * c_curr if reduction else c_curr
      pairs, concat = ((genotype.reduce, genotype.reduce_concat) if reduction
                       else (genotype.normal, genotype.normal_concat))
      self.cells.append(darts_cell.DartsCell(pairs, concat, c_curr, reduction, reduction_prev,
                                             name=f'cell_{i}'))
      reduction_prev = reduction
    self.aux_index = 2 * num_layers // 3
    if auxiliary:
      self.auxiliary_head = AuxiliaryHead(num_classes, pool_stride=2 if imagenet else 3,
                                          bn_last=not imagenet, name='auxiliary_head')
    self.classifier = layers.Dense(num_classes, dtype='float32', name='classifier')

  def get_config(self):
    return {**super().get_config(), 'network': self.network, 'genotype': self.arch,
            'num_classes': self.num_classes, 'channels': self.channels,
            'num_layers': self.num_layers, 'auxiliary': self.auxiliary}

  def forward(self, images, training, with_aux):
    s0 = images
    for layer in self.stem0:
      s0 = layer(s0, training=training)
    s1 = s0
    for layer in self.stem1 or ():
      s1 = layer(s1, training=training)
    rate, seed = self.drop_path_args(training)
    aux = None
    for i, cell in enumerate(self.cells):
      s0, s1 = s1, cell(s0, s1, drop_rate=rate, seed=_fold(seed, i), training=training)
      if with_aux and i == self.aux_index:
        aux = self.auxiliary_head(s1, training=training)
    return self.classifier(K.mean(s1, axis=(1, 2))), aux


def _check_darts_genotype(network, genotype):
  """Raises ValueError unless `genotype` is a valid DARTS-space Genotype (either cell form)."""
  if isinstance(genotype, str):
    raise ValueError(f'network {network!r} needs a DARTS genotype.Genotype, got the string '
                     f'{genotype!r} (NB201 arch strings are for network "nb201")')
  if not all(hasattr(genotype, f) for f in genotype_lib.Genotype._fields):
    raise ValueError(f'network {network!r} needs a genotype.Genotype with fields '
                     f'{genotype_lib.Genotype._fields}, got {type(genotype).__name__}')
  for kind in ('normal', 'reduce'):
    entries = getattr(genotype, kind)
    sparse = genotype_lib.is_sparse_cell(entries)
    if not entries:
      raise ValueError(f'genotype.{kind} cannot be built: it has no edge (a thresholded read-out '
                       f'kept no op above the threshold)')
    if not sparse and len(entries) % 2:
      raise ValueError(f'genotype.{kind} needs two (op, input) pairs per node (or (op, node, '
                       f'input) triples), got {len(entries)} pairs')
    for k, entry in enumerate(entries):
      if not isinstance(entry, (list, tuple)) or len(entry) != (3 if sparse else 2):
        raise ValueError(f'genotype.{kind}[{k}] must be an (op, input) pair or, in every entry, '
                         f'an (op, node, input) triple, got {entry!r}')
      name, index = entry[0], int(entry[-1])
      node = int(entry[1]) if sparse else 2 + k // 2
      if name not in DARTS_CELL_OPS:
        raise ValueError(f'unknown op {name!r} in genotype.{kind} for network {network!r}; '
                         f'known ops: {list(DARTS_CELL_OPS)}')
      if sparse and not 2 <= node < 6:
        raise ValueError(f'genotype.{kind}[{k}] = {entry!r}: nodes are 2..5')
      if not 0 <= index < node:
        raise ValueError(f'genotype.{kind}[{k}] = {entry!r}: node {node} can only take '
                         f'inputs 0..{node - 1}')
    num_states = max([2 + len(entries) // 2] + [n + 1 for n, _, _ in
                                                genotype_lib.cell_edges(entries)])
    concat = list(getattr(genotype, kind + '_concat'))
    if not concat or any(not 0 <= int(c) < num_states for c in concat):
      raise ValueError(f'genotype.{kind}_concat = {concat!r} must pick states in '
                       f'0..{num_states - 1}')
    darts_cell.live_plan(entries, concat, kind)  # raises when no node of the cell is left


def build_final_network(network, genotype, num_classes, *, channels, layers=0,
                        cells_per_stage=5, auxiliary=False):
  """Builds the discrete network of `genotype`.

  Args:
    network: one of NETWORKS.
    genotype: an NB201 arch string for 'nb201'; a genotype.Genotype for the
      DARTS networks.
    num_classes: number of logits.
    channels: initial channels C (NB201 16; DARTS CIFAR 36, S1-S4 16;
      DARTS ImageNet 48).
    layers: DARTS cell count; 0 picks the reference depth (CIFAR 20,
      ImageNet 14). Must stay 0 for 'nb201'.
    cells_per_stage: NB201 cells per stage N (reference 5); NB201 only.
    auxiliary: build the DARTS auxiliary head (not for 'nb201').

  Returns:
    An unbuilt keras.Model (call it on a batch to create the weights).

  Raises:
    ValueError: unknown network, bad sizes, or a genotype of the wrong space or
      with an op the network does not know.
  """
  if network not in NETWORKS:
    raise ValueError(f'unknown network {network!r}; known networks: {list(NETWORKS)}')
  if num_classes < 1 or channels < 1:
    raise ValueError(f'num_classes and channels must be positive, got {num_classes}, {channels}')
  return _BUILDERS[network](network, genotype, num_classes, channels=channels, layers=layers,
                            cells_per_stage=cells_per_stage, auxiliary=auxiliary)


def _build_nb201(network, genotype, num_classes, *, channels, layers, cells_per_stage,
                 auxiliary):
  if not isinstance(genotype, str):
    raise ValueError(f'network "nb201" needs an NB201 arch string such as '
                     f'"|nor_conv_3x3~0|+|...|", got {type(genotype).__name__}: {genotype!r}')
  genotype_lib.parse_nb201(genotype)  # raises on a bad string or unknown op
  if layers or auxiliary:
    raise ValueError('network "nb201" takes cells_per_stage, not layers, and has no auxiliary '
                     f'head; got layers={layers}, auxiliary={auxiliary}')
  if cells_per_stage < 1:
    raise ValueError(f'cells_per_stage must be positive, got {cells_per_stage}')
  return NB201Network(genotype, num_classes, channels, cells_per_stage, name=network)


def _build_darts(network, genotype, num_classes, *, channels, layers, cells_per_stage,
                 auxiliary):
  del cells_per_stage
  _check_darts_genotype(network, genotype)
  layers = layers or DEFAULT_LAYERS[network]
  if layers < 1:
    raise ValueError(f'layers must be positive (or 0 for the default), got {layers}')
  if network == 'darts_imagenet' and channels % 2:
    raise ValueError(f'darts_imagenet needs an even channel count, got {channels}')
  return DartsNetwork(network, genotype, num_classes, channels, layers, auxiliary, name=network)


_BUILDERS = {'nb201': _build_nb201, 'darts_cifar': _build_darts, 'darts_imagenet': _build_darts}


def _auxiliary_ids(model):
  head = getattr(model, 'auxiliary_head', None)
  return {id(v) for v in head.weights} if head is not None else set()


def count_params(model, exclude_auxiliary=True):
  """Number of trainable parameters (PyTorch ``model.parameters()`` count).

  BN moving statistics, the drop-path rate and seeds are not parameters. As in
  quark0/darts utils.count_parameters_in_MB the auxiliary head is skipped by
  default. The model must have been called once.
  """
  if not model.built or not model.trainable_weights:
    raise ValueError('count_params needs a built model: call it on a batch first')
  skip = _auxiliary_ids(model) if exclude_auxiliary else set()
  return int(sum(np.prod(v.shape) for v in model.trainable_weights if id(v) not in skip))


def count_flops(model, input_shape):
  """Multiply-accumulates (MACs) of one inference forward pass at batch 1.

  Counts the multiply-adds of conv (incl. depthwise) and fully-connected
  layers plus one add per fully-connected bias, read from the graph traced
  for ``model(x, training=False)`` (so the auxiliary head is never counted);
  BN, ReLU, pooling and cell additions are not counted. This is the
  NAS-Bench-201 "FLOPs" convention (arch 0 on CIFAR-10: 15.64737M) and the
  conv+fc "multi-adds" of the DARTS family (DARTS_V2 ImageNet gives 530M here;
  the DARTS paper reports 574M from an unpublished counter, and quark0/darts
  issue #46 reports 523M conv+fc).

  Args:
    model: a model from `build_final_network` (or any Keras model whose
      ``model(x, training=False)`` traces into plain TF ops).
    input_shape: (H, W, C) or (B, H, W, C); B is ignored.

  Returns:
    int MACs.
  """
  shape = tuple(int(d) for d in input_shape)[-3:]
  if len(shape) != 3:
    raise ValueError(f'input_shape must be (H, W, C) or (B, H, W, C), got {input_shape}')
  fn = tf.function(lambda x: model(x, training=False))
  graph = fn.get_concrete_function(tf.TensorSpec((1,) + shape, tf.float32)).graph
  total = 0
  for op in graph.get_operations():
    if op.type in ('Conv2D', 'DepthwiseConv2dNative', 'MatMul', 'BatchMatMulV2', 'BatchMatMulV3'):
      out = op.outputs[0].shape
      kernel = op.inputs[1].shape
      if not out.is_fully_defined() or not kernel.is_fully_defined():
        raise ValueError(f'count_flops: op {op.name} has an unknown static shape')
      if op.type == 'Conv2D':
        total += np.prod(out) * kernel[0] * kernel[1] * kernel[2]
      elif op.type == 'DepthwiseConv2dNative':
        total += np.prod(out) * kernel[0] * kernel[1]
      else:
        a = op.inputs[0].shape
        inner = a[-2] if op.get_attr('transpose_a' if op.type == 'MatMul' else 'adj_x') else a[-1]
        total += np.prod(out) * inner
        # A fully-connected bias costs one add per output (NAS-Bench-201 counts it).
        for consumer in op.outputs[0].consumers():
          if (consumer.type in ('AddV2', 'Add', 'BiasAdd') and
              any(t.shape.rank == 1 for t in consumer.inputs)):
            total += np.prod(out)
    elif op.type in ('PartitionedCall', 'StatefulPartitionedCall'):
      raise ValueError(f'count_flops cannot see inside the nested function call {op.name}')
  return int(total)
