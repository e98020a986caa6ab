"""edd_tf/procedures/early_stop.py: DARTS-ES's local averages, stop rule and kept genotype."""

import pytest

from configs import darts_es
from edd_tf import procedures
from edd_tf import search
from edd_tf.procedures import early_stop

DEFAULTS = dict(window=5, every=2, factor=1.3, start_epoch=10, delta=4)


def measured(values_by_epoch, epochs=50, every=2):
  """[(epoch, value)] at the public code's measurement epochs (e % every == 0, and the last)."""
  epochs_measured = [e for e in range(epochs) if e % every == 0 or e == epochs - 1]
  return [(e, values_by_epoch(e)) for e in epochs_measured]


def test_averages_start_at_the_third_value_and_slide_over_five():
  values = {0: 1.0, 2: 2.0, 4: 3.0, 6: 4.0, 8: 5.0, 10: 6.0, 12: 7.0}
  averages, stop = early_stop.replay(sorted(values.items()), 50, **DEFAULTS)
  assert stop is None
  # (epoch measured, label = epoch - 2 * floor(5 / 2), average)
  assert averages == [(4, 0, 2.0), (6, 2, 2.5), (8, 4, 3.0), (10, 6, 4.0), (12, 8, 5.0)]


def test_stops_where_the_public_rule_fires_and_keeps_the_genotype_twelve_epochs_back():
  # Flat at 1 until epoch 20, then 3: at epoch 22 the average of the last five
  # measurements (14..22) is (4 * 1 + 3) / 5 = 1.4; four averages earlier
  # (computed at epoch 14) it was 1.0; 1.4 / 1.0 > 1.3 and 22 - 4 - 8 >= 10.
  averages, stop = early_stop.replay(measured(lambda e: 1.0 if e <= 20 else 3.0), 50,
                                     **DEFAULTS)
  assert stop == (22, 10)
  assert averages[-1] == (22, 18, pytest.approx(1.4))


def test_no_stop_before_epoch_22_nor_for_slow_growth_nor_at_the_last_epoch():
  # A jump at epoch 12 is visible by 16, but the rule is only checked from 22:
  # at 22 the averages are 3 (14..22) and 2.2 (6..14, computed at 14): 1.36 > 1.3.
  _, stop = early_stop.replay(measured(lambda e: 1.0 if e <= 8 else 3.0), 50, **DEFAULTS)
  assert stop == (22, 10)
  # 1.2x over 8 epochs never triggers.
  _, stop = early_stop.replay(measured(lambda e: 1.2 ** (e / 8)), 50, **DEFAULTS)
  assert stop is None
  # A rise only at the last epoch (49) is measured but never stops.
  _, stop = early_stop.replay(measured(lambda e: 100.0 if e == 49 else 1.0), 50, **DEFAULTS)
  assert stop is None


def _config(**procedure):
  config = darts_es.get_config('s2,cifar10')
  config.procedure.update(procedure)
  return config


def history_of(values_by_epoch, upto, epochs=50):
  return [{'epoch': e + 1, 'genotype': f'g{e}',
           early_stop.EIGENVALUE: values_by_epoch(e) if (e % 2 == 0 or e == epochs - 1) else None}
          for e in range(upto)]


def test_procedure_stops_and_returns_the_named_epoch():
  proc = procedures.build_procedure(_config())
  curve = lambda e: 1.0 if e <= 20 else 3.0
  assert not proc.stopped(history_of(curve, 22))
  history = history_of(curve, 23)   # epochs 0..22 done
  assert proc.stopped(history)
  assert proc.result_epoch(history) == 10
  fields = proc.end_epoch(22, history[-1], history[:-1])
  assert fields == {'es_local_average': pytest.approx(1.4), 'es_stop_epoch': 11}
  # Odd epochs measure nothing: no average there.
  assert proc.end_epoch(21, history[21], history[:21]) == {'es_local_average': None}
  # Without a stop the last epoch's genotype is the result.
  never = history_of(lambda e: 1.0, 50)
  assert not proc.stopped(never) and proc.result_epoch(never) == 49


def test_default_procedure_is_the_fixed_length_search():
  proc = procedures.build_procedure(search.default_config())
  assert not proc.stopped([{}, {}]) and proc.result_epoch([{}, {}, {}]) == 2


@pytest.mark.parametrize('change, message', [
    ({'search.hessian_every_epochs': 0}, 'config.search.hessian_every_epochs >= 1'),
    ({'procedure.window': 0}, 'config.procedure.window'),
    ({'procedure.factor': -1.0}, 'config.procedure.factor'),
    ({'procedure.delta': 0}, 'config.procedure.delta'),
    ({'procedure.name': 'sgass'}, "unknown search procedure 'sgass'"),
])
def test_bad_settings_name_the_field(change, message):
  config = darts_es.get_config('s2,cifar10')
  (key, value), = change.items()
  section, field = key.split('.')
  with config.unlocked():
    config[section][field] = value
  with pytest.raises(ValueError, match=message.replace('(', r'\(').replace('.', r'\.')):
    search.check_config(config)


def test_config_spaces_and_bad_argument():
  for space in darts_es.SPACES:
    config = darts_es.get_config(f'{space},cifar10')
    search.check_config(config)
    assert config.method == 'darts_2nd' and config.search.hessian_every_epochs == 2
  with pytest.raises(ValueError, match='SPACE,DATASET'):
    darts_es.get_config('s9,cifar10')
