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
import math
import os
import pathlib
import time

from absl import logging
import keras
import ml_collections
import numpy as np
import tensorflow as tf

from edd_tf import checkpointing
from edd_tf import data
from edd_tf import distribute as distribute_lib
from edd_tf import finalnet
from edd_tf import genotype as genotype_lib

NETWORKS = ('nb201', 'darts_cifar', 'darts_imagenet')
LR_SCHEDULES = ('cosine', 'step', 'linear', 'constant')
CONFIG_FILE = 'config.json'
DATASET_FILE = 'dataset.json'
RESULTS_FILE = 'results.json'
CHECKPOINT_DIR = 'checkpoints'
TB_DIR = 'tb'
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
  config.distribute = 'default'    # 'default' (one device) | 'mirrored' (all local GPUs).
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
  ))
  config.data = data.default_data_config()
  return config


# --------------------------------------------------------------------------
# Genotype resolution
# --------------------------------------------------------------------------


def _space_of_network(network):
  return 'nb201' if network == 'nb201' else 'darts'


def _from_genotype_json(path):
  """(space, genotype) from a search workdir's genotype.json."""
  with open(path) as f:
    blob = json.load(f)
  space, value = blob.get('space'), blob.get('genotype')
  if space == 'nb201':
    genotype_lib.parse_nb201(value)
    return 'nb201', value
  if space == 'darts':
    if isinstance(value, str):
      return 'darts', genotype_lib.parse_darts(value)
    return 'darts', genotype_lib.genotype_from_dict(value)
  raise ValueError(f'{path}: "space" must be "nb201" or "darts", got {space!r}')


def parse_genotype_spec(spec):
  """Resolves `config.genotype` into (space, genotype).

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
    return _from_genotype_json(path)
  if os.sep in spec or spec.endswith('.json'):
    raise ValueError(f'config.genotype={spec!r}: no such file or search workdir')
  raise ValueError(
      f'unknown genotype name config.genotype={spec!r}; known names: '
      f'{sorted(genotype_lib.GENOTYPES)}; or give a search workdir / genotype.json path, '
      f'an NB201 arch string (|op~0|+|op~0|op~1|+...) or a DARTS Genotype(...) literal')


def resolve_genotype(spec, network):
  """`parse_genotype_spec`, checked against the search space of `network`.

  Returns:
    The NB201 arch string for network 'nb201', else a DARTS `Genotype`.

  Raises:
    ValueError: for an unknown network or a genotype of the other space.
  """
  if network not in NETWORKS:
    raise ValueError(f'unknown config.network {network!r}; allowed: {list(NETWORKS)}')
  space, genotype = parse_genotype_spec(spec)
  want = _space_of_network(network)
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


def learning_rate(epoch, *, lr, epochs, schedule='cosine', lr_min=0.0, gamma=0.97,
                  warmup_epochs=0):
  """Learning rate of a 0-based epoch (the LR is constant within an epoch).

  'cosine' is CosineAnnealingLR(T_max=epochs, eta_min=lr_min) stepped per
  epoch; 'step' is StepLR(step_size=1, gamma); 'linear' decays linearly from
  lr to lr_min; 'constant' keeps lr. A warm-up multiplies by
  (epoch + 1) / warmup_epochs during the first warmup_epochs epochs (PC-DARTS
  ImageNet).
  """
  if schedule == 'cosine':
    value = lr_min + (lr - lr_min) * (1 + math.cos(math.pi * epoch / epochs)) / 2
  elif schedule == 'step':
    value = lr * gamma ** epoch
  elif schedule == 'linear':
    value = lr_min + (lr - lr_min) * (1 - epoch / epochs)
  elif schedule == 'constant':
    value = lr
  else:
    raise ValueError(f'unknown config.train.lr_schedule {schedule!r}; allowed: '
                     f'{list(LR_SCHEDULES)}')
  if epoch < warmup_epochs:
    value *= (epoch + 1) / warmup_epochs
  return value


def drop_path_rate(epoch, *, drop_path_prob, epochs):
  """DARTS train.py: `drop_path_prob * epoch / epochs` for a 0-based epoch."""
  return drop_path_prob * epoch / epochs


def cross_entropy(labels, logits, label_smoothing=0.0):
  """Per-example cross entropy with label smoothing (DARTS CrossEntropyLabelSmooth).

  Args:
    labels: int32[B].
    logits: float[B, K].
    label_smoothing: eps; targets are (1 - eps) * one_hot + eps / K.

  Returns:
    float32[B].
  """
  logits = tf.cast(logits, tf.float32)
  log_probs = tf.nn.log_softmax(logits, axis=-1)
  nll = -tf.gather(log_probs, labels, axis=-1, batch_dims=1)
  if not label_smoothing:
    return nll
  return (1.0 - label_smoothing) * nll - label_smoothing * tf.reduce_mean(log_probs, axis=-1)


def coupled_weight_decay(grads, variables, weight_decay):
  """PyTorch SGD weight decay: `g + weight_decay * w` for every variable."""
  if not weight_decay:
    return list(grads)
  return [g + weight_decay * tf.cast(v, g.dtype) for g, v in zip(grads, variables)]


def make_optimizer(train_config, variables):
  """SGD with momentum, built eagerly on `variables` (tf-notes finding A).

  Call inside the strategy scope.
  """
  optimizer = keras.optimizers.SGD(learning_rate=train_config.lr,
                                   momentum=train_config.momentum,
                                   nesterov=bool(train_config.nesterov))
  optimizer.build(variables)
  return optimizer


def make_train_step(model, optimizer, *, strategy, global_batch_size, weight_decay=0.0,
                    grad_clip=0.0, label_smoothing=0.0, auxiliary_weight=0.0):
  """One SGD step as a tf.function over a (distributed) global batch.

  The model and its variables are captured by closure (tf-notes finding G).
  Gradients are all-reduced first so that the clip and the weight decay act on
  the full-batch gradient, as on one device; the Keras optimizer SUM-reduces
  again, so each replica then passes gradient / num_replicas.

  Args:
    model: a built Keras model; `model.call_with_aux` when auxiliary_weight > 0.
    optimizer: a Keras optimizer built on `model.trainable_variables`.
    strategy: the tf.distribute strategy the variables were created under.
    global_batch_size: examples per step over all replicas.
    weight_decay: coupled L2 coefficient.
    grad_clip: global-norm clip (0 = none).
    label_smoothing: see `cross_entropy`.
    auxiliary_weight: weight of the auxiliary-head loss (0 = no head).

  Returns:
    step(images float32[B, H, W, 3], labels int32[B]) -> (loss, correct): the
    mean training loss (incl. the auxiliary term) and the number of correct
    top-1 predictions of the main head, as scalar tensors.
  """
  variables = model.trainable_variables
  num_replicas = strategy.num_replicas_in_sync

  def replica_step(images, labels):
    with tf.GradientTape() as tape:
      if auxiliary_weight:
        logits, aux_logits = model.call_with_aux(images, training=True)
      else:
        logits = model(images, training=True)
      per_example = cross_entropy(labels, logits, label_smoothing)
      if auxiliary_weight:
        per_example += auxiliary_weight * cross_entropy(labels, aux_logits, label_smoothing)
      loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
    # A cell whose node feeds only 'none' edges (e.g. |...|none~2|) leaves that
    # node's ops without a gradient: give them zeros (PyTorch: grad None).
    grads = [tf.zeros(v.shape, v.dtype) if g is None else g
             for g, v in zip(tape.gradient(loss, variables), variables)]
    grads = tf.distribute.get_replica_context().all_reduce('SUM', grads)
    if grad_clip:
      grads, _ = tf.clip_by_global_norm(grads, grad_clip)
    grads = coupled_weight_decay(grads, variables, weight_decay)
    if num_replicas > 1:
      grads = [g / num_replicas for g in grads]
    optimizer.apply_gradients(zip(grads, variables))
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    correct = tf.reduce_sum(tf.cast(tf.equal(predictions, labels), tf.float32))
    return loss, correct

  @tf.function
  def step(images, labels):
    loss, correct = strategy.run(replica_step, args=(images, labels))
    return (strategy.reduce('SUM', loss, axis=None), strategy.reduce('SUM', correct, axis=None))

  return step


def make_eval_step(model, strategy):
  """tf.function (images, labels) -> (sum of losses, number correct, count)."""

  def replica_step(images, labels):
    logits = model(images, training=False)
    loss = tf.reduce_sum(cross_entropy(labels, logits))
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    correct = tf.reduce_sum(tf.cast(tf.equal(predictions, labels), tf.float32))
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
  distribute_lib.check_strategy_name(config.get('distribute', 'default'))
  t = config.train
  if config.network not in NETWORKS:
    raise ValueError(f'unknown config.network {config.network!r}; allowed: {list(NETWORKS)}')
  if t.lr_schedule not in LR_SCHEDULES:
    raise ValueError(f'unknown config.train.lr_schedule {t.lr_schedule!r}; allowed: '
                     f'{list(LR_SCHEDULES)}')
  for field in ('epochs', 'batch_size', 'eval_every'):
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


def _get_field(d, dotted):
  for key in dotted.split('.'):
    d = d.get(key) if isinstance(d, dict) else None
  return d


def _check_resumable(saved, current):
  """Raises if the saved config.json builds a different network than `current`."""
  diffs = [f'{f}: {_get_field(saved, f)!r} -> {_get_field(current, f)!r}'
           for f in _ARCH_FIELDS if _get_field(saved, f) != _get_field(current, f)]
  saved_aux = bool(_get_field(saved, 'model.auxiliary_weight'))
  if saved_aux != bool(_get_field(current, 'model.auxiliary_weight')):
    diffs.append('model.auxiliary_weight: auxiliary head on/off changed')
  if diffs:
    raise ValueError('the workdir holds a checkpoint of a different network; use a new '
                     'workdir or restore the config. Changed: ' + '; '.join(diffs))


def _write_json(path, blob):
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    json.dump(blob, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def dataset_info_to_dict(info):
  return dict(name=info.name, num_classes=int(info.num_classes),
              image_size=int(info.image_size), mean=[float(m) for m in info.mean],
              std=[float(s) for s in info.std], class_names=list(info.class_names))


def dataset_info_from_dict(d):
  return data.DatasetInfo(name=d['name'], num_classes=int(d['num_classes']),
                          image_size=int(d['image_size']), mean=tuple(d['mean']),
                          std=tuple(d['std']), class_names=tuple(d['class_names']))


def build_model(config, genotype, info):
  """The final network of `config` for `info`, built on a dummy batch."""
  m = config.model
  model = finalnet.build_final_network(
      config.network, genotype, info.num_classes, channels=m.channels, layers=m.layers,
      cells_per_stage=m.cells_per_stage, auxiliary=bool(m.auxiliary_weight))
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
  genotype = resolve_genotype(config.genotype, config.network)
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

  def train_dataset(self, epoch):
    seed = self.config.seed
    if self.imagenet:
      return data.imagenet_dataset(self.config.data.data_dir, 'train', self.batch_size,
                                   training=True, seed=seed * 100_003 + epoch)
    return data.make_dataset(self.train, self.batch_size, training=True, seed=seed,
                             epoch=epoch, cutout=self.config.train.cutout)

  def test_dataset(self):
    if self.imagenet:
      return data.imagenet_dataset(self.config.data.data_dir, 'test', self.eval_batch_size,
                                   training=False)
    return data.make_dataset(self.test, self.eval_batch_size, training=False)

  def describe(self):
    d = dict(name=self.info.name, source=self.config.data.source,
             image_size=int(self.info.image_size), num_classes=int(self.info.num_classes))
    if not self.imagenet:
      d.update(train_examples=len(self.train), test_examples=len(self.test))
    return d


# --------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------


def _all_finite(variables):
  return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in variables
             if keras.backend.is_float_dtype(v.dtype))


def _evaluate(eval_step, dataset, strategy):
  totals = np.zeros(3)
  for images, labels in strategy.experimental_distribute_dataset(dataset):
    totals += [float(v) for v in eval_step(images, labels)]
  loss, correct, count = totals
  if count == 0:
    raise ValueError('the test split is empty')
  return {'test_loss': float(loss / count), 'test_accuracy': float(correct / count)}


def run(config, workdir, progress=None, strategy=None):
  """Trains (or resumes training of) the final network of `config.genotype`.

  Args:
    config: a ConfigDict with the layout of `default_config()`.
    workdir: output directory (created; reused to resume).
    progress: optional callable(epoch, step, steps, metrics) called after every
      training step with the 0-based epoch, the number of steps done in the
      epoch, the steps per epoch (None when unknown) and running means
      {'loss', 'accuracy'}. The last call of an epoch comes after evaluation
      and also carries 'test_loss' / 'test_accuracy' when the epoch was
      evaluated, and 'lr'.
    strategy: a tf.distribute strategy (default: from config.distribute).

  Returns:
    The results dict also written to workdir/results.json.

  Raises:
    ValueError: for a bad config, an unknown / wrong-space genotype, or a
      workdir holding a checkpoint of a different network.
    FloatingPointError: when the training loss becomes NaN or inf; the last
      good checkpoint is left on disk.
  """
  check_config(config)
  genotype = resolve_genotype(config.genotype, config.network)
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  resolved = config.to_dict()
  resolved['genotype'] = genotype_to_json(genotype)
  ckpt_dir = workdir / CHECKPOINT_DIR
  results_path = workdir / RESULTS_FILE
  latest = tf.train.latest_checkpoint(str(ckpt_dir))
  if latest and (workdir / CONFIG_FILE).is_file():
    with open(workdir / CONFIG_FILE) as f:
      _check_resumable(json.load(f), resolved)
  if latest and results_path.is_file():
    done = int(tf.train.load_checkpoint(latest).get_tensor('epoch/.ATTRIBUTES/VARIABLE_VALUE'))
    if done >= config.train.epochs:  # A finished run just reports.
      with open(results_path) as f:
        results = json.load(f)
      logging.info('%s already trained for %d epochs: test accuracy %.4f', workdir, done,
                   results.get('test_accuracy', float('nan')))
      return results

  keras.utils.set_random_seed(config.seed)
  dataset = _Data(config)
  info = dataset.info
  _write_json(workdir / CONFIG_FILE, resolved)
  _write_json(workdir / DATASET_FILE, dataset_info_to_dict(info))
  t = config.train
  epochs = t.epochs

  # ---- model, optimizer, checkpoint ----
  strategy = strategy or distribute_lib.make_strategy(config.get('distribute', 'default'))
  with strategy.scope():
    model = build_model(config, genotype, info)
    optimizer = make_optimizer(t, model.trainable_variables)
  epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name='epoch')
  checkpoint = tf.train.Checkpoint(**checkpointing.model_checkpoint_items(model),
                                   optimizer=optimizer,
                                   epoch=epoch_var)
  manager = tf.train.CheckpointManager(checkpoint, str(ckpt_dir), max_to_keep=2)
  if manager.latest_checkpoint:
    checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    logging.info('restored %s (%d epochs done)', manager.latest_checkpoint, int(epoch_var))
  start = int(epoch_var.numpy())

  params = finalnet.count_params(model, exclude_auxiliary=True)
  flops = finalnet.count_flops(model, (1, info.image_size, info.image_size, 3))

  writer = tf.summary.create_file_writer(str(workdir / TB_DIR))
  with writer.as_default():
    tf.summary.scalar('model/params', params, step=0)
    tf.summary.scalar('model/flops', flops, step=0)
    tf.summary.text('genotype', genotype_text(genotype), step=0)
  logging.info('network %s, %d params, %d FLOPs, genotype %s', config.network, params, flops,
               genotype_text(genotype))

  train_step = make_train_step(
      model, optimizer, strategy=strategy, global_batch_size=t.batch_size,
      weight_decay=t.weight_decay, grad_clip=t.grad_clip, label_smoothing=t.label_smoothing,
      auxiliary_weight=config.model.auxiliary_weight)
  eval_step = make_eval_step(model, strategy)
  test_ds = dataset.test_dataset()

  metrics = {}
  test_metrics = {}
  for epoch in range(start, epochs):
    # ---- one epoch ----
    lr = learning_rate(epoch, lr=t.lr, epochs=epochs, schedule=t.lr_schedule, lr_min=t.lr_min,
                       gamma=t.lr_gamma, warmup_epochs=t.warmup_epochs)
    rate = drop_path_rate(epoch, drop_path_prob=config.model.drop_path_prob, epochs=epochs)
    optimizer.learning_rate = lr
    model.drop_path_rate.assign(rate)
    started = time.time()
    loss_sum = correct_sum = 0.0
    steps_done = seen = 0
    train_ds = strategy.experimental_distribute_dataset(dataset.train_dataset(epoch))
    pending = None
    for images, labels in train_ds:
      loss, correct = train_step(images, labels)
      loss = float(loss)
      if not math.isfinite(loss):
        raise FloatingPointError(
            f'training loss is {loss} at epoch {epoch + 1}, step {steps_done + 1}; stopped. The '
            f'last good checkpoint ({manager.latest_checkpoint or "none"}) is kept in '
            f'{ckpt_dir}; lower config.train.lr or check the data')
      steps_done += 1
      seen += t.batch_size
      loss_sum += loss
      correct_sum += float(correct)
      metrics = {'loss': loss_sum / steps_done, 'accuracy': correct_sum / seen}
      if progress is not None:
        if pending is not None:
          progress(*pending)
        pending = (epoch, steps_done, dataset.steps, dict(metrics))
    if steps_done == 0:
      raise ValueError(f'epoch {epoch + 1} had no training batches')

    test_metrics = {}
    if (epoch + 1) % t.eval_every == 0 or epoch + 1 == epochs:
      test_metrics = _evaluate(eval_step, test_ds, strategy)
    # ---- end of epoch: summaries, checkpoint ----
    if not _all_finite(model.weights):
      raise FloatingPointError(
          f'the weights became NaN/inf during epoch {epoch + 1}; stopped. The last good '
          f'checkpoint ({manager.latest_checkpoint or "none"}) is kept in {ckpt_dir}')
    epoch_var.assign(epoch + 1)
    manager.save(checkpoint_number=epoch + 1)
    with writer.as_default():
      tf.summary.scalar('train/loss', metrics['loss'], step=epoch + 1)
      tf.summary.scalar('train/accuracy', metrics['accuracy'], step=epoch + 1)
      tf.summary.scalar('lr', lr, step=epoch + 1)
      tf.summary.scalar('drop_path_rate', rate, step=epoch + 1)
      for name, value in test_metrics.items():
        tf.summary.scalar(name.replace('_', '/', 1), value, step=epoch + 1)
    writer.flush()
    if progress is not None:
      progress(epoch, steps_done, dataset.steps or steps_done,
               {**metrics, **test_metrics, 'lr': lr})
    logging.info('epoch %d/%d: lr %.5f, drop path %.3f, train loss %.4f acc %.4f%s (%.1fs)',
                 epoch + 1, epochs, lr, rate, metrics['loss'], metrics['accuracy'],
                 ''.join(f', {k} {v:.4f}' for k, v in test_metrics.items()),
                 time.time() - started)

  # ---- results ----
  if not test_metrics:  # Nothing trained in this call (epochs already done).
    test_metrics = _evaluate(eval_step, test_ds, strategy)
  results = dict(
      network=config.network, genotype=genotype_to_json(genotype),
      genotype_source=str(config.genotype) if isinstance(config.genotype, str) else None,
      data=dataset.describe(), epochs=int(epoch_var.numpy()),
      test_accuracy=test_metrics['test_accuracy'], test_loss=test_metrics['test_loss'],
      train_loss=metrics.get('loss'), train_accuracy=metrics.get('accuracy'),
      params=int(params), flops=int(flops), checkpoint=manager.latest_checkpoint)
  _write_json(results_path, results)
  writer.close()
  logging.info('done: test accuracy %.4f after %d epochs', results['test_accuracy'],
               results['epochs'])
  return results
