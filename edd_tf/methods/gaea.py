"""GAEA: exponentiated gradient (mirror descent) on the probability simplex.

The architecture variables theta are the mixing weights themselves, one row
per edge on the simplex, with no softmax (../shared/docs/baselines.md part 1,
sect. 2; GAEA cnn/architect/architect_edarts.py:39-47, 80-139):

  init:    theta_{e,o} = 1 / |O|
  step:    g = grad_theta L(batch)                  (first order)
           theta <- theta * exp(-eta * g)
           theta <- max(theta, 1e-5)
           theta <- theta / sum_row theta           (`normalize`, lines 10-12)

eta = config.gaea.eta (0.1), constant and not adaptive; Adam is not used (the
searcher still builds it on the variables; its state stays at zero). The
entropic regulariser of the public code has gamma = 0 in both released
configs and is not built. The update is applied by assigning the variables
(in a cross-replica merge, so it also runs under MirroredStrategy, where every
replica computes the same all-reduced gradient).

Read-out: argmax of theta per edge (theta is the read-out matrix). The data
of the two steps (bilevel split or GAEA-ERM on the full training set) is
`config.search.data_mode`, not this module's. GAEA PC-DARTS (theta plus edge
weights b, each node's on its own simplex) is methods/gaea_pc.py, which
overrides `simplex_step` for b.
"""

import numpy as np
import tensorflow as tf

from edd_tf.methods import base

FLOOR = 1e-5  # the clamp before renormalising (architect_edarts.py normalize)


def eg_update(theta, grad, eta):
  """One EG step per row: normalise(max(theta * exp(-eta * g), 1e-5))."""
  theta = tf.maximum(theta * tf.exp(-eta * grad), FLOOR)
  return theta / tf.reduce_sum(theta, axis=-1, keepdims=True)


class Gaea(base.Method):
  """First-order search with exponentiated-gradient steps on simplex-valued theta."""

  name = 'gaea'

  @classmethod
  def check_config(cls, config):
    super().check_config(config)
    if config.schedule.name != 'constant' or config.schedule.t0 != 1.0:
      raise ValueError(f'config.method=gaea mixes with theta itself, not a tempered softmax: '
                       f'set config.schedule.name=constant and config.schedule.t0=1 '
                       f'(got {config.schedule.name!r}, t0={config.schedule.t0})')
    if config.softmax.kind != 'plain':
      raise ValueError(f'config.method=gaea uses no softmax: set config.softmax.kind=plain '
                       f'(got {config.softmax.kind!r}; allowed: [\'plain\'])')
    g = config.get('gaea')
    if g is None:
      raise ValueError('config.method=gaea needs config.gaea (eta); see '
                       'configs/nb201_cifar10_gaea_erm.py')
    if not isinstance(g.eta, (int, float)) or not g.eta > 0:
      raise ValueError(f'config.gaea.eta must be a number > 0, got {g.eta!r}')
    a = config.optim.arch
    if a.weight_decay or a.grad_clip:
      raise ValueError('config.method=gaea takes EG steps, not Adam: set '
                       'config.optim.arch.weight_decay=0 and config.optim.arch.grad_clip=0 '
                       f'(got {a.weight_decay}, {a.grad_clip})')
    if config.get('precision', 'float32') == 'mixed_float16':
      raise ValueError("config.method=gaea does not unscale a loss-scaled gradient: "
                       "config.precision must be 'float32' or 'mixed_bfloat16' "
                       "(got 'mixed_float16')")

  def init_arch(self, rng):
    """theta = 1 / |O| in every row (no randomness)."""
    del rng
    return {k: np.full(s, 1.0 / s[-1], np.float32) for k, s in self.arch_shapes().items()}

  def mixing(self, arch, temperature, seed):
    del temperature, seed
    return {k: arch[k] for k in self.space.arch_shapes()}, None

  def readout_weights(self, arch):
    return {k: np.asarray(arch[k], np.float64) for k in self.space.arch_shapes()}

  def entropies(self, arch, temperature):
    """E(H) of theta (already probabilities); no temperature, so both are the same."""
    del temperature
    h = float(np.mean([base.entropy(arch[k]) for k in self.space.arch_shapes()]))
    return h, h

  def simplex_step(self, name, value, grad):
    """The EG step of the architecture variable `name`: per row, `eg_update` with eta."""
    del name
    return eg_update(value, grad, float(self.config.gaea.eta))

  def arch_step(self, ctx, train_batch, val_batch, seed):
    """Every variable <- its `simplex_step` on the all-reduced gradient; (loss, correct, norm)."""
    grads, loss, correct = ctx.arch_gradients(train_batch, val_batch, seed)
    grads = ctx.all_reduce_sum(list(grads))
    variables = ctx.arch_sources()
    names = list(ctx.arch_tensors())   # the same order as arch_sources()
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
    # A non-finite gradient skips the step (as the weight pipeline does).
    new = [tf.where(finite, self.simplex_step(n, tf.convert_to_tensor(v), g),
                    tf.convert_to_tensor(v))
           for n, v, g in zip(names, variables, grads)]

    def assign(strategy, values):
      for v, x in zip(variables, values):
        strategy.extended.update(v, lambda var, val: var.assign(val), args=(x,))

    tf.distribute.get_replica_context().merge_call(assign, args=(new,))
    return loss, correct, tf.linalg.global_norm(grads)
