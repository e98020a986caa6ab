"""SDARTS-ADV: the weight step on adversarially (PGD) perturbed mixing weights.

../shared/docs/baselines.md part 2, sect. 3 and pitfall 5: A = softmax(alpha / t)
(the method's tempered mixing); loss_before at A; random start A' = perturb(A)
as SDARTS-RS; `pgd_steps` (7) steps A' <- A' + (2 eps / steps) sign(grad A'),
each projected onto ||A' - A||_inf <= eps and onto the simplex (clip [0, 1],
renormalise, argmax one-hot for dead rows); if loss_before > loss_after the
attack is reverted to A. The attack runs the model with training=False (BN
statistics untouched) on the same train batch with the training CE loss; the
weight step then trains (training=True) on A' directly. eps ramps as RS
(config.sdarts_rs eps_min, eps_max; config.sdarts_rs.pgd_steps, default 7).
The alpha step is unchanged.

Under mixed_float16 the attack's backward pass runs through the float16
layers, where the gradient of a small loss flushes to zero (sign 0: the
attack stands still). So it is differentiated with the weight step's loss
scale (`ctx.weight_gradients`: d(loss * scale)/dA' / scale; the division is in
float32, where A' lives), the same scaling as the weight gradients it
precedes. An overflowing (non-finite) attack gradient is set to 0 (that PGD
step does not move) instead of turning A' into NaN; the attack does not change
the scale: the weight step's own non-finite check does that. Only the sign of
the gradient is used, so the scale changes nothing else.
"""

import tensorflow as tf

from edd_tf.methods import sdarts


def project(adv, anchor, epsilon):
  """Onto ||adv - anchor||_inf <= eps, then the simplex per row."""
  adv = tf.clip_by_value(adv, anchor - epsilon, anchor + epsilon)
  clipped = tf.clip_by_value(adv, 0.0, 1.0)
  dead = tf.reduce_sum(clipped, axis=-1, keepdims=True) <= 0.0
  one_hot = tf.one_hot(tf.argmax(adv, axis=-1), tf.shape(adv)[-1], dtype=adv.dtype)
  clipped = tf.where(dead, one_hot, clipped)
  return clipped / tf.reduce_sum(clipped, axis=-1, keepdims=True)


def plain_gradients(tape, loss, sources):
  """tape.gradient(loss, sources): the attack gradient without loss scaling (float32)."""
  return tape.gradient(loss, sources)


def attack_gradient(loss_fn, adv, gradients=plain_gradients):
  """{k: d loss_fn(adv) / d adv[k]}, non-finite entries 0.

  `gradients(tape, loss, sources) -> list` differentiates (the StepContext's
  `weight_gradients` under a loss scale); a missing gradient is 0.
  """
  keys = sorted(adv)
  with tf.GradientTape() as tape:
    tape.watch([adv[k] for k in keys])
    loss = loss_fn(adv)
  grads = gradients(tape, loss, [adv[k] for k in keys])
  out = {}
  for k, g in zip(keys, grads):
    g = tf.zeros_like(adv[k]) if g is None else tf.convert_to_tensor(g)
    out[k] = tf.where(tf.math.is_finite(g), g, tf.zeros_like(g))
  return out


def pgd(loss_fn, weights, start, epsilon, steps, gradients=plain_gradients):
  """`steps` signed-gradient ascent steps on loss_fn({k: A'}) from start; dict in, dict out."""
  step = 2.0 * epsilon / steps
  adv = dict(start)
  for _ in range(steps):
    grads = attack_gradient(loss_fn, adv, gradients)
    adv = {k: project(adv[k] + step * tf.sign(grads[k]), weights[k], epsilon) for k in adv}
  return adv


def revert(weights, adv, loss_before, loss_after):
  """adv, or weights where loss_before > loss_after (the attack did not raise the loss)."""
  keep = loss_before > loss_after
  return {k: tf.where(keep, weights[k], adv[k]) for k in adv}


class SDartsADV(sdarts.SDartsRS):
  """First-order DARTS whose weight step sees PGD-perturbed mixing weights."""

  config_section = 'sdarts_rs'   # eps_min, eps_max (+ pgd_steps), shared with RS

  name = 'sdarts_adv'

  @classmethod
  def check_config(cls, config):
    super().check_config(config)
    steps = config.sdarts_rs.get('pgd_steps', 7)
    if not isinstance(steps, int) or steps < 1:
      raise ValueError(f'config.sdarts_rs.pgd_steps must be an int >= 1, got {steps!r}')

  def weight_step_mixing(self, ctx, images, labels, seed):
    weights, indices = self.mixing(ctx.arch_tensors(), ctx.temperature_tensor(), seed)
    weights = tf.nest.map_structure(tf.stop_gradient, weights)
    epsilon = tf.convert_to_tensor(self.epsilon)
    steps = int(self.config.sdarts_rs.get('pgd_steps', 7))

    def loss_fn(w):
      loss, _ = ctx.loss(labels, ctx.model(images, w, indices, training=False))
      return loss

    start = {k: sdarts.perturb(w, epsilon, tf.random.experimental.stateless_fold_in(seed, 1000 + i))
             for i, (k, w) in enumerate(sorted(weights.items()))}
    start = {k: project(start[k], weights[k], epsilon) for k in start}
    loss_before = loss_fn(weights)
    adv = pgd(loss_fn, weights, start, epsilon, steps, ctx.weight_gradients)
    return revert(weights, adv, loss_before, loss_fn(adv)), indices
