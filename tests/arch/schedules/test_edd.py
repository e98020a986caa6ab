"""Tests for edd_tf.arch.schedules.edd: the EDD recurrence (Eq. 14-15) and its checks."""

import math

import numpy as np
import pytest

from edd_tf.arch import schedules

E = 4e-4  # the paper's E(a) for 1e-3 * N(0, 1) alphas


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
