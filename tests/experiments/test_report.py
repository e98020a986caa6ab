"""The report's tables: they equal the runs' own numbers, name the split of every column,
and take the NATS-Bench columns when given; no finished run is one error line.
Runs are written by hand (workdirs.py); tests/experiments/test_sweep.py reports a real sweep."""

import csv
import json
import math

import numpy as np
import pytest

from edd_tf.experiments import report
from edd_tf.lookup import nats_bench
from tests.experiments import workdirs

COLUMNS = [c[0] for c in report.SHIPPED_COLUMNS]


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def test_table_is_mean_and_sample_std_over_seeds(lam_sweep, tmp_path):
  out = report.write_report([lam_sweep], tmp_path, tensorboard=False, graphviz=False)
  assert out['keys'] == ['schedule.lam']
  with open(out['summary']) as f:
    rows = {r['schedule.lam']: r for r in csv.DictReader(f)}
  assert sorted(rows) == ['0.06', '0.12']
  for lam, row in rows.items():
    results = [json.loads((d / 'genotype.json').read_text())
               for d in lam_sweep.iterdir() if d.name.startswith(f'schedule.lam={lam},')]
    assert row['runs'] == '3' and row['seeds'] == '0 1 2'
    for column in COLUMNS:
      values = [r['benchmark'][column] for r in results]
      assert float(row[f'{column}_mean']) == pytest.approx(np.mean(values), rel=1e-12)
      assert float(row[f'{column}_std']) == pytest.approx(np.std(values, ddof=1), rel=1e-9)
    seconds = [sum(h['seconds'] for h in r['history']) for r in results]
    assert float(row['search_seconds_mean']) == pytest.approx(np.mean(seconds))
    assert float(row['final_entropy_tempered_mean']) == pytest.approx(1.6 / 3)
  with open(out['runs']) as f:
    assert len(list(csv.DictReader(f))) == 6


def test_markdown_names_the_split_of_every_column(lam_sweep, tmp_path):
  md = report.write_report([lam_sweep], tmp_path, tensorboard=False,
                           graphviz=False)['report'].read_text()
  for split in ('cifar10-valid x-valid', 'cifar10-valid ori-test', 'cifar100 x-valid',
                'cifar100 x-test', 'ImageNet16-120 x-valid', 'ImageNet16-120 x-test'):
    assert f'[{split}]' in md
  assert 'trained on 25k CIFAR-10 train images' in md
  assert '| 0.06 | 3 |' in md and '± ' in md


def test_one_run_has_no_standard_deviation():
  mean, std = report._mean_std([88.5])
  assert mean == 88.5 and math.isnan(std)
  assert report._fmt(mean, std, '.2f') == '88.50'
  assert report._fmt(*report._mean_std([1.0, 3.0]), '.2f') == '2.00 ± 1.41'


def test_no_finished_run_is_one_error_line(tmp_path, table):
  workdirs.make_run(tmp_path / 'half', table, 3, done=1)  # 1 of 3 epochs
  line = workdirs.error_line(workdirs.report_binary(tmp_path))
  assert 'no finished search run' in line and '1 unfinished' in line


# ---------------------------------------------------------------------------
# NATS-Bench columns
# ---------------------------------------------------------------------------


class FakeNats:
  """Answers NATS-Bench's query API from the shipped table, with made-up 50k-trained numbers."""

  def __init__(self, table):
    self.table = table

  def query_index_by_arch(self, arch):
    try:
      return self.table.lookup(arch)['index']
    except ValueError:
      return -1

  def get_more_info(self, index, dataset, hp='12', is_random=True):
    assert hp == '200' and is_random is False
    row = self.table.lookup(self.table.archs()[index])
    if dataset == 'cifar10':
      return {'test-accuracy': row['cifar10_test'] + 3.0}
    prefix = {'cifar10-valid': 'cifar10', 'cifar100': 'cifar100',
              'ImageNet16-120': 'imagenet16'}[dataset]
    return {'valid-accuracy': row[f'{prefix}_valid'], 'test-accuracy': row[f'{prefix}_test']}


def test_nats_bench_gives_the_papers_cifar10_test_column(lam_sweep, tmp_path, table):
  bench = nats_bench.NatsBenchTable(api=FakeNats(table))
  out = report.write_report([lam_sweep], tmp_path, benchmark=bench, tensorboard=False,
                            graphviz=False)
  md = out['report'].read_text()
  assert '[cifar10 ori-test]' in md and 'all 50k CIFAR-10 train images' in md
  assert 'cifar10-valid ori-test' not in md
  for row in out['groups']:
    lam = row['values'][0]
    results = [json.loads((d / 'genotype.json').read_text())
               for d in lam_sweep.iterdir() if d.name.startswith(f'schedule.lam={lam},')]
    expected = np.mean([r['benchmark']['cifar10_test'] + 3.0 for r in results])
    assert row['cifar10_full_test_mean'] == pytest.approx(expected)
    assert not math.isnan(row['cifar100_test_mean'])


def test_darts_family_runs_count_parameter_free_ops(tmp_path):
  """RobustDARTS' collapse measure: skip / pooling / none / noise edges of the found cells."""
  cells = {0: [['skip_connect', 0], ['skip_connect', 1], ['sep_conv_3x3', 0], ['none', 1],
               ['max_pool_3x3', 0], ['sep_conv_3x3', 2], ['skip_connect', 3], ['sep_conv_3x3', 1]],
           1: [['sep_conv_3x3', 0], ['sep_conv_3x3', 1]] * 4}
  for seed, normal in cells.items():
    workdir = tmp_path / 'runs' / f'seed={seed}'
    workdir.mkdir(parents=True)
    config = workdirs.make_config(seed=seed, space='s3')
    genotype = {'normal': normal, 'normal_concat': [2, 3, 4, 5],
                'reduce': [['avg_pool_3x3', 0]] * 2 + [['sep_conv_3x3', 1]] * 6,
                'reduce_concat': [2, 3, 4, 5]}
    history = [dict(epoch=e, entropy=1.0, entropy_tempered=1.0, temperature=1.0, discrete_acc=0.2,
                    seconds=5.0, genotype=genotype)
               for e in (1, 2, 3)]
    (workdir / 'config.json').write_text(json.dumps(config))
    (workdir / 'genotype.json').write_text(json.dumps(
        {'space': 's3', 'genotype': genotype, 'epochs': 3, 'history': history}))
  assert report.cell_counts({'normal': cells[0], 'reduce': cells[1]}) == {
      'param_free_normal': 5.0, 'param_free_reduce': 0.0}
  out = report.write_report([tmp_path / 'runs'], tmp_path / 'out', tensorboard=False,
                            graphviz=False)
  with open(out['summary']) as f:
    (row,) = list(csv.DictReader(f))
  assert float(row['param_free_normal_mean']) == pytest.approx(2.5)   # 5 and 0
  assert float(row['param_free_reduce_mean']) == pytest.approx(2.0)
  md = out['report'].read_text()
  assert 'param-free normal [found normal cell]' in md and 'NAS-Bench-201 table' not in md
