"""edd_tf/procedures/adaptive_decay.py: DARTS-ADA's trigger, rollback target, rounds and cap."""

import pytest

from configs import darts_es
from edd_tf import procedures
from edd_tf import search
from tests.procedures.test_early_stop import history_of


def _ada(**procedure):
  config = darts_es.get_config('s2,cifar10,ada')
  config.procedure.update(procedure)
  return procedures.build_procedure(config)


def test_trigger_rolls_back_to_the_named_epoch_and_raises_the_decay():
  ada = _ada()
  assert ada.epoch_checkpoints == 13          # epochs 12 back, plus the one named
  assert ada.weight_decay() == pytest.approx(3e-4)
  curve = lambda e: 1.0 if e <= 20 else 3.0  # DARTS-ES fires at epoch 22, naming 10
  assert ada.decide_rollback(history_of(curve, 22)) is None
  history = history_of(curve, 23)
  assert ada.decide_rollback(history) == 10
  assert not ada.stopped(history)
  assert ada.rounds == [dict(trigger_epoch=23, stop_epoch=11, rollback_to=10,
                             weight_decay=pytest.approx(3e-3), genotype='g10')]
  assert ada.weight_decay() == pytest.approx(3e-3)
  assert ada.result_fields(history)['darts_es_genotype'] == 'g10'


def test_after_a_rollback_only_later_epochs_trigger_and_the_cap_ends_the_rounds():
  ada = _ada()
  curve = lambda e: 1.0 if e <= 20 else 3.0
  ada.decide_rollback(history_of(curve, 23))
  # Cut back to epochs 0..10, then flat values: nothing fires again.
  kept = history_of(curve, 11) + history_of(lambda e: 1.0, 30)[11:]
  assert all(ada.decide_rollback(kept[:n]) is None for n in range(12, 31))
  # A second rise after the rollback fires (epoch 30 names 18), raising to 3e-2.
  again = history_of(curve, 11) + history_of(lambda e: 1.0 if e <= 28 else 3.0, 31)[11:]
  assert ada.decide_rollback(again) == 18
  assert ada.weight_decay() == pytest.approx(3e-2)
  # round(log(3e-2) / log(3e-2), 1) == 1: the last round; no further trigger.
  assert ada.decide_rollback(history_of(lambda e: 1.0 if e <= 20 else 3.0, 23)) is None
  state = ada.state_dict()
  fresh = _ada()
  fresh.load_state_dict(state)
  assert fresh.weight_decay() == pytest.approx(3e-2) and len(fresh.rounds) == 2


def test_extra_rollback_epochs_go_further_back():
  ada = _ada(extra_rollback_epochs=3)
  assert ada.epoch_checkpoints == 16
  assert ada.decide_rollback(history_of(lambda e: 1.0 if e <= 20 else 3.0, 23)) == 7


@pytest.mark.parametrize('field, value, message', [
    ('procedure.mul_factor', 1.0, 'config.procedure.mul_factor must be > 1'),
    ('procedure.max_weight_decay', 1e-4, 'config.procedure.max_weight_decay'),
    ('procedure.extra_rollback_epochs', -1, 'config.procedure.extra_rollback_epochs'),
    ('distribute', 'multi_worker', 'config.distribute'),
])
def test_bad_settings_name_the_field(field, value, message):
  config = darts_es.get_config('s2,cifar10,ada')
  node, _, last = field.rpartition('.')
  (config[node] if node else config)[last] = value
  with pytest.raises(ValueError, match=message.replace('.', r'\.')):
    search.check_config(config)
