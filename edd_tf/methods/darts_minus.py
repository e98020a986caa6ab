"""DARTS-: first-order DARTS with a decaying auxiliary skip on every edge.

Every mixed edge of both cell types computes (DARTS- src/search/model_search.py
17-45; ../shared/docs/baselines.md part 2, sect. 2)

  out_ij = sum_o softmax(alpha_ij / t)_o o(x_i) + beta(e) aux(x_i),

aux the identity at stride 1 and a learnable affine-free FactorizedReduce on
the stride-2 edges of a reduction cell (trained by the weight optimizer),
outside the softmax and without an alpha; on NAS-Bench-201 (no stride-2 edge
in a cell) the identity on every edge. The supernet builds it under
config.model.aux_skip=True; this method hands it beta as the scalar
``weights['aux_skip']`` of its mixing, so it is present in the weight step,
the alpha step and the alpha-Hessian; the read-out and the discretized
accuracy use the alphas alone (beta dropped, as the paper's read-out).

beta(e) for the 0-based epoch e (src/utils.py 171-192), with e clamped to
[t_start, t_stop] (held before the start and after the stop):
  linear:      beta0 (t_max - e) / (t_max - t_start)
  cosine:      beta0 (1 + cos(pi e / (t_max - t_start))) / 2
  slow_cosine: beta0 cos(pi e / (2 (t_max - t_start)))
  constant:    beta0   (the code's argparse default decay=None)
The scripts run linear with beta0 = 1 and t_max = t_stop = 50: 1.00, 0.98,
..., 0.02 at epoch 49 (never 0 during search). The value is set into a
tf.Variable in `begin_epoch`, so a resumed run recomputes it.
Configs: configs/darts_cifar10_darts_minus.py, configs/nb201_cifar10_darts_minus.py
(an unverified recipe: the official code has no NB201 search).
"""

import math

import tensorflow as tf

from edd_tf.methods import base
from edd_tf.nets import mixed_op

DECAYS = ('linear', 'cosine', 'slow_cosine', 'constant')
AUX_SKIP_KEY = mixed_op.AUX_SKIP_KEY


def beta_at(epoch, beta0, decay='linear', t_start=0, t_stop=50, t_max=50):
  """beta(e) of the DARTS- schedule (0-based epoch e; see the module docstring)."""
  if decay == 'constant':
    return float(beta0)
  e = min(max(epoch, t_start), t_stop)
  span = t_max - t_start
  if decay == 'linear':
    return beta0 * (t_max - e) / span
  if decay == 'cosine':
    return beta0 * (1.0 + math.cos(math.pi * e / span)) / 2.0
  if decay == 'slow_cosine':
    return beta0 * math.cos(math.pi * e / (2.0 * span))
  raise ValueError(f'unknown config.darts_minus.decay {decay!r}; allowed: {list(DECAYS)}')


class DartsMinus(base.Method):
  """First-order DARTS whose supernet carries beta(e) * aux(x) on every edge."""

  name = 'darts_minus'
  mixes_aux_skip = True

  @classmethod
  def check_config(cls, config):
    super().check_config(config)
    if not config.model.get('aux_skip', False):
      raise ValueError('config.method=darts_minus needs config.model.aux_skip=True (the '
                       'auxiliary skip on every edge); got False')
    d = config.get('darts_minus')
    if d is None:
      raise ValueError('config.method=darts_minus needs config.darts_minus (beta0, decay, '
                       't_start, t_stop, t_max); see configs/darts_cifar10_darts_minus.py')
    if d.decay not in DECAYS:
      raise ValueError(f'unknown config.darts_minus.decay {d.decay!r}; allowed: {list(DECAYS)}')
    if not d.beta0 >= 0:
      raise ValueError(f'config.darts_minus.beta0 must be >= 0, got {d.beta0!r}')
    if not 0 <= d.t_start < d.t_max:
      raise ValueError(f'config.darts_minus needs 0 <= t_start < t_max, got t_start='
                       f'{d.t_start!r}, t_max={d.t_max!r}')
    if d.t_stop < d.t_start:
      raise ValueError(f'config.darts_minus needs t_stop >= t_start, got t_stop={d.t_stop!r}, '
                       f't_start={d.t_start!r}')

  def build_state(self):
    self.beta = tf.Variable(float(self.config.darts_minus.beta0), trainable=False,
                            name='darts_minus_beta')

  def begin_epoch(self, epoch, epochs):
    del epochs
    d = self.config.darts_minus
    value = beta_at(epoch, d.beta0, d.decay, d.t_start, d.t_stop, d.t_max)
    self.beta.assign(value)
    return {'aux_skip_beta': value}

  def mixing(self, arch, temperature, seed):
    weights, indices = super().mixing(arch, temperature, seed)
    weights[AUX_SKIP_KEY] = tf.convert_to_tensor(self.beta)
    return weights, indices
