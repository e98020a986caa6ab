"""Procedures through the search loop: the eigenvalue in the history, an early stop, resume."""

import json

import numpy as np
import pytest
import tensorflow as tf

from edd_tf import procedures
from edd_tf import search
from edd_tf.procedures import base
from tests import helpers
from tests.methods.test_search_methods import tiny_config


class _StopAfterTwo(base.Procedure):
  """Stops once two epochs are done and returns the first one's genotype."""

  name = 'stop_after_two'

  def end_epoch(self, epoch, record, history):
    return {'seen_before': len(history)}

  def stopped(self, history):
    return len(history) >= 2

  def result_epoch(self, history):
    return 0


@pytest.mark.slow  # three searches, each tracing the double backward (~2 min on 2 cores)
def test_hessian_eigenvalue_every_epoch_and_exact_resume(tmp_path):
  config = tiny_config('darts', 'nb201', **{'search.hessian_every_epochs': 1,
                                            'search.epochs': 2})
  ref = search.run(config, tmp_path / 'ref')
  values = [h[procedures.EIGENVALUE] for h in ref['history']]
  assert len(values) == 2 and all(np.isfinite(v) for v in values)
  assert ref['genotype_epoch'] == 2 and not ref['stopped_early']

  interrupt = helpers.interrupt_at(1, 1)

  with pytest.raises(helpers.Interrupt):
    search.run(config, tmp_path / 'cut', progress=interrupt)
  resumed = search.run(config, tmp_path / 'cut')
  np.testing.assert_allclose([h[procedures.EIGENVALUE] for h in resumed['history']], values,
                             rtol=1e-4)


@pytest.mark.slow  # a 4-epoch search with the double backward traced (~1 min)
def test_every_second_epoch_and_the_last(tmp_path):
  config = tiny_config('darts', 'nb201', **{'search.hessian_every_epochs': 2,
                                            'search.epochs': 4})
  config.data.train_examples = 32
  result = search.run(config, tmp_path)
  measured = [h[procedures.EIGENVALUE] for h in result['history']]
  # Epochs 0, 2 and the last (3), each a finite positive-curvature value.
  assert [m is not None for m in measured] == [True, False, True, True]
  assert all(np.isfinite(m) for m in measured if m is not None)


def test_a_procedure_stops_the_search_and_names_the_genotype(tmp_path, monkeypatch):
  monkeypatch.setitem(procedures.PROCEDURES, 'stop_after_two', _StopAfterTwo)
  config = tiny_config('darts', 'nb201', **{'search.epochs': 4})
  config.procedure.name = 'stop_after_two'
  result = search.run(config, tmp_path)
  assert len(result['history']) == 2
  assert result['finished'] and result['stopped_early'] and result['genotype_epoch'] == 1
  assert result['genotype'] == result['history'][0]['genotype']
  assert [h['seen_before'] for h in result['history']] == [0, 1]
  saved = json.loads((tmp_path / 'genotype.json').read_text())
  assert saved['finished'] and saved['genotype'] == result['genotype']
  # Rerunning a stopped search runs nothing more and returns the same result.
  again = search.run(config, tmp_path)
  assert len(again['history']) == 2 and again['genotype'] == result['genotype']


class _RollBackOnce(base.Procedure):
  """After epoch 2 (index 1) returns to the end of epoch 1 with a 10x weight decay."""

  name = 'roll_back_once'
  epoch_checkpoints = 3

  def __init__(self, config):
    super().__init__(config)
    self.rounds = 0

  def decide_rollback(self, history):
    if self.rounds == 0 and len(history) == 2:
      self.rounds = 1
      return 0
    return None

  def weight_decay_factor(self):
    return 10.0 ** self.rounds

  def end_epoch(self, epoch, record, history):
    return {'weight_decay_factor': self.weight_decay_factor()}

  def state_dict(self):
    return {'rounds': self.rounds}

  def load_state_dict(self, state):
    self.rounds = state.get('rounds', 0)


class _DecayFromEpochTwo(_RollBackOnce):
  """The same weight decays without the rollback: 1x in epoch 1, 10x from epoch 2 on."""

  name = 'decay_from_two'

  def decide_rollback(self, history):
    return None

  def end_epoch(self, epoch, record, history):
    out = super().end_epoch(epoch, record, history)
    self.rounds = 1
    return out


def _arch(workdir):
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(workdir / 'checkpoints')))
  return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
          if n.startswith('alphas') and n.endswith('VARIABLE_VALUE')}


def _rollback_config(monkeypatch, name):
  monkeypatch.setitem(procedures.PROCEDURES, 'roll_back_once', _RollBackOnce)
  monkeypatch.setitem(procedures.PROCEDURES, 'decay_from_two', _DecayFromEpochTwo)
  config = tiny_config('darts', 'nb201', **{'search.epochs': 3, 'data.train_examples': 32,
                                            'optim.weights.weight_decay': 3e-2})
  config.procedure.name = name
  return config


def test_rollback_restores_the_epoch_and_changes_only_the_weight_decay(tmp_path, monkeypatch):
  rolled = search.run(_rollback_config(monkeypatch, 'roll_back_once'), tmp_path / 'rolled')
  assert [h['weight_decay_factor'] for h in rolled['history']] == [1.0, 10.0, 10.0]
  assert rolled['finished'] and len(rolled['history']) == 3
  straight = search.run(_rollback_config(monkeypatch, 'decay_from_two'), tmp_path / 'straight')
  assert [h['weight_decay_factor'] for h in straight['history']] == [1.0, 10.0, 10.0]
  want, got = _arch(tmp_path / 'straight'), _arch(tmp_path / 'rolled')
  assert want
  for key in want:
    np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-7, err_msg=key)
  for a, b in zip(rolled['history'], straight['history']):
    assert a['val_loss'] == pytest.approx(b['val_loss'], rel=1e-5)


@pytest.mark.slow
def test_a_run_interrupted_after_a_rollback_resumes_to_the_same_result(tmp_path, monkeypatch):
  config = _rollback_config(monkeypatch, 'roll_back_once')
  ref = search.run(config, tmp_path / 'ref')
  calls = []

  def interrupt(epoch, step, steps, metrics):
    del step, steps, metrics
    calls.append(epoch)
    if calls.count(1) == 2:   # epoch 2 the second time, i.e. after the rollback
      raise helpers.Interrupt()

  with pytest.raises(helpers.Interrupt):
    search.run(config, tmp_path / 'cut', progress=interrupt)
  resumed = search.run(config, tmp_path / 'cut')
  assert resumed['genotype'] == ref['genotype']
  assert [h['weight_decay_factor'] for h in resumed['history']] == [1.0, 10.0, 10.0]
  for key, value in _arch(tmp_path / 'ref').items():
    np.testing.assert_allclose(_arch(tmp_path / 'cut')[key], value, rtol=1e-5, atol=1e-7)
