"""Tests for binaries/cli.py: config flag checks, one-line errors, quiet start-up.

Binary tests run the binaries as a user does (subprocesses) and check that a
bad input ends in exit status 1 and one last `error:` line naming the field
or file, without a traceback.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import ml_collections
import pytest

from binaries import cli
from edd_tf.core import errors
from tests.helpers import write_sample_folder

ROOT = pathlib.Path(__file__).resolve().parents[2]
ONEDNN_NOTICE = 'oneDNN custom operations are on'
ABSL_NOTICE = 'All log messages before absl::InitializeLog() is called'


def run_binary(*args, env=None, timeout=600):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2') if env is None else env
  return subprocess.run([sys.executable, '-m', *args], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=timeout)


def run_script(script, timeout=120):
  return subprocess.run([sys.executable, '-c', textwrap.dedent(script)], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout)


def assert_one_error_line(proc, *words):
  """Exit status 1, no traceback, and a last line 'error: ...' holding `words`."""
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith('error: '), proc.stderr[-3000:]
  for word in words:
    assert word in last, last
  return last


# ---- binaries: config flags --------------------------------------------------


def test_misspelt_key_suggests_the_field(tmp_path):
  proc = run_binary('binaries.search', '--config=configs/quickstart.py', f'--workdir={tmp_path}',
                    '--config.schedule.lamda=0.1')
  last = assert_one_error_line(proc)
  assert last == 'error: unknown field schedule.lamda; did you mean schedule.lam?'
  assert proc.stderr.strip() == last
  assert list(tmp_path.iterdir()) == []


def test_misspelt_key_of_the_train_config_of_quickstart(tmp_path):
  # ml_collections parses a config flag with a default while the binary
  # defines it: the check must run before, at import.
  proc = run_binary('binaries.quickstart', f'--workdir={tmp_path}',
                    '--train_config.train.epohcs=1')
  assert_one_error_line(proc, 'unknown field train.epohcs in --train_config',
                        'did you mean train.epochs?')


def test_missing_config_file(tmp_path):
  proc = run_binary('binaries.train', '--config=configs/train_nope.py', f'--workdir={tmp_path}')
  assert_one_error_line(proc, '--config file configs/train_nope.py does not exist')


def test_missing_config_outside_the_clone_names_the_installed_copy(tmp_path):
  # After `pip install .` the configs package is importable but configs/ is not in the cwd.
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=str(ROOT))
  proc = subprocess.run([sys.executable, '-m', 'binaries.search', '--config=configs/quickstart.py',
                         f'--workdir={tmp_path / "run"}'], cwd=tmp_path, env=env,
                        capture_output=True, text=True, timeout=600)
  assert_one_error_line(proc, 'configs/quickstart.py does not exist; the installed copy is '
                        f'{ROOT / "configs" / "quickstart.py"}')


def test_search_config_given_to_train(tmp_path):
  proc = run_binary('binaries.train', '--config=configs/quickstart.py', f'--workdir={tmp_path}')
  last = assert_one_error_line(proc)
  assert last == ('error: configs/quickstart.py is a search config; binaries.train needs a '
                  'training config (configs/train_*.py)')
  assert list(tmp_path.iterdir()) == []


def test_train_config_given_to_search(tmp_path):
  proc = run_binary('binaries.search', '--config=configs/train_quick.py', f'--workdir={tmp_path}')
  assert_one_error_line(proc, 'configs/train_quick.py is a training config',
                        'binaries.search needs a search config')


@pytest.mark.parametrize('flag, message', [
    ('--config.search.epochs=abc',
     "--config.search.epochs must be an integer (like its value 10 in configs/quickstart.py), "
     "got 'abc'"),
    ('--config.optim.weights.lr=fast',
     "--config.optim.weights.lr must be a number (like its value 0.025 in "
     "configs/quickstart.py), got 'fast'"),
])
def test_bad_override_value_names_field_value_and_type(tmp_path, flag, message):
  proc = run_binary('binaries.search', '--config=configs/quickstart.py', f'--workdir={tmp_path}',
                    flag)
  last = assert_one_error_line(proc)
  assert last == f'error: {message}'
  assert proc.stderr.strip() == last
  assert list(tmp_path.iterdir()) == []


def test_bad_override_value_of_the_train_config_of_quickstart(tmp_path):
  proc = run_binary('binaries.quickstart', f'--workdir={tmp_path}',
                    '--train_config.train.epochs', '1.5')
  assert_one_error_line(proc, '--train_config.train.epochs must be an integer', "got '1.5'")


def test_other_bad_flags_are_one_line(tmp_path):
  proc = run_binary('binaries.search', '--config=configs/quickstart.py', f'--workdir={tmp_path}',
                    '--bogus=1')
  last = assert_one_error_line(proc, "Unknown command line flag 'bogus'")
  assert proc.stderr.strip() == last


def test_predict_bad_flag_is_one_line(tmp_path):
  proc = run_binary('binaries.predict', f'--export_dir={tmp_path}', '--top_k=abc', 'x.jpg')
  last = assert_one_error_line(proc, '--top_k=abc', "invalid literal for int() with base 10: 'abc'")
  assert proc.stderr.strip() == last


# ---- binaries.export ---------------------------------------------------------


def test_export_dir_that_is_a_file_quietly(tmp_path):
  """One line from binaries.export, via cli.run: TF's start-up notices stay quiet."""
  (tmp_path / 'file').write_text('x')
  env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
  env['TF_ENABLE_ONEDNN_OPTS'] = '1'
  proc = run_binary('binaries.export', f'--workdir={tmp_path}',
                    f'--export_dir={tmp_path / "file"}', env=env)
  last = assert_one_error_line(proc)
  assert last == (f'error: --export_dir={tmp_path / "file"} is a file, not a directory; give '
                  f'the directory to write the SavedModel to')
  assert proc.stderr.strip() == last
  assert (tmp_path / 'file').read_text() == 'x'


def test_export_into_a_non_empty_directory(tmp_path):
  (tmp_path / 'out').mkdir()
  (tmp_path / 'out' / 'notes.txt').write_text('mine')
  proc = run_binary('binaries.export', f'--workdir={tmp_path}', f'--export_dir={tmp_path / "out"}')
  assert_one_error_line(proc, f'--export_dir={tmp_path / "out"} is not empty (it holds notes.txt)',
                        '--overwrite')
  proc = run_binary('binaries.export', f'--workdir={tmp_path}', f'--export_dir={tmp_path / "out"}',
                    '--overwrite')
  assert_one_error_line(proc, 'holds files that are not part of an export (notes.txt)')
  assert (tmp_path / 'out' / 'notes.txt').read_text() == 'mine'


# ---- binaries: workdir -------------------------------------------------------


def test_workdir_that_is_a_file(tmp_path):
  (tmp_path / 'file').write_text('x')
  proc = run_binary('binaries.search', '--config=configs/quickstart.py',
                    f'--workdir={tmp_path / "file"}')
  assert_one_error_line(proc, f'--workdir={tmp_path / "file"} is a file, not a directory')


def test_read_only_workdir_is_refused_before_training(tmp_path):
  """Refused at once (not after an epoch), naming the directory.

  Root writes into a chmod 0o555 directory, so as root the test uses /proc/1:
  a directory in which no one, root included, can create a file.
  """
  if os.geteuid() == 0:
    target = pathlib.Path('/proc/1')
  else:
    target = tmp_path / 'ro'
    target.mkdir()
    target.chmod(0o555)
  try:
    proc = run_binary('binaries.train', '--config=configs/train_quick.py', f'--workdir={target}',
                      '--config.data.train_examples=64')
  finally:
    if target != pathlib.Path('/proc/1'):
      target.chmod(0o755)
  assert_one_error_line(proc, f'--workdir={target} is not writable')
  assert 'Epoch' not in proc.stdout


def test_workdir_in_use_by_a_live_process(tmp_path):
  holder = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
  try:
    (tmp_path / '.lock').write_text(json.dumps(dict(
        pid=holder.pid, host=socket.gethostname(), started='2026-11-28T10:00:00+00:00',
        argv=['binaries/search.py', '--config.schedule.lam=0.12'])))
    proc = run_binary('binaries.search', '--config=configs/quickstart.py',
                      f'--workdir={tmp_path}')
  finally:
    holder.kill()
    holder.wait()
  assert_one_error_line(proc, f'workdir {tmp_path} is in use by pid {holder.pid}',
                        'since 2026-11-28T10:00:00+00:00', 'use another --workdir')
  assert sorted(p.name for p in tmp_path.iterdir()) == ['.lock']


# ---- binaries: data ----------------------------------------------------------


def test_corrupt_image_in_an_image_folder_is_named(tmp_path):
  data = write_sample_folder(tmp_path / 'data', {'train': 2, 'test': 1})
  bad = data / 'train' / 'cat' / 'broken.jpg'
  bad.write_bytes(b'')
  proc = run_binary('binaries.search', '--config=configs/quickstart.py',
                    f'--workdir={tmp_path / "w"}', '--config.data.source=folder',
                    f'--config.data.path={data}', '--config.data.train_examples=0')
  last = assert_one_error_line(proc)
  assert last == (f"error: config.data.path='{data}': cannot decode {bad} (empty file, 0 bytes); "
                  f"fix or remove it, or set --config.data.skip_bad_images=True")
  assert not (tmp_path / 'w').exists()


# ---- binaries: quiet start-up ------------------------------------------------


def test_tensorflow_notices_are_quiet_unless_verbosity(tmp_path):
  """TF_ENABLE_ONEDNN_OPTS=1 forces the oneDNN notice on any x86 CPU."""
  (tmp_path / 'file').write_text('x')
  env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
  env['TF_ENABLE_ONEDNN_OPTS'] = '1'
  args = ('binaries.search', '--config=configs/quickstart.py', f'--workdir={tmp_path / "file"}')
  quiet = run_binary(*args, env=env)
  assert_one_error_line(quiet, 'is a file')
  assert ONEDNN_NOTICE not in quiet.stderr and ABSL_NOTICE not in quiet.stderr
  assert 'cpu_feature_guard' not in quiet.stderr
  # The control: the same run with --verbosity shows them (so the test sees them if they leak).
  verbose = run_binary(*args, '--verbosity=0', env=env)
  assert ONEDNN_NOTICE in verbose.stderr and ABSL_NOTICE in verbose.stderr


def test_cli_does_not_import_tensorflow():
  proc = run_script('''
      import sys
      from binaries import cli
      assert 'tensorflow' not in sys.modules, 'cli imported tensorflow'
      assert 'keras' not in sys.modules, 'cli imported keras'
      print('ok')
  ''')
  assert proc.returncode == 0 and proc.stdout.strip() == 'ok', proc.stderr


# ---- run(main): one-line errors ----------------------------------------------


@pytest.mark.parametrize('raised, message', [
    ('errors.WorkdirError("workdir /w is locked\\n  by pid 3")', 'workdir /w is locked; by pid 3'),
    ('ValueError("config.search.epochs must be > 0, got 0")',
     'config.search.epochs must be > 0, got 0'),
    ('FloatingPointError("non-finite loss in epoch 3")', 'non-finite loss in epoch 3'),
    ('FileNotFoundError(2, "No such file or directory", "/x/genotype.json")',
     "[Errno 2] No such file or directory: '/x/genotype.json'"),
    ('PermissionError(13, "Permission denied", "/x")', "[Errno 13] Permission denied: '/x'"),
    ('NotADirectoryError(20, "Not a directory", "/x/y")', "[Errno 20] Not a directory: '/x/y'"),
])
def test_run_prints_user_errors_as_one_line(raised, message):
  proc = run_script(f'''
      from binaries import cli
      from edd_tf.core import errors
      def main(argv):
        raise {raised}
      cli.run(main)
  ''')
  last = assert_one_error_line(proc)
  assert last == f'error: {message}'


def test_run_reports_ctrl_c_as_interrupted():
  proc = run_script('''
      from binaries import cli
      def main(argv):
        raise KeyboardInterrupt
      cli.run(main)
  ''')
  assert proc.returncode == 130
  assert proc.stderr.strip().splitlines()[-1] == 'interrupted'
  assert 'Traceback' not in proc.stderr


def test_run_keeps_the_traceback_of_a_bug():
  proc = run_script('''
      from binaries import cli
      def main(argv):
        raise RuntimeError('a bug')
      cli.run(main)
  ''')
  assert proc.returncode == 1 and 'Traceback' in proc.stderr and 'RuntimeError: a bug' in proc.stderr


# ---- config checks in-process -----------------------------------------------


def _config():
  return ml_collections.ConfigDict(dict(
      seed=0, schedule=dict(name='edd', lam=0.06, t0=1.0), search=dict(epochs=3),
      optim=dict(weights=dict(lr=0.1), arch=dict(lr=3e-4))))


@pytest.mark.parametrize('field, message', [
    ('schedule.lamda', 'unknown field schedule.lamda; did you mean schedule.lam?'),
    ('schedul.lam', 'unknown field schedul.lam; did you mean schedule.lam?'),
    ('lam', 'unknown field lam; did you mean schedule.lam?'),
    ('optim.weight.lr', 'unknown field optim.weight.lr; did you mean optim.weights.lr?'),
    ('schedule.zzz', 'unknown field schedule.zzz; fields of schedule: lam, name, t0'),
    ('zzz', 'unknown field zzz; top-level fields: optim, schedule, search, seed'),
    ('seed.x', 'seed is a field (int), not a group of fields; --config.seed.x cannot be set'),
])
def test_check_override_messages(field, message):
  with pytest.raises(errors.ConfigError) as e:
    cli.check_override(_config(), field)
  assert str(e.value) == message


def _override(argv, name='config'):
  [override] = cli._overrides_in(['prog'] + argv, name)  # pylint: disable=protected-access
  return override


@pytest.mark.parametrize('argv, message', [
    (['--config.search.epochs=abc'],
     "--config.search.epochs must be an integer (like its value 3 in c.py), got 'abc'"),
    (['--config.search.epochs', '2.5'],
     "--config.search.epochs must be an integer (like its value 3 in c.py), got '2.5'"),
    (['--config.schedule.lam=high'],
     "--config.schedule.lam must be a number (like its value 0.06 in c.py), got 'high'"),
    (['--config.search.fused=maybe'],
     "--config.search.fused must be true or false (like its value True in c.py), got 'maybe'"),
    (['--noconfig.seed'],
     '--noconfig.seed only exists for a true/false field; seed is an integer (e.g. '
     '--config.seed=0)'),
])
def test_check_override_value_messages(argv, message):
  config = _config()
  config.search.fused = True
  with pytest.raises(errors.ConfigError) as e:
    cli.check_override_value(config, _override(argv), 'c.py')
  assert str(e.value) == message


@pytest.mark.parametrize('argv', [
    ['--config.search.epochs=7'], ['--config.search.epochs', '7'], ['--config.schedule.lam=1e-2'],
    ['--config.schedule.lam=1'], ['--config.search.fused'], ['--noconfig.search.fused'],
    ['--config.search.fused=false'], ['--config.search.fused', 'x.py'],
    ['--config.schedule.name=anything'], ['--config.search.epochs'],
])
def test_check_override_value_accepts_what_ml_collections_parses(argv):
  config = _config()
  config.search.fused = True
  cli.check_override_value(config, _override(argv), 'c.py')


def test_check_config_flag_checks_override_values(tmp_path):
  (tmp_path / 'c.py').write_text(
      'import ml_collections\n'
      'def get_config():\n'
      '  return ml_collections.ConfigDict(dict(train=dict(epochs=1), network="nb201"))\n')
  argv = ['prog', f'--config={tmp_path / "c.py"}', '--config.train.epochs=two']
  with pytest.raises(errors.ConfigError, match=r"--config.train.epochs must be an integer \(like "
                                               r"its value 1 in .*c.py\), got 'two'"):
    cli.check_config_flag('config', kind='train', argv=argv)


def test_check_override_accepts_known_fields():
  for field in ('seed', 'schedule', 'schedule.lam', 'optim.arch.lr'):
    cli.check_override(_config(), field)


def test_check_override_names_a_second_config_flag():
  with pytest.raises(errors.ConfigError, match='unknown field seeed in --train_config; did you '
                                               'mean seed'):
    cli.check_override(_config(), 'seeed', name='train_config')


def test_check_kind_of_a_config_that_is_neither():
  with pytest.raises(errors.ConfigError, match=r'x.py is neither a search nor a training config '
                                               r'\(top-level fields: a\); .* needs a training'):
    cli.check_kind(ml_collections.ConfigDict(dict(a=1)), 'train', 'x.py')


def test_load_config_file_without_get_config(tmp_path):
  (tmp_path / 'c.py').write_text('CONFIG = 1\n')
  with pytest.raises(errors.ConfigError, match=r'c.py has no get_config\(\) function'):
    cli.load_config_file(str(tmp_path / 'c.py'))


def test_load_config_file_names_the_line_of_an_error(tmp_path):
  (tmp_path / 'c.py').write_text('def get_config():\n  return 1 / 0\n')
  with pytest.raises(errors.ConfigError, match=r'c.py: get_config\(\) failed \(line 2\): '
                                               r'ZeroDivisionError'):
    cli.load_config_file(str(tmp_path / 'c.py'))
  (tmp_path / 's.py').write_text('def get_config(:\n')
  with pytest.raises(errors.ConfigError, match=r's.py failed to load \(line 1\): SyntaxError'):
    cli.load_config_file(str(tmp_path / 's.py'))


def test_load_config_file_passes_the_argument_after_the_colon(tmp_path):
  (tmp_path / 'c.py').write_text('def get_config(arg):\n  return {"arg": arg}\n')
  assert cli.load_config_file(f'{tmp_path / "c.py"}:small') == {'arg': 'small'}


def test_check_config_flag_reads_the_file_from_argv(tmp_path):
  (tmp_path / 'c.py').write_text(
      'import ml_collections\n'
      'def get_config():\n'
      '  return ml_collections.ConfigDict(dict(train=dict(epochs=1), network="nb201"))\n')
  argv = ['prog', '--config', str(tmp_path / 'c.py'), '--config.train.epochs=2']
  cli.check_config_flag('config', kind='train', argv=argv)
  with pytest.raises(errors.ConfigError, match='unknown field train.epoch;'):
    cli.check_config_flag('config', kind='train', argv=argv + ['--noconfig.train.epoch'])
  with pytest.raises(errors.ConfigError, match='is a training config'):
    cli.check_config_flag('config', kind='search', argv=argv)


def test_config_overrides_become_set_flags_for_the_sweep():
  argv = ['sweep', '--config=configs/quickstart.py', '--config.search.epochs=2',
          '--config.data.source', 'sample', '--config.jit_compile', '--noconfig.model.fused',
          '--root=/tmp/x', '--config.softmax.kind', '--dry_run']
  assert cli.overrides_as_set_flags(argv) == [
      'sweep', '--config=configs/quickstart.py', '--set=search.epochs=2',
      '--set=data.source=sample', '--set=jit_compile=true', '--set=model.fused=false',
      '--root=/tmp/x', '--set=softmax.kind=true', '--dry_run']
