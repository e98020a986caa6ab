"""DARTS-ADA: on DARTS-ES's trigger, roll back and raise the weight decay instead of stopping.

RobustDARTS' `--early_stop 3` (automl/RobustDARTS src/search/train_search.py
224-307, scripts/DARTS-ADA_search.sh; ../shared/docs/baselines.md part 2,
sect. 4 "DARTS-ADA" and pitfall 3):

  * the trigger is DARTS-ES's (procedures/early_stop.py), checked only at
    epochs after the last rollback (the tracker is restored with the
    checkpoint, so its history is that of the epochs kept);
  * on a trigger at epoch e naming epoch s = e - 12, the search returns to
    the end of epoch s - extra_rollback_epochs (weights, alphas, both
    optimizer states, the schedule; the loop keeps the last epochs'
    checkpoints for it) and continues from there with the weight decay
    multiplied by `mul_factor` (10; script), the cosine lr continuing with
    the epoch;
  * no further trigger once round(log(max_weight_decay) / log(wd), 1) == 1
    (max 3e-2 in the script: 3e-4 -> 3e-3 -> 3e-2, so at most two rounds);
  * the result is the genotype at the end of the run; the genotype of the
    first trigger's epoch s is DARTS-ES's and is written beside it
    ('darts_es_genotype').

The public code builds the unrolled (second-order) step before it raises the
decay, so its virtual step keeps the initial value (pitfall 3). Here too:
the raised decay acts on the SGD step (`Searcher.weight_decay`), while
`darts_2nd`'s virtual step reads config.optim.weights.weight_decay.
Not with config.distribute=multi_worker (the epoch checkpoints live with
the chief only).
"""

import math

from edd_tf.procedures import early_stop


class DartsADA(early_stop.DartsES):
  """DARTS-ES's trigger as a rollback with a raised weight decay."""

  name = 'darts_ada'
  DEFAULTS = dict(early_stop.DartsES.DEFAULTS, mul_factor=10.0, max_weight_decay=3e-2,
                  extra_rollback_epochs=0)

  def __init__(self, config):
    super().__init__(config)
    self.rounds = []
    s = self.settings(config)
    # The trigger names the epoch every * (window // 2 + delta) back.
    self.epoch_checkpoints = (config.search.hessian_every_epochs
                              * (s['window'] // 2 + s['delta']) + s['extra_rollback_epochs'] + 1)

  @classmethod
  def check_config(cls, config):
    super().check_config(config)
    s = cls.settings(config)
    wd = config.optim.weights.weight_decay
    if config.get('distribute', 'default') == 'multi_worker':
      raise ValueError('config.procedure.name=darts_ada rolls back to epoch checkpoints that only '
                       "the chief keeps: use config.distribute 'default' or 'mirrored'")
    if not s['mul_factor'] > 1:
      raise ValueError(f'config.procedure.mul_factor must be > 1, got {s["mul_factor"]!r}')
    if not 0 < wd < 1 or not wd <= s['max_weight_decay'] < 1:
      raise ValueError('config.procedure.name=darts_ada needs 0 < config.optim.weights.'
                       f'weight_decay <= config.procedure.max_weight_decay < 1, got {wd!r} and '
                       f'{s["max_weight_decay"]!r}')
    if not (isinstance(s['extra_rollback_epochs'], int) and s['extra_rollback_epochs'] >= 0):
      raise ValueError('config.procedure.extra_rollback_epochs must be an integer >= 0, got '
                       f'{s["extra_rollback_epochs"]!r}')

  def weight_decay(self):
    """The weight decay after the rounds so far."""
    return self.config.optim.weights.weight_decay * self.weight_decay_factor()

  def weight_decay_factor(self):
    return self.settings(self.config)['mul_factor'] ** len(self.rounds)

  def _final_round(self):
    """The public code's stop of the increases: round(log wd_max / log wd, 1) == 1."""
    wd_max = self.settings(self.config)['max_weight_decay']
    return round(math.log(wd_max) / math.log(self.weight_decay()), 1) == 1.0

  def _trigger(self, history):
    if self._final_round():
      return None
    check_from = self.rounds[-1]['rollback_to'] + 1 if self.rounds else 0
    return self._replay(history, check_from=check_from)[1]

  def end_epoch(self, epoch, record, history):
    out = super().end_epoch(epoch, record, history)
    out.pop('es_stop_epoch', None)
    out['weight_decay'] = self.weight_decay()
    return out

  def stopped(self, history):
    del history
    return False

  def result_epoch(self, history):
    return len(history) - 1

  def decide_rollback(self, history):
    stop = self._trigger(history)
    if stop is None or stop[0] != len(history) - 1:
      return None
    trigger, named = stop
    target = max(named - self.settings(self.config)['extra_rollback_epochs'], 0)
    self.rounds.append(dict(trigger_epoch=trigger + 1, stop_epoch=named + 1,
                            rollback_to=target,
                            weight_decay=self.weight_decay()
                            * self.settings(self.config)['mul_factor'],
                            genotype=history[named]['genotype']))
    return target

  def state_dict(self):
    return {'rounds': self.rounds}

  def load_state_dict(self, state):
    self.rounds = list(state.get('rounds', []))

  def result_fields(self, history):
    del history
    return {'ada_rounds': self.rounds,
            'darts_es_genotype': self.rounds[0]['genotype'] if self.rounds else None}
