"""The temperature-schedule interface, E(a) (Sect. 2.2) and the argument checks.

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

`expectation_of_alphas` is E(a), the mean positive architecture parameter that
ETS (Eq. 10-12, ets.py), PCD (ets.py) and EDD (Eq. 15, edd.py) scale their
temperatures with.

Pure Python/numpy: the temperatures are Python floats that the loop assigns
to a tf.Variable.
"""

import abc
import math
import numbers

import numpy as np


def check_positive(value, name):
  """`value` as a float; ValueError naming `name` unless it is a finite real > 0."""
  if not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
    raise ValueError(f'{name} must be a finite number > 0, got {value!r}')
  return float(value)


def check_int(value, name, minimum):
  """`value` as an int; ValueError naming `name` unless it is an integer >= minimum (no bool)."""
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
    epoch = check_int(epoch, 'epoch', 0)
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
