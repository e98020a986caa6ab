"""The report: tables equal the runs' own numbers, splits are named, figures are real images,
incomparable runs are refused. Runs are written by hand (config.json + genotype.json), so
these tests take seconds; tests/experiments/test_sweep.py reports a real sweep."""

import csv
import json
import math
import os
import pathlib
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

from edd_tf.experiments import cell_drawing
from edd_tf.arch import genotype
from edd_tf.lookup import nats_bench
from edd_tf.lookup import nb201_bench
from edd_tf.experiments import grid
from edd_tf.experiments import report
from edd_tf.experiments import sweep

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
COLUMNS = [c[0] for c in report.SHIPPED_COLUMNS]


@pytest.fixture(scope='module')
def table():
  return nb201_bench.NB201Table.load()


def make_config(**overrides):
  c = {'seed': 0, 'distribute': 'default', 'space': 'nb201',
       'data': {'source': 'sample', 'name': 'cifar10', 'path': '', 'train_examples': 128},
       'model': {'channels': 4, 'cells_per_stage': 1, 'fused': True},
       'softmax': {'kind': 'sn', 's': 0.0, 'st': 1.0},
       'schedule': {'name': 'edd', 't0': 1.0, 'lam': 0.06, 'entropy': 'alphas'},
       'search': {'epochs': 3, 'batch_size': 32, 'eval_examples': 32, 'log_every_steps': 50},
       'optim': {'arch': {'lr': 3e-4, 'grad_clip': 0.0}},
       'benchmark': {'nb201_table': ''}}
  for key, value in overrides.items():
    node = c
    *path, last = key.split('.')
    for p in path:
      node = node[p]
    node[last] = value
  return c


def make_run(workdir, table, arch_index, grad_norm=True, done=None, **overrides):
  """A search workdir as search.run leaves it, with made-up but consistent curves."""
  config = make_config(**overrides)
  epochs = config['search']['epochs']
  row = table.lookup(table.archs()[arch_index])
  done = epochs if done is None else done
  history = []
  for e in range(1, done + 1):
    h = dict(epoch=e, temperature=10.0 ** -e, next_temperature=10.0 ** -(e + 1), d_exp=0.1,
             entropy=1.6 - 0.1 * e, entropy_tempered=1.6 / e, lr=0.025, train_loss=2.0,
             train_acc=0.1 * e, val_loss=2.0, val_acc=0.1 * e, discrete_acc=0.1 + 0.05 * e,
             genotype=row['arch'], seconds=10.0 + arch_index % 7,
             nb201={k: v for k, v in row.items() if k != 'arch'})
    if grad_norm:
      h['arch_grad_norm'] = 0.5 / e + 0.01 * config['seed']
    history.append(h)
  result = {'space': 'nb201', 'genotype': row['arch'], 'benchmark': row, 'epochs': done,
            'history': history}
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True)
  (workdir / 'config.json').write_text(json.dumps(config))
  (workdir / 'genotype.json').write_text(json.dumps(result))
  return workdir


@pytest.fixture(scope='module')
def lam_sweep(tmp_path_factory, table):
  """2 lambdas x 3 seeds, with a sweep.json as binaries.sweep writes it."""
  root = tmp_path_factory.mktemp('runs') / 'lam'
  runs = []
  for s, seed in enumerate((0, 1, 2)):
    for lam in (0.06, 0.12):
      name = grid.run_name({'seed': str(seed), 'schedule.lam': str(lam)})
      make_run(root / name, table, 100 * s + int(lam * 1000), seed=seed, **{'schedule.lam': lam})
      runs.append({'name': name, 'settings': {'seed': str(seed), 'schedule.lam': str(lam)},
                   'status': 'finished'})
  (root / sweep.MANIFEST).write_text(json.dumps({
      'config': 'configs/x.py', 'grid': [{'key': 'seed', 'values': ['0', '1', '2']},
                                         {'key': 'schedule.lam', 'values': ['0.06', '0.12']}],
      'set': {}, 'runs': runs}))
  return root


def check_png(path):
  assert path.is_file() and path.stat().st_size > 5000, path
  image = matplotlib.image.imread(path)
  assert image.shape[0] > 100 and image.shape[1] > 100, (path, image.shape)
  assert float(image[..., :3].std()) > 0.01, f'{path} is a constant image'


def report_binary(*args):
  return subprocess.run([sys.executable, '-m', 'binaries.report', *map(str, args)], cwd=ROOT,
                        env=ENV, capture_output=True, text=True, timeout=300)


def error_line(proc):
  assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr
  line = proc.stderr.strip().splitlines()[-1]
  assert line.startswith('error:')
  return line


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


def test_search_seconds_prefers_the_recorded_total(tmp_path, table):
  run = make_run(tmp_path / 'a', table, 5)
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
      make_run(tmp_path / name, table, 10 * k + seed, seed=seed, **{
          'softmax.kind': b['kind'], 'softmax.s': float(b['s']), 'softmax.st': float(b['st'])})
      runs.append({'name': name, 'settings': {'seed': str(seed), 'softmax': label}})
  (tmp_path / sweep.MANIFEST).write_text(json.dumps(
      {'grid': [{'key': 'seed', 'values': ['0', '1']}, {'key': 'softmax', 'bundles': bundles}],
       'runs': runs}))
  out = report.write_report([tmp_path], tmp_path / 'out', tensorboard=False, graphviz=False)
  assert out['keys'] == ['softmax']
  assert [g['values'] for g in out['groups']] == [('plain',), ('sn_st1',), ('sn_s100',)]
  # Fig. 2A is drawn per softmax setting.
  check_png(out['figures']['fig2a'])


# ---------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------


def test_no_finished_run_is_one_error_line(tmp_path, table):
  make_run(tmp_path / 'half', table, 3, done=1)  # 1 of 3 epochs
  line = error_line(report_binary(tmp_path))
  assert 'no finished search run' in line and '1 unfinished' in line


def test_runs_of_different_search_epochs_are_refused(tmp_path, table):
  make_run(tmp_path / 'a', table, 1, seed=0)
  make_run(tmp_path / 'b', table, 2, seed=1, **{'search.epochs': 4})
  line = error_line(report_binary(tmp_path))
  assert 'not comparable' in line and 'search.epochs (3, 4)' in line
  assert 'model size' in line


def test_runs_of_different_model_size_are_refused_even_with_keys(tmp_path, table):
  make_run(tmp_path / 'a', table, 1, seed=0)
  make_run(tmp_path / 'b', table, 2, seed=1, **{'model.channels': 8})
  with pytest.raises(report.ReportError, match=r'model\.channels \(4, 8\)'):
    report.write_report([tmp_path], tmp_path / 'out', keys=['seed'], tensorboard=False)


def test_runs_differing_beyond_the_given_keys_are_refused(tmp_path, table):
  make_run(tmp_path / 'a', table, 1, **{'schedule.lam': 0.06})
  make_run(tmp_path / 'b', table, 2, **{'schedule.lam': 0.12, 'optim.arch.lr': 1e-3})
  with pytest.raises(report.ReportError) as e:
    report.write_report([tmp_path], tmp_path / 'out', keys=['schedule.lam'], tensorboard=False)
  assert "more than the swept keys ['schedule.lam']" in str(e.value)
  assert 'optim.arch.lr (0.0003, 0.001)' in str(e.value)
  # Inferred keys take both differing fields.
  out = report.write_report([tmp_path], tmp_path / 'out', tensorboard=False, graphviz=False)
  assert out['keys'] == ['optim.arch.lr', 'schedule.lam']


def test_unfinished_runs_are_skipped_with_a_note(lam_sweep, tmp_path, table):
  make_run(tmp_path / 'extra' / 'half', table, 3, done=2)
  out = report.write_report([lam_sweep, tmp_path / 'extra'], tmp_path / 'out',
                            tensorboard=False, graphviz=False)
  assert sum(g['runs'] for g in out['groups']) == 6
  assert any('unfinished' in n and 'half' in n for n in out['notes'])


# ---------------------------------------------------------------------------
# Figures, cells, TensorBoard
# ---------------------------------------------------------------------------


def test_every_figure_is_a_non_empty_png(lam_sweep, tmp_path):
  out = report.write_report([lam_sweep], tmp_path, tensorboard=False, graphviz=False)
  assert sorted(out['figures']) == ['fig2a', 'fig2b', 'fig4a', 'fig4b', 'temperature']
  for path in list(out['figures'].values()) + list(out['cells'].values()):
    check_png(path)
  assert len(out['cells']) == 6


def test_fig2a_is_skipped_with_a_note_without_gradient_norms(tmp_path, table):
  make_run(tmp_path / 'a', table, 1, grad_norm=False)
  out = report.write_report([tmp_path], tmp_path / 'out', tensorboard=False, graphviz=False)
  assert 'fig2a' not in out['figures']
  assert not (tmp_path / 'out' / 'fig2a_arch_grad_norm.png').exists()
  assert any('Fig. 2A skipped' in n for n in out['notes'])
  assert 'Fig. 2A skipped' in out['report'].read_text()


def test_darts_cells_are_drawn(tmp_path):
  g = genotype.genotype_to_dict(genotype.GENOTYPES['DARTS_V2'])
  path = cell_drawing.draw_cell('darts', g, tmp_path / 'darts.png', 'DARTS_V2', graphviz=False)
  check_png(path)


def test_graphviz_sources_label_every_edge():
  arch = '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|'
  source = cell_drawing.nb201_dot(arch)
  assert source.count('->') == 6 and '0 -> 1 [label="nor_conv_3x3"' in source
  assert source.count('style=dotted') == 2
  source = cell_drawing.darts_dot(genotype.GENOTYPES['DARTS_V2'])
  assert source.count('[label="sep_conv_3x3"') == 5 and source.count('->') == 2 * (8 + 4)


@pytest.mark.skipif(not cell_drawing.has_graphviz(), reason='graphviz dot is not installed')
def test_graphviz_drawings(tmp_path):
  check_png(cell_drawing.draw_nb201('|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|'
                                    'nor_conv_1x1~1|none~2|', tmp_path / 'a.png', graphviz=True))


def test_hparams_logdir_has_the_config_and_one_run_per_search(lam_sweep, tmp_path):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = report.write_report([lam_sweep], tmp_path, graphviz=False)
  runs = sorted(p.name for p in (tmp_path / 'tb').iterdir() if p.is_dir())
  assert runs == sorted(p.name for p in lam_sweep.iterdir() if p.is_dir())

  def plugins(directory):
    names, tags = set(), set()
    for f in directory.glob('events.out.tfevents.*'):
      for event in tf.compat.v1.train.summary_iterator(str(f)):
        for v in event.summary.value:
          names.add(v.metadata.plugin_data.plugin_name)
          tags.add(v.tag)
    return names, tags

  assert 'hparams' in plugins(tmp_path / 'tb')[0]
  names, tags = plugins(tmp_path / 'tb' / runs[0])
  assert 'hparams' in names and 'final/cifar10_test' in tags and 'epoch/temperature' in tags
  assert out['report'].exists()


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


def test_one_run_has_no_standard_deviation():
  mean, std = report._mean_std([88.5])
  assert mean == 88.5 and math.isnan(std)
  assert report._fmt(mean, std, '.2f') == '88.50'
  assert report._fmt(*report._mean_std([1.0, 3.0]), '.2f') == '2.00 ± 1.41'
