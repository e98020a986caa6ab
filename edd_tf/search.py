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
import ml_collections
import numpy as np
import tensorflow as tf

from edd_tf import methods as methods_lib
from edd_tf import procedures as procedures_lib
from edd_tf import spaces
from edd_tf.arch import schedules
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

UPDATE_ORDERS = ('w_then_a', 'a_then_w')
ENTROPY_SOURCES = ('alphas', 'tempered')
EXPECTATION_MODES = ('init', 'epoch')
GENOTYPE_FILE = 'genotype.json'


def default_config():
  """Every field a search config may set, with the NB201 recipe's values.

  Experiment files in configs/ start from this and override; the binary locks
  the result, so a misspelt key on the command line is an error.
  """
  c = ml_collections.ConfigDict()
  c.seed = 0
  # 'default' (one device) or 'mirrored' (every local GPU, else the CPU).
  c.distribute = 'default'
  # Numerics (WORKSPACE "Precision, XLA and synchronized BatchNorm"): precision
  # 'float32' | 'mixed_bfloat16' | 'mixed_float16' (16-bit layers on float32 variables;
  # alphas, softmax, logits, losses float32; fp16 adds loss scaling); jit_compile (XLA);
  # sync_batch_norm: BatchNorm statistics over the global batch across replicas.
  c.precision = 'float32'
  c.jit_compile = False
  c.sync_batch_norm = False
  c.space = 'nb201'        # spaces.SPACES: nb201, nb201_no_none, darts, s1, s2, s3, s4.
  c.method = 'darts'       # methods.METHODS (darts, darts_2nd, pc_darts, gdas, rivals).
  c.data = data_lib.default_data_config()
  c.model = ml_collections.ConfigDict(dict(
      channels=16,
      cells_per_stage=5,     # NB201: cells per stage N.
      layers=8,              # DARTS family: number of cells.
      partial_channels=1,    # DARTS family: PC-DARTS K (ops see channels / K).
      # DARTS-'s auxiliary skip beta * aux(x) on every edge; only a method with
      # `mixes_aux_skip` (darts_minus) sets beta, so others refuse it.
      aux_skip=False,
      fused=True))           # NB201: per-source fused cell (same maths, faster).
  # Mixing weights: 'plain' = softmax(alphas / t); 'sn' = sn-softmax (Alg. 1)
  # with exactly one of s (> 1; noise temperature s * t) or st (> 0; fixed
  # noise temperature). 0 means "not set".
  c.softmax = ml_collections.ConfigDict(dict(kind='sn', s=0.0, st=1.0))
  c.schedule = ml_collections.ConfigDict(dict(
      name='edd', t0=1.0, t_target=1e-3, lam=0.06, rho=0.5, warmup_epochs=0, cycle_epochs=10,
      entropy='alphas',      # EDD's H in Eq. 14: of softmax(A) (Eq. 13 as written) or softmax(A/t).
      expectation='init'))   # E(a) measured once at initialisation (Alg. 2) or every epoch.
  c.search = ml_collections.ConfigDict(dict(
      epochs=50, batch_size=64, train_portion=0.5,
      # 'bilevel': weights on train_portion of the training set, alphas on the
      # rest; 'erm': both on the full set, two shuffled streams (GAEA-ERM).
      data_mode='bilevel',
      order='w_then_a',        # AutoDL DARTS-V1 (NB201): weight step, then alpha step.
      arch_warmup_epochs=0,    # Epochs with frozen alphas (PC-DARTS: 15).
      eval_examples=0,         # Validation images for the discretized accuracy (0 = all).
      eval_batch_size=256,
      log_every_steps=50,      # TensorBoard step summaries every N steps.
      # Step metrics are read back to the host (progress, NaN guard) every N
      # steps: reading waits for the step, so on accelerators N > 1 keeps
      # steps queued back to back.
      metrics_every_steps=10,
      # Step pairs run per tf.function call (core/multi_step.py): same result
      # as 1; saves the per-call overhead (WORKSPACE "Several steps per call").
      steps_per_call=1,
      # The largest eigenvalue of the alpha Hessian of the validation loss
      # (bilevel/hessian.py) after every N-th epoch and the last, into the
      # history and TensorBoard; 0 = off. DARTS-ES needs it (2 in R-DARTS).
      hessian_every_epochs=0,
      # R-DARTS(DP) (bilevel/regularisation.py): drop path drop_path_max * e / (E-1) on
      # every mixed edge; cutout (length) with probability e / (E-1) ('ramp') or 1.
      drop_path_max=0.0, cutout=0, cutout_schedule='ramp'))
  # What the search does over time (edd_tf/procedures): 'none' runs every
  # epoch and returns the last genotype; 'darts_es' stops early (R-DARTS).
  # A procedure's own settings sit beside the name (see its config in configs/).
  c.procedure = ml_collections.ConfigDict(dict(name='none'))
  c.optim = ml_collections.ConfigDict(dict(
      # NB201 recipe (reference sect. 2.6): SGD nesterov, wd 5e-4 coupled to the
      # gradient, cosine 0.025 -> 0.001 per epoch, grad-norm clip 5.
      weights=ml_collections.ConfigDict(dict(
          lr=0.025, lr_min=0.001, momentum=0.9, nesterov=True, weight_decay=5e-4, grad_clip=5.0)),
      # Adam 3e-4, betas (0.5, 0.999), L2 1e-3 coupled; grad_clip > 0 clips the
      # alpha gradient norm (Table 1 "clip"), 0 = off.
      arch=ml_collections.ConfigDict(dict(
          lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3, grad_clip=0.0))))
  # NB201 results table for the found cell: '' = the shipped one (the
  # cifar10-valid split), 'none' = off; nats_bench = the official NATS-Bench
  # topology file (needs the optional `nats_bench` package), which adds the
  # papers' 50k-trained CIFAR-10 test column.
  c.benchmark = ml_collections.ConfigDict(dict(nb201_table='', nats_bench=''))
  return c


# Fields that define the experiment: never changed in a workdir, even with
# allow_config_change.
EXPERIMENT_FIELDS = ('seed', 'space', 'method', 'model', 'data.name', 'data.source',
                     'data.train_examples', 'data.image_size', 'data.fingerprint',
                     'search.train_portion', 'search.data_mode')
# Fields that may change between a run and its resumption; any other change
# makes the checkpoint a different experiment.
RESUMABLE_CHANGES = ('search.epochs', 'search.log_every_steps', 'search.metrics_every_steps',
                     'search.steps_per_call',
                     'search.eval_batch_size', 'benchmark.nb201_table', 'benchmark.nats_bench',
                     'data.path', 'data.data_dir', 'data.download', 'data.skip_bad_images',
                     'distribute', 'jit_compile')


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
    self.epochs = s.epochs
    self.global_batch_size = s.batch_size
    self.steps_per_call = s.get('steps_per_call', 1)
    self.steps = min(data_lib.steps_per_epoch(self.train_arrays, s.batch_size),
                     data_lib.steps_per_epoch(self.val_arrays, s.batch_size))
    if self.steps == 0:
      raise ValueError(f'config.search.batch_size={s.batch_size} is larger than a search split '
                       f'({len(self.train_arrays)} / {len(self.val_arrays)} images)')
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
    self.hessian_every = s.get('hessian_every_epochs', 0)
    self.hessian = hessian_lib.ArchHessian(self.searcher) if self.hessian_every else None
    expectation = schedules.expectation_of_alphas(self.searcher.arch_numpy())
    self.schedule = schedules.build_schedule(config.schedule, expectation=expectation,
                                             num_epochs=s.epochs)

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

  def on_fresh_start(self):
    self.searcher.temperature.assign(self.schedule.initial_temperature())

  def begin_epoch(self, epoch):
    c = self.config
    # First: a multi-stage search switches its supernet (and weight optimizer) here.
    stage_logs = self.searcher.begin_epoch(epoch)
    self.temperature = self.schedule.current_temperature
    self.searcher.temperature.assign(self.temperature)
    self.lr = optim.learning_rate(epoch, lr=c.optim.weights.lr, epochs=self.epochs,
                                  lr_min=c.optim.weights.lr_min)
    self.searcher.w_opt.learning_rate.assign(self.lr)
    factor = self.procedure.weight_decay_factor()
    self.searcher.weight_decay.assign(c.optim.weights.weight_decay * factor)
    method = self.searcher.method
    self.update_arch = method.epoch_in_stage(epoch) >= c.search.arch_warmup_epochs
    regularisers = regularisation.epoch_values(c.search, epoch, self.epochs)
    self.searcher.drop_path_rate.assign(regularisers.get('drop_path_rate', 0.0))
    return {'lr': self.lr, 'temperature': self.temperature, **stage_logs, **regularisers,
            **method.begin_epoch(epoch, self.epochs)}

  def _search_dataset(self, arrays, seed, epoch, start_step):
    s = self.config.search  # one search stream; cutout as R-DARTS(DP) asks
    return data_lib.make_dataset(arrays, s.batch_size, training=True, seed=seed, epoch=epoch,
                                 start_step=start_step,
                                 **regularisation.cutout_args(s, epoch, self.epochs))

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
