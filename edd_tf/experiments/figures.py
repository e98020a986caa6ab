"""The report's figures of finished runs: per-epoch curves and the found cells.

`write_figures` draws the per-epoch curves of the paper's Figs. 2 and 4 (plus
the temperature) as PNGs, the mean over a group's runs shaded min-max:

  fig2a_arch_grad_norm.png       alpha gradient norm, by softmax (needs arch_grad_norm)
  fig2b_entropy_by_schedule.png  entropy of softmax(A/t), by temperature schedule
  fig4a_entropy.png              entropy of softmax(A/t) and of softmax(A), by group
  fig4b_discrete_acc.png         discretized accuracy, by group
  temperature.png                temperature, by group

`draw_cells` draws every run's found cell as cells/<run>.png (cell_drawing).
"""

import math

from absl import logging
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
import numpy as np

from edd_tf.experiments import cell_drawing
from edd_tf.experiments import finished_runs

SCHEDULE_NAMES = {'linear': 'LTS', 'ets': 'ETS', 'edd': 'EDD', 'pcd': 'PCD',
                  'constant': 'constant t'}


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
  by_group = {finished_runs.group_label(keys, values): g for values, g in groups}
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


def draw_cells(out, runs, graphviz=None):
  """cells/<run>.png for every run; returns {run name: path}."""
  (out / 'cells').mkdir(exist_ok=True)
  paths = {}
  for r in runs:
    space = r.result.get('space', r.config.get('space', 'nb201'))
    paths[r.name] = cell_drawing.draw_cell(space, r.result['genotype'],
                                           out / 'cells' / f'{finished_runs.slug(r.name)}.png',
                                           title=r.name, graphviz=graphviz)
  return paths

