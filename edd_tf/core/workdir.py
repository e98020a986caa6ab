"""A run's working directory: checked before use, owned by one process, written atomically.

  path = workdir.prepare(path)            # a writable directory, or WorkdirError
  with workdir.Lock(path):                # one run per workdir at a time
    saved = workdir.read_json(path / 'config.json')
    workdir.check_same_experiment(saved, config, ignore=RESUMABLE_CHANGES)
    workdir.write_json(path / 'config.json', config.to_dict())

Every error is an `edd_tf.core.errors.WorkdirError` / `CheckpointError` whose
message names the directory or file.
"""

import atexit
from collections import abc
import datetime
import json
import os
import pathlib
import socket
import sys
import time

from absl import logging

from edd_tf.core import errors

LOCK_FILE = '.lock'
# A lock file this young that cannot be parsed may still be being written by
# its owner (created with O_EXCL, then filled): read it again before
# declaring it corrupt.
_YOUNG_LOCK_SECONDS = 2.0
# After taking over a stale lock, wait this long before checking that the lock
# file still holds our record, so that of two processes taking over the same
# stale lock at once, the one whose os.replace came first sees the other's.
_TAKEOVER_SETTLE_SECONDS = 0.2
# Resolved lock paths this process holds (a nested Lock on one of them is a
# no-op, so the binary and the library may both lock the same workdir).
_HELD = set()

# ---------------------------------------------------------------------------
# The directory
# ---------------------------------------------------------------------------


def prepare(path, *, what='--workdir'):
  """Creates the directory `path` if needed and checks that it is writable.

  Args:
    path: the directory.
    what: how the message names the path (a flag name, or 'export dir').

  Returns:
    `path` as a pathlib.Path.

  Raises:
    WorkdirError: `path` is empty, is (or lies under) a file, cannot be
      created, or cannot be written (checked by creating and deleting a probe
      file, so a read-only directory is refused before any training).
  """
  if path is None or not str(path):
    raise errors.WorkdirError(f'{what} is empty; give a directory')
  path = pathlib.Path(path)
  if path.exists() and not path.is_dir():
    raise errors.WorkdirError(f'{what}={path} is a file, not a directory')
  try:
    path.mkdir(parents=True, exist_ok=True)
  except (FileExistsError, NotADirectoryError) as e:  # A parent is a file.
    raise errors.WorkdirError(f'{what}={path} cannot be created: a parent is a file, not a '
                              f'directory ({e.strerror})') from e
  except OSError as e:
    raise errors.WorkdirError(f'{what}={path} cannot be created ({e.strerror})') from e
  probe = path / f'.write_probe.{os.getpid()}'
  try:
    fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
      os.write(fd, b'x')
    finally:
      os.close(fd)
    os.unlink(probe)
  except OSError as e:
    raise errors.WorkdirError(f'{what}={path} is not writable ({e.strerror})') from e
  return path


# ---------------------------------------------------------------------------
# The lock
# ---------------------------------------------------------------------------


def _host():
  return socket.gethostname()


def _record():
  return {'pid': os.getpid(), 'host': _host(),
          'started': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
          'argv': list(sys.argv)}


def _is_alive(owner):
  """Whether the lock's owner may still run (another host's cannot be checked)."""
  if owner['host'] != _host():
    return True
  try:
    os.kill(owner['pid'], 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Exists, owned by another user.
    return True
  return True


class Lock:
  """Exclusive ownership of a workdir by one process: `workdir/.lock`.

  The lock file holds JSON {pid, host, started, argv}. A lock of a live
  process (or of another host, whose processes cannot be checked) refuses a
  second run; a stale one (same host, process gone) or a corrupt one is taken
  over with a warning. Use as a context manager; it is also released at
  interpreter exit. Acquiring a lock this process already holds (the binary
  and the library locking the same workdir) succeeds and leaves the release
  to the outer holder.
  """

  def __init__(self, workdir):
    self.workdir = pathlib.Path(workdir)
    self.path = self.workdir / LOCK_FILE
    self._key = str(self.path.resolve())
    self._owned = False

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc_info):
    self.release()

  def _read_owner(self):
    """The lock file's record, or None if it is unreadable or not a record."""
    for _ in range(int(_YOUNG_LOCK_SECONDS / 0.1) + 1):
      try:
        owner = json.loads(self.path.read_text())
        if (isinstance(owner, dict) and isinstance(owner.get('pid'), int) and owner['pid'] > 0
            and isinstance(owner.get('host'), str)):
          return owner
      except FileNotFoundError:
        raise
      except (OSError, ValueError):
        pass
      try:
        if time.time() - self.path.stat().st_mtime > _YOUNG_LOCK_SECONDS:
          return None
      except OSError:
        return None
      time.sleep(0.1)
    return None

  def _describe(self, owner):
    argv = ' '.join(str(a) for a in owner.get('argv') or ()) or 'unknown command'
    message = (f'workdir {self.workdir} is in use by pid {owner["pid"]} on host {owner["host"]} '
               f'since {owner.get("started", "an unknown time")} ({argv}); wait for it or use '
               f'another --workdir')
    if owner['host'] != _host():
      message += (f' (this host cannot check whether that process still runs: delete '
                  f'{self.path} if it is gone)')
    return message

  def acquire(self):
    """Takes the lock; returns self.

    Raises:
      WorkdirLockedError: a live process holds it (the message names it).
      WorkdirError: the lock file cannot be created.
    """
    if self._owned:
      return self
    mine = _record()
    try:
      fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      self._take_existing(mine)
      return self
    except OSError as e:
      raise errors.WorkdirError(f'cannot create the lock file {self.path} ({e.strerror})') from e
    with os.fdopen(fd, 'w') as f:
      json.dump(mine, f)
      f.flush()
      os.fsync(f.fileno())
    self._own()
    return self

  def _take_existing(self, mine):
    try:
      owner = self._read_owner()
    except FileNotFoundError:  # Released meanwhile.
      self.acquire()
      return
    if owner is not None and (owner['pid'], owner['host']) == (mine['pid'], mine['host']):
      if self._key in _HELD:
        return  # Nested: the outer Lock of this process releases it.
      stale = True  # A gone process that had our pid (e.g. pid 1 in a container).
    else:
      stale = owner is None or not _is_alive(owner)
    if not stale:
      raise errors.WorkdirLockedError(self._describe(owner))
    if owner is None:
      logging.warning('taking over the unreadable lock file %s', self.path)
    else:
      logging.warning('taking over the stale lock of %s (pid %s on host %s since %s is gone)',
                      self.workdir, owner['pid'], owner['host'], owner.get('started'))
    tmp = self.path.with_name(f'{LOCK_FILE}.{mine["pid"]}.tmp')
    with open(tmp, 'w') as f:
      json.dump(mine, f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, self.path)
    time.sleep(_TAKEOVER_SETTLE_SECONDS)
    try:
      now = self._read_owner()
    except FileNotFoundError:
      now = None
    if now is None or any(now.get(k) != mine[k] for k in ('pid', 'host', 'started')):
      raise errors.WorkdirLockedError(self._describe(now) if now else
                                      f'workdir {self.workdir}: another process took over its '
                                      f'stale lock {self.path} at the same time; retry')
    self._own()

  def _own(self):
    self._owned = True
    _HELD.add(self._key)
    atexit.register(self.release)

  def release(self):
    """Removes the lock file if this Lock took it and it still holds our record."""
    if not self._owned:
      return
    self._owned = False
    _HELD.discard(self._key)
    atexit.unregister(self.release)
    try:
      owner = json.loads(self.path.read_text())
    except (OSError, ValueError):
      return
    if isinstance(owner, dict) and (owner.get('pid'), owner.get('host')) == (os.getpid(),
                                                                           _host()):
      self.path.unlink(missing_ok=True)
    else:
      logging.warning('%s no longer holds this process\'s lock; left as it is', self.path)


# ---------------------------------------------------------------------------
# JSON files
# ---------------------------------------------------------------------------


def write_json(path, obj, *, sort_keys=False):
  """Writes `obj` as JSON atomically: a crash leaves the old file or the new one.

  The text goes to a unique temporary file beside `path`, is flushed and
  fsync'ed, then renamed over `path` (os.replace).
  """
  path = pathlib.Path(path)
  tmp = path.with_name(f'.{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp')
  text = json.dumps(obj, indent=2, sort_keys=sort_keys) + '\n'
  try:
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)  # umask applies.
    with os.fdopen(fd, 'w') as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    tmp.unlink(missing_ok=True)
    raise


def read_json(path):
  """The JSON content of `path`.

  Raises:
    FileNotFoundError: no such file.
    WorkdirError: the file is not valid JSON (names the file).
  """
  path = pathlib.Path(path)
  try:
    return json.loads(path.read_text())
  except (ValueError, UnicodeDecodeError) as e:  # json.JSONDecodeError is a ValueError.
    raise errors.WorkdirError(f'{path} is not valid JSON ({e}); restore or delete it') from e


# ---------------------------------------------------------------------------
# Same experiment?
# ---------------------------------------------------------------------------


_MISSING = object()


def _plain(config):
  """Nested dicts/lists of JSON values (ConfigDicts and tuples converted)."""
  if hasattr(config, 'to_json_best_effort'):
    return json.loads(config.to_json_best_effort())
  return json.loads(json.dumps(config, default=repr))


def _flatten(d, prefix=''):
  out = {}
  for key, value in d.items():
    if isinstance(value, abc.Mapping) and value:
      out.update(_flatten(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = value
  return out


def _fields(fields):
  return (fields,) if isinstance(fields, str) else tuple(fields)


def _selected(key, fields):
  return any(key == f or key.startswith(f + '.') for f in fields)


def config_diff(saved, current, *, ignore=(), only=None):
  """The fields in which two configs differ, as 'a.b: old -> new' lines.

  Args:
    saved: the config a workdir holds (dict, e.g. from config.json).
    current: this run's config (dict or ConfigDict).
    ignore: dotted fields (or sections: 'data' covers 'data.*') to skip.
    only: if given, compare only these dotted fields / sections.

  Returns:
    Sorted list of strings; a field absent on one side shows as <missing>.
  """
  saved, current = _flatten(_plain(saved)), _flatten(_plain(current))
  ignore = _fields(ignore)
  only = None if only is None else _fields(only)

  def show(value):
    return '<missing>' if value is _MISSING else repr(value)

  diffs = []
  for key in sorted(set(saved) | set(current)):
    if (only is not None and not _selected(key, only)) or _selected(key, ignore):
      continue
    old, new = saved.get(key, _MISSING), current.get(key, _MISSING)
    if old != new:
      diffs.append(f'{key}: {show(old)} -> {show(new)}')
  return diffs


def check_same_experiment(saved, current, *, ignore=(), only=None, what='search', workdir=None):
  """Raises WorkdirError listing the changed fields if `saved` != `current`.

  Args:
    saved, current, ignore, only: as for `config_diff`.
    what: what the workdir holds ('search', 'training run').
    workdir: optional path, named in the message.
  """
  diffs = config_diff(saved, current, ignore=ignore, only=only)
  if diffs:
    where = f'the workdir {workdir}' if workdir is not None else 'the workdir'
    raise errors.WorkdirError(f'{where} holds a {what} with a different config; use a new '
                              f'--workdir or the same config. Changed: ' + '; '.join(diffs))
