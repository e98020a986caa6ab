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
import time

from absl import logging
import numpy as np
import tensorflow as tf

from edd_tf import errors
from edd_tf import workdir as workdir_lib

CONFIG_FILE = 'config.json'
CHECKPOINT_DIR = 'checkpoints'
TB_DIR = 'tb'
CHANGES_KEY = 'config_changes'


class Task(abc.ABC):
  """What the loop trains. Attributes `epochs`, `global_batch_size`, `kind`."""

  kind = 'run'
  epochs = 0
  global_batch_size = 0

  @abc.abstractmethod
  def checkpoint_items(self):
    """{name: trackable} the checkpoint holds (besides the epoch and JSON state)."""

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
  def batches(self, epoch):
    """(iterable of step argument tuples, number of steps or None)."""

  @abc.abstractmethod
  def step(self, *batch):
    """One training step: {metric: scalar tensor} (running means are logged)."""

  @abc.abstractmethod
  def end_epoch(self, epoch, metrics, history):
    """The epoch's record (JSON-able dict) from its mean step metrics."""

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


def open_workdir(path, config_json, *, kind, ignore=(), defaults=None, fixed=(),
                 allow_changes=False):
  """Prepares, locks and checks a workdir; writes config.json. Returns (path, lock).

  Nothing is written before every check passed: a path that is a file or not
  writable, a workdir locked by a live process, or a workdir whose
  config.json belongs to another experiment (checkpoints or not) stops here.

  Args:
    path: the workdir.
    config_json: the resolved config as a JSON-able dict.
    kind: 'search' or 'training run' (for messages).
    ignore: dotted fields that may change between a run and its resumption.
    defaults: the default config as a dict: a field missing from an older
      config.json is fine when this run uses its default value.
    fixed: dotted fields (or prefixes such as 'model') that define the
      experiment and never change in a workdir.
    allow_changes: accept changes of the other fields (e.g. lower learning
      rates after a NaN) and record them, with the checkpoint they continue
      from, in config.json's 'config_changes'.
  """
  path = workdir_lib.prepare(path)
  lock = workdir_lib.Lock(path)
  lock.acquire()
  try:
    saved_path = path / CONFIG_FILE
    ignore = tuple(ignore) + (CHANGES_KEY,)
    if saved_path.exists():
      saved = workdir_lib.read_json(saved_path)
      if defaults:
        saved = _fill_missing(saved, defaults)
      diffs = workdir_lib.config_diff(saved, config_json, ignore=ignore)
      if diffs and allow_changes:
        frozen = workdir_lib.config_diff(saved, config_json, ignore=ignore, only=fixed)
        if frozen:
          raise errors.WorkdirError(
              f'the workdir holds a {kind} of a different experiment; these fields cannot change '
              f'in a workdir: {"; ".join(frozen)}')
        config_json = dict(config_json)
        config_json[CHANGES_KEY] = list(saved.get(CHANGES_KEY, [])) + [{
            'time': time.strftime('%Y-%m-%dT%H:%M:%S'),
            'continues_from': tf.train.latest_checkpoint(str(path / CHECKPOINT_DIR)),
            'changes': diffs}]
        logging.warning('config changed in %s (allowed): %s', path, '; '.join(diffs))
      elif diffs:
        workdir_lib.check_same_experiment(saved, config_json, ignore=ignore, what=kind,
                                          workdir=path)
      else:
        config_json = dict(config_json, **{CHANGES_KEY: saved[CHANGES_KEY]}) \
            if CHANGES_KEY in saved else config_json
    workdir_lib.write_json(saved_path, config_json)
  except BaseException:
    lock.release()
    raise
  return path, lock


def _fill_missing(saved, defaults):
  out = dict(saved)
  for key, value in defaults.items():
    if key not in out:
      out[key] = value
    elif isinstance(value, dict) and isinstance(out[key], dict):
      out[key] = _fill_missing(out[key], value)
  return out


class _Metrics:
  """Running sums of step metrics, read back to floats."""

  def __init__(self):
    self.sums = {}
    self.steps = 0

  def add(self, values):
    for key, value in values.items():
      self.sums[key] = self.sums.get(key, 0.0) + float(value)
    self.steps += 1

  def means(self):
    return {k: v / max(self.steps, 1) for k, v in self.sums.items()}

  def finite(self):
    return all(np.isfinite(v) for v in self.sums.values())


def run(task, workdir, *, progress=None, log_every_steps=50):
  """Runs (or resumes, or just reports) `task` in an opened workdir.

  Args:
    task: a Task.
    workdir: a pathlib.Path prepared by `open_workdir`.
    progress: optional callable(epoch, step, steps, metrics) called after
      every step with running means, except that the last step's call waits
      for the end of the epoch and carries the task's `progress_metrics` of
      its record.
    log_every_steps: step-summary interval.

  Returns:
    task.result(history).

  Raises:
    FloatingPointError: a non-finite step metric; the epoch is not saved and
      the message names the last good checkpoint (or says there is none).
  """
  epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name='epoch')
  state_var = tf.Variable('{}', dtype=tf.string, trainable=False, name='state')
  checkpoint = tf.train.Checkpoint(**task.checkpoint_items(), epoch=epoch_var, state=state_var)
  ckpt_dir = workdir / CHECKPOINT_DIR
  manager = tf.train.CheckpointManager(checkpoint, str(ckpt_dir), max_to_keep=2)
  history = []
  restored = workdir_lib.restore_latest(checkpoint, ckpt_dir)
  if restored:
    state = json.loads(state_var.numpy().decode())
    task.load_state_dict(state.get('task', state))
    history = state.get('history', [])
    logging.info('resumed from %s after epoch %d', restored, int(epoch_var.numpy()))
  else:
    task.on_fresh_start()
  start = int(epoch_var.numpy())
  writer = tf.summary.create_file_writer(str(workdir / TB_DIR))
  try:
    for epoch in range(start, task.epochs):
      _run_epoch(task, epoch, history, writer, progress, log_every_steps, restored, ckpt_dir)
      epoch_var.assign(epoch + 1)
      state_var.assign(json.dumps({'task': task.state_dict(), 'history': history}))
      restored = manager.save(checkpoint_number=epoch + 1)
      task.write_outputs(history, finished=epoch + 1 >= task.epochs)
      with writer.as_default(step=epoch + 1):
        for key, value in history[-1].get('scalars', {}).items():
          tf.summary.scalar(key, value)
        task.write_epoch_summaries(writer, history[-1])
      writer.flush()
      if progress is not None:
        progress(epoch, history[-1]['steps'], history[-1]['steps'],
                 task.progress_metrics(history[-1]))
    if not history:
      raise ValueError(f'{task.kind}: nothing to run (0 epochs)')
    if start >= task.epochs:  # finished before this call: refresh the outputs
      task.write_outputs(history, finished=True)
  finally:
    writer.close()
  return task.result(history)


def _run_epoch(task, epoch, history, writer, progress, log_every_steps, last_good, ckpt_dir):
  logged = task.begin_epoch(epoch)
  batches, steps = task.batches(epoch)
  metrics = _Metrics()
  started = last_log = time.time()
  for batch in batches:
    metrics.add(task.step(*batch))
    n = metrics.steps
    if not metrics.finite():
      where = (f'the last good checkpoint is {last_good}' if last_good else
               f'no checkpoint was saved yet in {ckpt_dir}')
      raise FloatingPointError(
          f'non-finite {task.kind} metrics at epoch {epoch + 1}, step {n} '
          f'({", ".join(f"{k} {v:.4g}" for k, v in metrics.means().items())}); stopped without '
          f'saving this epoch; {where}. Lower the learning rates or check the data.')
    if progress is not None and n != steps:  # the epoch's last call comes after its end
      progress(epoch, n, steps or n, metrics.means())
    if n % log_every_steps == 0:
      now = time.time()
      seconds = (now - last_log) / log_every_steps
      last_log = now
      global_step = epoch * (steps or n) + n
      with writer.as_default(step=global_step):
        for key, value in {**metrics.means(), **logged}.items():
          tf.summary.scalar(f'step/{key}', value)
        tf.summary.scalar('step/seconds_per_step', seconds)
        tf.summary.scalar('step/images_per_second', task.global_batch_size / seconds)
  if metrics.steps == 0:
    raise ValueError(f'{task.kind} epoch {epoch + 1} had no batches')
  record = task.end_epoch(epoch, metrics.means(), history)
  record['steps'] = metrics.steps
  record['seconds'] = time.time() - started
  history.append(record)
