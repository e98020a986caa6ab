"""Tables and figures of finished searches, shaped like the paper's Tables 1 and 5.

`write_report(dirs, out)` finds every finished search workdir under `dirs`
(config.json + genotype.json, see sweep.run_state), groups the runs by the
swept keys and writes to `out`:

  report.md    the table (mean +- sample std over seeds per group), per-run table,
               figures and found cells, with the benchmark split of every column
  summary.csv  one row per group: <metric>_mean, <metric>_std (full precision)
  runs.csv     one row per run
  fig2a_arch_grad_norm.png  fig2b_entropy_by_schedule.png  fig4a_entropy.png
  fig4b_discrete_acc.png    temperature.png                cells/<run>.png
  tb/          TensorBoard HParams: the swept keys and final metrics per run

Swept keys: the axes of the sweep.json beside the runs (a bundle axis such as
`softmax` or `method` is one key) plus any config field whose value differs
between runs, except `seed`. Runs are only comparable when they share the
setup (SETUP_FIELDS: data, search length, model size, benchmark table); the
caller may name keys explicitly (`keys=`), and then runs that differ in any
other field are refused.
"""

import csv
import dataclasses
import json
import math
import os
import pathlib
import re

from absl import logging
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
import numpy as np

from edd_tf.experiments import cell_drawing
from edd_tf.lookup import nats_bench
from edd_tf.experiments import sweep

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
# key, header, format: the search's own numbers (last epoch unless said).
RUN_METRICS = (
    ('search_seconds', 'search (s)', '.0f'),
    ('final_temperature', 'final t', '.3g'),
    ('final_entropy', 'H softmax(A)', '.3f'),
    ('final_entropy_tempered', 'H softmax(A/t)', '.3f'),
    ('final_discrete_acc', 'discretized acc', '.3f'),
)
# Fields that change what a run measures: runs differing here are not comparable.
SETUP_FIELDS = ('space', 'data.source', 'data.name', 'data.train_examples', 'data.image_size',
                'model.channels', 'model.cells_per_stage', 'search.epochs',
                'search.eval_examples', 'benchmark.')
# Fields with no effect on the result (locations, logging, evaluation batching).
IGNORED_FIELDS = ('data.path', 'data.data_dir', 'data.download', 'data.test_examples',
                  'search.log_every_steps', 'search.eval_batch_size', 'distribute', 'model.fused')
SCHEDULE_NAMES = {'linear': 'LTS', 'ets': 'ETS', 'edd': 'EDD', 'pcd': 'PCD',
                  'constant': 'constant t'}


class ReportError(ValueError):
  """No finished run, or runs that cannot share a table; the message says which."""


def _matches(field, patterns):
  return any(field == p or (p.endswith('.') and field.startswith(p)) for p in patterns)


def _flatten(d, prefix=''):
  out = {}
  for key, value in d.items():
    if isinstance(value, dict):
      out.update(_flatten(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = value
  return out


@dataclasses.dataclass
class SearchRun:
  """One finished search workdir.

  Attributes:
    workdir: its directory.
    name: its path relative to the common parent of all runs.
    config: the flattened config.json ({'schedule.lam': 0.06, ...}).
    result: genotype.json.
    labels: {bundle axis: label} from the sweep.json beside it.
    bundle_fields: {bundle axis: fields it sets, or None for config= bundles}.
    bench: the benchmark row of the found cell (or None).
  """
  workdir: pathlib.Path
  name: str
  config: dict
  result: dict
  labels: dict
  bundle_fields: dict
  bench: dict = None

  @property
  def history(self):
    return self.result.get('history', [])

  def value(self, key):
    return self.labels[key] if key in self.labels else self.config.get(key)

  def metrics(self, columns):
    bench = self.bench or {}
    out = {key: float(bench.get(key, math.nan)) for key, *_ in columns}
    last = self.history[-1] if self.history else {}
    seconds = self.result.get('search_seconds')
    out['search_seconds'] = float(seconds if seconds is not None else
                                  sum(h.get('seconds', 0.0) for h in self.history))
    for key in ('temperature', 'entropy', 'entropy_tempered', 'discrete_acc'):
      out[f'final_{key}'] = float(last.get(key, math.nan))
    return out


# ---------------------------------------------------------------------------
# Finding and checking runs
# ---------------------------------------------------------------------------


def _sweep_labels(workdir, config):
  """A run's bundle axes from ../sweep.json: ({axis: label}, {axis: fields}, {axis: labels})."""
  manifest = sweep._read_json(workdir.parent / sweep.MANIFEST)  # pylint: disable=protected-access
  if not manifest:
    return {}, {}, {}
  entry = next((r for r in manifest.get('runs', []) if r.get('name') == workdir.name), None)
  if entry is None:
    return {}, {}, {}
  labels, fields, orders = {}, {}, {}
  for axis in manifest.get('grid', []):
    if 'bundles' not in axis:
      continue
    key = axis['key']
    labels[key] = entry['settings'][key]
    orders[key] = list(axis['bundles'])
    keys = {k for bundle in axis['bundles'].values() for k in bundle}
    fields[key] = None if 'config' in keys else {
        f'{key}.{k}' if f'{key}.{k}' in config else k for k in keys}
  return labels, fields, orders


def find_runs(dirs):
  """(finished SearchRuns, unfinished workdirs, {axis: label order}) under `dirs`."""
  workdirs = []
  for d in dirs:
    d = pathlib.Path(d)
    if not d.is_dir():
      raise ReportError(f'{d} is not a directory')
    for root, subdirs, files in os.walk(d):
      subdirs[:] = sorted(s for s in subdirs if s not in ('checkpoints', 'tb'))
      if 'genotype.json' in files and 'config.json' in files:
        workdirs.append(pathlib.Path(root).resolve())
  workdirs = sorted(set(workdirs))
  if not workdirs:
    return [], [], {}
  parent = pathlib.Path(os.path.commonpath([str(w.parent) for w in workdirs]))
  runs, unfinished, orders = [], [], {}
  for w in workdirs:
    if not sweep.is_finished(w):
      unfinished.append(w)
      continue
    config = _flatten(json.loads((w / 'config.json').read_text()))
    labels, fields, order = _sweep_labels(w, config)
    orders.update(order)
    runs.append(SearchRun(w, str(w.relative_to(parent)), config,
                          json.loads((w / 'genotype.json').read_text()), labels, fields))
  return runs, unfinished, orders


def _differing(runs):
  fields = sorted({f for r in runs for f in r.config})
  return [f for f in fields if not _matches(f, IGNORED_FIELDS)
          and len({json.dumps(r.config.get(f)) for r in runs}) > 1]


def _values(runs, field):
  return sorted({json.dumps(r.config.get(field)) for r in runs})


def swept_keys(runs, keys=None):
  """The grouping keys of the runs; raises ReportError for incomparable runs.

  Args:
    runs: SearchRuns.
    keys: the caller's swept keys (config fields or bundle-axis names), or
      None to infer them: the sweep.json bundle axes all runs share, plus the
      differing fields they do not cover, except seed and setup fields.
  """
  diffs = _differing(runs)
  axes = [a for a in runs[0].labels if all(a in r.labels for r in runs)]

  def coverage(axis):  # the fields a bundle axis changes (config= bundles: any hyperparameter)
    out = set()
    for r in runs:
      fields = r.bundle_fields.get(axis)
      out |= set(fields) if fields is not None else {
          f for f in diffs if not _matches(f, SETUP_FIELDS)}
    return out

  explicit = set(keys or ())
  if keys is None:
    by_axes = set().union(*[coverage(a) for a in axes])
    keys = axes + [f for f in diffs if f != 'seed' and f not in by_axes
                   and not _matches(f, SETUP_FIELDS)]
  else:
    unknown = [k for k in keys if k not in axes and not any(k in r.config for r in runs)]
    if unknown:
      raise ReportError(f'--keys names {unknown}, which are neither config fields nor sweep '
                        f'axes of these runs (axes: {axes})')
  covered = {'seed'} | set(keys) | set().union(*[coverage(a) for a in keys if a in axes])
  setup = [f for f in diffs if _matches(f, SETUP_FIELDS) and f not in explicit]
  if setup:
    raise ReportError(
        'runs are not comparable: they differ in ' +
        '; '.join(f'{f} ({", ".join(_values(runs, f))})' for f in setup) +
        ' - data, search length, model size and benchmark table must match; report them '
        'separately (or name the field in --keys to compare on purpose)')
  extra = [f for f in diffs if f not in covered]
  if extra:
    raise ReportError(
        f'runs differ in more than the swept keys {sorted(keys)} (+ seed): also in ' +
        '; '.join(f'{f} ({", ".join(_values(runs, f))})' for f in extra))
  return list(keys)


def _sort_key(value, order):
  if order and value in order:
    return (0, order.index(value), '')
  if isinstance(value, (int, float)) and not isinstance(value, bool):
    return (1, float(value), '')
  return (2, 0.0, str(value))


def group_runs(runs, keys, orders=None):
  """[(key values tuple, [runs])] sorted by the grid's order / value, runs by seed."""
  groups = {}
  for r in runs:
    groups.setdefault(tuple(json.dumps(r.value(k)) for k in keys), []).append(r)
  items = [(tuple(json.loads(v) for v in k), sorted(g, key=lambda r: (r.config.get('seed', 0),
                                                                        r.name)))
           for k, g in groups.items()]
  orders = orders or {}
  return sorted(items, key=lambda kv: [_sort_key(v, orders.get(k))
                                       for k, v in zip(keys, kv[0])])


def _label(keys, values):
  return ', '.join(f'{k}={v}' for k, v in zip(keys, values)) or 'all runs'


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
  metric_keys = [c[0] for c in columns] + [m[0] for m in RUN_METRICS]
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
  metric_keys = [c[0] for c in columns] + [m[0] for m in RUN_METRICS]
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
# Figures
# ---------------------------------------------------------------------------


def _softmax_label(run):
  kind = run.config.get('softmax.kind')
  if kind == 'plain':
    return 'plain softmax'
  s, st = run.config.get('softmax.s'), run.config.get('softmax.st')
  return f'sn-softmax s={s:g}' if s else f'sn-softmax st={st:g}'


def _curves(ax, series, field, logy=False):
  """Mean over the runs of each label per epoch, shaded min-max."""
  for label, runs in series.items():
    arr = [[h.get(field, math.nan) for h in r.history] for r in runs]
    n = min(len(a) for a in arr)
    arr = np.array([a[:n] for a in arr], np.float64)
    epochs = np.arange(1, n + 1)
    ax.plot(epochs, arr.mean(0), marker='o' if n <= 20 else None, ms=3,
            label=f'{label} (n={len(runs)})')
    if len(runs) > 1:
      ax.fill_between(epochs, arr.min(0), arr.max(0), alpha=0.2)
  ax.set_xlabel('epoch')
  ax.xaxis.set_major_locator(MaxNLocator(integer=True))
  if logy:
    ax.set_yscale('log')
  else:
    ax.ticklabel_format(axis='y', useOffset=False)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)


def _figure(path, panels, title):
  """panels: [(series, field, ylabel, logy)] side by side."""
  fig = Figure(figsize=(6.0 * len(panels), 4.2), dpi=100)
  for k, (series, field, ylabel, logy) in enumerate(panels):
    ax = fig.add_subplot(1, len(panels), k + 1)
    _curves(ax, series, field, logy)
    ax.set_ylabel(ylabel)
  fig.suptitle(title, fontsize=10)
  fig.savefig(path, bbox_inches='tight')
  return path


def _by(runs, label_fn):
  out = {}
  for r in runs:
    out.setdefault(label_fn(r), []).append(r)
  return out


def write_figures(out, groups, keys):
  """Writes the curve figures; returns ({name: path}, [notes on skipped figures])."""
  runs = [r for _, g in groups for r in g]
  by_group = {_label(keys, values): g for values, g in groups}
  figures, notes = {}, []
  with_grad = [r for r in runs if r.history and all('arch_grad_norm' in h for h in r.history)]
  if with_grad:
    figures['fig2a'] = _figure(
        out / 'fig2a_arch_grad_norm.png',
        [(_by(with_grad, _softmax_label), 'arch_grad_norm', '||dL/dA|| (mean over steps)', True)],
        'Fig. 2A: alpha gradient norm per epoch, by softmax')
  else:
    notes.append('Fig. 2A skipped: no run logged arch_grad_norm (the alpha gradient norm).')
    logging.info('%s', notes[-1])
  figures['fig2b'] = _figure(
      out / 'fig2b_entropy_by_schedule.png',
      [(_by(runs, lambda r: SCHEDULE_NAMES.get(r.config.get('schedule.name'),
                                               r.config.get('schedule.name'))),
        'entropy_tempered', 'E(H(beta)), beta = softmax(A/t)', False)],
      'Fig. 2B: entropy of beta per epoch, by temperature schedule')
  figures['fig4a'] = _figure(
      out / 'fig4a_entropy.png',
      [(by_group, 'entropy_tempered', 'E(H(softmax(A/t))) (forward beta)', False),
       (by_group, 'entropy', 'E(H(softmax(A))) (Eq. 13 as written)', False)],
      'Fig. 4A: expected entropy of beta per epoch')
  figures['fig4b'] = _figure(
      out / 'fig4b_discrete_acc.png',
      [(by_group, 'discrete_acc', 'discretized accuracy (argmax cell, supernet weights)', False)],
      'Fig. 4B: discretized validation accuracy per epoch')
  figures['temperature'] = _figure(
      out / 'temperature.png', [(by_group, 'temperature', 'temperature t', True)],
      'Temperature per epoch')
  return figures, notes


def _slug(name):
  return re.sub(r'[^A-Za-z0-9._=,+-]', '_', name.replace(os.sep, '__'))


def draw_cells(out, runs, graphviz=None):
  """cells/<run>.png for every run; returns {run name: path}."""
  (out / 'cells').mkdir(exist_ok=True)
  paths = {}
  for r in runs:
    space = r.result.get('space', r.config.get('space', 'nb201'))
    paths[r.name] = cell_drawing.draw_cell(space, r.result['genotype'],
                                           out / 'cells' / f'{_slug(r.name)}.png',
                                           title=r.name, graphviz=graphviz)
  return paths


# ---------------------------------------------------------------------------
# TensorBoard HParams
# ---------------------------------------------------------------------------


def _hp_value(value):
  return value if isinstance(value, (bool, int, float, str)) else json.dumps(value)


def write_hparams(logdir, groups, keys, columns):
  """HParams dashboard: hparams_config at `logdir`, one run dir per search."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (slow; only here)
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
  runs = [r for _, g in groups for r in g]
  params = {}
  for k in list(keys) + ['seed']:
    values = sorted({_hp_value(r.value(k)) for r in runs}, key=str)
    if len({type(v) for v in values}) > 1:
      values = [str(v) for v in values]
    params[k] = hp.HParam(k, hp.Discrete(values))
  metric_keys = [(c[0], f'{c[1]} [{c[2]}]') for c in columns] + [(m[0], m[1]) for m in RUN_METRICS]
  with tf.summary.create_file_writer(str(logdir)).as_default():
    hp.hparams_config(hparams=list(params.values()),
                      metrics=[hp.Metric(f'final/{k}', display_name=d) for k, d in metric_keys])
  for r in runs:
    writer = tf.summary.create_file_writer(str(logdir / _slug(r.name)))
    with writer.as_default():
      values = {}
      for k, param in params.items():
        v = _hp_value(r.value(k))
        values[param] = str(v) if all(isinstance(x, str) for x in param.domain.values) else v
      hp.hparams(values, trial_id=r.name)
      step = len(r.history)
      for k, v in r.metrics(columns).items():
        if not math.isnan(v):
          tf.summary.scalar(f'final/{k}', v, step=step)
      for h in r.history:
        for field in ('temperature', 'entropy', 'entropy_tempered', 'discrete_acc'):
          if field in h:
            tf.summary.scalar(f'epoch/{field}', h[field], step=h['epoch'])
    writer.close()


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
    ReportError: no finished run, or incomparable runs (naming the fields).
  """
  dirs = [pathlib.Path(d) for d in dirs]
  runs, unfinished, orders = find_runs(dirs)
  if not runs:
    more = f' ({len(unfinished)} unfinished)' if unfinished else ''
    raise ReportError(f'no finished search run under {", ".join(map(str, dirs))}{more}: '
                      f'a run is a directory with config.json and a genotype.json of all epochs')
  keys = swept_keys(runs, keys)
  columns = NATS_COLUMNS if benchmark is not None else SHIPPED_COLUMNS
  notes = [f'skipped {len(unfinished)} unfinished run(s): ' +
           ', '.join(str(u) for u in unfinished)] if unfinished else []
  for r in runs:
    r.bench = r.result.get('benchmark')
    if benchmark is not None:
      r.bench = None
      if r.result.get('space', 'nb201') == 'nb201':
        try:
          r.bench = benchmark.lookup(r.result['genotype'])
        except ValueError as e:
          notes.append(f'{r.name}: {e}')
  groups = group_runs(runs, keys, orders)
  summary = summarize(groups, columns)
  out = pathlib.Path(out)
  out.mkdir(parents=True, exist_ok=True)
  _write_csvs(out, keys, summary, groups, columns)
  figures, fig_notes = write_figures(out, groups, keys)
  notes += fig_notes
  cells = draw_cells(out, runs, graphviz)
  if tensorboard:
    write_hparams(out / 'tb', groups, keys, columns)

  source = ('NATS-Bench topology file (--nats_bench)' if benchmark is not None else
            'the shipped NAS-Bench-201 table (edd_tf/assets; cifar10-valid for CIFAR-10)')
  header = keys + ['runs'] + [f'{c[1]} [{c[2]}]' for c in columns] + [m[1] for m in RUN_METRICS]
  table = [[*row['values'], row['runs']] +
           [_fmt(row[f'{c[0]}_mean'], row[f'{c[0]}_std'], '.2f') for c in columns] +
           [_fmt(row[f'{m[0]}_mean'], row[f'{m[0]}_std'], m[2]) for m in RUN_METRICS]
           for row in summary]
  run_rows = [[r.name, r.config.get('seed'), f'`{_genotype_text(r)}`'] +
              [('n/a' if math.isnan(v) else f'{v:.2f}')
               for v in (r.metrics(columns)[c[0]] for c in columns)]
              for _, g in groups for r in g]
  md = [f'# Search report: {len(runs)} runs in {len(groups)} groups', '',
        f'Runs from {", ".join(str(d) for d in dirs)}. Grouped by {keys or "nothing"}; '
        f'mean ± sample standard deviation (n-1) over the runs (seeds) of a group. Benchmark '
        f'accuracies (percent, 200-epoch training, mean over its trials) of the found cell from '
        f'{source}.', '', _markdown_table(header, table), '', 'Columns:']
  md += [f'- **{c[1]}**: {c[2]} - {c[3]}.' for c in columns]
  md += ['- **search (s)**: wall-clock seconds of the search; **final t**, **H**: temperature '
         'and mean entropy over edges in the last epoch; **discretized acc**: the argmax cell '
         'with the supernet weights on the validation split, last epoch.', '',
         '## Runs', '', _markdown_table(['run', 'seed', 'genotype'] + [c[1] for c in columns],
                                        run_rows), '', '## Figures', '']
  md += [f'![{name}]({p.name})' for name, p in figures.items()]
  md += ['', '## Found cells', '']
  md += [f'![{name}](cells/{p.name})' for name, p in cells.items()]
  if notes:
    md += ['', '## Notes', ''] + [f'- {n}' for n in notes]
  (out / 'report.md').write_text('\n'.join(md) + '\n')
  return {'report': out / 'report.md', 'summary': out / 'summary.csv', 'runs': out / 'runs.csv',
          'figures': figures, 'cells': cells, 'notes': notes, 'groups': summary, 'keys': keys}
