"""Static schedules without E(a): a constant temperature and LTS (Sect. 2.2).

`Constant` keeps one temperature; `Linear` is the linear temperature schedule
(LTS) from t0 at the first epoch to t_n at the last. `constant` and `linear`
build them. The epoch convention is base.py's.
"""

from edd_tf.arch.schedules import base


class Constant(base.Schedule):
  """The same temperature every epoch."""

  name = 'constant'

  def __init__(self, t):
    self.t = base.check_positive(t, 't')
    super().__init__()

  def temperature(self, epoch):
    base.check_int(epoch, 'epoch', 0)
    return self.t


class Linear(base.Schedule):
  """LTS: t0 at epoch 0 linearly to t_n at epoch num_epochs - 1, then t_n.

  With num_epochs == 1 there is no decay: the only epoch uses t0.
  """

  name = 'linear'

  def __init__(self, t0, t_n, num_epochs):
    self.t0 = base.check_positive(t0, 't0')
    self.t_n = base.check_positive(t_n, 't_n')
    self.num_epochs = base.check_int(num_epochs, 'num_epochs', 1)
    super().__init__()

  def temperature(self, epoch):
    epoch = base.check_int(epoch, 'epoch', 0)
    if self.num_epochs == 1:
      return self.t0
    k = min(epoch, self.num_epochs - 1)
    if k == self.num_epochs - 1:
      return self.t_n
    return self.t0 + (self.t_n - self.t0) * k / (self.num_epochs - 1)


def constant(t):
  """A `Constant` schedule at temperature t."""
  return Constant(t)


def linear(t0, t_n, num_epochs):
  """A `Linear` (LTS) schedule from t0 to t_n over num_epochs epochs."""
  return Linear(t0, t_n, num_epochs)
