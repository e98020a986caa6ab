"""Finished search runs: finding them, checking they are comparable, grouping them.

`find_runs(dirs)` finds every search workdir under `dirs` (config.json +
genotype.json) and keeps the finished ones (sweep.run_state); `swept_keys`
names what the runs vary in and `group_runs` groups them by it, in the grid's
order.

Swept keys: the axes of the sweep.json beside the runs (a bundle axis such as
`softmax` or `method` is one key) plus any config field whose value differs
between runs, except `seed`. Runs are only comparable when they share the
setup (SETUP_FIELDS: data, search length, model size, benchmark table); the
caller may name keys explicitly (`keys=`), and then runs that differ in any
other field are refused.
"""

import dataclasses
import json
import math
import os
import pathlib
import re

from edd_tf.experiments import sweep

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


def group_label(keys, values):
  """The 'k=v, ...' label of a group's key values ('all runs' without keys)."""
  return ', '.join(f'{k}={v}' for k, v in zip(keys, values)) or 'all runs'


def slug(name):
  """A filesystem-safe file name of a run name (cells/<slug>.png, tb/<slug>/)."""
  return re.sub(r'[^A-Za-z0-9._=,+-]', '_', name.replace(os.sep, '__'))
