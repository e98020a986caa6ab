"""Drawings of found cells as PNG: NAS-Bench-201 cells and DARTS normal/reduce cells.

Graphviz `dot` renders them when it is on PATH; otherwise (the usual case on
the CPU machines here) a pure matplotlib drawing with the same content is made:

* NB201: nodes 0-3 on a line, one labelled arrow per edge j -> i (6 edges);
  'none' edges are dotted and grey, since they contribute nothing.
* DARTS: inputs c_{k-2} and c_{k-1}, intermediate nodes 0-3 with their two
  labelled inputs each, and the output c_{k} concatenating `*_concat`.
"""

import pathlib
import shutil
import subprocess

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from edd_tf import spaces
from edd_tf.arch import genotype as genotype_lib

OP_COLORS = {
    'none': '#b0b0b0', 'skip_connect': '#333333', 'nor_conv_1x1': '#1f77b4',
    'nor_conv_3x3': '#d62728', 'avg_pool_3x3': '#2ca02c', 'max_pool_3x3': '#17becf',
    'sep_conv_3x3': '#d62728', 'sep_conv_5x5': '#9467bd', 'dil_conv_3x3': '#ff7f0e',
    'dil_conv_5x5': '#8c564b',
}


def has_graphviz():
  return shutil.which('dot') is not None


# ---------------------------------------------------------------------------
# Graphviz
# ---------------------------------------------------------------------------


def nb201_dot(arch, title=''):
  """Graphviz source of an NB201 arch string."""
  ops = genotype_lib.parse_nb201(arch)
  lines = ['digraph cell {', '  rankdir=LR; node [shape=circle, style=filled, '
           'fillcolor="#e8eef7"];', f'  label="{title}"; labelloc=t;']
  for (i, j), op in zip(genotype_lib.NB201_EDGES, ops):
    style = 'dotted' if op == 'none' else 'solid'
    lines.append(f'  {j} -> {i} [label="{op}", style={style}, '
                 f'color="{OP_COLORS.get(op, "black")}"];')
  return '\n'.join(lines + ['}'])


def _darts_cluster(cell, concat, name, label):
  """Graphviz lines of one DARTS cell ([(op, input), ...], 2 per node) as a cluster."""
  edges = genotype_lib.cell_edges(cell)
  steps = max([len(cell) // 2] + [node - 1 for node, _, _ in edges]) if edges else 0
  ids = [f'{name}_km2', f'{name}_km1'] + [f'{name}_{n}' for n in range(steps)]
  lines = [f'  subgraph cluster_{name} {{', f'    label="{label}";',
           f'    {ids[0]} [label="c_{{k-2}}", fillcolor="#a6d96a", shape=box];',
           f'    {ids[1]} [label="c_{{k-1}}", fillcolor="#a6d96a", shape=box];',
           f'    {name}_out [label="c_{{k}}", fillcolor="#fdae61", shape=box];']
  for node in range(steps):
    lines.append(f'    {ids[node + 2]} [label="{node}", fillcolor="#abd9e9", shape=circle];')
  for node, op, src in edges:
    lines.append(f'    {ids[src]} -> {ids[node]} [label="{op}", '
                 f'color="{OP_COLORS.get(op, "black")}"];')
  lines += [f'    {ids[c]} -> {name}_out [color=gray, style=dashed];' for c in concat]
  return lines + ['  }']


def darts_dot(genotype, title=''):
  """Graphviz source of a DARTS Genotype: the normal and reduction cells side by side."""
  lines = ['digraph genotype {', '  rankdir=LR; node [style=filled];',
           f'  label="{title}"; labelloc=t;']
  lines += _darts_cluster(genotype.normal, genotype.normal_concat, 'normal', 'normal cell')
  lines += _darts_cluster(genotype.reduce, genotype.reduce_concat, 'reduce', 'reduction cell')
  return '\n'.join(lines + ['}'])


def _render_dot(source, path):
  subprocess.run(['dot', '-Tpng', '-o', str(path)], input=source, text=True, check=True,
                 capture_output=True)


# ---------------------------------------------------------------------------
# matplotlib
# ---------------------------------------------------------------------------


def _edge(ax, p, q, op, rad, label_at=0.5, fontsize=8):
  """An arrow p -> q bent by `rad` (arc3) with its op name on the curve."""
  color = OP_COLORS.get(op, 'black')
  ax.add_patch(FancyArrowPatch(p, q, connectionstyle=f'arc3,rad={rad}', arrowstyle='-|>',
                               mutation_scale=12, lw=1.6, color=color, shrinkA=14, shrinkB=14,
                               linestyle=':' if op == 'none' else '-'))
  # arc3's control point (equal aspect): mid + rad * (dy, -dx); label on the Bezier curve.
  (x1, y1), (x2, y2) = p, q
  cx, cy = (x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)
  t = label_at
  x = (1 - t) ** 2 * x1 + 2 * (1 - t) * t * cx + t ** 2 * x2
  y = (1 - t) ** 2 * y1 + 2 * (1 - t) * t * cy + t ** 2 * y2
  ax.text(x, y, op, fontsize=fontsize, ha='center', va='center', color=color,
          bbox=dict(boxstyle='round,pad=0.15', fc='white', ec='none', alpha=0.9))


def _node(ax, xy, text, color, box=False):
  ax.text(*xy, text, ha='center', va='center', fontsize=10, zorder=5,
          bbox=dict(boxstyle='square,pad=0.4' if box else 'circle,pad=0.35', fc=color, ec='black'))


def _nb201_axes(ax, arch, title):
  ops = genotype_lib.parse_nb201(arch)
  pos = {n: (2.0 * n, 0.0) for n in range(genotype_lib.NB201_NODES)}
  # j -> j+1 straight, j -> j+2 arcs above, 0 -> 3 below.
  rads = {1: 0.0, 2: -0.4, 3: 0.35}
  for (i, j), op in zip(genotype_lib.NB201_EDGES, ops):
    _edge(ax, pos[j], pos[i], op, rads[i - j])
  for n, xy in pos.items():
    _node(ax, xy, str(n), '#e8eef7')
  ax.set_xlim(-0.5, 6.5)
  ax.set_ylim(-1.3, 1.0)
  ax.set_aspect('equal')
  ax.axis('off')
  ax.set_title(title, fontsize=9)


def _darts_axes(ax, cell, concat, title):
  edges = genotype_lib.cell_edges(cell)
  steps = max([len(cell) // 2] + [node - 1 for node, _, _ in edges]) if edges else 0
  # Inputs left, intermediate nodes on a falling diagonal, output right; each
  # node's two inputs bend apart and carry their labels near the node.
  pos = {0: (0.0, 1.0), 1: (0.0, -1.0)}
  for node in range(steps):
    pos[node + 2] = (2.4 + 2.4 * node, 1.5 - node)
  out = (2.4 + 2.4 * steps, 0.0)
  for node in range(steps):
    # A node has 0-2 inputs (sparse Fair DARTS cells); two bend apart.
    inputs = sorted([(op, src) for n, op, src in edges if n == node + 2],
                    key=lambda e: -pos[e[1]][1])
    for (op, src), rad in zip(inputs, (-0.2, 0.2) if len(inputs) > 1 else (0.0,)):
      _edge(ax, pos[src], pos[node + 2], op, rad, label_at=0.7, fontsize=7)
  for c in concat:
    ax.add_patch(FancyArrowPatch(pos[c], out, arrowstyle='-|>', mutation_scale=10, lw=0.8,
                                 color='#999999', shrinkA=14, shrinkB=16, linestyle='--'))
  _node(ax, pos[0], 'c_{k-2}', '#a6d96a', box=True)
  _node(ax, pos[1], 'c_{k-1}', '#a6d96a', box=True)
  for node in range(steps):
    _node(ax, pos[node + 2], str(node), '#abd9e9')
  _node(ax, out, 'c_{k}', '#fdae61', box=True)
  ax.set_xlim(-0.8, out[0] + 0.8)
  ax.set_ylim(-2.3, 2.3)
  ax.set_aspect('equal')
  ax.axis('off')
  ax.set_title(title, fontsize=9)


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def draw_nb201(arch, path, title='', graphviz=None):
  """Writes a PNG of an NB201 cell (arch string); graphviz=None: use dot if present."""
  path = pathlib.Path(path)
  if has_graphviz() if graphviz is None else graphviz:
    _render_dot(nb201_dot(arch, title), path)
    return path
  fig = Figure(figsize=(7.5, 3.2), dpi=100)
  _nb201_axes(fig.add_subplot(1, 1, 1), arch, title or arch)
  fig.savefig(path, bbox_inches='tight')
  return path


def draw_darts(genotype, path, title='', graphviz=None):
  """Writes a PNG of a DARTS genotype (Genotype or its dict): normal and reduce cells."""
  path = pathlib.Path(path)
  if isinstance(genotype, dict):
    genotype = genotype_lib.genotype_from_dict(genotype)
  if has_graphviz() if graphviz is None else graphviz:
    _render_dot(darts_dot(genotype, title), path)
    return path
  fig = Figure(figsize=(11, 7.5), dpi=100)
  _darts_axes(fig.add_subplot(2, 1, 1), genotype.normal, genotype.normal_concat,
              f'{title} normal cell'.strip())
  _darts_axes(fig.add_subplot(2, 1, 2), genotype.reduce, genotype.reduce_concat,
              f'{title} reduction cell'.strip())
  fig.savefig(path, bbox_inches='tight')
  return path


def draw_cell(space, genotype, path, title='', graphviz=None):
  """Draws the genotype of a search space (NB201 family: arch string; others: DARTS dict)."""
  if spaces.get_space(space).family == 'nb201':
    return draw_nb201(genotype, path, title, graphviz)
  return draw_darts(genotype, path, title, graphviz)
