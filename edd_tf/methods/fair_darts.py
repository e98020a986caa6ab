"""Fair DARTS: independent sigmoid gates per op, a zero-one loss, a thresholded read-out.

  m(x) = sum_o sigmoid(alpha_o / t) o(x)        (no normalisation over o)
  L_arch = L_val + w01 * L01,   L01 = -(1/N) sum_i (sigmoid(alpha_i) - 0.5)^2

(xiaomi-automl/FairDARTS fairdarts/model_search.py:L104-111,
separate_loss.py:L14-31, train_search.py:L29,L81, architect.py:L20-26;
../shared/docs/baselines.md part 3, sect. 3). alpha starts at 0 (every gate
0.5), so dL01/dalpha = -(2 w01 / N)(s - 0.5) s (1 - s) is 0 at init and the
cross entropy has to move alpha first. N counts every entry of both cells
that is not 'none' (196 in `darts_no_none`; a 'none' entry's op is never
computed, so its gate gets no gradient and stays at 0.5). w01 =
config.fair_darts.zero_one_weight (10, constant: no schedule in the code);
config.fair_darts.zero_one_loss='l1' is the `--sep_loss l1` variant
-mean |s - 0.5|. L01 is on the alpha step's loss only (it has no gradient
with respect to the weights).

Temperature: the mixing is sigmoid(alpha / t). Lowering t sharpens each gate
towards a hard 0/1 step (the direction L01 pushes), so the constant schedule
(any t0) and LTS ('linear') are meaningful combinations; t = 1 is the paper.
L01 and the read-out stay on the untempered sigmoid(alpha) (as the base
method reads out softmax(alpha), not softmax(alpha / t)). The E(a)-based
schedules (ets, pcd, edd) are refused: E(a) = mean max(alpha, 0) is 0 at
this init, and their entropy rule is calibrated on a softmax. sn-softmax does
not apply (there is no softmax): config.softmax.kind must be 'plain'
(ignored). The logged entropies are the mean binary entropies of the gates
(ln 2 at init, 0 when every gate is 0 or 1).

Read-out (FairDARTS threshold_sparse, utils.py:L143-189): per node the two
incoming edges with the largest gate, each kept with its best op only if
that gate is >= config.fair_darts.op_threshold (0.85); a node may get 0, 1
or 2 inputs (the sparse genotype form, arch/genotype.py), DARTS family only.
Config: configs/darts_cifar10_fair_darts.py.
"""

import numpy as np
import tensorflow as tf

from edd_tf.methods import base

ZERO_ONE_LOSSES = ('l2', 'l1')
# Schedules that need neither E(a) > 0 nor a softmax entropy.
SCHEDULES = ('constant', 'linear')


def zero_one_loss(gates, masks, kind='l2'):
  """L01 over every unmasked entry of `gates` ({key: float32[edges, ops]} of sigmoid(alpha)).

  'l2': -(1/N) sum (s - 0.5)^2; 'l1': -(1/N) sum |s - 0.5|; N = the number of
  entries where the mask ({key: float32 0/1, same shape}) is 1.
  """
  total, count = 0.0, 0.0
  for key, s in gates.items():
    mask = np.asarray(masks[key], np.float32)  # numpy: N is a Python number
    d = s - 0.5
    d = tf.square(d) if kind == 'l2' else tf.abs(d)
    total += tf.reduce_sum(d * tf.constant(mask, s.dtype))
    count += float(mask.sum())
  return -total / count


def binary_entropy(p):
  """Mean of -p ln p - (1 - p) ln (1 - p) over the entries (0 ln 0 = 0)."""
  p = np.clip(np.asarray(p, np.float64), 0.0, 1.0)
  h = np.zeros_like(p)
  for q in (p, 1.0 - p):
    h -= np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0)
  return float(np.mean(h))


def np_sigmoid(x):
  return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


class FairDarts(base.Method):
  """First-order DARTS with sigmoid gates, the zero-one loss and the thresholded read-out."""

  name = 'fair_darts'

  @classmethod
  def check_config(cls, config):
    super().check_config(config)
    if config.softmax.kind != 'plain':
      raise ValueError(f'config.method=fair_darts mixes with independent sigmoids, not a softmax: '
                       f'sn-softmax does not apply; set config.softmax.kind=plain (got '
                       f'{config.softmax.kind!r})')
    if config.schedule.name not in SCHEDULES:
      raise ValueError(f'config.method=fair_darts starts alpha at 0, where E(a) = 0, and gates '
                       f'with sigmoid(alpha / t): config.schedule.name must be one of '
                       f'{list(SCHEDULES)}, got {config.schedule.name!r}')
    f = config.get('fair_darts')
    if f is None:
      raise ValueError('config.method=fair_darts needs config.fair_darts (zero_one_weight, '
                       'zero_one_loss, op_threshold); see configs/darts_cifar10_fair_darts.py')
    if f.zero_one_loss not in ZERO_ONE_LOSSES:
      raise ValueError(f'unknown config.fair_darts.zero_one_loss {f.zero_one_loss!r}; allowed: '
                       f'{list(ZERO_ONE_LOSSES)}')
    if not f.zero_one_weight >= 0:
      raise ValueError(f'config.fair_darts.zero_one_weight must be >= 0, got '
                       f'{f.zero_one_weight!r}')
    if not 0 < f.op_threshold < 1:
      raise ValueError(f'config.fair_darts.op_threshold must be in (0, 1), got '
                       f'{f.op_threshold!r}')

  @classmethod
  def check_space(cls, space, config):
    del config
    if not hasattr(space, 'derive_thresholded'):
      raise ValueError(f'config.method=fair_darts reads cells out by thresholding (nodes with 0-2 '
                       f'inputs), which space {space.name!r} cannot: use a DARTS-family space '
                       f'(darts_no_none, darts, s1-s4)')

  def init_arch(self, rng):
    """alpha = 0: every gate starts at 0.5 (model_search.py:L125-126)."""
    del rng
    return {k: np.zeros(s, np.float32) for k, s in self.arch_shapes().items()}

  def masks(self):
    """{key: float32[edges, ops]}: 1 where the op is not 'none' (the entries L01 counts)."""
    out = {}
    for key, (edges, ops) in self.space.arch_shapes().items():
      names = self.space.op_names(key)
      if names and not isinstance(names[0], (list, tuple)):
        names = [names] * edges
      out[key] = np.array([[n != 'none' for n in row] for row in names], np.float32)
      assert out[key].shape == (edges, ops)
    return out

  def mixing(self, arch, temperature, seed):
    del seed
    return {k: tf.sigmoid(arch[k] / temperature) for k in self.space.arch_shapes()}, None

  def readout_weights(self, arch):
    return {k: np_sigmoid(arch[k]) for k in self.space.arch_shapes()}

  def genotype(self, arch):
    return self.space.derive_thresholded(self.readout_weights(arch),
                                         self.config.fair_darts.op_threshold)

  def entropies(self, arch, temperature):
    keys = list(self.space.arch_shapes())
    plain = np.mean([binary_entropy(np_sigmoid(arch[k])) for k in keys])
    tempered = np.mean([binary_entropy(np_sigmoid(np.asarray(arch[k], np.float64) / temperature))
                        for k in keys])
    return float(plain), float(tempered)

  def arch_gradients(self, ctx, train_batch, val_batch, seed):
    """grad_alpha [L_val + w01 L01]; reports L_val alone as the val loss."""
    del train_batch
    f = self.config.fair_darts
    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    masks = self.masks()
    with tf.GradientTape() as tape:
      loss, correct = self.arch_loss(ctx, *val_batch, seed)
      arch = ctx.arch_tensors()
      l01 = zero_one_loss({k: tf.sigmoid(arch[k]) for k in masks}, masks, f.zero_one_loss)
      # Each replica adds its share: the all-reduced gradient has L01's once.
      total = loss + tf.cast(f.zero_one_weight * l01 / replicas, loss.dtype)
    return ctx.gradients(tape, total, ctx.arch_sources()), loss, correct
