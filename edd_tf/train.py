"""Trains a discrete network from scratch (the evaluation stage of the paper).

`run(config, workdir)` builds the final network of a genotype
(`finalnet.build_final_network`), trains it with the DARTS evaluation recipe
(reference.md sect. 3.7, 3.8, 2.6, 5.5) in a custom loop and writes, in
`workdir`:
  config.json     the config, with the genotype resolved to a literal;
  dataset.json    the DatasetInfo the model was trained for (for export);
  checkpoints/    model + optimizer + epoch counter after every epoch (keep 2);
  tb/             TensorBoard events (per-epoch scalars, params/FLOPs, genotype);
  results.json    final test accuracy, params, FLOPs, ... (at the end);
  model.keras     the trained network, `keras.saving.load_model` rebuilds it (at the end).
Rerunning the same command resumes after the last completed epoch.

The pieces are the final/ package's: the genotype resolution
(final/genotypes.py), the model and its workdir files (final/models.py), the
SGD step with PyTorch's coupled weight decay after the clip and the
evaluation step (final/steps.py), and the pipelines (final/data.py); this
module holds the config, its checks and `TrainTask`, which runs them as a
task of core/loop.py.
"""

import pathlib

from absl import logging
import keras
import ml_collections
import numpy as np
import tensorflow as tf

from edd_tf.core import checkpointing
from edd_tf.core import distribute as distribute_lib
from edd_tf.core import experiment_dir
from edd_tf.core import loop
from edd_tf.core import multi_step
from edd_tf.core import optim
from edd_tf.core import precision as precision_lib
from edd_tf.core import workdir as workdir_lib
from edd_tf.data import pipeline as data_lib
from edd_tf.final import data as final_data
from edd_tf.final import genotypes
from edd_tf.final import models
from edd_tf.final import steps
from edd_tf.nets import finalnet

# A training workdir's files (final/models.py reads config.json, dataset.json
# and checkpoints/ back; serving/export.py reads results.json).
CONFIG_FILE = experiment_dir.CONFIG_FILE
DATASET_FILE = models.DATASET_FILE
RESULTS_FILE = models.RESULTS_FILE
# The trained network as a Keras file (model.save / keras.saving.load_model).
KERAS_MODEL_FILE = 'model.keras'
CHECKPOINT_DIR = loop.CHECKPOINT_DIR
TB_DIR = loop.TB_DIR


def default_config():
  """The shared config layout of every `configs/train_*.py` (DARTS CIFAR-10 values)."""
  config = ml_collections.ConfigDict()
  # A search workdir or its genotype.json, a GENOTYPES name, an NB201 arch
  # string, or a DARTS Genotype(...) literal / JSON.
  config.genotype = 'DARTS_V2'
  config.network = 'darts_cifar'   # One of finalnet.NETWORKS.
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
      lr_schedule='cosine',  # One of optim.LR_SCHEDULES.
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
      # Training steps run per tf.function call (core/multi_step.py): same
      # result as 1 (WORKSPACE "Several steps per call").
      steps_per_call=1,
  ))
  config.data = data_lib.default_data_config()
  return config


# --------------------------------------------------------------------------
# Config checks
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
  if config.network not in finalnet.NETWORKS:
    raise ValueError(f'unknown config.network {config.network!r}; allowed: '
                     f'{list(finalnet.NETWORKS)}')
  if t.lr_schedule not in optim.LR_SCHEDULES:
    raise ValueError(f'unknown config.train.lr_schedule {t.lr_schedule!r}; allowed: '
                     f'{list(optim.LR_SCHEDULES)}')
  multi_step.check_steps_per_call(t.get('steps_per_call', 1), 'train.steps_per_call')
  if t.get('steps_per_call', 1) > 1 and config.network == 'darts_imagenet':
    raise ValueError('config.train.steps_per_call > 1 needs a known epoch length; ImageNet is '
                     'streamed from tfds (unknown length): use config.train.steps_per_call=1')
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


# --------------------------------------------------------------------------
# Training as a task of the loop skeleton
# --------------------------------------------------------------------------


# Fields that define the experiment: never changed in a workdir, even with
# allow_config_change.
EXPERIMENT_FIELDS = ('network', 'genotype', 'model', 'data.name', 'data.image_size',
                     'data.fingerprint')
# Fields that may change between a run and its resumption.
RESUMABLE_CHANGES = ('train.epochs', 'train.eval_every', 'train.eval_batch_size',
                     'train.log_every_steps', 'train.metrics_every_steps', 'train.steps_per_call', 'data.path',
                     'data.data_dir', 'data.download', 'data.skip_bad_images', 'distribute',
                     'allow_unfinished_search', 'jit_compile')


class TrainTask(loop.Task):
  """Training a final network for core.loop: data, model, SGD, results.json."""

  kind = 'training run'

  def __init__(self, config, workdir, strategy=None, data=None):
    """Validates config, genotype and data (no file is written here).

    `data`: for config.data.source='python', {'train': ..., 'test': ...} from
    Python (data/python_source.py lists the forms).
    """
    check_config(config)
    data_lib.check_python_data(config.data, data)
    self.config = config
    self.workdir = pathlib.Path(workdir)
    self.genotype = genotypes.resolve_genotype(config.genotype, config.network,
                                               config.get('allow_unfinished_search', False))
    # First: MultiWorkerMirroredStrategy must exist before TF runs any op.
    self.strategy = strategy or distribute_lib.make_strategy(config.get('distribute', 'default'))
    self.data = final_data.TrainData(config, data)
    self.info = self.data.info
    saved_info = self.workdir / DATASET_FILE
    if saved_info.is_file():
      saved = workdir_lib.read_json(saved_info)
      now = models.dataset_info_to_dict(self.info)
      changed = [k for k in ('name', 'num_classes', 'image_size') if saved.get(k) != now[k]]
      if changed:
        raise ValueError(f'the workdir {self.workdir} was trained on other data '
                         f'({", ".join(f"{k} {saved.get(k)!r} -> {now[k]!r}" for k in changed)}); '
                         f'use a new --workdir')
    t = config.train
    self.epochs = t.epochs
    self.global_batch_size = t.batch_size
    self.steps_per_call = t.get('steps_per_call', 1)
    loop.check_data_and_batch(self.info.num_classes, t.batch_size, self.strategy,
                              batch_field='train.batch_size', kind='training run')
    keras.utils.set_random_seed(config.seed)
    self.model, self.optimizer, self.loss_scale, self.train_step = steps.build_training(
        config, self.genotype, self.info, self.strategy)
    self.params = finalnet.count_params(self.model, exclude_auxiliary=True)
    self.flops = finalnet.count_flops(self.model, (1, self.info.image_size,
                                                   self.info.image_size, 3))
    self.eval_step = steps.make_eval_step(self.model, self.strategy)
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
      tf.summary.text('genotype', genotypes.genotype_text(self.genotype), step=0)
    writer.close()
    logging.info('network %s, %d params, %d FLOPs, genotype %s', self.config.network,
                 self.params, self.flops, genotypes.genotype_text(self.genotype))

  def begin_epoch(self, epoch):
    t = self.config.train
    self.lr = optim.learning_rate(epoch, lr=t.lr, epochs=self.epochs, schedule=t.lr_schedule,
                                  lr_min=t.lr_min, gamma=t.lr_gamma,
                                  warmup_epochs=t.warmup_epochs)
    self.rate = steps.drop_path_rate(epoch, drop_path_prob=self.config.model.drop_path_prob,
                                     epochs=self.epochs)
    self.optimizer.learning_rate = self.lr
    self.model.drop_path_rate.assign(self.rate)
    return {'lr': self.lr}

  def batches(self, epoch, start_step=0):
    ds = self.strategy.experimental_distribute_dataset(
        self.data.train_dataset(epoch, start_step))
    return ds, self.data.steps

  step_metrics = ('loss', 'accuracy')

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
               # Grouped, so TensorBoard folds them like the rest ('schedule' card).
               'schedule/lr': self.lr, 'schedule/drop_path_rate': self.rate}
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
      self.save_keras_model()
      workdir_lib.write_json(self.workdir / RESULTS_FILE, self.result(history))

  def save_keras_model(self):
    """The trained network as a Keras file (`keras.saving.load_model` rebuilds it)."""
    path = self.workdir / KERAS_MODEL_FILE
    partial = path.with_name(path.name + '.partial.keras')  # load_model wants the suffix
    self.model.save(partial)
    partial.replace(path)

  def result(self, history):
    last = history[-1]
    if 'test_accuracy' not in last:
      raise ValueError('the last epoch was not evaluated')
    config = self.config
    return dict(
        network=config.network, genotype=genotypes.genotype_to_json(self.genotype),
        keras_model=str(self.workdir / KERAS_MODEL_FILE),
        genotype_source=str(config.genotype) if isinstance(config.genotype, str) else None,
        data=self.data.describe(), epochs=len(history),
        test_accuracy=last['test_accuracy'], test_loss=last['test_loss'],
        train_loss=last['loss'], train_accuracy=last['accuracy'],
        params=int(self.params), flops=int(self.flops),
        checkpoint=tf.train.latest_checkpoint(str(self.workdir / CHECKPOINT_DIR)))


def run(config, workdir, progress=None, strategy=None, allow_config_change=False, data=None):
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
    data: {'train': ..., 'test': ...} images and labels from Python when
      config.data.source='python' (edd_tf/data/python_source.py); a workdir
      resumes only on the same arrays.

  Returns:
    The results dict also written to workdir/results.json.

  Raises:
    ValueError: for a bad config, an unknown / wrong-space genotype, data or a
      workdir holding another experiment; nothing is written then.
    FloatingPointError: when the training loss becomes NaN or inf; the last
      good checkpoint is left on disk.
  """
  task = TrainTask(config, workdir, strategy, data)  # validates; writes nothing
  resolved = config.to_dict()
  resolved['data']['fingerprint'] = task.data.fingerprint
  resolved['genotype'] = genotypes.genotype_to_json(task.genotype)
  defaults = default_config().to_dict()
  chief = distribute_lib.is_chief(task.strategy)
  path, lock = experiment_dir.open_workdir(workdir, resolved, kind='training run', ignore=RESUMABLE_CHANGES,
                                 fixed=EXPERIMENT_FIELDS, allow_changes=allow_config_change,
                                 defaults=defaults, chief=chief)
  try:
    if chief:
      workdir_lib.write_json(path / DATASET_FILE, models.dataset_info_to_dict(task.info))
    results = loop.run(task, path, progress=progress,
                       log_every_steps=config.train.get('log_every_steps', 50),
                       metrics_every_steps=config.train.get('metrics_every_steps', 1))
  finally:
    lock.release()
  logging.info('done: test accuracy %.4f after %d epochs', results['test_accuracy'],
               results['epochs'])
  return results
