"""The bilevel architecture search: `SearchTask` (one search for core/loop.py) and `run`.

  every step   weights <- SGD on L_train(w, mixing(A, t))     (batch from split 1)
               A       <- method.arch_step(...)               (batch from split 2)
  every epoch  t <- schedule.update(E(H(beta)), epoch)        (ETS / PCD / EDD)

The space (config.space: op lists, supernet, read-out, benchmark) and the
method (config.method: architecture variables, mixing, alpha step) are
plug-ins (edd_tf/spaces, edd_tf/methods); the step pair is
`bilevel.searcher.Searcher` and the per-epoch history record
`bilevel.records`. The weight step, the gradient pipeline (core/optim.py)
and the loop skeleton (core/loop.py) are shared with training. Everything is
checkpointed after every epoch; rerunning the same command resumes.
"""

import json
import pathlib

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from edd_tf import methods as methods_lib
from edd_tf import procedures as procedures_lib
from edd_tf import spaces
from edd_tf.arch import schedules
from edd_tf.bilevel import config as config_lib
from edd_tf.bilevel import hessian as hessian_lib
from edd_tf.bilevel import records
from edd_tf.bilevel import regularisation
from edd_tf.bilevel import searcher as searcher_lib
from edd_tf.core import checkpointing
from edd_tf.core import distribute as distribute_lib
from edd_tf.core import experiment_dir
from edd_tf.core import loop
from edd_tf.core import multi_step
from edd_tf.core import optim
from edd_tf.core import precision as precision_lib
from edd_tf.core import summaries
from edd_tf.core import workdir as workdir_lib
from edd_tf.data import pipeline as data_lib

# The config's defaults and resume rules live in bilevel/config.py.
UPDATE_ORDERS = config_lib.UPDATE_ORDERS
ENTROPY_SOURCES = config_lib.ENTROPY_SOURCES
EXPECTATION_MODES = config_lib.EXPECTATION_MODES
GENOTYPE_FILE = config_lib.GENOTYPE_FILE
default_config = config_lib.default_config
EXPERIMENT_FIELDS = config_lib.EXPERIMENT_FIELDS
RESUMABLE_CHANGES = config_lib.RESUMABLE_CHANGES


def check_config(config):
  """Raises ValueError naming the field for values the search cannot use."""
  if 'search' not in config or 'schedule' not in config:
    what = 'a training config' if 'train' in config else 'not a search config'
    raise ValueError(f'this is {what}: a search needs a search config (e.g. '
                     f'configs/nb201_cifar10_edd.py, with config.search and config.schedule)')
  space = spaces.get_space(config.space)
  method_cls = methods_lib.get_method_class(config.method)
  method_cls.check_config(config)
  procedures_lib.get_procedure_class(config.procedure.name).check_config(config)
  method_cls.check_space(space, config)
  space.check_model_config(config.model)
  if method_cls.hard_sampling and space.family == 'nb201' and config.model.get('fused', True):
    raise ValueError(f'config.method={config.method!r} runs only the sampled op, which the fused '
                     'NB201 cell cannot; set config.model.fused=False')
  if config.model.get('aux_skip', False) and not method_cls.mixes_aux_skip:
    raise ValueError(f'config.model.aux_skip=True needs a method that sets the aux-skip '
                     f'coefficient (darts_minus); config.method={config.method!r} does not: set '
                     'config.model.aux_skip=False')
  distribute_lib.check_strategy_name(config.distribute)
  precision_lib.check_numerics_config(config)
  for section, field, allowed in (('search', 'data_mode', data_lib.DATA_MODES),
                                  ('search', 'order', UPDATE_ORDERS),
                                  ('schedule', 'entropy', ENTROPY_SOURCES),
                                  ('schedule', 'expectation', EXPECTATION_MODES)):
    value = config[section].get(field, allowed[0])
    if value not in allowed:
      raise ValueError(f'unknown config.{section}.{field} {value!r}; allowed: {list(allowed)}')
  multi_step.check_steps_per_call(config.search.get('steps_per_call', 1), 'search.steps_per_call')
  regularisation.check_config(config.search)
  every = config.search.get('hessian_every_epochs', 0)
  if not isinstance(every, int) or every < 0:
    raise ValueError(f'config.search.hessian_every_epochs must be an integer >= 0 (0 = off), '
                     f'got {every!r}')
  for field in ('epochs', 'batch_size', 'eval_batch_size', 'log_every_steps',
                'metrics_every_steps'):
    if config.search[field] <= 0:
      raise ValueError(f'config.search.{field} must be > 0, got {config.search[field]}')
  # Builds (and so validates) the schedule: unknown name, t0 <= 0, lam <= 0 ...
  schedules.build_schedule(config.schedule, expectation=4e-4, num_epochs=config.search.epochs)


# ---- The search as a task of the loop skeleton -----------------------------


class SearchTask(loop.Task):
  """A search for core.loop: data, searcher, schedule, read-out, genotype.json."""

  kind = 'search'

  def __init__(self, config, workdir, strategy=None, data=None):
    """Validates the config and loads the data (`data`: as in `run`); writes no file."""
    check_config(config)
    data_lib.check_python_data(config.data, data)
    self.config = config
    self.workdir = pathlib.Path(workdir)
    s = config.search
    # First: MultiWorkerMirroredStrategy must exist before TF runs any op.
    self.strategy = strategy or distribute_lib.make_strategy(config.distribute)
    arrays = data_lib.load_arrays(config.data, 'train', data)
    self.data_fingerprint = data_lib.fingerprint_of(config.data, arrays)
    self.train_arrays, self.val_arrays = data_lib.search_arrays(
        arrays, s.get('data_mode', 'bilevel'), s.train_portion)
    info = arrays.info
    self.steps_per_call = s.get('steps_per_call', 1)
    self._set_batch_size(s.batch_size)
    eval_arrays = self.val_arrays
    if s.eval_examples:
      n = min(s.eval_examples, len(self.val_arrays))
      eval_arrays = data_lib.Arrays(self.val_arrays.images[:n], self.val_arrays.labels[:n], info)
    self.eval_ds = data_lib.make_dataset(eval_arrays, s.eval_batch_size, training=False)
    self.space = spaces.get_space(config.space)
    self.table = self.space.load_benchmark(config.benchmark)
    loop.check_data_and_batch(info.num_classes, s.batch_size, self.strategy,
                              batch_field='search.batch_size', kind='search')
    keras.utils.set_random_seed(config.seed)
    self.searcher = searcher_lib.Searcher(config, info.num_classes, info.image_size, self.strategy)
    self.procedure = procedures_lib.build_procedure(config)
    # A procedure may run epochs after the search's (DARTS+PT's fine-tuning).
    self.search_epochs = s.epochs
    self.epochs = s.epochs + self.procedure.extra_epochs()
    if self.procedure.edits_mixing:
      self.searcher.install_edit()
    self.hessian_every = s.get('hessian_every_epochs', 0)
    self.hessian = hessian_lib.ArchHessian(self.searcher) if self.hessian_every else None
    expectation = schedules.expectation_of_alphas(self.searcher.arch_numpy())
    self.schedule = schedules.build_schedule(config.schedule, expectation=expectation,
                                             num_epochs=s.epochs)

  def _set_batch_size(self, batch_size):
    """The global batch of the next epochs (a procedure may grow it: SGAS) and its steps."""
    self.batch_size = self.global_batch_size = batch_size
    self.steps = min(data_lib.steps_per_epoch(self.train_arrays, batch_size),
                     data_lib.steps_per_epoch(self.val_arrays, batch_size))
    if self.steps == 0:
      raise ValueError(f'search batch size {batch_size} (config.search.batch_size, or grown by '
                       f'config.procedure) is larger than a search split '
                       f'({len(self.train_arrays)} / {len(self.val_arrays)} images)')

  # ---- loop.Task --------------------------------------------------------

  def checkpoint_items(self):
    s = self.searcher
    return dict(**checkpointing.model_checkpoint_items(s.models[0]), **s.arch,
                temperature=s.temperature, w_opt=s.w_opts[0], a_opt=s.a_opt,
                **s.stage_checkpoint_items(), **s.method.checkpoint_items())

  def optional_checkpoint_items(self):
    items = dict(checkpointing.seed_states(self.searcher.models[0]))  # RobustDARTS 'noise' ops
    # mixed_float16's loss scales; optional, so a run continued under another
    # config.precision (--allow_config_change) restores (or starts) them.
    if self.searcher.w_loss_scale is not None:
      items.update(w_loss_scale=self.searcher.w_loss_scale,
                   a_loss_scale=self.searcher.a_loss_scale)
    return items

  def state_dict(self):
    return {'schedule': self.schedule.state_dict(), 'procedure': self.procedure.state_dict()}

  def load_state_dict(self, state):
    self.schedule.load_state_dict(state['schedule'])
    self.procedure.load_state_dict(state.get('procedure', {}))
    self.searcher.set_decisions(self.procedure.decisions())

  # ---- the procedure's rollbacks (loop.Task) ------------------------------

  @property
  def epoch_checkpoints(self):
    return self.procedure.epoch_checkpoints

  def rollback_target(self, history):
    return self.procedure.decide_rollback(history)

  def carry_over(self):
    return self.procedure.state_dict()

  def after_rollback(self, carried):
    self.procedure.load_state_dict(carried)
    self.searcher.set_decisions(self.procedure.decisions())

  def on_fresh_start(self):
    self.searcher.temperature.assign(self.schedule.initial_temperature())

  def begin_epoch(self, epoch):
    c, procedure = self.config, self.procedure
    # First: a multi-stage search switches its supernet (and weight optimizer) here.
    stage_logs = self.searcher.begin_epoch(epoch)
    self.temperature = self.schedule.current_temperature
    self.searcher.temperature.assign(self.temperature)
    # A procedure's epochs after the search's see the last search epoch's
    # cosine lr, method values and regularisers unless it sets its own.
    e = min(epoch, self.search_epochs - 1)
    self.lr = procedure.learning_rate(epoch, optim.learning_rate(
        e, lr=c.optim.weights.lr, epochs=self.search_epochs, lr_min=c.optim.weights.lr_min))
    factor = procedure.weight_decay_factor()
    self.searcher.weight_decay.assign(c.optim.weights.weight_decay * factor)
    method = self.searcher.method
    self.update_arch = procedure.updates_arch(
        epoch, method.epoch_in_stage(e) >= c.search.arch_warmup_epochs)
    regularisers = regularisation.epoch_values(c.search, e, self.search_epochs)
    self.searcher.drop_path_rate.assign(regularisers.get('drop_path_rate', 0.0))
    logs = {**stage_logs, **regularisers, **method.begin_epoch(e, self.search_epochs)}
    logs.update(procedure.begin_epoch(epoch, SearchContext(self, epoch)))
    self.searcher.set_decisions(procedure.decisions())
    self._set_batch_size(procedure.batch_size(epoch, c.search.batch_size))
    self.searcher.batch_size.assign(int(self.batch_size))
    self.searcher.w_opt.learning_rate.assign(self.lr)
    if self.batch_size != c.search.batch_size:
      logs['batch_size'] = self.batch_size
    return {'lr': self.lr, 'temperature': self.temperature, **logs}

  def _search_dataset(self, arrays, seed, epoch, start_step):
    s = self.config.search  # one search stream; cutout as R-DARTS(DP) asks
    e = min(epoch, self.search_epochs - 1)
    return data_lib.make_dataset(arrays, self.batch_size, training=True, seed=seed, epoch=epoch,
                                 start_step=start_step,
                                 **regularisation.cutout_args(s, e, self.search_epochs))

  def _val_dataset(self, epoch, start_step=0):
    return self._search_dataset(self.val_arrays, self.config.seed + 1, epoch, start_step)

  def batches(self, epoch, start_step=0):
    left = self.steps - start_step
    train_ds = self._search_dataset(self.train_arrays, self.config.seed, epoch, start_step)
    val_ds = self._val_dataset(epoch, start_step)
    pairs = tf.data.Dataset.zip((train_ds.take(left), val_ds.take(left)))
    return self.searcher.distribute(pairs), self.steps

  step_metrics = ('loss', 'acc', 'val_loss', 'val_acc', 'arch_grad_norm')

  def step_trace_key(self):
    return self.update_arch, self.searcher.stage

  def step(self, train_batch, val_batch):
    loss, acc, val_loss, val_acc, norm = self.searcher.pair_step(train_batch, val_batch,
                                                                 self.update_arch)
    return {'loss': loss, 'acc': acc, 'val_loss': val_loss, 'val_acc': val_acc,
            'arch_grad_norm': norm}

  def end_epoch(self, epoch, metrics, history):
    searcher = self.searcher
    arch_values = searcher.arch_numpy()
    if not all(np.isfinite(v).all() for v in arch_values.values()):
      raise FloatingPointError(f'non-finite architecture variables after epoch {epoch + 1}; '
                               f'stopped without saving this epoch')
    genotype = searcher.genotype()
    _, discrete_acc = searcher.evaluate(self.eval_ds, self.space.discretize(genotype))
    entropy, entropy_tempered = searcher.entropies()
    if self.config.schedule.expectation == 'epoch' and hasattr(self.schedule, 'set_expectation'):
      self.schedule.set_expectation(schedules.expectation_of_alphas(arch_values))
    d_exp = getattr(self.schedule, 'd_exp', None)
    next_t = self.temperature   # after the search's epochs the temperature stays
    if epoch < self.search_epochs:
      next_t = self.schedule.update(
          entropy if self.config.schedule.entropy == 'alphas' else entropy_tempered, epoch)
    record = records.epoch_record(
        epoch, metrics, temperature=self.temperature, next_temperature=next_t,
        d_exp=getattr(self.schedule, 'd_exp', d_exp), entropy=entropy,
        entropy_tempered=entropy_tempered, lr=self.lr, arch_updated=self.update_arch,
        discrete_acc=discrete_acc, genotype=genotype, space=self.space, table=self.table)
    if self.hessian is not None:
      record[procedures_lib.EIGENVALUE] = self._max_eigenvalue(epoch)
    record.update(self.procedure.end_epoch(epoch, record, history))
    searcher.temperature.assign(next_t)
    logging.info('epoch %d/%d t=%.3g H=%.3f train %.3f/%.3f val %.3f/%.3f discrete %.3f %s',
                 epoch + 1, self.epochs, self.temperature, entropy, metrics['loss'],
                 metrics['acc'], metrics['val_loss'], metrics['val_acc'], discrete_acc,
                 self.space.genotype_text(genotype))
    return record

  def _max_eigenvalue(self, epoch):
    """lambda_max of the alpha Hessian on the epoch's last validation batch, or None.

    Measured after epochs e % hessian_every_epochs == 0 and the last one
    (R-DARTS train_search.py 374), at the epoch's temperature, with the
    method's mixing seeded by the epoch.
    """
    if epoch % self.hessian_every and epoch != self.epochs - 1:
      return None
    images, labels = next(iter(self._val_dataset(epoch, start_step=self.steps - 1)))
    matrix = self.hessian(images, labels, seed=(self.config.seed, 1_000_003 + epoch))
    value = hessian_lib.max_eigenvalue(matrix)
    logging.info('epoch %d: largest alpha-Hessian eigenvalue %.4g', epoch + 1, value)
    return value

  def stopped(self, history):
    return self.procedure.stopped(history)

  def progress_metrics(self, record):
    return dict(loss=record['train_loss'], acc=record['train_acc'], val_loss=record['val_loss'],
                val_acc=record['val_acc'], discrete_acc=record['discrete_acc'],
                temperature=record['temperature'], entropy=record['entropy'])

  def write_epoch_summaries(self, writer, record):
    del writer
    summaries.write_search_epoch(
        record, arch=self.searcher.arch_numpy(),
        weights={k: v.numpy() for k, v in self.searcher.mixing()[0].items()
                 if k in self.space.arch_shapes()},
        space=self.space, genotype_text=self.space.genotype_text(
            self.space.parse_genotype(record['genotype'])))

  def write_outputs(self, history, finished):
    result = self.result(history, finished=finished)
    result.pop('genotype_path')
    workdir_lib.write_json(self.workdir / GENOTYPE_FILE, result)

  def result(self, history, finished=None):
    if finished is None:
      finished = len(history) >= self.epochs or self.stopped(history)
    chosen = self.procedure.result_epoch(history)
    genotype = history[chosen]['genotype']
    return {'space': self.config.space, 'method': self.config.method,
            'recipe': methods_lib.describe(self.config), 'genotype': genotype,
            'benchmark': records.benchmark_row(self.table, self.space,
                                               self.space.parse_genotype(genotype)),
            'epochs': len(history), 'finished': bool(finished),
            # The 1-based epoch whose genotype this is (the last one unless a
            # procedure chose another, e.g. DARTS-ES), and whether it stopped.
            'genotype_epoch': chosen + 1, 'stopped_early': bool(self.stopped(history)),
            'search_seconds': float(sum(h.get('seconds', 0.0) for h in history)),
            'history': history, 'genotype_path': str(self.workdir / GENOTYPE_FILE),
            **self.procedure.result_fields(history),
            # The architecture variables now (after the last epoch run here).
            'arch': {k: np.asarray(v).tolist() for k, v in self.searcher.arch_numpy().items()}}


class SearchContext:
  """What a procedure's `begin_epoch` may read and do (procedures/base.py).

  Attributes: config, space, epoch (0-based), search_epochs (config.search.epochs).
  """

  def __init__(self, task, epoch):
    self._task = task
    self.config, self.space, self.epoch = task.config, task.space, epoch
    self.search_epochs = task.search_epochs

  def arch(self):
    """{name: numpy} architecture variables."""
    return self._task.searcher.arch_numpy()

  def readout_weights(self):
    """The method's op probabilities per edge ({space key: [edges, ops]}), before the edit."""
    return self._task.searcher.method.readout_weights(self.arch())

  def mixing_weights(self):
    """{name: numpy}: the supernet's mixing now ([edges, ops] per space key), through the edit."""
    searcher = self._task.searcher
    weights = {k: v.numpy() for k, v in searcher.mixing()[0].items()}
    return searcher.edit.apply_numpy(weights) if searcher.edit_installed else weights

  def validation_score(self, weights, *, examples=0, seed=0, decisions=None):
    """(loss, accuracy) of the supernet under `weights` on the validation split.

    Training augmentation, BatchNorm on batch statistics (DARTS+PT's
    measurement, baselines.md part 3 sect. 1); the same batches for every call
    of one `seed`; the running BN statistics are restored afterwards. examples:
    the first N validation images (0 = all). decisions: an edge-decision list
    the supernet's edit holds during this measurement only (DARTS+PT's trial
    removal of a fixed edge).
    """
    task = self._task
    arrays = task.val_arrays
    if examples:
      arrays = data_lib.Arrays(arrays.images[:examples], arrays.labels[:examples], arrays.info)
    dataset = data_lib.make_dataset(arrays, min(task.batch_size, len(arrays)), training=True,
                                    seed=task.config.seed + 2, epoch=seed)
    model, edit = task.searcher.model, task.searcher.edit
    saved, held = [v.numpy() for v in model.non_trainable_variables], list(edit.decisions)
    if decisions is not None:
      edit.set_decisions(decisions)
    try:
      return task.searcher.evaluate(dataset, weights, training=True)
    finally:
      for v, value in zip(model.non_trainable_variables, saved):
        v.assign(value)
      edit.set_decisions(held)

  def reset_weight_momentum(self):
    """Zeroes the weight optimizer's momenta (a new SGD, as DARTS+PT's fine-tuning starts)."""
    for m in getattr(self._task.searcher.w_opt, 'momentums', []):
      m.assign(tf.zeros_like(m))


def run(config, workdir, progress=None, strategy=None, allow_config_change=False, data=None):
  """Runs (or resumes) a search and returns its result.

  Args:
    config: a ConfigDict shaped like `default_config()`.
    workdir: directory for config.json, checkpoints/, tb/ and genotype.json.
      If it holds a checkpoint, the search continues after its last epoch.
    progress: optional callable(epoch, step, steps, metrics: dict) called after
      every step, and once more after each epoch's evaluation with the
      end-of-epoch metrics (incl. 'discrete_acc'): core/progress.py's bar.
    strategy: a tf.distribute strategy (default: from config.distribute).
    allow_config_change: continue under a config that differs outside
      EXPERIMENT_FIELDS (e.g. lower learning rates after a NaN), recorded in
      config.json's 'config_changes'.
    data: images and labels from Python for config.data.source='python'
      (data/python_source.py); a workdir resumes only on the same arrays.

  Returns:
    dict with 'genotype' (the final cell, as written to genotype.json),
    'genotype_path', 'history' (one dict per epoch), 'benchmark' (the NB201
    table row, or None), 'finished', 'space', 'method'.

  Raises:
    ValueError: bad config values (naming the field), data or workdir.
    FloatingPointError: a NaN/inf loss; the last good checkpoint is kept.
  """
  task = SearchTask(config, workdir, strategy, data)   # validates; writes nothing
  resolved = json.loads(config.to_json_best_effort())
  resolved['data']['fingerprint'] = task.data_fingerprint
  defaults = json.loads(default_config().to_json_best_effort())
  path, lock = experiment_dir.open_workdir(workdir, resolved, kind='search', ignore=RESUMABLE_CHANGES,
                                 fixed=EXPERIMENT_FIELDS, allow_changes=allow_config_change,
                                 defaults=defaults, chief=distribute_lib.is_chief(task.strategy))
  try:
    result = loop.run(task, path, progress=progress,
                      log_every_steps=config.search.log_every_steps,
                      metrics_every_steps=config.search.get('metrics_every_steps', 1))
  finally:
    lock.release()
  logging.info('found cell %s', result['genotype'])
  return result
