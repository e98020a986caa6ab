"""The exponential temperature schedule (ETS, Sect. 2.2, Eq. 10-12) and PCD (Sect. 4).

softmax(a / t) is linear in t^exp = e^(a/t) (Eq. 10), so ETS schedules t^exp
rather than t: L_exp of Eq. (11) (`ets_exp_points`) spaces N + 1 points
equidistantly from e^(E(a)/t0) to e^(E(a)/t_N), and t_n = E(a) / ln(L_exp[n])
(Eq. 12, `ets_decay_points`) turns them back into temperatures. `ETS` uses one
decay point per epoch; `PCD` (periodic cyclic decay) repeats one such sequence
in cycles after a warm-up. Both fix the sequence from E(a) at construction and
save E(a) in their state (`_StaticSequence`).
"""

import abc
import math

from edd_tf.arch.schedules import base


def ets_exp_points(expectation, t0, t_target, num_points):
  """L_exp of Eq. (11): N + 1 points equidistant in exp(E(a)/t) space.

  Args:
    expectation: E(a) > 0.
    t0: initial temperature > 0.
    t_target: target temperature t_N > 0.
    num_points: N >= 1, the number of decay points.

  Returns:
    [t0_exp + n * d_exp for n = 0..N] with t0_exp = e^(E/t0), d_exp =
    (e^(E/t_N) - t0_exp) / N.
  """
  expectation = base.check_positive(expectation, 'expectation')
  t0 = base.check_positive(t0, 't0')
  t_target = base.check_positive(t_target, 't_target')
  num_points = base.check_int(num_points, 'num_points', 1)
  try:
    start, end = math.exp(expectation / t0), math.exp(expectation / t_target)
  except OverflowError as e:
    raise ValueError(f'e^(E/t) overflows for E={expectation}, t_target={t_target}') from e
  step = (end - start) / num_points
  return [start + n * step for n in range(num_points + 1)]


def ets_decay_points(expectation, t0, t_target, num_points):
  """Temperatures t_0..t_N of the exponential temperature schedule (Eq. 11-12).

  t_n = E(a) / ln(L_exp[n]). The log is taken in a stable form, ln((1 - x) e^a
  + x e^b) = m + ln((1 - x) e^(a-m) + x e^(b-m)) with x = n/N, a = E/t0,
  b = E/t_N, m = max(a, b), so tiny target temperatures do not overflow. The
  end points are exactly t0 and t_target.

  Args:
    expectation: E(a) > 0.
    t0: initial temperature > 0.
    t_target: target temperature t_N > 0.
    num_points: N >= 1, the number of decay points.

  Returns:
    A list of N + 1 Python floats.
  """
  expectation = base.check_positive(expectation, 'expectation')
  t0 = base.check_positive(t0, 't0')
  t_target = base.check_positive(t_target, 't_target')
  num_points = base.check_int(num_points, 'num_points', 1)
  a, b = expectation / t0, expectation / t_target
  m = max(a, b)
  temps = [t0]
  for n in range(1, num_points):  # inner points: one exp term is e^0 = 1
    x = n / num_points
    log_exp = m + math.log((1 - x) * math.exp(a - m) + x * math.exp(b - m))
    temps.append(expectation / log_exp)
  return temps + [t_target]


class _StaticSequence(base.Schedule):
  """A temperature sequence fixed from E(a) at construction (`_set_points`).

  E(a) is saved in the state, so a resumed run rebuilds the same sequence.
  """

  @abc.abstractmethod
  def _set_points(self, expectation):
    """Sets self.expectation and the per-epoch temperatures self.points."""

  def state_dict(self):
    return dict(super().state_dict(), expectation=self.expectation)

  def load_state_dict(self, state):
    super().load_state_dict(state)
    self._set_points(float(state['expectation']))


class ETS(_StaticSequence):
  """Exponential temperature schedule (Sect. 2.2) with one decay point per epoch.

  N = num_epochs - 1 decay points: epoch n uses t_n of `ets_decay_points`, so
  epoch 0 uses t0 and the last epoch t_target; later epochs stay at t_target.
  With num_epochs == 1 the only epoch uses t0. E(a) is fixed at construction
  and saved in the state, so a resumed run keeps the same L_exp.
  """

  name = 'ets'

  def __init__(self, expectation, t0, t_target, num_epochs):
    self.t0 = base.check_positive(t0, 't0')
    self.t_target = base.check_positive(t_target, 't_target')
    self.num_epochs = base.check_int(num_epochs, 'num_epochs', 1)
    self._set_points(expectation)
    super().__init__()

  def _set_points(self, expectation):
    self.expectation = base.check_positive(expectation, 'expectation')
    if self.num_epochs == 1:
      self.points = [self.t0]
    else:
      self.points = ets_decay_points(self.expectation, self.t0, self.t_target,
                                     self.num_epochs - 1)

  def temperature(self, epoch):
    epoch = base.check_int(epoch, 'epoch', 0)
    return self.points[min(epoch, len(self.points) - 1)]


class PCD(_StaticSequence):
  """Periodic cyclic decay (Sect. 4, "Robustness Validations").

  Our reading of the text ("determine L_exp statically before training";
  "the three decay cycles of PCD exhibit slightly different dynamics of beta
  for the same temperature sequence L_exp"; PCD is "brittle ... to the warmup
  epoch and preset decay strength"):

  * epochs 0 .. warmup_epochs - 1 use t0;
  * then cycles of `cycle_epochs` epochs repeat one and the same ETS sequence
    t0 -> t_target with N = cycle_epochs - 1 decay points (Eq. 11-12): epoch
    warmup_epochs + c * cycle_epochs + j uses t_j, so each cycle starts at t0
    and its last epoch uses t_target. The last cycle may be cut short by the
    end of training (num_epochs).
  * L_exp is computed once, from the E(a) given at construction (saved in the
    state so a resumed run keeps it); unlike EDD it does not follow the drift
    of E(a).
  """

  name = 'pcd'

  def __init__(self, expectation, t0, t_target, warmup_epochs, cycle_epochs, num_epochs):
    self.t0 = base.check_positive(t0, 't0')
    self.t_target = base.check_positive(t_target, 't_target')
    self.warmup_epochs = base.check_int(warmup_epochs, 'warmup_epochs', 0)
    self.cycle_epochs = base.check_int(cycle_epochs, 'cycle_epochs', 2)
    self.num_epochs = base.check_int(num_epochs, 'num_epochs', 1)
    self._set_points(expectation)
    super().__init__()

  def _set_points(self, expectation):
    self.expectation = base.check_positive(expectation, 'expectation')
    self.points = ets_decay_points(self.expectation, self.t0, self.t_target,
                                   self.cycle_epochs - 1)

  def temperature(self, epoch):
    epoch = base.check_int(epoch, 'epoch', 0)
    if epoch < self.warmup_epochs:
      return self.t0
    return self.points[(epoch - self.warmup_epochs) % self.cycle_epochs]
