"""Tests for edd_tf.core.workdir: prepare, Lock, JSON files, config diffs."""

import json
import os
import pathlib
import socket
import subprocess
import sys

from absl.testing import absltest
import pytest

from edd_tf.core import errors
from edd_tf.core import workdir

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = 'data-00000-of-00001'


# ---- prepare ----------------------------------------------------------------


def test_prepare_creates_the_directory(tmp_path):
  path = workdir.prepare(tmp_path / 'a' / 'b')
  assert path.is_dir() and list(path.iterdir()) == []


def test_prepare_refuses_a_file(tmp_path):
  (tmp_path / 'f').write_text('x')
  with pytest.raises(errors.WorkdirError, match=r'--workdir=.*/f is a file, not a directory'):
    workdir.prepare(tmp_path / 'f')


def test_prepare_refuses_a_path_under_a_file(tmp_path):
  (tmp_path / 'f').write_text('x')
  with pytest.raises(errors.WorkdirError, match='a parent is a file'):
    workdir.prepare(tmp_path / 'f' / 'sub', what='--export_dir')


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes into read-only directories')
def test_prepare_refuses_a_read_only_directory(tmp_path):
  tmp_path.chmod(0o555)
  try:
    with pytest.raises(errors.WorkdirError, match='is not writable'):
      workdir.prepare(tmp_path)
  finally:
    tmp_path.chmod(0o755)


def test_prepare_refuses_an_unwritable_directory_even_as_root():
  # /proc/1 exists and is a directory, but no one (not even root) can create
  # files in it, so the probe file fails the way a read-only workdir does.
  with pytest.raises(errors.WorkdirError, match=r'--workdir=/proc/1 is not writable'):
    workdir.prepare('/proc/1')


def test_prepare_refuses_an_empty_path():
  with pytest.raises(errors.WorkdirError, match='--workdir is empty'):
    workdir.prepare('')


# ---- Lock -------------------------------------------------------------------


def _write_lock(path, **record):
  base = dict(pid=os.getpid(), host=socket.gethostname(), started='2026-01-01T00:00:00+00:00',
              argv=['binaries.search', '--config=x.py'])
  (path / workdir.LOCK_FILE).write_text(json.dumps({**base, **record}))


def _dead_pid():
  proc = subprocess.Popen([sys.executable, '-c', 'pass'])
  proc.wait()
  return proc.pid


def test_lock_writes_the_owner_and_removes_the_file_on_release(tmp_path):
  with workdir.Lock(tmp_path):
    owner = json.loads((tmp_path / '.lock').read_text())
    assert owner['pid'] == os.getpid() and owner['host'] == socket.gethostname()
    assert owner['started'] and owner['argv'] == sys.argv
  assert not (tmp_path / '.lock').exists()


def test_lock_of_a_live_process_refuses_naming_the_owner(tmp_path):
  proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
  try:
    _write_lock(tmp_path, pid=proc.pid)
    with pytest.raises(errors.WorkdirLockedError) as e:
      workdir.Lock(tmp_path).acquire()
    message = str(e.value)
    assert f'is in use by pid {proc.pid} on host {socket.gethostname()}' in message
    assert '2026-01-01T00:00:00+00:00 (binaries.search --config=x.py)' in message
    assert 'use another --workdir' in message and '\n' not in message
    assert json.loads((tmp_path / '.lock').read_text())['pid'] == proc.pid  # Untouched.
  finally:
    proc.kill()
    proc.wait()


def test_lock_of_another_host_refuses(tmp_path):
  _write_lock(tmp_path, host='elsewhere-' + socket.gethostname())
  with pytest.raises(errors.WorkdirLockedError, match='on host elsewhere-.*delete .*.lock'):
    workdir.Lock(tmp_path).acquire()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
  pid = _dead_pid()
  _write_lock(tmp_path, pid=pid)
  with absltest.mock.patch.object(workdir.logging, 'warning') as warning:
    lock = workdir.Lock(tmp_path).acquire()
  assert 'stale lock' in warning.call_args[0][0] and pid in warning.call_args[0]
  assert json.loads((tmp_path / '.lock').read_text())['pid'] == os.getpid()
  lock.release()
  assert not (tmp_path / '.lock').exists()


@pytest.mark.parametrize('content', ['', '{"pid": ', '[1, 2]', '{"pid": "x", "host": "h"}'])
def test_corrupt_lock_is_taken_over(tmp_path, content):
  (tmp_path / '.lock').write_text(content)
  os.utime(tmp_path / '.lock', (1, 1))  # Old: not a lock still being written.
  with absltest.mock.patch.object(workdir.logging, 'warning') as warning:
    with workdir.Lock(tmp_path):
      assert json.loads((tmp_path / '.lock').read_text())['pid'] == os.getpid()
  assert 'unreadable lock' in warning.call_args[0][0]
  assert not (tmp_path / '.lock').exists()


def test_leftover_lock_with_our_pid_is_taken_over(tmp_path):
  """A killed run whose pid this process got again (pid 1 in containers) is stale."""
  _write_lock(tmp_path)
  with workdir.Lock(tmp_path):
    assert json.loads((tmp_path / '.lock').read_text())['started'] != '2026-01-01T00:00:00+00:00'
  assert not (tmp_path / '.lock').exists()


def test_nested_lock_in_one_process_is_a_no_op(tmp_path):
  with workdir.Lock(tmp_path):
    with workdir.Lock(tmp_path):
      pass
    assert (tmp_path / '.lock').exists()  # The inner release leaves the outer's lock.
  assert not (tmp_path / '.lock').exists()


def test_release_leaves_a_lock_someone_else_took(tmp_path):
  lock = workdir.Lock(tmp_path).acquire()
  _write_lock(tmp_path, pid=os.getpid() + 1)
  lock.release()
  assert (tmp_path / '.lock').exists()


def test_lock_is_released_at_exit_and_a_second_process_is_refused(tmp_path):
  script = (f'import sys, time; sys.path.insert(0, {str(ROOT)!r}); from edd_tf.core import workdir; '
            f'workdir.Lock({str(tmp_path)!r}).acquire(); print("locked", flush=True); '
            f'sys.stdin.readline()')
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  first = subprocess.Popen([sys.executable, '-c', script], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, env=env)
  try:
    assert first.stdout.readline().strip() == 'locked'
    with pytest.raises(errors.WorkdirLockedError, match=f'pid {first.pid}'):
      workdir.Lock(tmp_path).acquire()
  finally:
    first.communicate('\n', timeout=60)
  assert first.returncode == 0
  assert not (tmp_path / '.lock').exists()  # Released by atexit without release().


# ---- JSON -------------------------------------------------------------------


def test_write_json_round_trips_and_leaves_no_temporary_file(tmp_path):
  workdir.write_json(tmp_path / 'a.json', {'b': [1, 2], 'a': 'x'})
  workdir.write_json(tmp_path / 'a.json', {'b': [3]})
  assert workdir.read_json(tmp_path / 'a.json') == {'b': [3]}
  assert [p.name for p in tmp_path.iterdir()] == ['a.json']


def test_write_json_keeps_the_old_file_when_the_value_is_not_json(tmp_path):
  workdir.write_json(tmp_path / 'a.json', {'a': 1})
  with pytest.raises(TypeError):
    workdir.write_json(tmp_path / 'a.json', {'a': object()})
  assert workdir.read_json(tmp_path / 'a.json') == {'a': 1}
  assert [p.name for p in tmp_path.iterdir()] == ['a.json']


def test_read_json_names_a_corrupt_file(tmp_path):
  (tmp_path / 'config.json').write_text('{"a": ')
  with pytest.raises(errors.WorkdirError, match=r'config.json is not valid JSON'):
    workdir.read_json(tmp_path / 'config.json')


# ---- config_diff / check_same_experiment -----------------------------------


SAVED = {'seed': 0, 'schedule': {'lam': 0.06, 'name': 'edd'},
         'search': {'epochs': 10, 'batch_size': 64}, 'data': {'path': '/a'}}


def test_config_diff_lists_changed_added_and_removed_fields():
  current = {'seed': 0, 'schedule': {'lam': 0.12, 'name': 'edd', 'rho': 0.5},
             'search': {'epochs': 10}, 'data': {'path': '/a'}}
  assert workdir.config_diff(SAVED, current) == [
      'schedule.lam: 0.06 -> 0.12', 'schedule.rho: <missing> -> 0.5',
      'search.batch_size: 64 -> <missing>']


def test_config_diff_ignores_fields_and_sections():
  current = {**SAVED, 'search': {'epochs': 20, 'batch_size': 64}, 'data': {'path': '/b'}}
  assert workdir.config_diff(SAVED, current, ignore=('search.epochs', 'data')) == []


def test_config_diff_only_compares_the_given_fields():
  current = {**SAVED, 'seed': 1, 'schedule': {'lam': 0.12, 'name': 'pcd'}}
  assert workdir.config_diff(SAVED, current, only=('schedule.name',)) == [
      "schedule.name: 'edd' -> 'pcd'"]


def test_config_diff_takes_a_config_dict_with_tuples():
  import ml_collections  # pylint: disable=g-import-not-at-top
  current = ml_collections.ConfigDict({**SAVED, 'sizes': (1, 2)})
  assert workdir.config_diff({**SAVED, 'sizes': [1, 2]}, current) == []


def test_check_same_experiment_names_the_changes():
  with pytest.raises(errors.WorkdirError) as e:
    workdir.check_same_experiment(SAVED, {**SAVED, 'seed': 3}, what='training run',
                                  workdir='/tmp/w')
  assert str(e.value) == ('the workdir /tmp/w holds a training run with a different config; use '
                          'a new --workdir or the same config. Changed: seed: 0 -> 3')
  workdir.check_same_experiment(SAVED, dict(SAVED))
