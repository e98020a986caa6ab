"""Checkpoints: complete Keras state, numbered by global step, restored past damage.

  items = {**model_checkpoint_items(model), **seed_states(model), 'opt': optimizer}
  checkpoints = Checkpoints(items, optional={}, workdir=path, strategy=strategy)
  checkpoints.restore()           # the newest checkpoint that restores, or None
  checkpoints.save(global_step)   # the chief writes; other workers scratch + delete

`restore_latest` skips a damaged newest checkpoint (naming the file) and
refuses another network's; every error is an `errors.CheckpointError`.
"""

import os
import pathlib
import re
import shutil

from absl import logging
from google.protobuf import message as protobuf_message
import tensorflow as tf

from edd_tf.core import distribute as distribute_lib
from edd_tf.core import errors

EPOCHS_DIR = 'epochs'
CHECKPOINT_DIR = 'checkpoints'
# What restoring a damaged checkpoint raises: truncated data -> IndexError
# "Read less bytes than requested"; a flipped bit -> DataLossError "Checksum
# does not match" (TF checks each tensor's crc32c); a damaged .index ->
# OpError "not an sstable" / "block checksum mismatch".
_DAMAGE_ERRORS = (tf.errors.OpError, IndexError, ValueError, protobuf_message.DecodeError)



def model_checkpoint_items(model):
  """The objects that checkpoint a model's state: {'model', 'model_weights'}.

  Keras 3.15.1's TF tracking drops layers held in Python lists (TrackedList)
  from tf.train.Checkpoint (they only reach SavedModels): a supernet's cells
  would be silently missing from the checkpoint (only 11 of 141 variables of a
  tiny NB201 supernet were saved; the keras#18398 symptom). `model_weights`
  lists every variable by its index in `model.weights`, which is fixed by the
  architecture, so restores are complete and `assert_existing_objects_matched`
  catches a different network.
  """
  return {'model': model, 'model_weights': list(model.weights)}


def seed_states(model):
  """{'seed_states': [...]}: the states of the model's keras.random.SeedGenerators, or {}.

  Keras 3 checkpoints neither tracks them (they are not in `model.weights`):
  without them a resumed run draws other drop-path masks or noise than an
  uninterrupted one. They are saved with the checkpoint but restored only
  when present, so checkpoints written before they were saved still restore.
  """
  states = [generator.state for layer in model._flatten_layers()  # pylint: disable=protected-access
            for generator in getattr(layer, '_seed_generators', [])]
  return {'seed_states': states} if states else {}


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------


def _checkpoint_number(prefix):
  match = re.search(r'-(\d+)$', prefix)
  return int(match.group(1)) if match else -1


def _candidates(directory):
  """Checkpoint prefixes in `directory`, newest first.

  The ones the 'checkpoint' state file lists come first; any other
  `*.index` in the directory follows (so a lost or corrupt state file, which
  tf.train.latest_checkpoint silently treats as "no checkpoint", still finds
  them).
  """
  listed = []
  try:
    state = tf.train.get_checkpoint_state(str(directory))
  except ValueError:  # A state file without model_checkpoint_path.
    state = None
  if state is not None:
    listed = list(reversed(state.all_model_checkpoint_paths)) or [state.model_checkpoint_path]
    if state.model_checkpoint_path not in listed:
      listed.insert(0, state.model_checkpoint_path)
  found = sorted((str(p)[:-len('.index')] for p in pathlib.Path(directory).glob('*.index')),
                 key=lambda p: (_checkpoint_number(p), p), reverse=True)
  if found and state is None and (pathlib.Path(directory) / 'checkpoint').exists():
    logging.warning('%s/checkpoint is unreadable; trying the checkpoints found by name: %s',
                    directory, ', '.join(pathlib.Path(p).name for p in found))
  return listed + [p for p in found if p not in listed]


def _damaged_files(prefix):
  """The damaged files of checkpoint `prefix` (its .index or data shards); [] if none."""
  index = f'{prefix}.index'
  if not os.path.exists(index):
    return [f'{index} (missing)']
  data = sorted(str(p) for p in pathlib.Path(prefix).parent.glob(
      f'{pathlib.Path(prefix).name}.data-*'))
  try:
    reader = tf.train.load_checkpoint(prefix)
  except _DAMAGE_ERRORS:
    return [index]
  try:
    for key in reader.get_variable_to_shape_map():
      reader.get_tensor(key)
  except _DAMAGE_ERRORS:
    return data or [f'{prefix}.data-00000-of-00001 (missing)']
  return []


def restore_latest(checkpoint, directory, *, partial=False):
  """Restores the newest checkpoint in `directory` that restores cleanly.

  A damaged checkpoint (truncated or bit-flipped `.data-*` or `.index`; TF
  verifies each tensor's crc32c on read, so a flipped bit raises rather than
  restoring wrong values) is reported with the damaged file and the next older
  one is tried.

  Args:
    checkpoint: a tf.train.Checkpoint.
    directory: the CheckpointManager's directory.
    partial: if True, objects of the checkpoint that `checkpoint` lacks are
      fine (`expect_partial`), e.g. restoring only a model for export.

  Returns:
    The checkpoint path restored, or None if `directory` holds no checkpoint.

  Raises:
    CheckpointError: every checkpoint is damaged (all are named), or one
      does not match `checkpoint`'s objects (a different network).
  """
  candidates = _candidates(directory)
  damaged = []
  for prefix in candidates:
    try:
      status = checkpoint.restore(prefix)
    except _DAMAGE_ERRORS as e:
      reason = errors.one_line(f'{type(e).__name__}: {e}')[:300]
      files = ', '.join(_damaged_files(prefix))
      if not files:  # The files read fine: the checkpoint is another network's.
        raise errors.CheckpointError(f'checkpoint {prefix} cannot be restored into this model '
                                     f'(a different network or config?): {reason}') from e
      damaged.append(files)
      logging.warning('checkpoint %s is damaged: %s (%s)%s', prefix, files, reason,
                      '; trying the next older one' if prefix != candidates[-1] else '')
      continue
    try:
      status.assert_existing_objects_matched()
    except AssertionError as e:
      raise errors.CheckpointError(
          f'checkpoint {prefix} does not match the objects to restore (a different network or '
          f'config?): {errors.one_line(e)[:300]}') from e
    if partial:
      status.expect_partial()
    if damaged:
      logging.warning('restored the older checkpoint %s instead (damaged: %s)', prefix,
                      '; '.join(damaged))
    else:
      logging.info('restored %s', prefix)
    return prefix
  if damaged:
    raise errors.CheckpointError(f'every checkpoint in {directory} is damaged: '
                                 + '; '.join(damaged) + '. Delete them to start over')
  return None


class Checkpoints:
  """The workdir's checkpoints as every worker of a strategy must write them.

  Checkpoints are numbered by global step (epoch * steps + step), so a
  mid-epoch (preemption) checkpoint sorts between the epochs around it. Under
  MultiWorkerMirroredStrategy saving is collective: every worker saves, the
  chief into `checkpoints/`, the others into a temporary directory they
  delete again (the TF multi-worker custom-loop recipe).
  """

  def __init__(self, items, optional, workdir, strategy, keep_epochs=0):
    self.checkpoint = tf.train.Checkpoint(**items)  # what must restore
    self.optional = optional                        # restored when present
    self.directory = workdir / CHECKPOINT_DIR
    self.chief = distribute_lib.is_chief(strategy)
    self.scratch = None
    if not self.chief:
      self.scratch = workdir / f'.worker-{distribute_lib.worker_index(strategy)}-scratch'
    saved = tf.train.Checkpoint(**items, **optional)
    self.manager = tf.train.CheckpointManager(
        saved, str(self.directory if self.chief else self.scratch), max_to_keep=2)
    # The last `keep_epochs` epoch-end states, numbered by epoch, for rollbacks.
    self.epochs = None
    if keep_epochs:
      if not self.chief:
        raise ValueError('rolling back to an earlier epoch (DARTS-ADA) needs the epoch '
                         'checkpoints on every worker; it is not supported with multi_worker')
      self.epochs = tf.train.CheckpointManager(saved, str(self.directory / EPOCHS_DIR),
                                               max_to_keep=keep_epochs)

  def restore(self):
    # The file also holds the optional items (restored below): without partial
    # TF warns at exit that they were "unrestored", which reads as a broken checkpoint.
    path = restore_latest(self.checkpoint, self.directory, partial=bool(self.optional))
    if path and self.optional:
      tf.train.Checkpoint(**self.optional).restore(path).expect_partial()
    return path

  def save_epoch(self, epoch):
    """Keeps the state at the end of (1-based) `epoch` for `restore_epoch`."""
    if self.epochs is not None:
      self.epochs.save(checkpoint_number=epoch)

  def restore_epoch(self, epoch):
    """Restores the state kept at the end of (1-based) `epoch`; returns its path."""
    path = f'{self.directory / EPOCHS_DIR}/ckpt-{epoch}'
    if self.epochs is None or not os.path.exists(f'{path}.index'):
      raise errors.CheckpointError(f'no checkpoint of epoch {epoch} is kept in '
                                   f'{self.directory / EPOCHS_DIR} to roll back to')
    status = self.checkpoint.restore(path)
    status.assert_existing_objects_matched()
    if self.optional:
      status.expect_partial()
      tf.train.Checkpoint(**self.optional).restore(path).expect_partial()
    return path

  def drop_epochs_after(self, epoch):
    """Forgets the kept epochs after `epoch` (their states were rolled back)."""
    if self.epochs is None:
      return
    for path in list(self.epochs.checkpoints):
      if _checkpoint_number(path) > epoch:
        # The manager keeps listing them until the same epochs are saved again,
        # which overwrites these names; only the files go now.
        for f in pathlib.Path(path).parent.glob(pathlib.Path(path).name + '.*'):
          f.unlink()

  def save(self, number):
    path = self.manager.save(checkpoint_number=number)
    if not self.chief:
      shutil.rmtree(self.scratch, ignore_errors=True)
      return None
    return path
