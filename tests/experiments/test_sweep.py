"""Sweeps: workdir states, refusals, and a tiny sweep killed, resumed and reported.

Grid text and run names: test_grid.py.

The module fixture runs `binaries.sweep` over 2 seeds x 2 values of
schedule.lam with tiny settings on the shipped CIFAR-10 sample, kills its
process group once one run has finished and another has started, and runs it
again; the tests check what that left behind.
"""

import csv
import fcntl
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from edd_tf.experiments import grid
from edd_tf.experiments import sweep
from tests.experiments import workdirs

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ['--set=data.source=sample', '--set=data.train_examples=128', '--set=search.epochs=2',
        '--set=search.batch_size=32', '--set=search.eval_examples=32', '--set=model.channels=4',
        '--set=model.cells_per_stage=1']
GRID = 'seed=0,1;schedule.lam=0.06,0.12'
NAMES = ['schedule.lam=0.06,seed=0', 'schedule.lam=0.06,seed=1', 'schedule.lam=0.12,seed=0',
         'schedule.lam=0.12,seed=1']
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')


def sweep_args(root, *extra, grid_text=GRID):
  return [sys.executable, '-m', 'binaries.sweep', '--config=configs/quickstart.py',
          f'--grid={grid_text}', f'--root={root}', *TINY, *extra]


def run(args, timeout=600):
  return subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True,
                        timeout=timeout)


def last_line(proc):
  return proc.stderr.strip().splitlines()[-1]


def mtimes(root, names):
  return {n: (root / n / 'genotype.json').stat().st_mtime_ns for n in names}


# ---------------------------------------------------------------------------
# States of a workdir
# ---------------------------------------------------------------------------


def test_unfinished_workdir_states(tmp_path):
  assert sweep.run_state(tmp_path / 'nothing') == 'new'
  (tmp_path / 'config.json').write_text(json.dumps({'search': {'epochs': 3}}))
  (tmp_path / 'genotype.json').write_text(json.dumps({'epochs': 2}))
  assert sweep.run_state(tmp_path) == 'partial'
  (tmp_path / 'genotype.json').write_text(json.dumps({'epochs': 3}))
  assert sweep.run_state(tmp_path) == 'finished'
  (tmp_path / 'genotype.json').write_text(json.dumps({'epochs': 3, 'finished': False}))
  assert sweep.run_state(tmp_path) == 'partial'


# ---------------------------------------------------------------------------
# A real sweep, killed and resumed
# ---------------------------------------------------------------------------


def kill_and_resume(root):
  """Starts the sweep, SIGKILLs its process group mid-way, runs it again; returns what it saw."""
  first = subprocess.Popen(sweep_args(root, '--parallel=2'), cwd=ROOT, env=ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
  deadline = time.time() + 900
  try:
    while True:  # until one run has finished and another has started
      assert first.poll() is None, 'the sweep ended before it could be killed mid-way'
      assert time.time() < deadline, 'no run finished in time'
      manifest = sweep._read_json(root / sweep.MANIFEST)  # pylint: disable=protected-access
      status = [r['status'] for r in (manifest or {}).get('runs', [])]
      if 'finished' in status and 'running' in status:
        break
      time.sleep(0.2)
  finally:
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
  # What the disk says (a run may finish between the poll and the kill).
  states = {n: sweep.run_state(root / n) for n in NAMES}
  done_before = [n for n, s in states.items() if s == 'finished']
  second = run(sweep_args(root, '--parallel=2'))
  return dict(root=str(root), states=states, done_before=mtimes(root, done_before),
              returncode=second.returncode, stdout=second.stdout, stderr=second.stderr,
              manifest=json.loads((root / sweep.MANIFEST).read_text()))


@pytest.fixture(scope='module')
def resumed(tmp_path_factory):
  """The killed and resumed sweep, made once per session even with pytest -n (xdist)."""
  base = tmp_path_factory.getbasetemp()
  shared = base.parent if os.environ.get('PYTEST_XDIST_WORKER') else base
  with open(shared / 'sweep_fixture.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    cached = shared / 'sweep_fixture.json'
    if not cached.exists():
      sweep.write_json(cached, kill_and_resume(shared / 'sweep_fixture' / 'lam'))
    result = json.loads(cached.read_text())
  result['root'] = pathlib.Path(result['root'])
  return result


def test_resumed_sweep_finishes_every_run_and_skips_finished_ones(resumed):
  root = resumed['root']
  assert resumed['returncode'] == 0, resumed['stderr'][-3000:]
  done_before = resumed['done_before']
  assert done_before and len(done_before) < len(NAMES), resumed['states']
  assert sorted(p.name for p in root.iterdir() if p.is_dir()) == NAMES
  assert all(sweep.is_finished(root / n) for n in NAMES)
  # Finished before the kill: not started again, genotype.json untouched.
  assert mtimes(root, done_before) == done_before
  entries = {r['name']: r for r in resumed['manifest']['runs']}
  for name in NAMES:
    assert entries[name]['status'] == 'finished'
    assert entries[name]['skipped'] == (name in done_before)
    assert (f'{name}: finished before, skipped' in resumed['stdout']) == (name in done_before)
  # The interrupted runs resumed (or restarted, if killed in their first epoch).
  assert any(s in ('partial', 'new') for s in resumed['states'].values())
  log = (root / NAMES[0] / sweep.LOG_NAME).read_text()
  assert '=== sweep' in log and '--config.schedule.lam=0.06' in log


def test_sweep_json_records_config_grid_set_and_runs(resumed):
  manifest = resumed['manifest']
  assert manifest['config'] == str(ROOT / 'configs' / 'quickstart.py')
  assert manifest['grid'] == [{'key': 'seed', 'values': ['0', '1']},
                              {'key': 'schedule.lam', 'values': ['0.06', '0.12']}]
  assert manifest['set']['search.epochs'] == '2'
  entry = next(r for r in manifest['runs'] if r['name'] == 'schedule.lam=0.12,seed=1')
  assert entry['settings'] == {'seed': '1', 'schedule.lam': '0.12'}
  assert entry['overrides']['schedule.lam'] == '0.12' and entry['overrides']['seed'] == '1'
  config = json.loads((resumed['root'] / entry['name'] / 'config.json').read_text())
  assert config['schedule']['lam'] == 0.12 and config['seed'] == 1


def test_a_finished_sweep_is_never_overwritten(resumed):
  root = resumed['root']
  before = mtimes(root, NAMES)
  again = run(sweep_args(root))
  assert again.returncode == 0, again.stderr[-3000:]
  assert again.stdout.count('finished before, skipped') == 4
  assert mtimes(root, NAMES) == before


def test_a_root_holding_another_grid_is_refused(resumed):
  root = resumed['root']
  before = mtimes(root, NAMES)
  proc = run(sweep_args(root, grid_text='seed=0,1,2;schedule.lam=0.06,0.12'))
  assert proc.returncode == 1
  assert last_line(proc).startswith('error:') and 'another config/grid' in last_line(proc)
  assert mtimes(root, NAMES) == before


def test_report_of_the_sweep_matches_the_runs_genotype_json(resumed, tmp_path):
  root = resumed['root']
  proc = subprocess.run([sys.executable, '-m', 'binaries.report', str(root), f'--out={tmp_path}'],
                        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = {n: json.loads((root / n / 'genotype.json').read_text()) for n in NAMES}
  with open(tmp_path / 'summary.csv') as f:
    rows = {r['schedule.lam']: r for r in csv.DictReader(f)}
  assert sorted(rows) == ['0.06', '0.12']
  for lam, row in rows.items():
    mine = [r for n, r in results.items() if n.startswith(f'schedule.lam={lam},')]
    assert row['runs'] == '2' and row['seeds'] == '0 1'
    for column in ('cifar10_valid', 'cifar10_test', 'cifar100_valid', 'cifar100_test',
                   'imagenet16_valid', 'imagenet16_test'):
      values = [r['benchmark'][column] for r in mine]
      np.testing.assert_allclose(float(row[f'{column}_mean']), np.mean(values), rtol=1e-12)
      np.testing.assert_allclose(float(row[f'{column}_std']), np.std(values, ddof=1), rtol=1e-9,
                                 atol=1e-12)
    np.testing.assert_allclose(float(row['final_temperature_mean']),
                               np.mean([r['history'][-1]['temperature'] for r in mine]))
  md = (tmp_path / 'report.md').read_text()
  assert 'cifar10-valid ori-test' in md and 'ImageNet16-120 x-test' in md
  expected = ['fig2b_entropy_by_schedule.png', 'fig4a_entropy.png', 'fig4b_discrete_acc.png',
              'temperature.png'] + [f'cells/{n}.png' for n in NAMES]
  if all('arch_grad_norm' in h for r in results.values() for h in r['history']):
    expected.append('fig2a_arch_grad_norm.png')
  else:
    assert 'Fig. 2A skipped' in md
  for name in expected:
    workdirs.check_png(tmp_path / name)
  assert sorted(p.name for p in (tmp_path / 'tb').iterdir() if p.is_dir()) == NAMES


# ---------------------------------------------------------------------------
# Refusals of the binary
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('grid_text, words', [
    ('seed=0;schedule.lamb=0.06', ["unknown config field 'schedule.lamb'", "'schedule.lam'"]),
    ('seed=0;schedule.lam=', ['schedule.lam', 'empty value list']),
])
def test_bad_grids_exit_with_one_error_line_and_run_nothing(tmp_path, grid_text, words):
  proc = run(sweep_args(tmp_path / 'root', grid_text=grid_text))
  assert proc.returncode == 1
  assert 'Traceback' not in proc.stderr
  line = last_line(proc)
  assert line.startswith('error:'), proc.stderr[-2000:]
  for word in words:
    assert word in line
  assert not (tmp_path / 'root').exists()


@pytest.mark.parametrize('grid_text, fixed, words', [
    ('softmax.s=0,100', {}, ['run softmax.s=100', 'exactly one of', 'bundle']),
    ('softmax=0,1', {}, ["'softmax'", 'section', 'bundle']),
    ('seed=zero', {}, ["'zero'", 'seed', 'int']),
    ('seed=0', {'search.epohcs': '2'}, ["'search.epohcs' in --config.FIELD / --set", "'search.epochs'"]),
    ('seed=0', {'seed': '1'}, ['seed', 'grid axis', '--set']),
    ('schedule.lam=0.1;sm=a{softmax.kind=plain}|b{schedule.lam=0.2}', {}, ['schedule.lam', 'both']),
    ('softmax=a{knd=plain}', {}, ["'softmax.knd'", "'softmax.kind'"]),
])
def test_plans_that_cannot_run_are_refused(tmp_path, grid_text, fixed, words):
  from edd_tf import search  # pylint: disable=g-import-not-at-top
  with pytest.raises(grid.SweepError) as e:
    sweep.plan_sweep(str(ROOT / 'configs' / 'quickstart.py'), grid.parse_grid(grid_text), fixed,
                     tmp_path, check=search.check_config)
  for word in words:
    assert word in str(e.value)


def test_bundles_set_fields_together_and_may_pick_the_config(tmp_path):
  axes = grid.parse_grid('seed=0; softmax=plain{kind=plain, s=0, st=0}|s100{kind=sn, s=100, '
                         'st=0}; method=darts{config=configs/nb201_cifar10_darts.py}|q{}')
  plan = sweep.plan_sweep(str(ROOT / 'configs' / 'quickstart.py'), axes, {'search.epochs': '2'},
                          tmp_path)
  runs = {r.name: r for r in plan.runs}
  assert sorted(runs) == ['method=darts,seed=0,softmax=plain', 'method=darts,seed=0,softmax=s100',
                          'method=q,seed=0,softmax=plain', 'method=q,seed=0,softmax=s100']
  run = runs['method=darts,seed=0,softmax=s100']
  assert run.config == str(ROOT / 'configs' / 'nb201_cifar10_darts.py')
  assert run.overrides == {'seed': '0', 'softmax.kind': 'sn', 'softmax.s': '100',
                           'softmax.st': '0', 'search.epochs': '2'}
  assert runs['method=q,seed=0,softmax=plain'].config == str(ROOT / 'configs' / 'quickstart.py')
  assert '--config.softmax.s=100' in sweep.command(plan, run)


def test_the_sweep_takes_config_overrides_as_every_binary_does(tmp_path):
  args = [a.replace('--set=', '--config.') for a in sweep_args(tmp_path / 'root', '--dry_run',
                                                              grid_text='seed=0')]
  proc = run(args)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert '--config.search.epochs=2' in proc.stdout and '--config.model.channels=4' in proc.stdout
  proc = run(args + ['--config.search.epohcs=2'])
  assert proc.returncode == 1
  line = last_line(proc)
  assert line.startswith('error:') and "'search.epohcs'" in line and "'search.epochs'" in line


def test_failed_runs_are_listed_and_exit_nonzero(tmp_path):
  # source=folder without a path: the search itself refuses, the sweep reports it.
  args = [a for a in sweep_args(tmp_path, grid_text='seed=0') if a != '--set=data.source=sample']
  proc = run(args + ['--set=data.source=folder'])
  assert proc.returncode == 1
  assert last_line(proc) == 'error: 1 of 1 runs failed: seed=0'
  assert 'config.data.path' in proc.stderr
  entry = json.loads((tmp_path / sweep.MANIFEST).read_text())['runs'][0]
  assert entry['status'] == 'failed' and 'config.data.path' in entry['error']
