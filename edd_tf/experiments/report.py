"""Tables of finished searches, shaped like the paper's Tables 1 and 5, and the whole report.

`write_report(dirs, out)` finds every finished search workdir under `dirs`
(config.json + genotype.json, see sweep.run_state), groups the runs by the
swept keys (finished_runs) and writes to `out`:

  report.md    the table (mean +- sample std over seeds per group), per-run table,
               figures and found cells, with the benchmark split of every column
  summary.csv  one row per group: <metric>_mean, <metric>_std (full precision)
  runs.csv     one row per run
  fig2a_arch_grad_norm.png  fig2b_entropy_by_schedule.png  fig4a_entropy.png
  fig4b_discrete_acc.png    temperature.png                cells/<run>.png  (figures)
  tb/          TensorBoard HParams: the swept keys and final metrics per run
               (tensorboard_hparams)

Which keys are swept and which runs may share a table (the same setup,
finished_runs.SETUP_FIELDS) is decided by `finished_runs.swept_keys`.
"""

import csv
import json
import math
import pathlib

import numpy as np

from edd_tf import spaces
from edd_tf.experiments import figures
from edd_tf.experiments import finished_runs
from edd_tf.experiments import tensorboard_hparams
from edd_tf.lookup import nats_bench

# key, short header, dataset and split, what it is.
SHIPPED_COLUMNS = (
    ('cifar10_valid', 'C10 valid', 'cifar10-valid x-valid',
     'trained on 25k CIFAR-10 train images, evaluated on the other 25k'),
    ('cifar10_test', 'C10 test', 'cifar10-valid ori-test',
     "trained on 25k CIFAR-10 train images, evaluated on the CIFAR-10 test set (not the "
     "papers' 50k-trained column; pass --nats_bench for that)"),
    ('cifar100_valid', 'C100 valid', 'cifar100 x-valid', 'first half of the CIFAR-100 test set'),
    ('cifar100_test', 'C100 test', 'cifar100 x-test', 'second half of the CIFAR-100 test set'),
    ('imagenet16_valid', 'IN16 valid', 'ImageNet16-120 x-valid',
     'first half of the ImageNet16-120 test set'),
    ('imagenet16_test', 'IN16 test', 'ImageNet16-120 x-test',
     'second half of the ImageNet16-120 test set'),
)
NATS_COLUMNS = tuple(
    (key, head, f'{nats_bench.COLUMNS[key][0]} {nats_bench.COLUMNS[key][1]}',
     nats_bench.COLUMNS[key][2])
    for key, head in (('cifar10_valid', 'C10 valid'), ('cifar10_full_test', 'C10 test'),
                      ('cifar100_valid', 'C100 valid'), ('cifar100_test', 'C100 test'),
                      ('imagenet16_valid', 'IN16 valid'), ('imagenet16_test', 'IN16 test')))
# DARTS-family runs have no benchmark row: the found cells' parameter-free ops,
# RobustDARTS' measure of collapse, instead.
PARAMETER_FREE_OPS = ('none', 'skip_connect', 'max_pool_3x3', 'avg_pool_3x3', 'noise')
CELL_COLUMNS = tuple(
    (f'param_free_{cell}', f'param-free {cell}', f'found {cell} cell',
     f'edges of the found {cell} cell whose op has no weights ({", ".join(PARAMETER_FREE_OPS)}; '
     f'out of 8 in a pair genotype): RobustDARTS\' measure of collapse')
    for cell in ('normal', 'reduce'))


def cell_counts(genotype):
  """{'param_free_normal', 'param_free_reduce'} of a DARTS-family genotype dict."""
  return {f'param_free_{cell}': float(sum(entry[0] in PARAMETER_FREE_OPS
                                          for entry in genotype[cell]))
          for cell in ('normal', 'reduce')}


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def _mean_std(values):
  values = np.asarray(values, np.float64)
  if values.size == 0 or np.isnan(values).any():
    return math.nan, math.nan
  # The sample std of one run is undefined: NaN (the table shows the mean alone).
  return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else math.nan


def _fmt(mean, std, fmt):
  if math.isnan(mean):
    return 'n/a'
  if math.isnan(std):
    return f'{mean:{fmt}}'
  return f'{mean:{fmt}} ± {std:{fmt}}'


def summarize(groups, columns):
  """One dict per group: keys' values, runs, seeds, <metric>_mean / _std."""
  metric_keys = [c[0] for c in columns] + [m[0] for m in finished_runs.RUN_METRICS]
  rows = []
  for values, runs in groups:
    per_run = [r.metrics(columns) for r in runs]
    row = {'values': values, 'runs': len(runs),
           'seeds': [r.config.get('seed') for r in runs]}
    for m in metric_keys:
      row[f'{m}_mean'], row[f'{m}_std'] = _mean_std([p[m] for p in per_run])
    rows.append(row)
  return rows


def _markdown_table(header, rows):
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
  return '\n'.join(lines)


def _genotype_text(run):
  g = run.result.get('genotype')
  return g if isinstance(g, str) else json.dumps(g)


def _write_csvs(out, keys, summary, groups, columns):
  metric_keys = [c[0] for c in columns] + [m[0] for m in finished_runs.RUN_METRICS]
  with open(out / 'summary.csv', 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(keys + ['runs', 'seeds'] + [f'{m}_{s}' for m in metric_keys
                                             for s in ('mean', 'std')])
    for row in summary:
      w.writerow(list(row['values']) + [row['runs'], ' '.join(map(str, row['seeds']))] +
                 [repr(row[f'{m}_{s}']) for m in metric_keys for s in ('mean', 'std')])
  with open(out / 'runs.csv', 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['run'] + keys + ['seed', 'genotype', 'benchmark_index'] + metric_keys)
    for values, runs in groups:
      for r in runs:
        m = r.metrics(columns)
        w.writerow([r.name] + list(values) + [r.config.get('seed'), _genotype_text(r),
                                              (r.bench or {}).get('index', '')] +
                   [repr(m[k]) for k in metric_keys])


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


def write_report(dirs, out, keys=None, benchmark=None, tensorboard=True, graphviz=None):
  """Aggregates the finished runs under `dirs` into tables and figures in `out`.

  Args:
    dirs: directories searched recursively for search workdirs.
    out: output directory (created).
    keys: the swept keys (config fields or sweep axis names), or None to infer.
    benchmark: a NatsBenchTable (or any object with lookup(arch) returning
      NATS_COLUMNS keys) to re-look-up every NB201 cell; None = the NB201 row
      stored in each genotype.json (the shipped cifar10-valid table).
    tensorboard: also write the HParams logdir out/tb.
    graphviz: draw cells with graphviz (None = if `dot` is on PATH).

  Returns:
    {'report': path, 'summary': path, 'runs': path, 'figures': {...},
     'cells': {...}, 'notes': [...], 'groups': summary rows}.

  Raises:
    finished_runs.ReportError: no finished run, or incomparable runs (naming
      the fields).
  """
  dirs = [pathlib.Path(d) for d in dirs]
  runs, unfinished, orders = finished_runs.find_runs(dirs)
  if not runs:
    more = f' ({len(unfinished)} unfinished)' if unfinished else ''
    raise finished_runs.ReportError(
        f'no finished search run under {", ".join(map(str, dirs))}{more}: '
        f'a run is a directory with config.json and a genotype.json of all epochs')
  keys = finished_runs.swept_keys(runs, keys)
  columns = NATS_COLUMNS if benchmark is not None else SHIPPED_COLUMNS
  darts_family = all(spaces.get_space(r.result.get('space', 'nb201')).family == 'darts'
                     for r in runs)
  if darts_family:
    columns, benchmark = CELL_COLUMNS, None
  notes = [f'skipped {len(unfinished)} unfinished run(s): ' +
           ', '.join(str(u) for u in unfinished)] if unfinished else []
  for r in runs:
    r.bench = cell_counts(r.result['genotype']) if darts_family else r.result.get('benchmark')
    if benchmark is not None:
      r.bench = None
      if spaces.get_space(r.result.get('space', 'nb201')).family == 'nb201':
        try:
          r.bench = benchmark.lookup(r.result['genotype'])
        except ValueError as e:
          notes.append(f'{r.name}: {e}')
  groups = finished_runs.group_runs(runs, keys, orders)
  summary = summarize(groups, columns)
  out = pathlib.Path(out)
  out.mkdir(parents=True, exist_ok=True)
  _write_csvs(out, keys, summary, groups, columns)
  figure_paths, fig_notes = figures.write_figures(out, groups, keys)
  notes += fig_notes
  cells = figures.draw_cells(out, runs, graphviz)
  if tensorboard:
    tensorboard_hparams.write_hparams(out / 'tb', groups, keys, columns)

  source = ('NATS-Bench topology file (--nats_bench)' if benchmark is not None else
            'the shipped NAS-Bench-201 table (edd_tf/assets; cifar10-valid for CIFAR-10)')
  measured = ('DARTS-family cells (no benchmark table): counts of parameter-free ops in the '
              'found cells' if darts_family else
              f'Benchmark accuracies (percent, 200-epoch training, mean over its trials) of the '
              f'found cell from {source}')
  run_metrics = finished_runs.RUN_METRICS
  header = keys + ['runs'] + [f'{c[1]} [{c[2]}]' for c in columns] + [m[1] for m in run_metrics]
  table = [[*row['values'], row['runs']] +
           [_fmt(row[f'{c[0]}_mean'], row[f'{c[0]}_std'], '.2f') for c in columns] +
           [_fmt(row[f'{m[0]}_mean'], row[f'{m[0]}_std'], m[2]) for m in run_metrics]
           for row in summary]
  run_rows = [[r.name, r.config.get('seed'), f'`{_genotype_text(r)}`'] +
              [('n/a' if math.isnan(v) else f'{v:.2f}')
               for v in (r.metrics(columns)[c[0]] for c in columns)]
              for _, g in groups for r in g]
  md = [f'# Search report: {len(runs)} runs in {len(groups)} groups', '',
        f'Runs from {", ".join(str(d) for d in dirs)}. Grouped by {keys or "nothing"}; '
        f'mean ± sample standard deviation (n-1) over the runs (seeds) of a group. '
        f'{measured}.', '', _markdown_table(header, table), '', 'Columns:']
  md += [f'- **{c[1]}**: {c[2]} - {c[3]}.' for c in columns]
  md += ['- **search (s)**: wall-clock seconds of the search; **final t**, **H**: temperature '
         'and mean entropy over edges in the last epoch; **discretized acc**: the argmax cell '
         'with the supernet weights on the validation split, last epoch.', '',
         '## Runs', '', _markdown_table(['run', 'seed', 'genotype'] + [c[1] for c in columns],
                                        run_rows), '', '## Figures', '']
  md += [f'![{name}]({p.name})' for name, p in figure_paths.items()]
  md += ['', '## Found cells', '']
  md += [f'![{name}](cells/{p.name})' for name, p in cells.items()]
  if notes:
    md += ['', '## Notes', ''] + [f'- {n}' for n in notes]
  (out / 'report.md').write_text('\n'.join(md) + '\n')
  return {'report': out / 'report.md', 'summary': out / 'summary.csv', 'runs': out / 'runs.csv',
          'figures': figure_paths, 'cells': cells, 'notes': notes, 'groups': summary, 'keys': keys}
