"""The genotype of the epoch with the best supernet validation accuracy (GAEA's bilevel runs).

GAEA's bilevel searches keep the genotype of the epoch whose supernet
validation accuracy is the highest so far (gaea_release train_search.py
160-195, `if valid_acc > best`: the first of equal maxima; baselines.md part 1,
sect. 2); ERM keeps the last one. Our record's `val_acc` is the running mean
of the supernet's accuracy over the epoch's alpha steps on the validation
half (WORKSPACE "Supernet val loss/acc"), not a separate pass over it.
"""

from edd_tf.procedures import base


def best_epoch(values):
  """Index of the first maximum of `values` (strict >, as the public loop)."""
  best = 0
  for i, v in enumerate(values):
    if v > values[best]:
      best = i
  return best


class BestValidationEpoch(base.Procedure):
  """Every epoch runs; the result is the best `val_acc` epoch's genotype."""

  name = 'best_val'

  @classmethod
  def check_config(cls, config):
    unknown = sorted(set(config.procedure.keys()) - {'name'})
    if unknown:
      raise ValueError(f'unknown config.procedure field(s) {unknown} for best_val; it has none')
    if config.search.get('data_mode', 'bilevel') == 'erm':
      raise ValueError("config.procedure.name='best_val' picks the epoch by the validation "
                       "accuracy, which config.search.data_mode='erm' does not hold out")

  def result_epoch(self, history):
    return best_epoch([h['val_acc'] for h in history])

  def result_fields(self, history):
    return {'best_val_acc': float(history[self.result_epoch(history)]['val_acc'])}
