"""A run's workdir as one experiment: checked, locked, config.json and runtime.json.

  path, lock = open_workdir(workdir, config_json, kind='search', ignore=RESUMABLE_CHANGES,
                            fixed=EXPERIMENT_FIELDS, defaults=default_config_json)
  try:
    ... core.loop.run(task, path) ...
  finally:
    lock.release()

config.json is the experiment: a rerun under another config is refused
(naming the fields), or, with allow_changes, recorded under 'config_changes'.
runtime.json is not: one entry per start (software versions, CPU kernels).
"""

import pathlib
import platform
import socket
import sys
import time

from absl import logging
import keras
import tensorflow as tf

from edd_tf.core import checkpointing
from edd_tf.core import errors
from edd_tf.core import kernels
from edd_tf.core import workdir as workdir_lib

CONFIG_FILE = 'config.json'
CHANGES_KEY = 'config_changes'
RUNTIME_FILE = 'runtime.json'
CHECKPOINT_DIR = checkpointing.CHECKPOINT_DIR


def open_workdir(path, config_json, *, kind, ignore=(), defaults=None, fixed=(),
                 allow_changes=False, chief=True):
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
    chief: False for the non-chief workers of a multi-worker run: they share
      the chief's workdir, write nothing there but a scratch checkpoint
      directory, and hold no lock (the returned lock is a no-op).
  """
  if not chief:
    return pathlib.Path(path), _NoLock()
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
    write_runtime(path)
  except BaseException:
    lock.release()
    raise
  return path, lock


def write_runtime(path):
  """Appends this start's software and CPU kernels to path/runtime.json (beside config.json).

  One entry per start or resume: time, host, argv, Python / TensorFlow /
  Keras versions and `kernels.record()` (oneDNN on or off, who chose), so a
  run's figures can be traced to what computed them. Not part of the
  experiment: a resume under other kernels is allowed and recorded here.
  """
  runtime = path / RUNTIME_FILE
  starts = []
  if runtime.exists():
    try:
      starts = list(workdir_lib.read_json(runtime).get('starts', []))
    except errors.WorkdirError:
      logging.warning('%s is unreadable; starting a new one', runtime)
  starts.append({'time': time.strftime('%Y-%m-%dT%H:%M:%S'), 'host': socket.gethostname(),
                 'argv': list(sys.argv), 'python': platform.python_version(),
                 'tensorflow': tf.__version__, 'keras': keras.__version__,
                 'cpu_kernels': kernels.record()})
  workdir_lib.write_json(runtime, {'starts': starts})


class _NoLock:

  def release(self):
    pass


def _fill_missing(saved, defaults):
  out = dict(saved)
  for key, value in defaults.items():
    if key not in out:
      out[key] = value
    elif isinstance(value, dict) and isinstance(out[key], dict):
      out[key] = _fill_missing(out[key], value)
  return out
