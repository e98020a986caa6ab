"""Temperature schedules: constant, LTS, ETS (Sect. 2.2), PCD (Sect. 4), EDD (Sect. 2.3).

Epoch convention shared by every schedule (0-based epoch indices):

* ``initial_temperature()`` == ``temperature(0)`` is the temperature of the
  first training epoch.
* After training epoch ``epoch`` the search loop calls
  ``update(mean_entropy, epoch)``, which returns the temperature of epoch
  ``epoch + 1``. Static schedules ignore the entropy.

So a search loop is::

  t = schedule.initial_temperature()
  for epoch in range(num_epochs):
    train_one_epoch(t)
    t = schedule.update(mean_entropy, epoch)

``state_dict()`` / ``load_state_dict()`` hold JSON-serialisable floats and
ints (plus the EDD temperature history), enough to resume exactly.

Pure Python/numpy: the temperatures are Python floats that the loop assigns
to a tf.Variable.
"""

import abc
import math
import numbers

import numpy as np


def _check_positive(value, name):
  if not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
    raise ValueError(f'{name} must be a finite number > 0, got {value!r}')
  return float(value)


def _check_int(value, name, minimum):
  if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum):
    raise ValueError(f'{name} must be an integer >= {minimum}, got {value!r}')
  return int(value)


def expectation_of_alphas(alphas):
  """E(a) of Sect. 2.2: the mean of max(a, 0) over all architecture parameters.

  Negative entries count as 0 ("when a <= 0, the variation of t has little
  effect", so only the positive part is kept). For a = 1e-3 * N(0, 1) this is
  1e-3 / sqrt(2 pi) = 3.99e-4, the paper's "~4e-4" (paper-notes.md).

  Args:
    alphas: an array, tensor or variable of any shape, or a list/tuple/dict of
      them (e.g. normal and reduce alphas); all entries are pooled.

  Returns:
    E(a) as a Python float.
  """
  if isinstance(alphas, dict):
    alphas = list(alphas.values())
  elif not isinstance(alphas, (list, tuple)):
    alphas = [alphas]
  flat = [np.asarray(a, dtype=np.float64).ravel() for a in alphas]
  flat = np.concatenate(flat) if flat else np.zeros([0])
  if flat.size == 0:
    raise ValueError('expectation_of_alphas: got no architecture parameters')
  return float(np.mean(np.maximum(flat, 0.0)))


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
  expectation = _check_positive(expectation, 'expectation')
  t0 = _check_positive(t0, 't0')
  t_target = _check_positive(t_target, 't_target')
  num_points = _check_int(num_points, 'num_points', 1)
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
  expectation = _check_positive(expectation, 'expectation')
  t0 = _check_positive(t0, 't0')
  t_target = _check_positive(t_target, 't_target')
  num_points = _check_int(num_points, 'num_points', 1)
  a, b = expectation / t0, expectation / t_target
  m = max(a, b)
  temps = [t0]
  for n in range(1, num_points):  # inner points: one exp term is e^0 = 1
    x = n / num_points
    log_exp = m + math.log((1 - x) * math.exp(a - m) + x * math.exp(b - m))
    temps.append(expectation / log_exp)
  return temps + [t_target]


class Schedule(abc.ABC):
  """Base class: a temperature per 0-based epoch (see the module docstring)."""

  name = None

  def __init__(self):
    self._epoch = 0  # the next epoch to train
    self._current = self.temperature(0)

  @abc.abstractmethod
  def temperature(self, epoch):
    """Temperature of (0-based) training epoch `epoch`."""

  def initial_temperature(self):
    return self.temperature(0)

  @property
  def current_temperature(self):
    """Temperature of the next epoch to train (after the latest update)."""
    return self._current

  def update(self, mean_entropy, epoch):
    """Called after training epoch `epoch`; returns the temperature of epoch + 1.

    Args:
      mean_entropy: E(H(beta)) of the finished epoch; ignored by static
        schedules (may be None).
      epoch: 0-based index of the epoch that just finished.
    """
    del mean_entropy
    epoch = _check_int(epoch, 'epoch', 0)
    self._epoch = epoch + 1
    self._current = self.temperature(epoch + 1)
    return self._current

  def state_dict(self):
    return {'name': self.name, 'epoch': self._epoch, 'temperature': self._current}

  def load_state_dict(self, state):
    if state.get('name') != self.name:
      raise ValueError(f'schedule state is for {state.get("name")!r}, not {self.name!r}')
    self._epoch = int(state['epoch'])
    self._current = float(state['temperature'])


class Constant(Schedule):
  """The same temperature every epoch."""

  name = 'constant'

  def __init__(self, t):
    self.t = _check_positive(t, 't')
    super().__init__()

  def temperature(self, epoch):
    _check_int(epoch, 'epoch', 0)
    return self.t


class Linear(Schedule):
  """LTS: t0 at epoch 0 linearly to t_n at epoch num_epochs - 1, then t_n.

  With num_epochs == 1 there is no decay: the only epoch uses t0.
  """

  name = 'linear'

  def __init__(self, t0, t_n, num_epochs):
    self.t0 = _check_positive(t0, 't0')
    self.t_n = _check_positive(t_n, 't_n')
    self.num_epochs = _check_int(num_epochs, 'num_epochs', 1)
    super().__init__()

  def temperature(self, epoch):
    epoch = _check_int(epoch, 'epoch', 0)
    if self.num_epochs == 1:
      return self.t0
    k = min(epoch, self.num_epochs - 1)
    if k == self.num_epochs - 1:
      return self.t_n
    return self.t0 + (self.t_n - self.t0) * k / (self.num_epochs - 1)


def constant(t):
  return Constant(t)


def linear(t0, t_n, num_epochs):
  return Linear(t0, t_n, num_epochs)


class _StaticSequence(Schedule):
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
    self.t0 = _check_positive(t0, 't0')
    self.t_target = _check_positive(t_target, 't_target')
    self.num_epochs = _check_int(num_epochs, 'num_epochs', 1)
    self._set_points(expectation)
    super().__init__()

  def _set_points(self, expectation):
    self.expectation = _check_positive(expectation, 'expectation')
    if self.num_epochs == 1:
      self.points = [self.t0]
    else:
      self.points = ets_decay_points(self.expectation, self.t0, self.t_target,
                                     self.num_epochs - 1)

  def temperature(self, epoch):
    epoch = _check_int(epoch, 'epoch', 0)
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
    self.t0 = _check_positive(t0, 't0')
    self.t_target = _check_positive(t_target, 't_target')
    self.warmup_epochs = _check_int(warmup_epochs, 'warmup_epochs', 0)
    self.cycle_epochs = _check_int(cycle_epochs, 'cycle_epochs', 2)
    self.num_epochs = _check_int(num_epochs, 'num_epochs', 1)
    self._set_points(expectation)
    super().__init__()

  def _set_points(self, expectation):
    self.expectation = _check_positive(expectation, 'expectation')
    self.points = ets_decay_points(self.expectation, self.t0, self.t_target,
                                   self.cycle_epochs - 1)

  def temperature(self, epoch):
    epoch = _check_int(epoch, 'epoch', 0)
    if epoch < self.warmup_epochs:
      return self.t0
    return self.points[(epoch - self.warmup_epochs) % self.cycle_epochs]



class EDD(Schedule):
  """Entropy-based dynamic decay (Sect. 2.3, Eq. 13-15, Alg. 2).

  After training epoch k (k = 1, 2, ... counts finished epochs, i.e. k =
  epoch + 1 for the 0-based `epoch` passed to `update`):

    d_exp(k) = lam * (1 - rho) * H + rho * d_exp(k - 1),  d_exp(0) = 0  (Eq. 14)
    t(k) = E(a) / ln(t0_exp + k * d_exp(k)),  t0_exp = e^(E(a)/t0)     (Eq. 15)

  and t(k) is the temperature of the next epoch (0-based index k); the first
  epoch uses t(0) = t0. So `temperature(k)` is the paper's t^(k). With lam =
  0.06, rho = 0.5, E = 4e-4, t0 = 1 and H = ln 5 this gives t(1) = 8.41e-3,
  t(5) = 1.04e-3, t(10) = 5.92e-4 as in paper-notes.md; t(50) = 2.27e-4 (the
  notes' "~2.4e-4" is not reached by any k convention at constant entropy;
  k = 49 gives 2.29e-4). A k one lower would give t(1) = t0, i.e. the first
  update would not decay at all, contradicting Alg. 2.

  Each `update` does one EMA step of Eq. 14; k comes from the epoch index, so
  if the loop skips updates (e.g. during an alpha warm-up) Eq. 15 still scales
  with the true epoch. Which entropy H is passed (softmax(A) as Eq. 13 is
  written, or the tempered beta) is the caller's choice, and so is whether
  E(a) is measured once (Alg. 2, the default) or refreshed with
  `set_expectation` before each update; t0_exp follows the current E(a).
  """

  name = 'edd'

  def __init__(self, lam, rho=0.5, t0=1.0, expectation=None):
    self.lam = _check_positive(lam, 'lam')
    if not isinstance(rho, numbers.Real) or not 0.0 <= rho < 1.0:
      raise ValueError(f'rho must be in [0, 1), got {rho!r}')
    self.rho = float(rho)
    self.t0 = _check_positive(t0, 't0')
    self.expectation = None
    if expectation is not None:
      self.set_expectation(expectation)
    self.d_exp = 0.0
    self._history = [self.t0]  # temperature of epoch i
    super().__init__()

  def set_expectation(self, expectation):
    """Sets E(a) (e.g. `expectation_of_alphas(alphas)`) used by Eq. 15."""
    self.expectation = _check_positive(float(expectation), 'expectation')

  def temperature(self, epoch):
    epoch = _check_int(epoch, 'epoch', 0)
    if epoch >= len(self._history):
      raise ValueError(f'EDD temperature of epoch {epoch} is not known yet: updated through '
                       f'epoch {len(self._history) - 2}')
    return self._history[epoch]

  def update(self, mean_entropy, epoch):
    """Eq. 14-15 after training epoch `epoch` (0-based); returns t(epoch + 1)."""
    epoch = _check_int(epoch, 'epoch', 0)
    if epoch < self._epoch:
      raise ValueError(f'EDD already updated after epoch {self._epoch - 1}; got epoch {epoch}')
    if self.expectation is None:
      raise ValueError('EDD needs E(a): pass expectation= or call set_expectation() first')
    entropy = float(mean_entropy)
    if not math.isfinite(entropy) or entropy < 0:
      raise ValueError(f'mean_entropy must be finite and >= 0, got {entropy}')
    k = epoch + 1
    self.d_exp = self.lam * (1.0 - self.rho) * entropy + self.rho * self.d_exp  # Eq. (14)
    if k * self.d_exp == 0.0:
      t = self.t0
    else:
      t0_exp = math.exp(self.expectation / self.t0)
      t = self.expectation / math.log(t0_exp + k * self.d_exp)  # Eq. (15)
    # Epochs skipped between updates kept the current temperature.
    self._history.extend([self._current] * (k - len(self._history)))
    self._history.append(t)
    self._epoch = k
    self._current = t
    return t

  def state_dict(self):
    return dict(super().state_dict(), d_exp=self.d_exp, expectation=self.expectation,
                history=list(self._history))

  def load_state_dict(self, state):
    super().load_state_dict(state)
    self.d_exp = float(state['d_exp'])
    self.expectation = None
    if state['expectation'] is not None:
      self.set_expectation(state['expectation'])
    self._history = [float(t) for t in state['history']]


def _get(config, field, default):
  value = config.get(field, default)
  return default if value is None else value


def _config_positive(config, field, default):
  value = _get(config, field, default)
  if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value > 0:
    raise ValueError(f'schedule field {field!r} must be > 0, got {value!r}')
  return float(value)


def _config_expectation(expectation, name):
  value = None if expectation is None else float(expectation)  # also numpy / tf scalars
  if value is None or not math.isfinite(value) or value <= 0:
    raise ValueError(f'schedule {name!r} needs expectation E(a) > 0, got {expectation!r}')
  return value


def _build_constant(config, expectation, num_epochs):
  del expectation, num_epochs
  return Constant(_config_positive(config, 't0', 1.0))


def _build_linear(config, expectation, num_epochs):
  del expectation
  return Linear(_config_positive(config, 't0', 1.0), _config_positive(config, 't_target', 1e-3),
                num_epochs)


def _build_ets(config, expectation, num_epochs):
  return ETS(_config_expectation(expectation, 'ets'), _config_positive(config, 't0', 1.0),
             _config_positive(config, 't_target', 1e-3), num_epochs)


def _build_pcd(config, expectation, num_epochs):
  return PCD(_config_expectation(expectation, 'pcd'), _config_positive(config, 't0', 1.0),
             _config_positive(config, 't_target', 1e-3), _get(config, 'warmup_epochs', 0),
             _get(config, 'cycle_epochs', 10), num_epochs)


def _build_edd(config, expectation, num_epochs):
  del num_epochs
  rho = _get(config, 'rho', 0.5)
  if not isinstance(rho, numbers.Real) or not 0.0 <= rho < 1.0:
    raise ValueError(f"schedule field 'rho' must be in [0, 1), got {rho!r}")
  if expectation is not None:
    expectation = _config_expectation(expectation, 'edd')
  return EDD(_config_positive(config, 'lam', 0.06), rho, _config_positive(config, 't0', 1.0),
             expectation)


# name -> builder(config, expectation, num_epochs).
SCHEDULES = {
    'constant': _build_constant,
    'linear': _build_linear,
    'ets': _build_ets,
    'pcd': _build_pcd,
    'edd': _build_edd,
}


def build_schedule(config, *, expectation, num_epochs):
  """Builds the schedule named by `config.name`.

  Args:
    config: dict or ml_collections.ConfigDict with `name` (one of SCHEDULES)
      and optional t0 (1.0), t_target (1e-3), lam (0.06), rho (0.5),
      warmup_epochs (0), cycle_epochs (10). 'constant' uses t0.
    expectation: E(a) (see `expectation_of_alphas`); required by 'ets' and
      'pcd', optional for 'edd' (then call `set_expectation` before the first
      update), ignored otherwise.
    num_epochs: number of search epochs (>= 1).

  Returns:
    A `Schedule`.

  Raises:
    ValueError: unknown name (listing the known ones) or a bad field, named.
  """
  name = _get(config, 'name', None)
  if name not in SCHEDULES:
    raise ValueError(f'unknown schedule {name!r}; known schedules: {sorted(SCHEDULES)}')
  _check_int(num_epochs, 'num_epochs', 1)
  return SCHEDULES[name](config, expectation, num_epochs)
