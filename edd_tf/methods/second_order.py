"""Second-order DARTS (DARTS-V2, reference sect. 3.5): the unrolled alpha gradient.

    w'      = w - xi * (mu * buf + grad_w L_train(w, a) + wd * w)      (virtual step)
    grad_a  = grad_a L_val(w', a) - xi * H,
    H       = (grad_a L_train(w+, a) - grad_a L_train(w-, a)) / (2 R),
    w+-     = w +- R * grad_w' L_val(w', a),   R = 0.01 / ||grad_w' L_val(w', a)||

with xi the weight learning rate of this epoch (quark0/darts architect.py).
Nothing is assigned: w', w+ and w- are tensors fed to `model.stateless_call`
(tf-notes sect. 3), so the real weights and BN statistics are untouched and
replicas never drift. Gradients w.r.t. the weights are all-reduced before
they move any weight tensor, so every replica takes the same virtual step.

`buf` is PyTorch's momentum buffer; Keras' SGD keeps m = -lr * buf (for a
constant lr; the cosine lr changes once per epoch), so mu * buf * xi = -mu * m
when xi is the current lr. Works in any space and with any mixing (plain,
sn-softmax, edge normalisation: it differentiates this method's `mixing`).

R-DARTS(DP) drop path (`ctx.drop_path`) is on in every forward here, as
RobustDARTS' unrolled copy carries the model's drop_path_prob: the virtual
step and both finite-difference gradients on the train batch share one set
of masks (the difference quotient then sees the weight shift only), the
validation forward at w' draws its own.
"""

import tensorflow as tf

from edd_tf.methods import base

FINITE_DIFFERENCE_R = 1e-2
# Folded into the seed for the validation forward's drop-path masks.
VAL_DROP_PATH_STREAM = 1


class SecondOrder(base.Method):
  name = 'darts_2nd'
  all_reduces_in_gradients = True

  def _train_loss(self, ctx, w, non_trainable, images, labels, seed, fixed_arch,
                  drop_seed=None):
    weights, indices = self.mixing(ctx.arch_tensors(), ctx.temperature_tensor(), seed)
    if fixed_arch:
      weights = tf.nest.map_structure(tf.stop_gradient, weights)
    drop_path = ctx.drop_path(seed if drop_seed is None else drop_seed)
    logits, _ = ctx.model.stateless_call(w, non_trainable, images, weights, indices,
                                         training=True, drop_path=drop_path)
    return ctx.loss(labels, logits)

  def virtual_step(self, ctx, train_batch, seed):
    """w' as tensors: one SGD step from w on the train batch (alphas fixed)."""
    w = [tf.convert_to_tensor(v) for v in ctx.weight_variables]
    non_trainable = [tf.convert_to_tensor(v) for v in ctx.model.non_trainable_variables]
    with tf.GradientTape() as tape:
      tape.watch(w)
      loss, _ = self._train_loss(ctx, w, non_trainable, *train_batch, seed, fixed_arch=True)
    grads = ctx.all_reduce_sum(ctx.gradients(tape, loss, w))
    cfg = ctx.config.optim.weights
    xi = ctx.weight_lr()
    momenta = ctx.momentum_buffers()
    return [wi + cfg.momentum * m - xi * (g + cfg.weight_decay * wi)
            for wi, m, g in zip(w, momenta, grads)], non_trainable

  def unrolled_gradients(self, ctx, train_batch, val_batch, seed):
    """(grads for ctx.arch_sources(), val loss, val correct); replica context."""
    sources = ctx.arch_sources()
    w_prime, non_trainable = self.virtual_step(ctx, train_batch, seed)
    with tf.GradientTape() as tape:
      tape.watch(w_prime)
      loss, correct = self._train_loss(
          ctx, w_prime, non_trainable, *val_batch, seed, fixed_arch=False,
          drop_seed=tf.random.experimental.stateless_fold_in(seed, VAL_DROP_PATH_STREAM))
    grads = ctx.gradients(tape, loss, list(sources) + w_prime)
    d_arch, d_w = grads[:len(sources)], ctx.all_reduce_sum(grads[len(sources):])
    r = FINITE_DIFFERENCE_R / tf.linalg.global_norm(d_w)
    w = [tf.convert_to_tensor(v) for v in ctx.weight_variables]

    def train_grad(sign):
      shifted = [wi + sign * r * d for wi, d in zip(w, d_w)]
      with tf.GradientTape() as t:
        l, _ = self._train_loss(ctx, shifted, non_trainable, *train_batch, seed,
                                fixed_arch=False)
      return ctx.gradients(t, l, sources)

    plus, minus = train_grad(1.0), train_grad(-1.0)
    xi = ctx.weight_lr()
    out = [da - xi * (p - m) / (2 * r) for da, p, m in zip(d_arch, plus, minus)]
    return out, loss, correct

  def arch_gradients(self, ctx, train_batch, val_batch, seed):
    return self.unrolled_gradients(ctx, train_batch, val_batch, seed)
