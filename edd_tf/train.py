"""Trains a discrete network from scratch (the evaluation stage of the paper).

`run(config, workdir)` builds the final network of a genotype
(`finalnet.build_final_network`), trains it with the DARTS evaluation recipe
(reference.md sect. 3.7, 3.8, 2.6, 5.5) in a custom loop and writes, in
`workdir`:
  config.json     the config, with the genotype resolved to a literal;
  dataset.json    the DatasetInfo the model was trained for (for export);
  checkpoints/    model + optimizer + epoch counter after every epoch (keep 2);
  tb/             TensorBoard events (per-epoch scalars, params/FLOPs, genotype);
  results.json    final test accuracy, params, FLOPs, ... (at the end).
Rerunning the same command resumes after the last completed epoch.

Optimisation follows PyTorch's `SGD(momentum, nesterov, weight_decay)` as used
by every reference: the weight decay is L2 *coupled* to the gradient
(`g + wd * w`, every parameter incl. BN and biases), added after the gradient
norm clipping (`clip_grad_norm_` runs before `optimizer.step()`, which adds the
decay). Keras' own `weight_decay=` is decoupled, so it is not used.
"""

import json
import os
import pathlib

from absl import logging
import keras
import ml_collections
import numpy as np
import tensorflow as tf

from edd_tf.core import checkpointing
from edd_tf.data import pipeline as data
from edd_tf.core import distribute as distribute_lib
from edd_tf.nets import finalnet
from edd_tf.arch import genotype as genotype_lib
from edd_tf.data import imagenet as imagenet_data
from edd_tf.nets import ops as ops_lib
from edd_tf import spaces
from edd_tf.core import workdir as workdir_lib
from edd_tf.core import loop
from edd_tf.core import optim
from edd_tf.core import precision as precision_lib

NETWORKS = finalnet.NETWORKS
LR_SCHEDULES = optim.LR_SCHEDULES
CONFIG_FILE = loop.CONFIG_FILE
DATASET_FILE = 'dataset.json'
RESULTS_FILE = 'results.json'
CHECKPOINT_DIR = loop.CHECKPOINT_DIR
TB_DIR = loop.TB_DIR
# Config fields that fix the network's variables: a checkpoint only resumes
# under the same values.
_ARCH_FIELDS = ('network', 'genotype', 'model.channels', 'model.layers', 'model.cells_per_stage',
                'data.name', 'data.image_size')


def default_config():
  """The shared config layout of every `configs/train_*.py` (DARTS CIFAR-10 values)."""
  config = ml_collections.ConfigDict()
  # A search workdir or its genotype.json, a GENOTYPES name, an NB201 arch
  # string, or a DARTS Genotype(...) literal / JSON.
  config.genotype = 'DARTS_V2'
  config.network = 'darts_cifar'   # One of NETWORKS.
  config.seed = 0
  # A genotype.json of a search that did not finish is refused unless True.
  config.allow_unfinished_search = False
  config.distribute = 'default'    # 'default' (one device) | 'mirrored' (all local GPUs).
  # Numerics, as in search.default_config (WORKSPACE "Precision, XLA and
  # synchronized BatchNorm"):
  # 'float32' | 'mixed_bfloat16' | 'mixed_float16' (16-bit layers on float32
  # variables; logits and losses float32; float16 with dynamic loss scaling).
  config.precision = 'float32'
  config.jit_compile = False       # XLA-compile the per-replica forward/backward.
  config.sync_batch_norm = False   # BN statistics over the global batch across replicas.
  config.model = ml_collections.ConfigDict(dict(
      channels=36,           # C of the first stage.
      layers=20,             # DARTS networks: number of cells.
      cells_per_stage=5,     # NB201 network: N.
      auxiliary_weight=0.4,  # 0 = no auxiliary head.
      drop_path_prob=0.2,    # Final value of the linear drop-path ramp.
  ))
  config.train = ml_collections.ConfigDict(dict(
      epochs=600,
      batch_size=96,
      eval_batch_size=0,     # 0 = batch_size.
      lr=0.025,
      lr_min=0.0,
      lr_schedule='cosine',  # One of LR_SCHEDULES.
      lr_gamma=0.97,         # 'step': lr * lr_gamma ** epoch.
      warmup_epochs=0,       # Linear warm-up lr * (epoch + 1) / warmup_epochs.
      momentum=0.9,
      nesterov=False,
      weight_decay=3e-4,     # Coupled L2 (PyTorch SGD weight_decay).
      grad_clip=5.0,         # Global-norm clip; 0 = none.
      label_smoothing=0.0,
      cutout=16,             # Cutout length; 0 = none.
      eval_every=1,          # Evaluate on the test split every k epochs (and at the end).
      log_every_steps=50,    # TensorBoard step summaries every N steps.
      # Step metrics are read back to the host (progress, NaN guard) every N
      # steps: reading waits for the step, so on accelerators N > 1 keeps
      # steps queued back to back.
      metrics_every_steps=10,
  ))
  config.data = data.default_data_config()
  return config


# --------------------------------------------------------------------------
# Genotype resolution
# --------------------------------------------------------------------------


def _from_genotype_json(path, allow_unfinished=False):
  """(family, genotype) from a search workdir's genotype.json."""
  try:
    with open(path) as f:
      blob = json.load(f)
  except json.JSONDecodeError as e:
    raise ValueError(f'{path} is not a genotype.json (invalid JSON: {e})') from None
  space, genotype = spaces.space_of_genotype_json(blob, path)
  if blob.get('finished') is False and not allow_unfinished:
    raise ValueError(f'{path} is from a search that stopped after epoch {blob.get("epochs")}, '
                     f'before it finished; finish the search (rerun it) or set '
                     f'--config.allow_unfinished_search=True to train this cell anyway')
  return space.family, genotype


def parse_genotype_spec(spec, allow_unfinished=False):
  """Resolves `config.genotype` into (family, genotype).

  Args:
    spec: a search workdir or the path of its genotype.json; a name in
      `genotype.GENOTYPES`; an NB201 arch string; a DARTS `Genotype(...)`
      literal or JSON; a genotype_to_dict dict; or a `Genotype`.

  Returns:
    ('nb201', arch string) or ('darts', Genotype).

  Raises:
    ValueError: for an unknown name (listing the known ones), a missing path or
      a malformed literal.
  """
  if isinstance(spec, genotype_lib.Genotype):
    return 'darts', spec
  if isinstance(spec, (dict, ml_collections.ConfigDict)):
    spec = spec.to_dict() if isinstance(spec, ml_collections.ConfigDict) else spec
    return 'darts', genotype_lib.genotype_from_dict(spec)
  if not isinstance(spec, str) or not spec.strip():
    raise ValueError(
        f'config.genotype is {spec!r}; set it to a search workdir (or its genotype.json), a '
        f'name in {sorted(genotype_lib.GENOTYPES)}, an NB201 arch string or a DARTS '
        f'Genotype(...) literal, e.g. --config.genotype=/tmp/edd/search')
  spec = spec.strip()
  if spec.startswith('|'):
    genotype_lib.parse_nb201(spec)
    return 'nb201', spec
  if spec.startswith('Genotype(') or spec.startswith('{'):
    return 'darts', genotype_lib.parse_darts(spec)
  if spec in genotype_lib.GENOTYPES:
    return 'darts', genotype_lib.GENOTYPES[spec]
  path = pathlib.Path(spec)
  if path.is_dir():
    path = path / 'genotype.json'
    if not path.is_file():
      raise ValueError(f'config.genotype={spec!r} is a directory without genotype.json '
                       f'(expected a search workdir)')
  if path.is_file():
    return _from_genotype_json(path, allow_unfinished)
  if os.sep in spec or spec.endswith('.json'):
    raise ValueError(f'config.genotype={spec!r}: no such file or search workdir')
  raise ValueError(
      f'unknown genotype name config.genotype={spec!r}; known names: '
      f'{sorted(genotype_lib.GENOTYPES)}; or give a search workdir / genotype.json path, '
      f'an NB201 arch string (|op~0|+|op~0|op~1|+...) or a DARTS Genotype(...) literal')


def resolve_genotype(spec, network, allow_unfinished=False):
  """`parse_genotype_spec`, checked against the genotype family of `network`.

  Returns:
    The NB201 arch string for network 'nb201', else a DARTS `Genotype`.

  Raises:
    ValueError: for an unknown network or a genotype of the other space.
  """
  if network not in NETWORKS:
    raise ValueError(f'unknown config.network {network!r}; allowed: {list(NETWORKS)}')
  space, genotype = parse_genotype_spec(spec, allow_unfinished)
  want = finalnet.NETWORK_FAMILY[network]
  if space != want:
    what = {'nb201': 'an NB201 cell (arch string)', 'darts': 'a DARTS-space Genotype'}
    raise ValueError(f'config.genotype={spec!r} is {what[space]}, but config.network='
                     f'{network!r} needs {what[want]}')
  return genotype


def genotype_to_json(genotype):
  """JSON value of a resolved genotype (arch string, or genotype_to_dict)."""
  if isinstance(genotype, str):
    return genotype
  return genotype_lib.genotype_to_dict(genotype)


def genotype_text(genotype):
  return genotype if isinstance(genotype, str) else str(genotype)


# --------------------------------------------------------------------------
# Schedules and the optimisation step
# --------------------------------------------------------------------------


learning_rate = optim.learning_rate


def drop_path_rate(epoch, *, drop_path_prob, epochs):
  """DARTS train.py: `drop_path_prob * epoch / epochs` for a 0-based epoch."""
  return drop_path_prob * epoch / epochs


cross_entropy = optim.cross_entropy


coupled_weight_decay = optim.coupled_l2


def make_optimizer(train_config, variables):
  """SGD with momentum, built eagerly on `variables` (tf-notes finding A).

  Call inside the strategy scope.
  """
  return optim.sgd(train_config.lr, train_config.momentum, train_config.nesterov, variables)


def make_train_step(model, optimizer, *, strategy, global_batch_size, weight_decay=0.0,
                    grad_clip=0.0, label_smoothing=0.0, auxiliary_weight=0.0, loss_scale=None,
                    jit_compile=False):
  """One SGD step as a tf.function over a (distributed) global batch.

  The model and its variables are captured by closure (tf-notes finding G).
  Gradients are all-reduced once, first, so that the clip and the weight
  decay act on the full-batch gradient, as on one device
  (`optim.apply_gradients`).

  Args:
    model: a built Keras model; `model.call_with_aux` when auxiliary_weight > 0.
    optimizer: an `optim.sgd` optimizer built on `model.trainable_variables`.
    strategy: the tf.distribute strategy the variables were created under.
    global_batch_size: examples per step over all replicas.
    weight_decay: coupled L2 coefficient.
    grad_clip: global-norm clip (0 = none).
    label_smoothing: see `cross_entropy`.
    auxiliary_weight: weight of the auxiliary-head loss (0 = no head).
    loss_scale: an `optim.LossScale` (config.precision='mixed_float16'), or None.
    jit_compile: XLA-compile the per-replica forward/backward pass; the
      gradient pipeline runs outside it (XLA around strategy.run fails).

  Returns:
    step(images float32[B, H, W, 3], labels int32[B]) -> (loss, correct): the
    mean training loss (incl. the auxiliary term) and the number of correct
    top-1 predictions of the main head, as scalar tensors.
  """
  variables = model.trainable_variables

  def gradients(images, labels):
    with tf.GradientTape() as tape:
      if auxiliary_weight:
        logits, aux_logits = model.call_with_aux(images, training=True)
      else:
        logits = model(images, training=True)
      per_example = cross_entropy(labels, logits, label_smoothing)
      if auxiliary_weight:
        per_example += auxiliary_weight * cross_entropy(labels, aux_logits, label_smoothing)
      loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
    if loss_scale is None:
      grads = tape.gradient(loss, variables)
    else:
      grads = loss_scale.gradients(tape, loss, variables)
    return grads, loss, optim.count_correct(labels, logits)

  if jit_compile:
    gradients = tf.function(gradients, jit_compile=True)

  def replica_step(images, labels):
    grads, loss, correct = gradients(images, labels)
    # A cell whose node feeds only 'none' edges (e.g. |...|none~2|) leaves that
    # node's ops without a gradient: apply_gradients gives them zeros.
    optim.apply_gradients(optimizer, grads, variables, grad_clip=grad_clip,
                          weight_decay=weight_decay, loss_scale=loss_scale)
    return loss, correct

  @tf.function
  def step(images, labels):
    loss, correct = strategy.run(replica_step, args=(images, labels))
    return (strategy.reduce('SUM', loss, axis=None), strategy.reduce('SUM', correct, axis=None))

  return step


def build_training(config, genotype, info, strategy):
  """The final network, its optimizer, loss scale and step, as the training loop runs them.

  Returns:
    (model, optimizer, loss_scale or None, train_step); the variables are
    created under `strategy`; config.precision, config.jit_compile and the
    recipe (config.train) are applied.
  """
  precision_lib.check_compiled_pass(
      config.get('jit_compile', False), strategy.num_replicas_in_sync,
      ['config.sync_batch_norm=True'] if config.get('sync_batch_norm', False) else [])
  t = config.train
  with strategy.scope():
    model = build_model(config, genotype, info)
    optimizer = make_optimizer(t, model.trainable_variables)
    loss_scale = (optim.LossScale() if precision_lib.uses_loss_scaling(
        config.get('precision', 'float32')) else None)
  step = make_train_step(
      model, optimizer, strategy=strategy, global_batch_size=t.batch_size,
      weight_decay=t.weight_decay, grad_clip=t.grad_clip, label_smoothing=t.label_smoothing,
      auxiliary_weight=config.model.auxiliary_weight, loss_scale=loss_scale,
      jit_compile=config.get('jit_compile', False))
  return model, optimizer, loss_scale, step


def make_eval_step(model, strategy):
  """tf.function (images, labels) -> (sum of losses, number correct, count)."""

  def replica_step(images, labels):
    logits = model(images, training=False)
    loss = tf.reduce_sum(cross_entropy(labels, logits))
    correct = optim.count_correct(labels, logits)
    count = tf.cast(tf.shape(labels)[0], tf.float32)
    return loss, correct, count

  @tf.function
  def step(images, labels):
    out = strategy.run(replica_step, args=(images, labels))
    return tuple(strategy.reduce('SUM', v, axis=None) for v in out)

  return step


# --------------------------------------------------------------------------
# Config checks and workdir files
# --------------------------------------------------------------------------


def check_config(config):
  """Raises ValueError naming the first bad field of a training config."""
  if 'train' not in config or 'network' not in config:
    what = 'a search config' if 'search' in config else 'not a training config'
    raise ValueError(f'this is {what}: training needs a training config (configs/train_*.py, '
                     f'with config.train and config.network)')
  distribute_lib.check_strategy_name(config.get('distribute', 'default'))
  precision_lib.check_numerics_config(config)
  t = config.train
  if config.network not in NETWORKS:
    raise ValueError(f'unknown config.network {config.network!r}; allowed: {list(NETWORKS)}')
  if t.lr_schedule not in LR_SCHEDULES:
    raise ValueError(f'unknown config.train.lr_schedule {t.lr_schedule!r}; allowed: '
                     f'{list(LR_SCHEDULES)}')
  for field in ('epochs', 'batch_size', 'eval_every', 'metrics_every_steps'):
    if field not in t:
      continue
    value = t[field]
    if not isinstance(value, int) or value < 1:
      raise ValueError(f'config.train.{field} must be a positive integer, got {value!r}')
  if not isinstance(t.eval_batch_size, int) or t.eval_batch_size < 0:
    raise ValueError(f'config.train.eval_batch_size must be an integer >= 0 (0 = batch_size), '
                     f'got {t.eval_batch_size!r}')
  for field in ('weight_decay', 'grad_clip', 'label_smoothing', 'cutout', 'warmup_epochs',
                'momentum', 'lr_min'):
    if t[field] < 0:
      raise ValueError(f'config.train.{field} must be >= 0, got {t[field]!r}')
  if not t.lr > 0:
    raise ValueError(f'config.train.lr must be > 0, got {t.lr!r}')
  if not 0 <= config.model.drop_path_prob < 1:
    raise ValueError(f'config.model.drop_path_prob must be in [0, 1), got '
                     f'{config.model.drop_path_prob!r}')
  if config.model.auxiliary_weight < 0:
    raise ValueError(f'config.model.auxiliary_weight must be >= 0, got '
                     f'{config.model.auxiliary_weight!r}')


def dataset_info_to_dict(info):
  return dict(name=info.name, num_classes=int(info.num_classes),
              image_size=int(info.image_size), mean=[float(m) for m in info.mean],
              std=[float(s) for s in info.std], class_names=list(info.class_names))


def dataset_info_from_dict(d):
  return data.DatasetInfo(name=d['name'], num_classes=int(d['num_classes']),
                          image_size=int(d['image_size']), mean=tuple(d['mean']),
                          std=tuple(d['std']), class_names=tuple(d['class_names']))


def build_model(config, genotype, info):
  """The final network of `config` for `info`, built on a dummy batch.

  Its layers take the config.precision policy; config.sync_batch_norm makes
  its BatchNorms synchronise across replicas.
  """
  m = config.model
  with precision_lib.policy_scope(config.get('precision', 'float32')):
    model = finalnet.build_final_network(
        config.network, genotype, info.num_classes, channels=m.channels, layers=m.layers,
        cells_per_stage=m.cells_per_stage, auxiliary=bool(m.auxiliary_weight))
  ops_lib.synchronize_batch_norm(model, config.get('sync_batch_norm', False))
  dummy = tf.zeros([1, info.image_size, info.image_size, 3], tf.float32)
  model(dummy, training=False)
  if m.auxiliary_weight:
    model.call_with_aux(dummy, training=False)
  return model


def load_workdir_model(workdir):
  """Rebuilds the model of a training workdir and restores its latest checkpoint.

  Returns:
    (model, info: DatasetInfo, config: ConfigDict, checkpoint path).

  Raises:
    ValueError: if the workdir has no config.json / dataset.json or no checkpoint.
  """
  workdir = pathlib.Path(workdir)
  for name in (CONFIG_FILE, DATASET_FILE):
    if not (workdir / name).is_file():
      raise ValueError(f'{workdir} is not a training workdir: {name} is missing '
                       f'(run binaries.train with --workdir={workdir} first)')
  with open(workdir / CONFIG_FILE) as f:
    config = ml_collections.ConfigDict(json.load(f))
  with open(workdir / DATASET_FILE) as f:
    info = dataset_info_from_dict(json.load(f))
  path = tf.train.latest_checkpoint(str(workdir / CHECKPOINT_DIR))
  if path is None:
    raise ValueError(f'no checkpoint in {workdir / CHECKPOINT_DIR}: training has not '
                     f'completed an epoch yet')
  genotype = resolve_genotype(config.genotype, config.network, allow_unfinished=True)
  model = build_model(config, genotype, info)
  status = tf.train.Checkpoint(**checkpointing.model_checkpoint_items(model)).restore(path)
  status.assert_existing_objects_matched()
  status.expect_partial()  # The optimizer and epoch counter are not needed.
  return model, info, config, path


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


class _Data:
  """Per-epoch training pipelines and the test pipeline of a config."""

  def __init__(self, config):
    self.config = config
    t = config.train
    self.batch_size = t.batch_size
    self.eval_batch_size = t.eval_batch_size or t.batch_size
    self.imagenet = config.network == 'darts_imagenet'
    if self.imagenet:
      if config.data.name != 'imagenet2012':
        raise ValueError(f"config.network='darts_imagenet' trains on config.data.name="
                         f"'imagenet2012', got {config.data.name!r}")
      self.info = data.DATASETS['imagenet2012']
      self.train = self.test = None
      self.steps = None
    else:
      self.train = data.load_arrays(config.data, 'train')
      self.test = data.load_arrays(config.data, 'test')
      self.info = self.train.info
      self.steps = data.steps_per_epoch(self.train, self.batch_size)
      if self.steps == 0:
        raise ValueError(f'config.train.batch_size={self.batch_size} exceeds the '
                         f'{len(self.train)} training examples')

  def train_dataset(self, epoch, start_step=0):
    seed = self.config.seed
    if self.imagenet:
      return imagenet_data.imagenet_dataset(
          self.config.data.data_dir, 'train', self.batch_size, training=True,
          seed=seed * 100_003 + epoch).skip(start_step)
    return data.make_dataset(self.train, self.batch_size, training=True, seed=seed,
                             epoch=epoch, cutout=self.config.train.cutout,
                             start_step=start_step)

  def test_dataset(self):
    if self.imagenet:
      return imagenet_data.imagenet_dataset(self.config.data.data_dir, 'test',
                                            self.eval_batch_size, training=False)
    return data.make_dataset(self.test, self.eval_batch_size, training=False)

  def describe(self):
    d = dict(name=self.info.name, source=self.config.data.source,
             image_size=int(self.info.image_size), num_classes=int(self.info.num_classes))
    if not self.imagenet:
      d.update(train_examples=len(self.train), test_examples=len(self.test))
    return d


# --------------------------------------------------------------------------
# Training as a task of the loop skeleton
# --------------------------------------------------------------------------


# Fields that define the experiment: never changed in a workdir, even with
# allow_config_change.
EXPERIMENT_FIELDS = ('network', 'genotype', 'model', 'data.name', 'data.image_size')
# Fields that may change between a run and its resumption.
RESUMABLE_CHANGES = ('train.epochs', 'train.eval_every', 'train.eval_batch_size',
                     'train.log_every_steps', 'train.metrics_every_steps', 'data.path',
                     'data.data_dir', 'data.download', 'data.skip_bad_images', 'distribute',
                     'allow_unfinished_search', 'jit_compile')


class TrainTask(loop.Task):
  """Training a final network for core.loop: data, model, SGD, results.json."""

  kind = 'training run'

  def __init__(self, config, workdir, strategy=None):
    """Validates config, genotype and data (no file is written here)."""
    check_config(config)
    self.config = config
    self.workdir = pathlib.Path(workdir)
    self.genotype = resolve_genotype(config.genotype, config.network,
                                     config.get('allow_unfinished_search', False))
    # First: MultiWorkerMirroredStrategy must exist before TF runs any op.
    self.strategy = strategy or distribute_lib.make_strategy(config.get('distribute', 'default'))
    self.data = _Data(config)
    self.info = self.data.info
    saved_info = self.workdir / DATASET_FILE
    if saved_info.is_file():
      saved = workdir_lib.read_json(saved_info)
      now = dataset_info_to_dict(self.info)
      changed = [k for k in ('name', 'num_classes', 'image_size') if saved.get(k) != now[k]]
      if changed:
        raise ValueError(f'the workdir {self.workdir} was trained on other data '
                         f'({", ".join(f"{k} {saved.get(k)!r} -> {now[k]!r}" for k in changed)}); '
                         f'use a new --workdir')
    t = config.train
    self.epochs = t.epochs
    self.global_batch_size = t.batch_size
    loop.check_data_and_batch(self.info.num_classes, t.batch_size, self.strategy,
                              batch_field='train.batch_size', kind='training run')
    keras.utils.set_random_seed(config.seed)
    self.model, self.optimizer, self.loss_scale, self.train_step = build_training(
        config, self.genotype, self.info, self.strategy)
    self.params = finalnet.count_params(self.model, exclude_auxiliary=True)
    self.flops = finalnet.count_flops(self.model, (1, self.info.image_size,
                                                   self.info.image_size, 3))
    self.eval_step = make_eval_step(self.model, self.strategy)
    self.test_ds = self.data.test_dataset()
    self.test_metrics = {}

  def checkpoint_items(self):
    return dict(**checkpointing.model_checkpoint_items(self.model), optimizer=self.optimizer)

  def optional_checkpoint_items(self):
    items = dict(checkpointing.seed_states(self.model))  # drop-path masks
    if self.loss_scale is not None:  # mixed_float16 (optional: see SearchTask)
      items['loss_scale'] = self.loss_scale
    return items

  def on_fresh_start(self):
    if not distribute_lib.is_chief(self.strategy):
      return
    writer = tf.summary.create_file_writer(str(self.workdir / TB_DIR))
    with writer.as_default():
      tf.summary.scalar('model/params', self.params, step=0)
      tf.summary.scalar('model/flops', self.flops, step=0)
      tf.summary.text('genotype', genotype_text(self.genotype), step=0)
    writer.close()
    logging.info('network %s, %d params, %d FLOPs, genotype %s', self.config.network,
                 self.params, self.flops, genotype_text(self.genotype))

  def begin_epoch(self, epoch):
    t = self.config.train
    self.lr = learning_rate(epoch, lr=t.lr, epochs=self.epochs, schedule=t.lr_schedule,
                            lr_min=t.lr_min, gamma=t.lr_gamma, warmup_epochs=t.warmup_epochs)
    self.rate = drop_path_rate(epoch, drop_path_prob=self.config.model.drop_path_prob,
                               epochs=self.epochs)
    self.optimizer.learning_rate = self.lr
    self.model.drop_path_rate.assign(self.rate)
    return {'lr': self.lr}

  def batches(self, epoch, start_step=0):
    ds = self.strategy.experimental_distribute_dataset(
        self.data.train_dataset(epoch, start_step))
    return ds, self.data.steps

  def step(self, images, labels):
    loss, correct = self.train_step(images, labels)
    return {'loss': loss, 'accuracy': correct / self.global_batch_size}

  def end_epoch(self, epoch, metrics, history):
    del history
    if not all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.model.weights
               if keras.backend.is_float_dtype(v.dtype)):
      raise FloatingPointError(f'the weights became NaN/inf during epoch {epoch + 1}; stopped '
                               f'without saving this epoch')
    t = self.config.train
    self.test_metrics = {}
    if (epoch + 1) % t.eval_every == 0 or epoch + 1 == self.epochs:
      self.test_metrics = self.evaluate()
    scalars = {'train/loss': metrics['loss'], 'train/accuracy': metrics['accuracy'],
               'lr': self.lr, 'drop_path_rate': self.rate}
    scalars.update({k.replace('_', '/', 1): v for k, v in self.test_metrics.items()})
    logging.info('epoch %d/%d: lr %.5f, drop path %.3f, train loss %.4f acc %.4f%s', epoch + 1,
                 self.epochs, self.lr, self.rate, metrics['loss'], metrics['accuracy'],
                 ''.join(f', {k} {v:.4f}' for k, v in self.test_metrics.items()))
    return dict(epoch=epoch + 1, lr=self.lr, drop_path_rate=self.rate, **metrics,
                **self.test_metrics, scalars=scalars)

  def progress_metrics(self, record):
    keys = ('loss', 'accuracy', 'test_loss', 'test_accuracy', 'lr')
    return {k: record[k] for k in keys if k in record}

  def evaluate(self):
    totals = np.zeros(3)
    for images, labels in self.strategy.experimental_distribute_dataset(self.test_ds):
      totals += [float(v) for v in self.eval_step(images, labels)]
    loss, correct, count = totals
    if count == 0:
      raise ValueError('the test split is empty')
    return {'test_loss': float(loss / count), 'test_accuracy': float(correct / count)}

  def write_outputs(self, history, finished):
    if finished:
      workdir_lib.write_json(self.workdir / RESULTS_FILE, self.result(history))

  def result(self, history):
    last = history[-1]
    if 'test_accuracy' not in last:
      raise ValueError('the last epoch was not evaluated')
    config = self.config
    return dict(
        network=config.network, genotype=genotype_to_json(self.genotype),
        genotype_source=str(config.genotype) if isinstance(config.genotype, str) else None,
        data=self.data.describe(), epochs=len(history),
        test_accuracy=last['test_accuracy'], test_loss=last['test_loss'],
        train_loss=last['loss'], train_accuracy=last['accuracy'],
        params=int(self.params), flops=int(self.flops),
        checkpoint=tf.train.latest_checkpoint(str(self.workdir / CHECKPOINT_DIR)))


def run(config, workdir, progress=None, strategy=None, allow_config_change=False):
  """Trains (or resumes training of) the final network of `config.genotype`.

  Args:
    config: a ConfigDict with the layout of `default_config()`.
    workdir: output directory (created; reused to resume). Holds config.json,
      dataset.json, checkpoints/, tb/ and, at the end, results.json.
    progress: optional callable(epoch, step, steps, metrics) called after every
      training step with running means {'loss', 'accuracy'}, and once more
      after each epoch with {'loss', 'accuracy', 'lr'} and 'test_loss' /
      'test_accuracy' when the epoch was evaluated.
    strategy: a tf.distribute strategy (default: from config.distribute).
    allow_config_change: continue a workdir's run under a config that differs
      in fields other than EXPERIMENT_FIELDS (e.g. lower learning rates after a
      NaN); the change and the checkpoint it continues from are recorded in
      config.json's 'config_changes'.

  Returns:
    The results dict also written to workdir/results.json.

  Raises:
    ValueError: for a bad config, an unknown / wrong-space genotype, data or a
      workdir holding another experiment; nothing is written then.
    FloatingPointError: when the training loss becomes NaN or inf; the last
      good checkpoint is left on disk.
  """
  task = TrainTask(config, workdir, strategy)  # validates; writes nothing
  resolved = config.to_dict()
  resolved['genotype'] = genotype_to_json(task.genotype)
  defaults = default_config().to_dict()
  chief = distribute_lib.is_chief(task.strategy)
  path, lock = loop.open_workdir(workdir, resolved, kind='training run', ignore=RESUMABLE_CHANGES,
                                 fixed=EXPERIMENT_FIELDS, allow_changes=allow_config_change,
                                 defaults=defaults, chief=chief)
  try:
    if chief:
      workdir_lib.write_json(path / DATASET_FILE, dataset_info_to_dict(task.info))
    results = loop.run(task, path, progress=progress,
                       log_every_steps=config.train.get('log_every_steps', 50),
                       metrics_every_steps=config.train.get('metrics_every_steps', 1))
  finally:
    lock.release()
  logging.info('done: test accuracy %.4f after %d epochs', results['test_accuracy'],
               results['epochs'])
  return results
