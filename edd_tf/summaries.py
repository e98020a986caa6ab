"""TensorBoard summaries of a search: scalars, the beta matrix, the genotype."""

import numpy as np
import tensorflow as tf

# Per-epoch record fields written as scalars (search.run's history entries).
SCALARS = ('temperature', 'd_exp', 'entropy', 'entropy_tempered', 'lr', 'train_loss', 'train_acc',
           'val_loss', 'val_acc', 'discrete_acc')


def heatmap(matrix, scale=24):
  """float32[1, rows*scale, cols*scale, 1] image of a matrix in [0, 1]."""
  m = np.clip(np.asarray(matrix, np.float32), 0.0, 1.0)
  m = np.kron(m, np.ones((scale, scale), np.float32))
  return m[None, :, :, None]


class Writer:
  """Writes one search's events to `logdir` (a tf.summary file writer)."""

  def __init__(self, logdir):
    self._writer = tf.summary.create_file_writer(str(logdir))

  def epoch(self, step, record, *, alphas, betas, op_names):
    """Logs an epoch record, the alphas and the mixing weights betas."""
    with self._writer.as_default(step=step):
      for key in SCALARS:
        if record.get(key) is not None:
          tf.summary.scalar(f'search/{key}', record[key])
      for key, value in (record.get('nb201') or {}).items():
        if key != 'index':
          tf.summary.scalar(f'nb201/{key}', value)
      tf.summary.histogram('arch/alphas', alphas)
      # Rows: edges; columns: ops in `op_names` order (described in the text).
      tf.summary.image('arch/betas', heatmap(betas))
      tf.summary.image('arch/softmax_alphas', heatmap(tf.nn.softmax(alphas, -1).numpy()))
      tf.summary.text('arch/genotype', record['genotype'])
      tf.summary.text('arch/betas_table', _markdown_table(betas, op_names))
    self._writer.flush()

  def close(self):
    self._writer.close()


def _markdown_table(matrix, op_names):
  head = '| edge | ' + ' | '.join(op_names) + ' |\n|' + '---|' * (len(op_names) + 1) + '\n'
  rows = [f'| {k} | ' + ' | '.join(f'{v:.3f}' for v in row) + ' |'
          for k, row in enumerate(np.asarray(matrix))]
  return head + '\n'.join(rows)
