"""best_val: the genotype of the best supernet validation epoch (GAEA's bilevel runs)."""

import importlib

import pytest

from edd_tf import search
from edd_tf.procedures import best_epoch
from tests.methods.test_search_methods import tiny_config


def test_first_maximum_wins():
  assert best_epoch.best_epoch([0.2, 0.5, 0.4, 0.5]) == 1   # strict >: the earlier of the ties
  assert best_epoch.best_epoch([0.3]) == 0


def test_search_returns_the_best_validation_epoch(tmp_path):
  config = tiny_config('darts', 'nb201', **{'search.epochs': 3})
  config.procedure.name = 'best_val'
  result = search.run(config, tmp_path)
  accs = [h['val_acc'] for h in result['history']]
  chosen = best_epoch.best_epoch(accs)
  assert chosen < len(accs) - 1   # on these seeds the best epoch is not the last one
  assert result['genotype_epoch'] == chosen + 1
  assert result['genotype'] == result['history'][chosen]['genotype']
  assert result['best_val_acc'] == pytest.approx(max(accs))


def test_gaea_bilevel_configs_use_it_and_erm_is_refused():
  for name in ('nb201_cifar10_gaea_bilevel', 'darts_cifar10_gaea_pc'):
    assert importlib.import_module(f'configs.{name}').get_config().procedure.name == 'best_val'
  erm = importlib.import_module('configs.nb201_cifar10_gaea_erm').get_config()
  assert erm.procedure.name == 'none'
  erm.procedure.name = 'best_val'
  with pytest.raises(ValueError, match="data_mode='erm' does not hold out"):
    search.check_config(erm)
