"""Tests for the edd_tf.arch.schedules package: SCHEDULES, build_schedule, state, re-exports."""

import json

import ml_collections
import numpy as np
import pytest

from edd_tf.arch import schedules
from edd_tf.arch.schedules import base
from edd_tf.arch.schedules import edd
from edd_tf.arch.schedules import ets
from edd_tf.arch.schedules import simple

E = 4e-4  # the paper's E(a) for 1e-3 * N(0, 1) alphas


@pytest.mark.parametrize('name', sorted(schedules.SCHEDULES))
def test_state_round_trip_resumes_exactly(name):
  config = {'name': name, 'warmup_epochs': 1, 'cycle_epochs': 3}
  entropies = [1.6, 1.4, 1.1, 0.9, 0.8, 0.6]
  sched = schedules.build_schedule(config, expectation=E, num_epochs=6)
  for epoch in range(3):
    sched.update(entropies[epoch], epoch)
  state = json.loads(json.dumps(sched.state_dict()))
  # The resumed run measures a different E(a); the saved one must win.
  resumed = schedules.build_schedule(config, expectation=2 * E, num_epochs=6)
  resumed.load_state_dict(state)
  assert resumed.current_temperature == sched.current_temperature
  assert resumed.state_dict() == sched.state_dict()
  for epoch in range(3, 6):
    assert resumed.update(entropies[epoch], epoch) == sched.update(entropies[epoch], epoch)


@pytest.mark.parametrize('name', sorted(schedules.SCHEDULES))
def test_every_schedule_starts_at_t0_and_update_returns_next_epoch(name):
  sched = schedules.build_schedule(ml_collections.ConfigDict({'name': name, 't0': 0.8}),
                                   expectation=E, num_epochs=4)
  assert sched.initial_temperature() == 0.8
  t = sched.update(1.0, 0)
  assert t == sched.temperature(1) == sched.current_temperature


def test_build_schedule_defaults():
  edd = schedules.build_schedule({'name': 'edd'}, expectation=None, num_epochs=50)
  assert (edd.lam, edd.rho, edd.t0, edd.expectation) == (0.06, 0.5, 1.0, None)
  pcd = schedules.build_schedule({'name': 'pcd'}, expectation=E, num_epochs=50)
  assert (pcd.t0, pcd.t_target, pcd.warmup_epochs, pcd.cycle_epochs) == (1.0, 1e-3, 0, 10)
  lts = schedules.build_schedule({'name': 'linear'}, expectation=None, num_epochs=50)
  assert lts.temperature(49) == 1e-3
  ets = schedules.build_schedule({'name': 'ets'}, expectation=np.float32(E), num_epochs=5)
  np.testing.assert_allclose(ets.points, [1, 0.003441, 0.001818, 0.001274, 0.001], rtol=1e-3)


def test_build_schedule_unknown_name():
  with pytest.raises(ValueError) as err:
    schedules.build_schedule({'name': 'cosine'}, expectation=E, num_epochs=5)
  assert str(err.value) == ("unknown schedule 'cosine'; known schedules: "
                            "['constant', 'edd', 'ets', 'linear', 'pcd']")


@pytest.mark.parametrize('config,field', [({'name': 'constant', 't0': 0.0}, "'t0'"),
                                          ({'name': 'linear', 't_target': -1e-3}, "'t_target'"),
                                          ({'name': 'ets', 't0': -1.0}, "'t0'"),
                                          ({'name': 'edd', 'lam': 0.0}, "'lam'"),
                                          ({'name': 'edd', 'rho': 1.5}, "'rho'"),
                                          ({'name': 'pcd', 'cycle_epochs': 0}, 'cycle_epochs')])
def test_build_schedule_names_bad_field(config, field):
  with pytest.raises(ValueError, match=field):
    schedules.build_schedule(config, expectation=E, num_epochs=5)


@pytest.mark.parametrize('name', ['ets', 'pcd'])
def test_static_exponential_schedules_need_expectation(name):
  with pytest.raises(ValueError, match='needs expectation'):
    schedules.build_schedule({'name': name}, expectation=None, num_epochs=5)


def test_package_reexports_the_family_modules():
  # Callers use `from edd_tf.arch import schedules; schedules.X`.
  assert schedules.Schedule is base.Schedule
  assert schedules.expectation_of_alphas is base.expectation_of_alphas
  assert (schedules.Constant, schedules.Linear) == (simple.Constant, simple.Linear)
  assert (schedules.constant, schedules.linear) == (simple.constant, simple.linear)
  assert (schedules.ETS, schedules.PCD) == (ets.ETS, ets.PCD)
  assert (schedules.ets_exp_points, schedules.ets_decay_points) == (ets.ets_exp_points,
                                                                    ets.ets_decay_points)
  assert schedules.EDD is edd.EDD
