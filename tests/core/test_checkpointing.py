"""Tests for edd_tf.core.checkpointing: restoring the newest good checkpoint past damage."""

import pathlib

from absl.testing import absltest
import numpy as np
import pytest
import tensorflow as tf

from edd_tf.core import checkpointing
from edd_tf.core import errors

DATA = 'data-00000-of-00001'


# ---- restore_latest ---------------------------------------------------------


def _save_two(directory):
  """ckpt-1 holds (v=[0,1,2,3], s=1.0), ckpt-2 holds (v=[10,11,12,13], s=2.0)."""
  v, s = tf.Variable(np.arange(4, dtype=np.float32)), tf.Variable(1.0)
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=v, s=s), str(directory),
                                       max_to_keep=2)
  manager.save()
  v.assign_add(tf.fill([4], 10.0))
  s.assign(2.0)
  manager.save()
  return directory / 'ckpt-2'


def _fresh():
  v, s = tf.Variable(np.zeros(4, np.float32)), tf.Variable(0.0)
  return tf.train.Checkpoint(v=v, s=s), v, s


def _truncate(path):
  blob = path.read_bytes()
  path.write_bytes(blob[:len(blob) // 2])


def _flip_bit(path, offset=None):
  blob = bytearray(path.read_bytes())
  blob[len(blob) // 2 if offset is None else offset] ^= 0x10
  path.write_bytes(bytes(blob))


def test_restore_latest_restores_the_newest(tmp_path):
  _save_two(tmp_path)
  ckpt, v, s = _fresh()
  assert checkpointing.restore_latest(ckpt, tmp_path) == str(tmp_path / 'ckpt-2')
  np.testing.assert_array_equal(v.numpy(), [10, 11, 12, 13])
  assert float(s) == 2.0


def test_restore_latest_of_an_empty_directory_is_none(tmp_path):
  assert checkpointing.restore_latest(_fresh()[0], tmp_path) is None


@pytest.mark.parametrize('damage, suffix', [
    (_truncate, DATA), (_flip_bit, DATA), (lambda p: p.write_bytes(b''), DATA),
    (_truncate, 'index'), (_flip_bit, 'index')])
def test_restore_latest_falls_back_to_the_older_checkpoint(tmp_path, damage, suffix):
  newest = _save_two(tmp_path)
  damage(pathlib.Path(f'{newest}.{suffix}'))
  ckpt, v, s = _fresh()
  with absltest.mock.patch.object(checkpointing.logging, 'warning') as warning:
    assert checkpointing.restore_latest(ckpt, tmp_path) == str(tmp_path / 'ckpt-1')
  np.testing.assert_array_equal(v.numpy(), [0, 1, 2, 3])
  assert float(s) == 1.0
  logged = ' '.join(c[0][0] % c[0][1:] for c in warning.call_args_list)
  assert f'ckpt-2.{suffix}' in logged and 'ckpt-1' in logged


def test_every_bit_flip_in_the_data_file_is_detected(tmp_path):
  """TF checks each tensor's crc32c on read: no flip restores wrong values silently."""
  newest = _save_two(tmp_path)
  data = pathlib.Path(f'{newest}.{DATA}')
  original = data.read_bytes()
  for offset in range(0, len(original), max(1, len(original) // 40)):
    _flip_bit(data, offset)
    ckpt, v, _ = _fresh()
    with absltest.mock.patch.object(checkpointing.logging, 'warning'):
      assert checkpointing.restore_latest(ckpt, tmp_path) == str(tmp_path / 'ckpt-1'), offset
    np.testing.assert_array_equal(v.numpy(), [0, 1, 2, 3])
    data.write_bytes(original)


def test_restore_latest_names_every_damaged_checkpoint(tmp_path):
  newest = _save_two(tmp_path)
  _truncate(pathlib.Path(f'{newest}.{DATA}'))
  _flip_bit(tmp_path / f'ckpt-1.{DATA}')
  with absltest.mock.patch.object(checkpointing.logging, 'warning'):
    with pytest.raises(errors.CheckpointError) as e:
      checkpointing.restore_latest(_fresh()[0], tmp_path)
  assert f'ckpt-2.{DATA}' in str(e.value) and f'ckpt-1.{DATA}' in str(e.value)


def test_restore_latest_finds_checkpoints_without_a_state_file(tmp_path):
  _save_two(tmp_path)
  (tmp_path / 'checkpoint').write_text('garbage {{{')
  ckpt, v, _ = _fresh()
  with absltest.mock.patch.object(checkpointing.logging, 'warning'):
    assert checkpointing.restore_latest(ckpt, tmp_path) == str(tmp_path / 'ckpt-2')
  np.testing.assert_array_equal(v.numpy(), [10, 11, 12, 13])


def test_restore_latest_refuses_another_network(tmp_path):
  _save_two(tmp_path)
  other = tf.train.Checkpoint(v=tf.Variable(np.zeros(5, np.float32)), s=tf.Variable(0.0))
  with pytest.raises(errors.CheckpointError, match='ckpt-2 cannot be restored into this model'):
    checkpointing.restore_latest(other, tmp_path)


def test_restore_latest_refuses_a_checkpoint_missing_objects(tmp_path):
  _save_two(tmp_path)
  extra = tf.train.Checkpoint(v=tf.Variable(np.zeros(4, np.float32)), s=tf.Variable(0.0),
                              w=tf.Variable(0.0))
  with pytest.raises(errors.CheckpointError, match='ckpt-2 does not match'):
    checkpointing.restore_latest(extra, tmp_path)
