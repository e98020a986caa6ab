"""The bilevel architecture search loop: ``run(config, workdir)``.

First-order DARTS (Liu et al., Eq. 1) with the temperature of Sect. 2:

  every step   weights  <- SGD on L_train(w, betas)     (batch from split 1)
               alphas   <- Adam on L_val(w, betas)      (batch from split 2)
               with betas = sn_softmax(alphas, t)       (Alg. 1)
  every epoch  t <- schedule.update(E(H(beta)), epoch)  (ETS / PCD / EDD)

The loop owns the alphas (outside the Keras model, see supernet.py), the two
optimizers, the temperature and the schedule state; all of it is checkpointed
after every epoch, so rerunning the same command resumes.
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
from edd_tf import data as data_lib
from edd_tf import distribute as distribute_lib
from edd_tf import nb201_bench
from edd_tf import schedules
from edd_tf import softmax as softmax_lib
from edd_tf import spaces
from edd_tf import summaries
from edd_tf import supernet

SOFTMAX_KINDS = ('plain', 'sn')
UPDATE_ORDERS = ('w_then_a', 'a_then_w')
ENTROPY_SOURCES = ('alphas', 'tempered')
EXPECTATION_MODES = ('init', 'epoch')


def default_config():
  """Every field a search config may set, with the NB201 recipe's values.

  Experiment files in configs/ start from this and override; the binary locks
  the result, so a misspelt key on the command line is an error.
  """
  c = ml_collections.ConfigDict()
  c.seed = 0
  # 'default' (one device) or 'mirrored' (every local GPU, else the CPU).
  c.distribute = 'default'
  c.space = 'nb201'
  c.data = data_lib.default_data_config()
  c.model = ml_collections.ConfigDict(dict(channels=16, cells_per_stage=5, fused=True))
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
      order='w_then_a',        # AutoDL DARTS-V1 (NB201): weight step, then alpha step.
      arch_warmup_epochs=0,    # Epochs with frozen alphas (PC-DARTS: 15).
      eval_examples=0,         # Validation images for the discretized accuracy (0 = all).
      eval_batch_size=256,
      log_every_steps=50))
  c.optim = ml_collections.ConfigDict(dict(
      # NB201 recipe (reference sect. 2.6): SGD nesterov, wd 5e-4 coupled to the
      # gradient, cosine 0.025 -> 0.001 per epoch, grad-norm clip 5.
      weights=ml_collections.ConfigDict(dict(
          lr=0.025, lr_min=0.001, momentum=0.9, nesterov=True, weight_decay=5e-4, grad_clip=5.0)),
      # Adam 3e-4, betas (0.5, 0.999), L2 1e-3 coupled; grad_clip > 0 clips the
      # alpha gradient norm (Table 1 "clip"), 0 = off.
      arch=ml_collections.ConfigDict(dict(
          lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3, grad_clip=0.0))))
  # NB201 results table for the found cell: '' = the shipped one, 'none' = off.
  c.benchmark = ml_collections.ConfigDict(dict(nb201_table=''))
  return c


# ---------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------


def check_config(config):
  """Raises ValueError naming the field for values the search cannot use."""
  spaces.get_space(config.space)
  distribute_lib.check_strategy_name(config.distribute)
  if config.softmax.kind not in SOFTMAX_KINDS:
    raise ValueError(f'unknown config.softmax.kind {config.softmax.kind!r}; '
                     f'allowed: {list(SOFTMAX_KINDS)}')
  if config.softmax.kind == 'sn':
    s, st = config.softmax.s, config.softmax.st
    if bool(s) == bool(st):
      raise ValueError('config.softmax.kind=sn needs exactly one of config.softmax.s (> 1) and '
                       f'config.softmax.st (> 0); the other 0. Got s={s}, st={st}')
    if s and s <= 1:
      raise ValueError(f'config.softmax.s must be > 1, got {s}')
    if st and st <= 0:
      raise ValueError(f'config.softmax.st must be > 0, got {st}')
  if config.search.order not in UPDATE_ORDERS:
    raise ValueError(f'unknown config.search.order {config.search.order!r}; '
                     f'allowed: {list(UPDATE_ORDERS)}')
  if config.schedule.entropy not in ENTROPY_SOURCES:
    raise ValueError(f'unknown config.schedule.entropy {config.schedule.entropy!r}; '
                     f'allowed: {list(ENTROPY_SOURCES)}')
  if config.schedule.expectation not in EXPECTATION_MODES:
    raise ValueError(f'unknown config.schedule.expectation {config.schedule.expectation!r}; '
                     f'allowed: {list(EXPECTATION_MODES)}')
  for field in ('epochs', 'batch_size', 'eval_batch_size'):
    if config.search[field] <= 0:
      raise ValueError(f'config.search.{field} must be > 0, got {config.search[field]}')
  # Builds (and so validates) the schedule: unknown name, t0 <= 0, lam <= 0 ...
  schedules.build_schedule(config.schedule, expectation=4e-4, num_epochs=config.search.epochs)


def mixing_weights(alphas, temperature, softmax_config):
  """betas: float32[edges, ops] = (sn-)softmax(alphas / t) (Eq. 3, Alg. 1)."""
  if softmax_config.kind == 'plain':
    return softmax_lib.sn_softmax(alphas, temperature)
  return softmax_lib.sn_softmax(alphas, temperature, s=softmax_config.s or None,
                                st=softmax_config.st or None)


def cosine_lr(epoch, epochs, lr, lr_min):
  """CosineAnnealingLR stepped per epoch (AutoDL optimizers.py)."""
  return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * epoch / epochs)) / 2


def coupled_l2(grads, variables, weight_decay):
  """PyTorch's weight_decay: g + wd * w (Keras' weight_decay is decoupled)."""
  if not weight_decay:
    return grads
  return [g + weight_decay * tf.convert_to_tensor(v) for g, v in zip(grads, variables)]


class Searcher:
  """The model, alphas, optimizers and compiled steps of one search."""

  def __init__(self, config, num_classes, image_size, strategy=None):
    """Builds everything under `strategy` (default: the current one).

    With a MirroredStrategy, each replica takes its slice of the global batch
    (config.search.batch_size); gradients are all-reduced to the global-batch
    mean before clipping, so the update equals one device's on the same batch
    except for BatchNorm, whose batch statistics are per replica (as PyTorch
    DataParallel without SyncBN).
    """
    self.config = config
    self.space = spaces.get_space(config.space)
    self.strategy = strategy or tf.distribute.get_strategy()
    rng = np.random.default_rng(config.seed)
    with self.strategy.scope():
      self.model = supernet.build_supernet(config.space, num_classes, config.model)
      self.model(tf.zeros([1, image_size, image_size, 3]),
                 tf.fill(self.space.alpha_shape, 1.0 / len(self.space.ops)))
      # alphas stay float32 under any dtype policy (tf-notes sect. 10).
      self.alphas = keras.Variable(self.space.init_alphas(rng), name='alphas', autocast=False)
      self.temperature = tf.Variable(1.0, trainable=False, name='temperature')
      w, a = config.optim.weights, config.optim.arch
      self.w_opt = keras.optimizers.SGD(learning_rate=w.lr, momentum=w.momentum,
                                        nesterov=w.nesterov)
      self.a_opt = keras.optimizers.Adam(learning_rate=a.lr, beta_1=a.beta1, beta_2=a.beta2)
      # Build eagerly in scope (tf-notes finding A).
      self.w_opt.build(self.weight_variables)
      self.a_opt.build(self.arch_variables)
    self.pair_step = tf.function(self._pair_step)
    # reduce_retracing: the last, smaller eval batch must not trace again.
    self.eval_step = tf.function(self._eval_step, reduce_retracing=True)

  @property
  def weight_variables(self):
    return self.model.trainable_variables

  @property
  def arch_variables(self):
    return [self.alphas]

  def betas(self):
    return mixing_weights(tf.convert_to_tensor(self.alphas), self.temperature.read_value(),
                          self.config.softmax)

  def _apply(self, optimizer, grads, variables, cfg, clip_first):
    """All-reduces per-replica grads to the global mean, clips, adds L2, applies.

    Runs in replica context. `clip_first`: the weights clip before the decay
    (PyTorch clip_grad_norm_ then step()), the alphas after it (Table 1 "clip"
    acts on the gradient Adam sees).
    """
    grads = tf.distribute.get_replica_context().all_reduce('SUM', grads)
    if clip_first and cfg.grad_clip:
      grads, _ = tf.clip_by_global_norm(grads, cfg.grad_clip)
    grads = coupled_l2(grads, variables, cfg.weight_decay)
    if not clip_first and cfg.grad_clip:
      grads, _ = tf.clip_by_global_norm(grads, cfg.grad_clip)
    replicas = self.strategy.num_replicas_in_sync
    if replicas > 1:  # Keras' apply_gradients sums over replicas once more
      grads = [g / replicas for g in grads]
    optimizer.apply_gradients(zip(grads, variables))

  def _losses(self, labels, logits):
    """(loss, correct): this replica's share of the global-batch mean loss, and its hits."""
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    loss = tf.nn.compute_average_loss(per_example,
                                      global_batch_size=self.config.search.batch_size)
    correct = tf.reduce_sum(tf.cast(
        tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32))
    return loss, correct

  def _weight_step(self, images, labels):
    betas = tf.stop_gradient(self.betas())
    with tf.GradientTape() as tape:
      loss, correct = self._losses(labels, self.model(images, betas, training=True))
    variables = self.weight_variables
    self._apply(self.w_opt, tape.gradient(loss, variables), variables,
                self.config.optim.weights, clip_first=True)
    return loss, correct

  def _arch_step(self, images, labels):
    with tf.GradientTape() as tape:
      tape.watch(self.alphas.value)
      loss, correct = self._losses(labels, self.model(images, self.betas(), training=True))
    self._apply(self.a_opt, tape.gradient(loss, [self.alphas.value]), self.arch_variables,
                self.config.optim.arch, clip_first=False)
    return loss, correct

  def _arch_eval(self, images, labels):
    """The arch step's forward pass without an update (alpha warm-up epochs)."""
    return self._losses(labels, self.model(images, tf.stop_gradient(self.betas()),
                                           training=True))

  def _replica_pair_step(self, train_batch, val_batch, update_arch):
    arch_step = self._arch_step if update_arch else self._arch_eval
    if self.config.search.order == 'w_then_a':
      train = self._weight_step(*train_batch)
      val = arch_step(*val_batch)
    else:
      val = arch_step(*val_batch)
      train = self._weight_step(*train_batch)
    return train + val

  def _pair_step(self, train_batch, val_batch, update_arch=True):
    """One weight step and one alpha step; returns (loss, acc, val_loss, val_acc).

    Batches are global batches (or per-replica values of a distributed
    dataset). `update_arch` is a Python bool: one trace per value.
    """
    per_replica = self.strategy.run(self._replica_pair_step,
                                    args=(train_batch, val_batch, update_arch))
    loss, correct, val_loss, val_correct = [
        self.strategy.reduce('SUM', x, axis=None) for x in per_replica]
    batch = float(self.config.search.batch_size)
    return loss, correct / batch, val_loss, val_correct / batch

  def distribute(self, dataset):
    """`dataset` split across the replicas (as is for a single device)."""
    if self.strategy.num_replicas_in_sync == 1:
      return dataset
    return self.strategy.experimental_distribute_dataset(dataset)

  def _eval_step(self, images, labels, betas):
    logits = self.model(images, betas, training=False)
    return (tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)),
            tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels),
                                  tf.float32)))

  def evaluate(self, dataset, betas):
    """(loss, accuracy) of the supernet with fixed betas on a dataset."""
    betas = tf.constant(betas, tf.float32)
    loss = correct = count = 0.0
    for images, labels in dataset:
      l, c = self.eval_step(images, labels, betas)
      loss += float(l)
      correct += float(c)
      count += int(labels.shape[0])
    return loss / max(count, 1), correct / max(count, 1)

  def entropies(self):
    """E(H(beta)) (Eq. 13) of softmax(A) and of the tempered softmax(A / t)."""
    alphas = tf.convert_to_tensor(self.alphas)
    plain = softmax_lib.expected_entropy(tf.nn.softmax(alphas, -1))
    tempered = softmax_lib.expected_entropy(
        tf.nn.softmax(alphas / self.temperature.read_value(), -1))
    return float(plain), float(tempered)


# ---------------------------------------------------------------------------
# Files in the workdir
# ---------------------------------------------------------------------------


# Fields that may change between a run and its resumption; any other change
# makes the checkpoint a different experiment.
RESUMABLE_CHANGES = ('search.epochs', 'search.log_every_steps', 'search.eval_batch_size',
                     'benchmark.nb201_table', 'data.path', 'data.data_dir', 'data.download')


def _flatten(d, prefix=''):
  out = {}
  for key, value in d.items():
    if isinstance(value, dict):
      out.update(_flatten(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = value
  return out


def check_resumable(saved, current):
  """Raises ValueError naming the fields if a workdir's config differs from this run's."""
  saved, current = _flatten(saved), _flatten(current)
  diffs = [f'{k}: {saved.get(k)!r} -> {current.get(k)!r}'
           for k in sorted(set(saved) | set(current))
           if k not in RESUMABLE_CHANGES and saved.get(k) != current.get(k)]
  if diffs:
    raise ValueError('the workdir holds a search with a different config; use a new --workdir '
                     'or the same config. Changed: ' + '; '.join(diffs))


def write_json(path, obj):
  """Writes JSON atomically (a crash never leaves a half-written file)."""
  path = pathlib.Path(path)
  tmp = path.with_suffix(path.suffix + '.tmp')
  tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + '\n')
  os.replace(tmp, path)


def _load_table(config):
  if config.space != 'nb201' or config.benchmark.nb201_table == 'none':
    return None
  return nb201_bench.NB201Table.load(config.benchmark.nb201_table or None)


def _lookup(table, arch):
  if table is None:
    return None
  try:
    return table.lookup(arch)
  except ValueError:
    return None


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------


def run(config, workdir, progress=None, strategy=None):
  """Runs (or resumes) a search and returns its result.

  Args:
    config: a ConfigDict shaped like `default_config()`.
    workdir: directory for config.json, checkpoints/, tb/ and genotype.json.
      If it holds a checkpoint, the search continues after its last epoch.
    strategy: a tf.distribute strategy (default: from config.distribute).
    progress: optional callable(epoch, step, steps, metrics: dict) called
      after every step, and once more after each epoch's evaluation with the
      end-of-epoch metrics (incl. 'discrete_acc'); the binary draws a progress
      bar with it.

  Returns:
    dict with 'genotype' (the final cell), 'genotype_path', 'history' (one
    dict per epoch) and 'benchmark' (the NB201 table row, or None).

  Raises:
    ValueError: bad config values (naming the field).
    FloatingPointError: a NaN/inf loss; the last good checkpoint is kept.
  """
  check_config(config)
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  resolved = json.loads(config.to_json_best_effort())
  if (workdir / 'config.json').exists() and tf.train.latest_checkpoint(str(workdir / 'checkpoints')):
    check_resumable(json.loads((workdir / 'config.json').read_text()), resolved)
  write_json(workdir / 'config.json', resolved)
  keras.utils.set_random_seed(config.seed)

  # ---- data -----------------------------------------------------------------
  arrays = data_lib.load_arrays(config.data, 'train')
  train_arrays, val_arrays = data_lib.split_for_search(arrays, config.search.train_portion)
  info = arrays.info
  batch = config.search.batch_size
  steps = min(data_lib.steps_per_epoch(train_arrays, batch),
              data_lib.steps_per_epoch(val_arrays, batch))
  if steps == 0:
    raise ValueError(f'config.search.batch_size={batch} is larger than a search split '
                     f'({len(train_arrays)} / {len(val_arrays)} images)')
  eval_arrays = val_arrays
  if config.search.eval_examples:
    n = min(config.search.eval_examples, len(val_arrays))
    eval_arrays = data_lib.Arrays(val_arrays.images[:n], val_arrays.labels[:n], info)
  eval_ds = data_lib.make_dataset(eval_arrays, config.search.eval_batch_size, training=False)
  table = _load_table(config)

  # ---- model, optimizers, schedule, checkpoint ------------------------------
  searcher = Searcher(config, info.num_classes, info.image_size,
                      strategy or distribute_lib.make_strategy(config.distribute))
  if batch % searcher.strategy.num_replicas_in_sync:
    raise ValueError(f'config.search.batch_size={batch} must be divisible by the '
                     f'{searcher.strategy.num_replicas_in_sync} replicas')
  epochs = config.search.epochs
  expectation = schedules.expectation_of_alphas(searcher.alphas.numpy())
  schedule = schedules.build_schedule(config.schedule, expectation=expectation, num_epochs=epochs)
  epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name='epoch')
  state_var = tf.Variable('{}', dtype=tf.string, trainable=False, name='state')
  ckpt = tf.train.Checkpoint(**checkpointing.model_checkpoint_items(searcher.model),
                             alphas=searcher.alphas,
                             temperature=searcher.temperature, w_opt=searcher.w_opt,
                             a_opt=searcher.a_opt, epoch=epoch_var, state=state_var)
  manager = tf.train.CheckpointManager(ckpt, str(workdir / 'checkpoints'), max_to_keep=2)
  history = []
  if manager.latest_checkpoint:
    ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    state = json.loads(state_var.numpy().decode())
    schedule.load_state_dict(state['schedule'])
    history = state['history']
    logging.info('resumed from %s after epoch %d', manager.latest_checkpoint, int(epoch_var))
  else:
    searcher.temperature.assign(schedule.initial_temperature())
  start = int(epoch_var.numpy())
  writer = summaries.Writer(workdir / 'tb')

  # ---- epochs ---------------------------------------------------------------
  for epoch in range(start, epochs):
    t_start = time.time()
    temperature = schedule.current_temperature
    searcher.temperature.assign(temperature)
    lr = cosine_lr(epoch, epochs, config.optim.weights.lr, config.optim.weights.lr_min)
    searcher.w_opt.learning_rate.assign(lr)
    update_arch = epoch >= config.search.arch_warmup_epochs
    train_ds = data_lib.make_dataset(train_arrays, batch, training=True, seed=config.seed,
                                     epoch=epoch)
    val_ds = data_lib.make_dataset(val_arrays, batch, training=True, seed=config.seed + 1,
                                   epoch=epoch)
    sums = np.zeros(4)
    batches = zip(searcher.distribute(train_ds.take(steps)), searcher.distribute(val_ds.take(steps)))
    for step, (train_batch, val_batch) in enumerate(batches):
      sums += np.array([float(v) for v in searcher.pair_step(train_batch, val_batch, update_arch)])
      if not np.isfinite(sums).all():
        break  # reported below; nothing of this epoch is saved
      if progress is not None:
        mean = sums / (step + 1)
        progress(epoch, step + 1, steps, {'loss': mean[0], 'acc': mean[1],
                                          'val_loss': mean[2], 'val_acc': mean[3]})
      elif (step + 1) % config.search.log_every_steps == 0:
        logging.info('epoch %d step %d/%d loss %.4f', epoch, step + 1, steps, sums[0] / (step + 1))
    train_loss, train_acc, val_loss, val_acc = sums / steps
    alphas = searcher.alphas.numpy()
    if not (np.isfinite(sums).all() and np.isfinite(alphas).all()):
      raise FloatingPointError(
          f'non-finite loss or alphas in epoch {epoch} (train loss {train_loss}, val loss '
          f'{val_loss}); stopped without saving. The last good checkpoint is in '
          f'{workdir / "checkpoints"}; lower the learning rates or check the data.')

    # ---- end of epoch: read-out, discretized accuracy, schedule update ------
    arch = searcher.space.derive(alphas)
    _, discrete_acc = searcher.evaluate(eval_ds, searcher.space.one_hot(alphas))
    entropy, entropy_tempered = searcher.entropies()
    if config.schedule.expectation == 'epoch' and hasattr(schedule, 'set_expectation'):
      schedule.set_expectation(schedules.expectation_of_alphas(alphas))
    d_exp = getattr(schedule, 'd_exp', None)
    next_t = schedule.update(entropy if config.schedule.entropy == 'alphas' else entropy_tempered,
                             epoch)
    bench = _lookup(table, arch)
    record = dict(
        epoch=epoch + 1, temperature=temperature, next_temperature=next_t,
        d_exp=getattr(schedule, 'd_exp', d_exp), entropy=entropy,
        entropy_tempered=entropy_tempered, lr=lr, train_loss=float(train_loss),
        train_acc=float(train_acc), val_loss=float(val_loss), val_acc=float(val_acc),
        discrete_acc=discrete_acc, genotype=arch, seconds=time.time() - t_start)
    if bench is not None:
      record['nb201'] = {k: v for k, v in bench.items() if k != 'arch'}
    history.append(record)
    if progress is not None:
      progress(epoch, steps, steps, dict(
          loss=train_loss, acc=train_acc, val_loss=val_loss, val_acc=val_acc,
          discrete_acc=discrete_acc, temperature=temperature, entropy=entropy))
    writer.epoch(epoch + 1, record, alphas=alphas,
                 betas=searcher.betas().numpy(), op_names=searcher.space.ops)
    logging.info('epoch %d/%d t=%.3g H=%.3f train %.3f/%.3f val %.3f/%.3f discrete %.3f %s',
                 epoch + 1, epochs, temperature, entropy, train_loss, train_acc, val_loss,
                 val_acc, discrete_acc, arch)

    # ---- save: checkpoint (with schedule state) then genotype.json ----------
    epoch_var.assign(epoch + 1)
    searcher.temperature.assign(next_t)
    state_var.assign(json.dumps({'schedule': schedule.state_dict(), 'history': history}))
    manager.save(checkpoint_number=epoch + 1)
    _write_genotype(workdir, config, history, table)

  if not history:
    raise ValueError(f'config.search.epochs={epochs}: nothing to search')
  result = _write_genotype(workdir, config, history, table)
  writer.close()
  logging.info('found cell %s', result['genotype'])
  if result['benchmark'] is not None:
    logging.info('%s', nb201_bench.format_accuracies(result['benchmark']))
  return result


def _write_genotype(workdir, config, history, table):
  arch = history[-1]['genotype']
  result = {'space': config.space, 'genotype': arch,
            'benchmark': _lookup(table, arch), 'epochs': len(history), 'history': history}
  write_json(workdir / 'genotype.json', result)
  result['genotype_path'] = str(workdir / 'genotype.json')
  return result
