"""Tests for edd_tf.arch.schedules: E(a), LTS, ETS (Eq. 11-12), PCD, EDD (Eq. 14-15)."""

import json
import math

import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from edd_tf.arch import schedules

E = 4e-4  # the paper's E(a) for 1e-3 * N(0, 1) alphas


def test_expectation_of_darts_init_is_positive_part_mean():
  alphas = 1e-3 * np.random.default_rng(0).normal(size=(1000, 1000))
  np.testing.assert_allclose(schedules.expectation_of_alphas(alphas), 1e-3 / math.sqrt(2 * math.pi),
                             rtol=5e-3)  # 3.99e-4


def test_expectation_counts_negative_entries_as_zero():
  assert schedules.expectation_of_alphas(np.array([[-1.0, 2.0], [0.0, 3.0]])) == 1.25


def test_expectation_pools_lists_dicts_and_variables():
  normal, reduce = tf.Variable([[1.0, -1.0]]), np.array([3.0, 0.0, -2.0, 4.0])
  assert schedules.expectation_of_alphas([normal, reduce]) == pytest.approx(8.0 / 6)
  assert schedules.expectation_of_alphas({'n': normal, 'r': reduce}) == pytest.approx(8.0 / 6)


def test_expectation_of_nothing_raises():
  with pytest.raises(ValueError, match='no architecture parameters'):
    schedules.expectation_of_alphas([])


def test_ets_exp_points_worked_example():
  points = schedules.ets_exp_points(E, 1.0, 1e-3, 4)
  np.testing.assert_allclose(points, [1.0004, 1.1233, 1.2461, 1.3690, 1.4918], atol=1e-4)
  np.testing.assert_allclose(points, [1, 1.123, 1.246, 1.369, 1.492], atol=1e-3)  # Sect. 2.2


def test_ets_decay_points_worked_example():
  temps = schedules.ets_decay_points(E, 1.0, 1e-3, 4)
  np.testing.assert_allclose(temps, [1.0, 0.003441, 0.001818, 0.001274, 0.001], rtol=1e-3)
  np.testing.assert_allclose(temps, [1, 0.00345, 0.0018, 0.00127, 0.001], rtol=1.5e-2)  # Fig. 3
  assert temps[0] == 1.0 and temps[-1] == 1e-3


def test_ets_decay_points_are_eq12_of_exp_points():
  temps = schedules.ets_decay_points(3e-3, 2.0, 0.01, 7)
  want = [3e-3 / math.log(p) for p in schedules.ets_exp_points(3e-3, 2.0, 0.01, 7)]
  np.testing.assert_allclose(temps, want, rtol=1e-9)
  assert all(a > b for a, b in zip(temps, temps[1:]))


def test_ets_decay_points_tiny_target_does_not_overflow():
  temps = schedules.ets_decay_points(E, 1.0, 1e-7, 4)  # e^(E/t_N) = e^4000 overflows
  assert all(math.isfinite(t) and t > 0 for t in temps) and temps[-1] == 1e-7
  with pytest.raises(ValueError, match='overflows'):
    schedules.ets_exp_points(E, 1.0, 1e-7, 4)


@pytest.mark.parametrize('args,match', [((0.0, 1.0, 1e-3, 4), 'expectation'),
                                        ((E, -1.0, 1e-3, 4), 't0'),
                                        ((E, 1.0, 0.0, 4), 't_target'),
                                        ((E, 1.0, 1e-3, 0), 'num_points')])
def test_ets_points_reject_bad_arguments(args, match):
  with pytest.raises(ValueError, match=match):
    schedules.ets_decay_points(*args)


def test_constant_schedule():
  sched = schedules.constant(0.5)
  assert sched.initial_temperature() == 0.5
  assert sched.temperature(99) == 0.5 and sched.update(1.0, 3) == 0.5


def test_linear_edge_values():
  sched = schedules.linear(1.0, 1e-3, 5)
  assert sched.temperature(0) == 1.0 and sched.temperature(4) == 1e-3
  assert sched.temperature(2) == pytest.approx(0.5005)
  assert sched.temperature(10) == 1e-3  # clamps past the last epoch
  assert schedules.linear(1.0, 1e-3, 1).temperature(0) == 1.0


def test_ets_schedule_one_point_per_epoch():
  sched = schedules.ETS(E, 1.0, 1e-3, 5)
  np.testing.assert_allclose([sched.temperature(k) for k in range(5)],
                             schedules.ets_decay_points(E, 1.0, 1e-3, 4), rtol=0)
  assert sched.temperature(0) == 1.0 and sched.temperature(4) == 1e-3
  assert sched.temperature(9) == 1e-3
  assert schedules.ETS(E, 1.0, 1e-3, 1).temperature(0) == 1.0


def test_pcd_warmup_then_repeated_cycles():
  sched = schedules.PCD(E, 1.0, 1e-3, warmup_epochs=3, cycle_epochs=5, num_epochs=20)
  points = schedules.ets_decay_points(E, 1.0, 1e-3, 4)
  assert [sched.temperature(k) for k in range(3)] == [1.0, 1.0, 1.0]
  assert [sched.temperature(k) for k in range(3, 8)] == points
  assert [sched.temperature(k) for k in range(8, 13)] == points
  assert sched.temperature(7) == 1e-3 and sched.temperature(8) == 1.0


def test_pcd_without_warmup_starts_a_cycle_at_epoch_zero():
  sched = schedules.PCD(E, 1.0, 1e-3, warmup_epochs=0, cycle_epochs=2, num_epochs=4)
  assert [sched.temperature(k) for k in range(4)] == [1.0, 1e-3, 1.0, 1e-3]


def test_pcd_needs_two_epochs_per_cycle():
  with pytest.raises(ValueError, match='cycle_epochs'):
    schedules.PCD(E, 1.0, 1e-3, warmup_epochs=0, cycle_epochs=1, num_epochs=4)


def test_edd_recurrence_by_hand():
  edd = schedules.EDD(0.06, rho=0.5, t0=1.0, expectation=E)
  t0_exp = math.exp(E)
  assert edd.initial_temperature() == 1.0
  t1 = edd.update(1.5, 0)  # d(1) = 0.06 * 0.5 * 1.5 = 0.045
  assert edd.d_exp == pytest.approx(0.045)
  assert t1 == pytest.approx(E / math.log(t0_exp + 1 * 0.045))
  t2 = edd.update(1.2, 1)  # d(2) = 0.03 * 1.2 + 0.5 * 0.045 = 0.0585
  assert edd.d_exp == pytest.approx(0.0585)
  assert t2 == pytest.approx(E / math.log(t0_exp + 2 * 0.0585))
  t3 = edd.update(0.9, 2)  # d(3) = 0.027 + 0.02925 = 0.05625
  assert edd.d_exp == pytest.approx(0.05625)
  assert t3 == pytest.approx(E / math.log(t0_exp + 3 * 0.05625))
  assert [edd.temperature(k) for k in range(4)] == [1.0, t1, t2, t3]


def test_edd_paper_notes_temperatures_at_constant_max_entropy():
  edd = schedules.EDD(0.06, rho=0.5, t0=1.0, expectation=E)
  temps = {k + 1: edd.update(math.log(5), k) for k in range(50)}
  assert temps[1] == pytest.approx(8.4e-3, rel=5e-3)
  assert temps[5] == pytest.approx(1.04e-3, rel=5e-3)  # paper-notes: ~1.0e-3
  assert temps[10] == pytest.approx(5.9e-4, rel=5e-3)
  assert temps[50] == pytest.approx(2.269e-4, rel=1e-3)  # paper-notes: ~2.4e-4
  assert all(temps[k + 1] < temps[k] for k in range(1, 50))


def test_edd_zero_entropy_keeps_t0():
  edd = schedules.EDD(0.06, expectation=E, t0=0.7)
  assert edd.update(0.0, 0) == 0.7


def test_edd_skipped_updates_keep_temperature_and_use_epoch_as_k():
  edd = schedules.EDD(0.06, expectation=E)
  t1 = edd.update(1.0, 0)
  t4 = edd.update(1.0, 3)  # epochs 1..3 trained at t1; k = 4, one EMA step
  assert edd.d_exp == pytest.approx(0.03 + 0.5 * 0.03)
  assert t4 == pytest.approx(E / math.log(math.exp(E) + 4 * 0.045))
  assert [edd.temperature(k) for k in range(5)] == [1.0, t1, t1, t1, t4]


def test_edd_rejects_repeated_epoch_and_unknown_future():
  edd = schedules.EDD(0.06, expectation=E)
  edd.update(1.0, 0)
  with pytest.raises(ValueError, match='already updated after epoch 0'):
    edd.update(1.0, 0)
  with pytest.raises(ValueError, match='not known yet'):
    edd.temperature(2)


def test_edd_needs_expectation_and_follows_set_expectation():
  edd = schedules.EDD(0.06)
  with pytest.raises(ValueError, match='set_expectation'):
    edd.update(1.0, 0)
  edd.set_expectation(np.float32(2e-3))
  assert edd.update(1.0, 0) == pytest.approx(2e-3 / math.log(math.exp(2e-3) + 0.03))
  edd.set_expectation(1e-3)
  assert edd.update(1.0, 1) == pytest.approx(1e-3 / math.log(math.exp(1e-3) + 2 * 0.045))


@pytest.mark.parametrize('kwargs,match', [({'lam': 0.0}, 'lam'), ({'lam': -1.0}, 'lam'),
                                          ({'lam': 0.1, 'rho': 1.0}, 'rho'),
                                          ({'lam': 0.1, 'rho': -0.1}, 'rho'),
                                          ({'lam': 0.1, 't0': 0.0}, 't0'),
                                          ({'lam': 0.1, 'expectation': 0.0}, 'expectation')])
def test_edd_rejects_bad_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    schedules.EDD(**kwargs)


def test_edd_rejects_bad_entropy():
  with pytest.raises(ValueError, match='mean_entropy'):
    schedules.EDD(0.06, expectation=E).update(float('nan'), 0)


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


def test_load_state_of_other_schedule_raises():
  state = schedules.constant(1.0).state_dict()
  with pytest.raises(ValueError, match="state is for 'constant', not 'edd'"):
    schedules.EDD(0.06).load_state_dict(state)


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
