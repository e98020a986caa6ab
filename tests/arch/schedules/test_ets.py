"""Tests for edd_tf.arch.schedules.ets: L_exp and the ETS points (Eq. 11-12), ETS, PCD."""

import math

import numpy as np
import pytest

from edd_tf.arch import schedules

E = 4e-4  # the paper's E(a) for 1e-3 * N(0, 1) alphas


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
