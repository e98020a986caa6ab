r"""What every binary shares: quiet TensorFlow start-up, checked config flags, one-line errors.

A binary imports this module before anything that imports TensorFlow, defines
its config flags with `define_config_file` and runs `cli.run(main)`:

  from binaries import cli  # First: quiets TensorFlow's import-time notices.
  from absl import flags
  from edd_tf import search

  _CONFIG = cli.define_config_file('config', None, 'Search config file.', kind='search')

  def main(argv):
    ...

  if __name__ == '__main__':
    cli.run(main)

- Quiet start-up (unless --verbosity / -v is on the command line): TF 2.21
  logs through absl's C++ logging, which ignores TF_CPP_MIN_LOG_LEVEL for the
  oneDNN notice ("oneDNN custom operations are on ...", port.cc) and prints it,
  each time after "WARNING: All log messages before absl::InitializeLog() is
  called are written to STDERR", once per shared library holding its own
  copy of absl logging: libtensorflow_framework.so.2 and
  python/profiler/internal/_pywrap_profiler_plugin.so, both loaded by
  `import tensorflow` (tensorflow#100442). So TF_CPP_MIN_LOG_LEVEL defaults to
  1 (no C++ INFO lines, e.g. the cpu_feature_guard notice) and the first
  `import tensorflow` runs with file descriptor 2 captured; the captured text
  is written back without those two lines. `import edd_tf` (below) has
  already turned oneDNN on unless TF_ENABLE_ONEDNN_OPTS was set
  (edd_tf/core/kernels.py); the choice is logged at INFO (--verbosity=0)
  and recorded in each workdir's runtime.json.
- Config flags are checked before absl parses them (ml_collections parses a
  config flag with a default while defining it): a missing config file, a
  file without get_config(), a config of the wrong kind (search vs training),
  an unknown `--config.a.b` field or a value that does not parse as the
  field's type (`--config.search.epochs=abc`) each end in one `error: ...`
  line.
- `run(main)`: the errors a user can cause (edd_tf.core.errors.EddError,
  ValueError, FloatingPointError, missing / unwritable files) end in one
  `error: <message>` line on stderr and exit status 1; Ctrl-C in
  `interrupted` and status 130; SIGTERM (preemption) saves a checkpoint at
  the next step boundary, then ends in `preempted: ...` and status 143
  (128 + SIGTERM, what schedulers expect). --verbosity also logs the traceback.
  Any other bad flag (absl's "FATAL Flags parsing error") is one `error:`
  line too (`parse_flags`).

This module does not import TensorFlow.
"""

import contextlib
import difflib
import functools
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
import traceback
import typing

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from edd_tf.core import errors
from edd_tf.core import kernels

# Exceptions that are the user's to fix: one line, no traceback.
USER_ERRORS = (errors.EddError, ValueError, FloatingPointError, FileNotFoundError,
               FileExistsError, PermissionError, NotADirectoryError, IsADirectoryError)
# Import-time lines of TF 2.21 that TF_CPP_MIN_LOG_LEVEL does not silence.
_NOTICES = ('All log messages before absl::InitializeLog() is called are written to STDERR',
            'oneDNN custom operations are on')
# Top-level sections telling a search config from a training config.
KINDS = {
    'search': (('search', 'schedule'), 'a search config',
               'a search config (e.g. configs/quickstart.py, configs/nb201_*.py)'),
    'train': (('train', 'network'), 'a training config',
              'a training config (configs/train_*.py)'),
}


def _verbosity_requested(argv):
  return any(re.match(r'^--?(verbosity|v)(=|$)', arg) for arg in argv[1:])


def fail(message):
  """Prints `error: <message>` (one line) to stderr and exits with status 1."""
  print(f'error: {errors.one_line(message)}', file=sys.stderr, flush=True)
  sys.exit(1)


# ---------------------------------------------------------------------------
# Quiet start-up
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _without_notices():
  """Captures file descriptor 2 and writes it back without the `_NOTICES` lines."""
  sys.stderr.flush()
  try:
    saved = os.dup(2)
  except OSError:  # No stderr to filter.
    yield
    return
  with tempfile.TemporaryFile() as capture:
    os.dup2(capture.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      capture.seek(0)
      lines = capture.read().decode(errors='replace').splitlines(keepends=True)
      kept = ''.join(line for line in lines if not any(n in line for n in _NOTICES))
      if kept:
        sys.stderr.write(kept)
        sys.stderr.flush()


class _QuietFirstImport(importlib.abc.MetaPathFinder):
  """Runs the first import of a top-level package inside `_without_notices`."""

  def __init__(self, name):
    self.name = name

  def find_spec(self, fullname, path=None, target=None):
    del path, target
    if fullname != self.name:
      return None
    sys.meta_path.remove(self)  # Once; also keeps find_spec below from recursing.
    spec = importlib.util.find_spec(fullname)
    if spec is not None and spec.loader is not None and hasattr(spec.loader, 'exec_module'):
      exec_module = spec.loader.exec_module

      def quiet_exec_module(module):
        with _without_notices():
          exec_module(module)

      spec.loader.exec_module = quiet_exec_module
    return spec


def _quiet_tensorflow_start():
  if _verbosity_requested(sys.argv):
    return
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')
  if 'tensorflow' not in sys.modules and not any(
      isinstance(f, _QuietFirstImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietFirstImport('tensorflow'))


_quiet_tensorflow_start()


def quiet_logs():
  """Python logs at WARNING unless --verbosity was given (the bars show progress).

  TensorFlow's checkpoint and export code log several INFO lines per save;
  pass --verbosity=0 to see them and the library's per-epoch INFO lines.
  Call after flags are parsed (`run` does).
  """
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)


# ---------------------------------------------------------------------------
# Config flags
# ---------------------------------------------------------------------------


def _program():
  spec = getattr(sys.modules.get('__main__'), '__spec__', None)
  return spec.name if spec is not None and spec.name else os.path.basename(sys.argv[0])


def _config_file_in(argv, name):
  """The value of --name=FILE / --name FILE in argv (the last one), or None."""
  value = None
  for i, arg in enumerate(argv):
    match = re.match(rf'^--?{re.escape(name)}(=(.*))?$', arg)
    if match and match.group(1):
      value = match.group(2)
    elif match and i + 1 < len(argv):
      value = argv[i + 1]
  return value


def _overrides_in(argv, name):
  """The --name.a.b overrides in argv: [(field 'a.b', value text or None)].

  The value is the text after '=', else the next argument (`--name.a.b 5`),
  else None (a bare boolean `--name.a.b`); `--noname.a.b` gives 'false'.
  Whether a following argument is the value depends on the field's type, so
  `check_override_value` decides (see `_Override`).
  """
  found = []
  for i, arg in enumerate(argv):
    if arg == '--':
      break
    match = re.match(rf'^--?(no)?{re.escape(name)}\.([^=]+)(=(.*))?$', arg, re.DOTALL)
    if match:
      following = argv[i + 1] if i + 1 < len(argv) else None
      found.append(_Override(match.group(2), match.group(4), following, bool(match.group(1))))
  return found


class _Override(typing.NamedTuple):
  """One `--name.field...` argument."""
  field: str            # 'search.epochs'
  inline: str | None    # the text after '=', if any
  following: str | None  # the next argument (the value of `--name.field VALUE`)
  negated: bool         # `--noname.field`


def _installed_configs_hint(path):
  """'; the installed configs are in DIR (...)' when the `configs` package is importable."""
  found = importlib.util.find_spec('configs')
  if found is None or not found.submodule_search_locations:
    return ''
  folder = list(found.submodule_search_locations)[0]
  candidate = os.path.join(folder, os.path.basename(path))
  if os.path.isfile(candidate) and os.path.abspath(candidate) != os.path.abspath(path):
    return f'; the installed copy is {candidate}'
  return f'; the installed configs are in {folder}'


def load_config_file(spec, name='config'):
  """Runs get_config() of a config file as ml_collections does ('file.py[:arg]').

  Raises:
    ConfigError: the file does not exist, cannot be read or imported, has no
      get_config(), or get_config() fails (with the line in the file).
  """
  path, *args = spec.split(':', 1)
  if not os.path.exists(path):
    raise errors.ConfigError(f'--{name} file {path} does not exist{_installed_configs_hint(path)}')
  if not os.path.isfile(path):
    raise errors.ConfigError(f'--{name}={path} is not a file; give a config file such as '
                             f'configs/quickstart.py')
  module_spec = importlib.util.spec_from_file_location(f'_{name}_file', path)
  if module_spec is None:
    raise errors.ConfigError(f'--{name} file {path} is not a Python file; give a .py config file')
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
  except OSError as e:
    raise errors.ConfigError(f'--{name} file {path} cannot be read ({e.strerror})') from e
  except Exception as e:  # pylint: disable=broad-except  # The user's file: any error.
    raise errors.ConfigError(f'--{name} file {path} failed to load{_where(e, path)}: '
                             f'{type(e).__name__}: {e}') from e
  get_config = getattr(module, 'get_config', None)
  if not callable(get_config):
    raise errors.ConfigError(f'--{name} file {path} has no get_config() function; a config file '
                             f'defines get_config() returning a ConfigDict')
  try:
    return get_config(*args)
  except Exception as e:  # pylint: disable=broad-except
    raise errors.ConfigError(f'--{name} file {path}: get_config() failed{_where(e, path)}: '
                             f'{type(e).__name__}: {e}') from e


def _where(error, path):
  """' (line N)' of the innermost frame in `path`, or ''."""
  if isinstance(error, SyntaxError) and error.lineno:
    return f' (line {error.lineno})'
  lines = [f.lineno for f in traceback.extract_tb(error.__traceback__)
           if os.path.abspath(f.filename) == os.path.abspath(path)]
  return f' (line {lines[-1]})' if lines else ''


def _dotted_keys(config, prefix=''):
  out = []
  for key in config.keys():
    out.append(f'{prefix}{key}')
    if hasattr(config[key], 'keys'):
      out.extend(_dotted_keys(config[key], f'{prefix}{key}.'))
  return out


def _has(config, dotted):
  node = config
  for key in dotted.split('.'):
    if not hasattr(node, 'keys') or key not in node:
      return False
    node = node[key]
  return True


def check_override(config, field, name='config'):
  """Raises ConfigError if `--{name}.{field}` does not name a field of `config`.

  The message suggests the closest sibling field (fully dotted), else fields
  with a similar name elsewhere, else lists the siblings.
  """
  if '[' in field:  # Indexing into a list: left to ml_collections.
    return
  node, walked = config, []
  parts = field.split('.')
  for i, key in enumerate(parts):
    if not hasattr(node, 'keys'):
      raise errors.ConfigError(
          f'{".".join(walked)} is a field ({type(node).__name__}), not a group of fields; '
          f'--{name}.{field} cannot be set')
    if key in node:
      node = node[key]
      walked.append(key)
      continue
    prefix = ''.join(f'{k}.' for k in walked)
    rest = ''.join(f'.{k}' for k in parts[i + 1:])
    where = '' if name == 'config' else f' in --{name}'
    close = [f'{prefix}{m}' for m in difflib.get_close_matches(key, list(node.keys()), n=1)]
    if not close:  # The same name in another section (--config.lam -> schedule.lam)?
      close = [k for k in _dotted_keys(config)
               if difflib.get_close_matches(key, [k.rsplit('.', 1)[-1]], cutoff=0.8)][:3]
    close = [c + rest if _has(config, c + rest) else c for c in close]
    if close:
      raise errors.ConfigError(f'unknown field {field}{where}; did you mean '
                               f'{" or ".join(close)}?')
    section = f'fields of {prefix[:-1]}' if walked else 'top-level fields'
    raise errors.ConfigError(f'unknown field {field}{where}; {section}: '
                             f'{", ".join(sorted(node.keys()))}')


# The types whose overrides are checked here, the parser ml_collections uses
# for them (config_flags._FIELD_TYPE_TO_PARSER) and what the message says.
_VALUE_PARSERS = {
    bool: (flags.BooleanParser(), 'true or false'),
    int: (flags.IntegerParser(), 'an integer'),
    float: (flags.FloatParser(), 'a number'),
}


def check_override_value(config, override, path, name='config'):
  """Raises ConfigError if an override's value does not parse as its field's type.

  ml_collections would reject it too, but with absl's two-line "FATAL Flags
  parsing error"; this names the field, the value and the expected type.
  Fields of other types (str, tuples, ...) are left to ml_collections.

  Args:
    config: the config file's ConfigDict.
    override: an `_Override` (`check_override` has accepted its field).
    path: the config file (named in the message).
    name: the config flag's name.
  """
  if '[' in override.field:
    return
  *parents, key = override.field.split('.')
  holder = config
  for parent in parents:
    holder = holder[parent]
  field_type = holder.get_type(key) if hasattr(holder, 'get_type') else type(holder[key])
  if field_type not in _VALUE_PARSERS:
    return
  parser, expected = _VALUE_PARSERS[field_type]
  if override.negated:
    if field_type is bool:
      return
    raise errors.ConfigError(f'--no{name}.{override.field} only exists for a true/false field; '
                             f'{override.field} is {expected} (e.g. '
                             f'--{name}.{override.field}={holder[key]!r})')
  text = override.inline
  if text is None and field_type is not bool:
    text = override.following
  if text is None:
    return  # A bare boolean, or a missing value (absl says so).
  try:
    parser.parse(text)
  except (TypeError, ValueError):
    raise errors.ConfigError(f'--{name}.{override.field} must be {expected} (like its value '
                             f'{holder[key]!r} in {path}), got {text!r}') from None


def check_kind(config, kind, path, name='config'):
  """Raises ConfigError unless `config` is a `kind` ('search' / 'train') config."""
  actual = next((k for k, (sections, _, _) in KINDS.items()
                 if all(s in config for s in sections)), None)
  if actual == kind:
    return
  who = _program() if name == 'config' else f'--{name} of {_program()}'
  if actual is None:
    is_what = (f'is neither a search nor a training config (top-level fields: '
               f'{", ".join(sorted(config.keys()))})')
  else:
    is_what = f'is {KINDS[actual][1]}'
  raise errors.ConfigError(f'{path} {is_what}; {who} needs {KINDS[kind][2]}')


def check_config_flag(name, default=None, kind=None, argv=None):
  """Checks the config file of --name and the --name.* overrides in argv.

  Raises:
    ConfigError: see `load_config_file`, `check_kind`, `check_override`.
  """
  argv = sys.argv if argv is None else argv
  try:
    argv = flags.FLAGS.read_flags_from_files(argv, force_gnu=False)
  except flags.Error:
    return  # absl reports the bad --flagfile itself.
  spec = _config_file_in(argv, name) or default
  if not spec:
    return  # absl reports a missing required flag.
  config = load_config_file(spec, name)
  if config is None or not hasattr(config, 'keys'):
    raise errors.ConfigError(f'--{name} file {spec}: get_config() returned '
                             f'{type(config).__name__}, not a ConfigDict')
  if kind is not None:
    check_kind(config, kind, spec.split(':', 1)[0], name)
  for override in _overrides_in(argv, name):
    check_override(config, override.field, name)
    check_override_value(config, override, spec.split(':', 1)[0], name)


def define_config_file(name, default, help_string, *, kind=None):
  """config_flags.DEFINE_config_file (locked), after checking it (see `check_config_flag`).

  The check runs here because ml_collections parses a config flag that has a
  default (and its overrides) while defining it, before `app.run`.

  Args:
    name: the flag name ('config', 'train_config').
    default: default config file, or None.
    help_string: the flag's help.
    kind: 'search' or 'train' to refuse the other kind of config, or None.

  Returns:
    The flag holder (`.value` is the ConfigDict).
  """
  if kind is not None and kind not in KINDS:
    raise ValueError(f'kind must be one of {sorted(KINDS)} or None, got {kind!r}')
  try:
    check_config_flag(name, default, kind)
  except errors.ConfigError as e:
    fail(str(e))
  return config_flags.DEFINE_config_file(name, default, help_string, lock_config=True)


# ---------------------------------------------------------------------------
# Running main
# ---------------------------------------------------------------------------


def _call_main(main, argv):
  quiet_logs()
  logging.info('%s', kernels.describe(kernels.record()))  # edd_tf/core/kernels.py
  try:
    return main(argv)
  except KeyboardInterrupt:
    print('interrupted', file=sys.stderr, flush=True)
    sys.exit(130)
  except errors.Preempted as e:  # SIGTERM: the checkpoint of the step reached is saved.
    print(f'preempted: {e}', file=sys.stderr, flush=True)
    sys.exit(143)
  except USER_ERRORS as e:
    message = errors.one_line(e) or type(e).__name__
    if flags.FLAGS['verbosity'].present:  # Else the `error:` line is all that is printed.
      logging.error('%s', message, exc_info=True)
    fail(message)


def parse_flags(argv):
  """absl's flag parsing, with a bad flag reported as one `error: ...` line (status 1)."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(f'{e} (--helpfull lists the flags)')


def overrides_as_set_flags(argv, name='config'):
  """argv with every `--name.field=value` rewritten as `--set=field=value`.

  For binaries whose --name flag is a plain file path (binaries.sweep), so the
  override form every other binary takes works there too. `--name.field value`
  takes the next argument unless it is a flag; a bare `--name.field` is 'true'
  and `--noname.field` 'false'.
  """
  out, skip = [argv[0]], False
  for i, arg in enumerate(argv[1:], 1):
    if skip:
      skip = False
      continue
    if arg == '--':
      out.extend(argv[i:])
      break
    match = re.match(rf'^--?(no)?{re.escape(name)}\.([^=]+)(=(.*))?$', arg, re.DOTALL)
    if not match:
      out.append(arg)
      continue
    field, value = match.group(2), match.group(4)
    if match.group(1):
      value = 'false'
    elif value is None:
      following = argv[i + 1] if i + 1 < len(argv) else None
      if following is not None and not following.startswith('-'):
        value, skip = following, True
      else:
        value = 'true'
    out.append(f'--set={field}={value}')
  return out


def run(main, rewrite_argv=None):
  """`app.run(main)` with one-line errors (see the module docstring).

  rewrite_argv: optional argv -> argv applied before the flags are parsed.
  """
  parser = parse_flags if rewrite_argv is None else (lambda argv: parse_flags(rewrite_argv(argv)))
  app.run(functools.partial(_call_main, main), flags_parser=parser)
