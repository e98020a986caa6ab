"""Finished runs: what a run measures, grouping by the swept keys in grid order, and the
refusal of runs that cannot share a table. Runs are written by hand (workdirs.py)."""

import json

import pytest

from edd_tf.experiments import finished_runs
from edd_tf.experiments import report
from edd_tf.experiments import sweep
from tests.experiments import workdirs


# ---------------------------------------------------------------------------
# Runs and groups
# ---------------------------------------------------------------------------


def test_search_seconds_prefers_the_recorded_total(tmp_path, table):
  run = workdirs.make_run(tmp_path / 'a', table, 5)
  result = json.loads((run / 'genotype.json').read_text())
  result.update(search_seconds=1234.5, finished=True)
  (run / 'genotype.json').write_text(json.dumps(result))
  out = report.write_report([tmp_path], tmp_path / 'out', tensorboard=False, graphviz=False)
  assert out['groups'][0]['search_seconds_mean'] == 1234.5


def test_bundle_axis_of_a_sweep_is_one_key_in_grid_order(tmp_path, table):
  bundles = {'plain': {'kind': 'plain', 's': '0', 'st': '0'},
             'sn_st1': {'kind': 'sn', 's': '0', 'st': '1'},
             'sn_s100': {'kind': 'sn', 's': '100', 'st': '0'}}
  runs = []
  for k, (label, b) in enumerate(bundles.items()):
    for seed in (0, 1):
      name = f'seed={seed},softmax={label}'
      workdirs.make_run(tmp_path / name, table, 10 * k + seed, seed=seed, **{
          'softmax.kind': b['kind'], 'softmax.s': float(b['s']), 'softmax.st': float(b['st'])})
      runs.append({'name': name, 'settings': {'seed': str(seed), 'softmax': label}})
  (tmp_path / sweep.MANIFEST).write_text(json.dumps(
      {'grid': [{'key': 'seed', 'values': ['0', '1']}, {'key': 'softmax', 'bundles': bundles}],
       'runs': runs}))
  out = report.write_report([tmp_path], tmp_path / 'out', tensorboard=False, graphviz=False)
  assert out['keys'] == ['softmax']
  assert [g['values'] for g in out['groups']] == [('plain',), ('sn_st1',), ('sn_s100',)]
  # Fig. 2A is drawn per softmax setting.
  workdirs.check_png(out['figures']['fig2a'])


# ---------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------


def test_runs_of_different_search_epochs_are_refused(tmp_path, table):
  workdirs.make_run(tmp_path / 'a', table, 1, seed=0)
  workdirs.make_run(tmp_path / 'b', table, 2, seed=1, **{'search.epochs': 4})
  line = workdirs.error_line(workdirs.report_binary(tmp_path))
  assert 'not comparable' in line and 'search.epochs (3, 4)' in line
  assert 'model size' in line


def test_runs_of_different_model_size_are_refused_even_with_keys(tmp_path, table):
  workdirs.make_run(tmp_path / 'a', table, 1, seed=0)
  workdirs.make_run(tmp_path / 'b', table, 2, seed=1, **{'model.channels': 8})
  with pytest.raises(finished_runs.ReportError, match=r'model\.channels \(4, 8\)'):
    report.write_report([tmp_path], tmp_path / 'out', keys=['seed'], tensorboard=False)


def test_runs_differing_beyond_the_given_keys_are_refused(tmp_path, table):
  workdirs.make_run(tmp_path / 'a', table, 1, **{'schedule.lam': 0.06})
  workdirs.make_run(tmp_path / 'b', table, 2, **{'schedule.lam': 0.12, 'optim.arch.lr': 1e-3})
  with pytest.raises(finished_runs.ReportError) as e:
    report.write_report([tmp_path], tmp_path / 'out', keys=['schedule.lam'], tensorboard=False)
  assert "more than the swept keys ['schedule.lam']" in str(e.value)
  assert 'optim.arch.lr (0.0003, 0.001)' in str(e.value)
  # Inferred keys take both differing fields.
  out = report.write_report([tmp_path], tmp_path / 'out', tensorboard=False, graphviz=False)
  assert out['keys'] == ['optim.arch.lr', 'schedule.lam']


def test_unfinished_runs_are_skipped_with_a_note(lam_sweep, tmp_path, table):
  workdirs.make_run(tmp_path / 'extra' / 'half', table, 3, done=2)
  out = report.write_report([lam_sweep, tmp_path / 'extra'], tmp_path / 'out',
                            tensorboard=False, graphviz=False)
  assert sum(g['runs'] for g in out['groups']) == 6
  assert any('unfinished' in n and 'half' in n for n in out['notes'])
