"""DARTS-ES: stop the search when the dominant Hessian eigenvalue of the validation loss grows.

RobustDARTS (Zela et al. 2020), as its public code runs it (automl/
RobustDARTS src/utils.py 67-140, EVLocalAvg; src/search/train_search.py
360-425; ../shared/docs/baselines.md part 2, sect. 4 and pitfall 1):

  * lambda_max of H = d^2 L_val / dA^2 (bilevel/hessian.py) is measured at
    the end of every epoch e with e % f == 0 and at the last epoch
    (f = config.search.hessian_every_epochs, 2 in the public scripts);
  * local averages: once ceil(w / 2) eigenvalues exist, the mean of all of
    them while fewer than w, then the sliding mean of the last w (w = 5);
    the average computed at epoch e is labelled epoch e - f * floor(w / 2);
  * the stop rule, at a measurement epoch e other than the last: if
    label(e) - f * delta >= start_epoch (delta = 4, start_epoch = 10, so
    e >= 22 with f = 2), stop when L_now / L_(delta averages earlier) >
    factor (1.3);
  * the result is the genotype of epoch label(e) - f * delta (= e - 12 with
    the defaults), and the search ends after epoch e.

Epochs are 0-based here as in the public code (genotype.json's 'epoch' is
1-based). The paper states the rule differently (averages k = 5 apart,
threshold 0.75); this is the code's rule, which reproduces the repository's
runs. The public code also skips the stop once the weight decay reached its
maximum (DARTS-ADA's last round); that belongs to ADA, not built here.

Every decision is a function of the eigenvalues in the history, so a search
interrupted anywhere and resumed stops at the same epoch.
"""

import math

import numpy as np

from edd_tf.procedures import base

EIGENVALUE = 'hessian_max_eigenvalue'


def replay(measurements, epochs, *, window, every, factor, start_epoch, delta, check_from=0):
  """Runs the public code's tracker over [(epoch, eigenvalue)] in order.

  The stop rule is checked at measurement epochs >= `check_from` only (after
  a DARTS-ADA rollback to epoch s the search continues, and checks, from s + 1).

  Returns:
    (averages, stop): averages is [(epoch measured, label epoch, local
    average)]; stop is None or (epoch it triggered at, the epoch whose
    genotype is kept).
  """
  values, averages = [], []
  half = math.ceil(window / 2)
  for epoch, value in measurements:
    values.append(value)
    if len(values) < half or epoch >= epochs - 1:
      # Too few values for an average yet, or the last epoch (where the public
      # code only computes the averages of the tail, never a stop).
      continue
    recent = values if len(values) < window else values[-window:]
    label = epoch - every * (window // 2)
    averages.append((epoch, label, float(np.mean(recent))))
    if (epoch >= check_from and label - every * delta >= start_epoch
        and len(averages) > delta):
      if averages[-1][2] / averages[-1 - delta][2] > factor:
        return averages, (epoch, label - every * delta)
  return averages, None


class DartsES(base.Procedure):
  """Early stopping on the growth of the dominant eigenvalue (R-DARTS' DARTS-ES)."""

  name = 'darts_es'
  # The public code's defaults (src/search/args.py 59-64).
  DEFAULTS = dict(window=5, factor=1.3, start_epoch=10, delta=4)

  @classmethod
  def check_config(cls, config):
    every = config.search.get('hessian_every_epochs', 0)
    if not every or every < 1:
      raise ValueError('config.procedure.name=darts_es watches the Hessian eigenvalue: set '
                       'config.search.hessian_every_epochs >= 1 (the public code measures '
                       f'every 2 epochs), got {every!r}')
    settings = cls.settings(config)
    if not (isinstance(settings['window'], int) and settings['window'] >= 1):
      raise ValueError(f'config.procedure.window must be an integer >= 1, got '
                       f'{settings["window"]!r}')
    if not settings['factor'] > 0:
      raise ValueError(f'config.procedure.factor must be > 0, got {settings["factor"]!r}')
    if not (isinstance(settings['delta'], int) and settings['delta'] >= 1):
      raise ValueError(f'config.procedure.delta must be an integer >= 1, got '
                       f'{settings["delta"]!r}')

  @classmethod
  def settings(cls, config):
    return {k: config.procedure.get(k, v) for k, v in cls.DEFAULTS.items()}

  def _replay(self, history, check_from=0):
    measured = [(i, h[EIGENVALUE]) for i, h in enumerate(history)
                if h.get(EIGENVALUE) is not None]
    tracker = {k: v for k, v in self.settings(self.config).items() if k in DartsES.DEFAULTS}
    return replay(measured, self.config.search.epochs, check_from=check_from,
                  every=self.config.search.hessian_every_epochs, **tracker)

  def end_epoch(self, epoch, record, history):
    averages, stop = self._replay(list(history) + [record])
    out = {'es_local_average': averages[-1][2] if averages and averages[-1][0] == epoch
           else None}
    if stop is not None and stop[0] == epoch:
      out['es_stop_epoch'] = stop[1] + 1   # 1-based, as the records' 'epoch'
    return out

  def stopped(self, history):
    return self._replay(history)[1] is not None

  def result_epoch(self, history):
    stop = self._replay(history)[1]
    return len(history) - 1 if stop is None else stop[1]
