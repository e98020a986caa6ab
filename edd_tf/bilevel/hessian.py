"""The Hessian of the validation loss w.r.t. the architecture variables, and its top eigenvalue.

  H = d^2/dA^2 [ L_val(w, mixing(A)) + (wd / 2) ||A||^2 ],   A = all arch variables, flattened

with the weights w fixed (no unrolling), on one validation batch, with the
supernet in training mode (BatchNorm on batch statistics) as RobustDARTS
computes it (src/search/analyze.py 110-124 and 157-192: the exact Hessian by
double backprop, its alpha weight decay included, so H holds + wd * I;
../shared/docs/baselines.md part 2, sect. 4 "DARTS-ES"). The variables are
concatenated in sorted name order (alphas_normal, alphas_reduce: 2 x 14 x 8 =
224 in the DARTS space, 30 in NB201).

Nothing changes: the forward is `model.stateless_call` on tensors of the
variables and its BatchNorm statistic updates are dropped, so measuring the
Hessian between two epochs leaves the run's weights, statistics and RNG as
they were (a resumed run measures the same values).

R-DARTS(DP)'s drop path is on (`Searcher.drop_path`, seeded like the mixing:
one set of masks for the whole Hessian), as RobustDARTS' analyzer runs the
model in training mode (baselines.md part 2, pitfall 2).

The loss is the method's mixing (`method.mixing`, its stochastic draw seeded)
under the plain cross entropy: a method's extra alpha-loss terms (beta-DARTS'
regulariser, Fair DARTS' zero-one loss) are not part of it, as DARTS-ES
defines the curvature of the validation loss. The largest eigenvalue is that
of the symmetrised H from a symmetric solver (baselines.md pitfall 2: numpy's
general `eigvals` can return complex values for a slightly asymmetric H).
"""

import numpy as np
import tensorflow as tf

from edd_tf.core import optim


def flatten(arch, keys):
  """The variables of `keys` as one float32 vector (row-major, in `keys` order)."""
  return tf.concat([tf.reshape(arch[k], [-1]) for k in keys], 0)


def unflatten(vector, shapes, keys):
  """Inverse of `flatten`: {key: tensor of shapes[key]}."""
  out, start = {}, 0
  for k in keys:
    size = int(np.prod(shapes[k]))
    out[k] = tf.reshape(vector[start:start + size], shapes[k])
    start += size
  return out


def hessian_of(loss_fn, x):
  """d^2 loss_fn(x) / dx^2 for a vector x: the Jacobian of the gradient (nested tapes)."""
  # persistent: eager jacobian without pfor needs it (in a tf.function it is free).
  with tf.GradientTape(persistent=True) as outer:
    outer.watch(x)
    with tf.GradientTape() as inner:
      inner.watch(x)
      loss = loss_fn(x)
    grad = inner.gradient(loss, x)
  # pfor=False: one backward per row in a while loop; pfor's vectorised
  # rows hold every row's activations at once.
  return outer.jacobian(grad, x, experimental_use_pfor=False)


def max_eigenvalue(matrix):
  """The largest eigenvalue of (H + H^T) / 2 (symmetric solver), as a float."""
  h = np.asarray(matrix, np.float64)
  return float(np.linalg.eigvalsh(0.5 * (h + h.T))[-1])


class ArchHessian:
  """Computes H for a `bilevel.searcher.Searcher` on one batch; compiled once."""

  def __init__(self, searcher):
    self.searcher = searcher
    self.keys = sorted(searcher.arch)
    self.shapes = {k: tuple(searcher.arch[k].shape) for k in self.keys}
    self._fn = tf.function(self._hessian, autograph=False, reduce_retracing=True)

  def _hessian(self, images, labels, seed, stage):
    del stage  # one trace per stage of a multi-stage search (its supernet)
    s = self.searcher
    model = s.model
    trainable = [tf.convert_to_tensor(v) for v in model.trainable_variables]
    non_trainable = [tf.convert_to_tensor(v) for v in model.non_trainable_variables]
    temperature = s.temperature_tensor()
    weight_decay = float(s.config.optim.arch.weight_decay)

    def loss_fn(x):
      arch = unflatten(x, self.shapes, self.keys)
      weights, indices = s.method.mixing(arch, temperature, seed)
      logits, _ = model.stateless_call(trainable, non_trainable, images, weights, indices,
                                       training=True, drop_path=s.drop_path(seed))
      loss = tf.reduce_mean(optim.cross_entropy(labels, tf.cast(logits, tf.float32)))
      return loss + 0.5 * weight_decay * tf.reduce_sum(tf.square(x))

    return hessian_of(loss_fn, flatten(s.arch_tensors(), self.keys))

  def __call__(self, images, labels, seed=(0, 0)):
    """H as a float64 numpy [n, n] array (n = number of architecture entries)."""
    seed = tf.constant(seed, tf.int32)
    return self._fn(tf.convert_to_tensor(images), tf.convert_to_tensor(labels),
                    seed, getattr(self.searcher, 'stage', 0)).numpy().astype(np.float64)
