"""TensorBoard summaries of a search epoch: scalars, labelled architecture heat maps, genotype.

Step-level scalars (loss, accuracy, learning rate, temperature, seconds per
step, images per second) are written by the loop skeleton (core/loop.py).
"""

import io

import numpy as np
import tensorflow as tf

# Per-epoch record fields written as scalars (search history entries).
SCALARS = ('temperature', 'd_exp', 'entropy', 'entropy_tempered', 'lr', 'train_loss', 'train_acc',
           'val_loss', 'val_acc', 'discrete_acc', 'arch_grad_norm', 'hessian_max_eigenvalue',
           'es_local_average')


def heatmap(matrix, scale=24):
  """float32[1, rows*scale, cols*scale, 1] image of a matrix in [0, 1] (no labels)."""
  m = np.clip(np.asarray(matrix, np.float32), 0.0, 1.0)
  m = np.kron(m, np.ones((scale, scale), np.float32))
  return m[None, :, :, None]


def labelled_heatmap(matrix, row_names, col_names, title):
  """uint8[1, H, W, 4] PNG rendering of a matrix with its edge (row) and op (column) names.

  `col_names` is one tuple per row when the ops differ per edge (RobustDARTS
  S1): then each cell is annotated with its op name instead.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  m = np.asarray(matrix, np.float32)
  per_edge = isinstance(col_names[0], (list, tuple))
  fig, ax = plt.subplots(figsize=(1.2 + 0.9 * m.shape[1] * (1.6 if per_edge else 1.0),
                                  1.0 + 0.32 * m.shape[0]), dpi=90)
  ax.imshow(m, vmin=0.0, vmax=1.0, cmap='viridis', aspect='auto')
  ax.set_yticks(range(m.shape[0]), row_names, fontsize=7)
  if per_edge:
    ax.set_xticks([])
  else:
    ax.set_xticks(range(m.shape[1]), col_names, rotation=35, ha='right', fontsize=7)
  for r in range(m.shape[0]):
    for c in range(m.shape[1]):
      text = f'{m[r, c]:.2f}' + (f'\n{col_names[r][c]}' if per_edge else '')
      ax.text(c, r, text, ha='center', va='center', fontsize=5.5,
              color='white' if m[r, c] < 0.6 else 'black')
  ax.set_title(title, fontsize=8)
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format='png')
  plt.close(fig)
  return tf.io.decode_png(buf.getvalue())[None]


def markdown_table(matrix, row_names, col_names):
  per_edge = isinstance(col_names[0], (list, tuple))
  cols = [f'op {k}' for k in range(len(matrix[0]))] if per_edge else list(col_names)
  head = '| edge | ' + ' | '.join(cols) + ' |\n|' + '---|' * (len(cols) + 1) + '\n'
  rows = []
  for r, row in enumerate(np.asarray(matrix)):
    cells = [f'{v:.3f}' + (f' {col_names[r][k]}' if per_edge else '') for k, v in enumerate(row)]
    rows.append(f'| {row_names[r]} | ' + ' | '.join(cells) + ' |')
  return head + '\n'.join(rows)


def write_search_epoch(record, *, arch, weights, space, genotype_text):
  """Logs one search epoch into the default writer (step = the epoch).

  Args:
    record: the epoch's history record.
    arch: {name: array} architecture variables.
    weights: {space key: float[edges, ops]} the mixing weights betas.
    space: the search space (edge and op names).
    genotype_text: the found cell as text.
  """
  for key in SCALARS:
    if record.get(key) is not None:
      tf.summary.scalar(f'search/{key}', record[key])
  for key, value in (record.get('nb201') or {}).items():
    if key != 'index':
      tf.summary.scalar(f'nb201/{key}', value)
  for name, value in arch.items():
    tf.summary.histogram(f'arch/{name}', value)
  for key, matrix in weights.items():
    rows, cols = space.edge_names(key), space.op_names(key)
    shared = all(c == cols[0] for c in cols)
    col_names = cols[0] if shared else cols
    tf.summary.image(f'arch/betas/{key}', labelled_heatmap(
        matrix, rows, col_names, f'{key}: betas, epoch {record["epoch"]}'))
    tf.summary.text(f'arch/betas_table/{key}', markdown_table(matrix, rows, col_names))
  tf.summary.text('arch/genotype', genotype_text)
