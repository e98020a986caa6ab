"""Entropy-based dynamic decay (EDD, Sect. 2.3, Eq. 13-15, Alg. 2).

`EDD` sets the decay strength d_exp of the exponential space (ETS, ets.py)
after every epoch from the mean entropy E(H(beta)) of the architecture
distributions (Eq. 13): an exponential moving average of lam * E(H) (Eq. 14),
so the decay is strong while beta is smooth and weak once it is sparse, and
t(k) = E(a) / ln(t0_exp + k * d_exp(k)) (Eq. 15). The epoch convention is
base.py's.
"""

import math
import numbers

from edd_tf.arch.schedules import base


class EDD(base.Schedule):
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
    self.lam = base.check_positive(lam, 'lam')
    if not isinstance(rho, numbers.Real) or not 0.0 <= rho < 1.0:
      raise ValueError(f'rho must be in [0, 1), got {rho!r}')
    self.rho = float(rho)
    self.t0 = base.check_positive(t0, 't0')
    self.expectation = None
    if expectation is not None:
      self.set_expectation(expectation)
    self.d_exp = 0.0
    self._history = [self.t0]  # temperature of epoch i
    super().__init__()

  def set_expectation(self, expectation):
    """Sets E(a) (e.g. `expectation_of_alphas(alphas)`) used by Eq. 15."""
    self.expectation = base.check_positive(float(expectation), 'expectation')

  def temperature(self, epoch):
    epoch = base.check_int(epoch, 'epoch', 0)
    if epoch >= len(self._history):
      raise ValueError(f'EDD temperature of epoch {epoch} is not known yet: updated through '
                       f'epoch {len(self._history) - 2}')
    return self._history[epoch]

  def update(self, mean_entropy, epoch):
    """Eq. 14-15 after training epoch `epoch` (0-based); returns t(epoch + 1)."""
    epoch = base.check_int(epoch, 'epoch', 0)
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
