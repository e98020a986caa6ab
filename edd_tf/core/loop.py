"""The one loop skeleton of search and training: workdir, resume, epochs, checkpoints.

`run(task, ...)` owns everything that does not depend on what is trained:

  before the first write  the caller has validated config and data (the task
                          is built); here: the workdir is prepared (not a
                          file, writable), locked against a second process,
                          and checked to hold this experiment or nothing;
  resume                  the newest checkpoint that restores (damaged ones
                          are skipped, naming the file), with the task's JSON
                          state and the per-epoch history;
  every step              the task's step, NaN guard, progress callback and
                          step summaries every `log_every_steps` steps (loss,
                          accuracy, learning rate, temperature, seconds per
                          step, images per second);
  every epoch             the task's end-of-epoch record, checkpoint + JSON
                          state, the task's outputs (genotype.json /
                          results.json), epoch summaries.

A task (search.SearchTask, train.TrainTask) supplies what differs.
"""

import abc
import json
import signal
import threading
import time

from absl import logging
import numpy as np
import tensorflow as tf

from edd_tf.core import checkpointing
from edd_tf.core import distribute as distribute_lib
from edd_tf.core import errors
from edd_tf.core import experiment_dir
from edd_tf.core import multi_step

CONFIG_FILE = experiment_dir.CONFIG_FILE
CHECKPOINT_DIR = checkpointing.CHECKPOINT_DIR
TB_DIR = 'tb'


class Task(abc.ABC):
  """What the loop trains. Attributes `epochs`, `global_batch_size`, `kind`."""

  kind = 'run'
  epochs = 0
  global_batch_size = 0

  @abc.abstractmethod
  def checkpoint_items(self):
    """{name: trackable} the checkpoint holds (besides the epoch and JSON state)."""

  def optional_checkpoint_items(self):
    """{name: trackable} saved with the checkpoint, restored only when present in it."""
    return {}

  def state_dict(self):
    """JSON-serialisable state to checkpoint with the variables (e.g. a schedule)."""
    return {}

  def load_state_dict(self, state):
    del state

  def on_fresh_start(self):
    """Called when there is no checkpoint to resume from."""

  @abc.abstractmethod
  def begin_epoch(self, epoch):
    """Sets per-epoch values; returns {name: float} (e.g. lr, temperature) to log."""

  @abc.abstractmethod
  def batches(self, epoch, start_step=0):
    """(iterable of step argument tuples from step `start_step`, steps per epoch).

    The batches of an epoch must be a function of (seed, epoch, step) only, so
    that a run resumed at `start_step` sees the batches an uninterrupted run
    would have.
    """

  @abc.abstractmethod
  def step(self, *batch):
    """One training step: {metric: scalar tensor} (running means are logged).

    Traceable: with `steps_per_call` > 1 the loop runs it inside a
    tf.while_loop (core/multi_step.py).
    """

  # Steps per tf.function call (config.search / config.train .steps_per_call).
  steps_per_call = 1
  # The metric names `step` returns (needed when steps_per_call > 1).
  step_metrics = ()

  def step_trace_key(self):
    """The Python values `step` branches on this epoch (one trace each when K > 1)."""
    return None

  @abc.abstractmethod
  def end_epoch(self, epoch, metrics, history):
    """The epoch's record (JSON-able dict) from its mean step metrics."""

  def stopped(self, history):
    """True when the run ends after `history` before `epochs` (early stopping)."""
    del history
    return False

  # Epoch-end checkpoints kept besides the latest two, for `rollback_target`.
  epoch_checkpoints = 0

  def rollback_target(self, history):
    """None, or the 0-based epoch whose end state the run returns to (DARTS-ADA).

    Asked after each saved epoch. The loop restores that epoch's checkpoint
    (variables and JSON state; `history` is cut back to it), hands back what
    `carry_over()` returned before the restore to `after_rollback`, saves,
    and continues with the next epoch.
    """
    del history
    return None

  def carry_over(self):
    """What survives a rollback (e.g. a procedure's record of its decisions)."""
    return None

  def after_rollback(self, carried):
    del carried

  def progress_metrics(self, record):
    """Metrics of a finished epoch for the progress callback."""
    return dict(record)

  def write_epoch_summaries(self, writer, record):
    """Epoch summaries (the loop writes the scalars of the record's `scalars`)."""
    del writer, record

  @abc.abstractmethod
  def write_outputs(self, history, finished):
    """Writes the task's result files after each saved epoch."""

  @abc.abstractmethod
  def result(self, history):
    """The value `run` returns (also when the run had already finished)."""


def check_data_and_batch(num_classes, batch_size, strategy, *, batch_field, kind):
  """Raises ValueError for fewer than 2 classes or a batch the replicas cannot split."""
  if num_classes < 2:
    raise ValueError(f'the training data has {num_classes} class; a {kind} needs at least 2 '
                     f'(config.data)')
  if batch_size % strategy.num_replicas_in_sync:
    raise ValueError(f'config.{batch_field}={batch_size} must be divisible by the '
                     f'{strategy.num_replicas_in_sync} replicas')


class _Metrics:
  """Step metrics of one epoch: device values, read back every `every` steps.

  Reading a value back to the host waits for the step that made it, so the
  loop reads (NaN guard, progress, summaries) only every `every` steps and at
  the epoch's end; in between, steps are dispatched back to back.
  """

  def __init__(self, sums=None, steps=0):
    self.sums = dict(sums or {})
    self.steps = steps     # Steps whose values are in `sums` or `pending`.
    self.pending = []

  def add(self, values):
    self.pending.append(values)
    self.steps += 1

  def read(self):
    """Folds the pending step values into the float sums (one host sync)."""
    for values in self.pending:
      for key, value in values.items():
        self.sums[key] = self.sums.get(key, 0.0) + float(value)
    self.pending = []

  def means(self):
    return {k: v / max(self.steps, 1) for k, v in self.sums.items()}

  def finite(self):
    return all(np.isfinite(v) for v in self.sums.values())


class _Interruption:
  """SIGTERM (what cloud schedulers send before preempting) as a flag.

  While installed, SIGTERM only sets `requested`; the loop saves a checkpoint
  at the next step boundary and raises errors.Preempted. Installed only from
  the main thread (Python delivers signals there); the previous handler is
  restored on exit.
  """

  def __init__(self, signals=(signal.SIGTERM,)):
    self.signals = signals
    self.requested = None
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    self.requested = signal.Signals(signum).name
    logging.warning('%s received: saving a checkpoint at the next step boundary',
                    self.requested)

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in self.signals:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc_info):
    for sig, previous in self._previous.items():
      signal.signal(sig, previous)


def run(task, workdir, *, progress=None, log_every_steps=50, metrics_every_steps=1):
  """Runs (or resumes, or just reports) `task` in an opened workdir.

  Args:
    task: a Task.
    workdir: a pathlib.Path prepared by `experiment_dir.open_workdir`.
    progress: optional callable(epoch, step, steps, metrics) called every
      `metrics_every_steps` steps with running means, except that the last
      step's call waits for the end of the epoch and carries the task's
      `progress_metrics` of its record.
    log_every_steps: step-summary interval.
    metrics_every_steps: how often step metrics are read back to the host
      (NaN guard, progress, step summaries); 1 on CPUs, 10-100 on
      accelerators so that steps are not serialised by the read-back.

  Returns:
    task.result(history).

  Raises:
    FloatingPointError: a non-finite step metric; the epoch is not saved and
      the message names the last good checkpoint (or says there is none).
    errors.Preempted: SIGTERM arrived; a checkpoint of the step reached was
      saved first, and rerunning resumes at that step with the input
      pipeline at the same position.
  """
  strategy = getattr(task, 'strategy', None) or tf.distribute.get_strategy()
  chief = distribute_lib.is_chief(strategy)
  epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name='epoch')
  state_var = tf.Variable('{}', dtype=tf.string, trainable=False, name='state')
  checkpoints = checkpointing.Checkpoints(dict(**task.checkpoint_items(), epoch=epoch_var, state=state_var),
                             task.optional_checkpoint_items(), workdir, strategy,
                             keep_epochs=task.epoch_checkpoints)
  history = []
  partial = None
  restored = checkpoints.restore()
  if restored:
    state = json.loads(state_var.numpy().decode())
    task.load_state_dict(state.get('task', state))
    history = state.get('history', [])
    partial = state.get('partial')
    logging.info('resumed from %s at epoch %d%s', restored, int(epoch_var.numpy()) + 1,
                 f', step {partial["steps"]}' if partial else '')
  else:
    task.on_fresh_start()
  start = int(epoch_var.numpy())
  writer = (tf.summary.create_file_writer(str(workdir / TB_DIR)) if chief
            else tf.summary.create_noop_writer())
  epoch_loop = _EpochLoop(task, strategy, writer, progress, log_every_steps,
                          metrics_every_steps)

  def save(epoch, partial_state=None):
    epoch_var.assign(epoch)
    state_var.assign(json.dumps({'task': task.state_dict(), 'history': history,
                                 **({'partial': partial_state} if partial_state else {})}))
    # The checkpoint's number: steps run (epochs may differ in steps: SGAS).
    done = partial_state['steps'] if partial_state else 0
    return checkpoints.save(sum(h.get('steps', 0) for h in history[:epoch]) + done)

  def roll_back(target):
    """Back to the end of epoch `target`; returns the next epoch to run."""
    carried = task.carry_over()
    path = checkpoints.restore_epoch(target + 1)
    state = json.loads(state_var.numpy().decode())
    task.load_state_dict(state.get('task', state))
    history[:] = state.get('history', [])
    task.after_rollback(carried)
    logging.info('rolled back to the end of epoch %d (%s)', target + 1, path)
    save(target + 1)
    checkpoints.drop_epochs_after(target + 1)
    return target + 1

  try:
    with _Interruption() as interruption:
      epoch, ran = start, False
      while epoch < task.epochs:
        if task.stopped(history):
          break
        done = epoch_loop.run_epoch(epoch, history, restored, partial, interruption)
        ran = True
        partial = None
        if not done:   # Preempted: save the step reached, then stop.
          path = save(epoch, epoch_loop.partial_state())
          raise errors.Preempted(
              f'{interruption.requested} received: saved epoch {epoch + 1} at step '
              f'{epoch_loop.metrics.steps}' + (f' in {path}' if path else '') +
              '; run the same command again to resume from there')
        restored = save(epoch + 1) or restored
        checkpoints.save_epoch(epoch + 1)
        if chief:
          task.write_outputs(history,
                             finished=epoch + 1 >= task.epochs or task.stopped(history))
        with writer.as_default(step=epoch + 1):
          for key, value in history[-1].get('scalars', {}).items():
            tf.summary.scalar(key, value)
          task.write_epoch_summaries(writer, history[-1])
        writer.flush()
        if progress is not None:
          progress(epoch, history[-1]['steps'], history[-1]['steps'],
                   task.progress_metrics(history[-1]))
        target = task.rollback_target(history)
        epoch = epoch + 1 if target is None else roll_back(target)
    if not history:
      raise ValueError(f'{task.kind}: nothing to run (0 epochs)')
    if not ran and chief:
      # finished (or stopped early) before this call: refresh the outputs
      task.write_outputs(history, finished=True)
  finally:
    writer.close()
  return task.result(history)


class _EpochLoop:
  """Steps of one epoch: metrics, NaN guard, progress, step summaries, preemption."""

  def __init__(self, task, strategy, writer, progress, log_every_steps, metrics_every_steps):
    self.task = task
    self.strategy = strategy
    self.writer = writer
    self.progress = progress
    self.log_every_steps = log_every_steps
    self.every = max(int(metrics_every_steps), 1)
    self.multi_worker = distribute_lib.num_workers(strategy) > 1
    self.metrics = _Metrics()
    self.seconds = 0.0
    self.multi_step = None  # built on first use: one trace for the whole run

  def partial_state(self):
    self.metrics.read()
    return {'steps': self.metrics.steps, 'sums': self.metrics.sums, 'seconds': self.seconds}

  def _stop_requested(self, interruption, n):
    """Whether to stop after step n (all workers agree under multi-worker)."""
    if not self.multi_worker:
      return bool(interruption.requested)
    if n % self.every:
      return False
    return distribute_lib.any_worker(self.strategy, bool(interruption.requested))

  def _step_values(self, batches, start, steps):
    """Yields (step metrics, whether a tf.function call ends there) for each step.

    With task.steps_per_call = K > 1, K steps run per call (core/multi_step.py)
    and the loop may stop (preemption) only between calls; the last call of
    an epoch runs the steps left.
    """
    k = self.task.steps_per_call
    if k == 1:
      for batch in batches:
        yield self.task.step(*batch), True
      return
    if self.multi_step is None:
      self.multi_step = multi_step.MultiStep(self.task.step, self.task.step_metrics)
    iterator = iter(batches)
    done = start
    while done < steps:
      n = min(k, steps - done)
      rows = self.multi_step(iterator, n, self.task.step_trace_key())
      done += n
      for i, values in enumerate(rows):
        yield values, i == n - 1

  def run_epoch(self, epoch, history, last_good, partial, interruption):
    """Runs epoch `epoch` (from a saved partial state); False if preempted."""
    task = self.task
    logged = task.begin_epoch(epoch)
    start = partial['steps'] if partial else 0
    self.metrics = _Metrics(partial['sums'] if partial else None, start)
    self.seconds = partial['seconds'] if partial else 0.0
    batches, steps = task.batches(epoch, start)
    started = time.time()
    last_log, last_log_step = started, start
    for values, call_ends in self._step_values(batches, start, steps):
      self.metrics.add(values)
      n = self.metrics.steps
      last = n == steps
      if n % self.every == 0 or last:
        self.metrics.read()
        if not self.metrics.finite():
          where = (f'the last good checkpoint is {last_good}' if last_good else
                   'no checkpoint was saved yet')
          raise FloatingPointError(
              f'non-finite {task.kind} metrics at epoch {epoch + 1}, by step {n} '
              f'({", ".join(f"{k} {v:.4g}" for k, v in self.metrics.means().items())}); '
              f'stopped without saving this epoch; {where}. Lower the learning rates or '
              'check the data.')
        if self.progress is not None and not last:  # the last call comes after the epoch end
          self.progress(epoch, n, steps or n, self.metrics.means())
      if n % self.log_every_steps == 0:
        self.metrics.read()
        now = time.time()
        seconds = (now - last_log) / max(n - last_log_step, 1)
        last_log, last_log_step = now, n
        with self.writer.as_default(step=epoch * (steps or n) + n):
          for key, value in {**self.metrics.means(), **logged}.items():
            tf.summary.scalar(f'step/{key}', value)
          tf.summary.scalar('step/seconds_per_step', seconds)
          tf.summary.scalar('step/images_per_second', task.global_batch_size / seconds)
      if not last and call_ends and self._stop_requested(interruption, n):
        self.seconds += time.time() - started
        return False
    self.metrics.read()
    if self.metrics.steps == 0:
      raise ValueError(f'{task.kind} epoch {epoch + 1} had no batches')
    record = task.end_epoch(epoch, self.metrics.means(), history)
    record['steps'] = self.metrics.steps
    record['seconds'] = self.seconds + time.time() - started
    history.append(record)
    return True

