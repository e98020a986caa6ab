"""The one gradient pipeline and learning-rate schedule of search and training.

`apply_gradients` runs in replica context and does, in order (PyTorch's
`clip_grad_norm_` then `SGD(weight_decay)` / `Adam(weight_decay)`):
all-reduce to the global-batch mean, global-norm clip, coupled L2
(g + wd * w; Keras' `weight_decay=` is decoupled, so it is not used), and the
update. The gradients cross the replicas once: the optimizers built here
(`sgd`, `adam`) take them as already reduced, where a stock Keras optimizer
would all-reduce (sum) them a second time. The architecture step clips after
the decay instead (Table 1 "clip" acts on the gradient Adam sees):
`clip_before_decay=False`.

Under config.precision='mixed_float16' a `LossScale` scales every backward
pass (`LossScale.gradients`) and `apply_gradients` skips the update and halves
the scale when the all-reduced gradient is not finite (dynamic loss scaling).
"""

import math

import keras
import tensorflow as tf

LR_SCHEDULES = ('cosine', 'step', 'linear', 'constant')


def learning_rate(epoch, *, lr, epochs, schedule='cosine', lr_min=0.0, gamma=0.97,
                  warmup_epochs=0):
  """Learning rate of a 0-based epoch (constant within an epoch).

  'cosine' is CosineAnnealingLR(T_max=epochs, eta_min=lr_min) stepped per
  epoch (DARTS, AutoDL); 'step' is StepLR(step_size=1, gamma); 'linear' decays
  linearly from lr to lr_min; 'constant' keeps lr. A warm-up multiplies by
  (epoch + 1) / warmup_epochs during the first warmup_epochs epochs (PC-DARTS
  ImageNet).
  """
  if schedule == 'cosine':
    value = lr_min + (lr - lr_min) * (1 + math.cos(math.pi * epoch / epochs)) / 2
  elif schedule == 'step':
    value = lr * gamma ** epoch
  elif schedule == 'linear':
    value = lr_min + (lr - lr_min) * (1 - epoch / epochs)
  elif schedule == 'constant':
    value = lr
  else:
    raise ValueError(f'unknown learning-rate schedule (lr_schedule) {schedule!r}; allowed: '
                     f'{list(LR_SCHEDULES)}')
  if epoch < warmup_epochs:
    value *= (epoch + 1) / warmup_epochs
  return value


def coupled_l2(grads, variables, weight_decay):
  """PyTorch's weight_decay: g + wd * w for every variable (wd a number or a scalar tensor)."""
  if isinstance(weight_decay, (int, float)) and not weight_decay:
    return list(grads)
  return [g + weight_decay * tf.cast(tf.convert_to_tensor(v), g.dtype)
          for g, v in zip(grads, variables)]


class _PreReduced:
  """Takes gradients as already all-reduced (by `apply_gradients` below).

  Keras' TF optimizer sums the gradients over replicas inside
  apply_gradients (`_all_reduce_sum_gradients`); ours arrive as the
  global-batch mean, identical on every replica, so a second all-reduce would
  only double the traffic (and require dividing by the replica count). Keras 3
  dropped tf.keras' `skip_gradients_aggregation` / `experimental_aggregate_
  gradients` switch (keras-team/keras#19308), so this overrides the private
  hook; tests/core/distributed_search_check.py counts the all-reduces and fails if a
  Keras release renames it. Single device and cross-replica context are
  unaffected.
  """

  def _all_reduce_sum_gradients(self, grads_and_vars):
    return list(grads_and_vars)


class PreReducedSGD(_PreReduced, keras.optimizers.SGD):
  pass


class PreReducedAdam(_PreReduced, keras.optimizers.Adam):
  pass


def sgd(lr, momentum, nesterov, variables):
  """SGD built eagerly on `variables` (tf-notes finding A); call in scope."""
  optimizer = PreReducedSGD(learning_rate=lr, momentum=momentum, nesterov=bool(nesterov))
  optimizer.build(variables)
  return optimizer


def adam(lr, beta1, beta2, variables):
  optimizer = PreReducedAdam(learning_rate=lr, beta_1=beta1, beta_2=beta2)
  optimizer.build(variables)
  return optimizer


class LossScale(tf.Module):
  """Dynamic loss scaling (float16 compute; Keras LossScaleOptimizer's rule).

  Every backward pass differentiates loss * scale and divides the gradients
  by scale (`gradients`), so small float16 gradients do not flush to zero.
  `apply_gradients(..., loss_scale=)` then looks at the all-reduced gradient:
  not finite -> the update is skipped and the scale halved (never below 1);
  finite -> applied, and after `growth_steps` finite steps in a row the scale
  doubles. Keras' LossScaleOptimizer does the same but reads the finite flag
  of replica 0 only (tf-notes finding C); here it is computed from the
  all-reduced gradient, identical on every replica, and the counters are
  updated in cross-replica context. The scale and the counter are variables
  (checkpoint the object) created in the strategy scope.
  """

  def __init__(self, initial_scale=2.0 ** 15, growth_steps=2000, name='loss_scale'):
    super().__init__(name=name)
    self.growth_steps = int(growth_steps)
    self.scale = tf.Variable(float(initial_scale), trainable=False, name='scale')
    self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name='good_steps')

  def gradients(self, tape, loss, sources):
    """d(loss * scale)/d(sources) / scale (None stays None).

    The scale enters as the output gradient, so `loss` may have been computed
    before (the tape need not record the multiplication).
    """
    scale = tf.convert_to_tensor(self.scale)
    grads = tape.gradient(loss, sources, output_gradients=tf.cast(scale, loss.dtype))
    return [None if g is None else g / tf.cast(scale, g.dtype) for g in grads]

  def update(self, finite):
    """Halve on a non-finite step, double after growth_steps finite ones (cross-replica)."""
    good = tf.where(finite, self.good_steps + 1, tf.constant(0, tf.int64))
    grow = good >= self.growth_steps
    scale = tf.convert_to_tensor(self.scale)
    self.scale.assign(tf.where(finite, tf.where(grow, 2.0 * scale, scale),
                               tf.maximum(scale / 2.0, 1.0)))
    self.good_steps.assign(tf.where(grow, tf.constant(0, tf.int64), good))

  def apply_if_finite(self, optimizer, grads, variables, finite):
    """optimizer.apply_gradients if `finite` (same on every replica), then `update`.

    A cond around apply_gradients must run in cross-replica context:
    MirroredStrategy's optimizer update merges replicas, which a cond branch
    in replica context may not (RuntimeError "synchronization point").
    """

    def cross_replica(strategy, grads, finite):
      finite = strategy.experimental_local_results(finite)[0]

      def apply():
        strategy.extended.call_for_each_replica(
            lambda g: optimizer.apply_gradients(zip(g, variables)), args=(grads,))
        return tf.constant(True)

      tf.cond(finite, apply, lambda: tf.constant(False))
      self.update(finite)

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(grads, finite))


def apply_gradients(optimizer, grads, variables, *, grad_clip=0.0, weight_decay=0.0,
                    clip_before_decay=True, loss_scale=None):
  """All-reduce, clip, coupled L2, apply (replica context).

  Args:
    optimizer: an optimizer from `sgd` / `adam` (takes reduced gradients).
    grads: this replica's gradients of its share of the global-batch mean loss
      (None for a variable without a gradient: a cell node that feeds only
      'none' edges; it gets zeros, as PyTorch's grad None leaves it unchanged
      except for the decay); already unscaled (`LossScale.gradients`).
    variables: the variables, in the same order.
    grad_clip: global-norm clip (0 = none).
    weight_decay: coupled L2 coefficient.
    clip_before_decay: clip, then add the decay (weights); else the reverse.
    loss_scale: a `LossScale` (mixed_float16): skip the update and halve the
      scale unless the all-reduced gradient is finite. None: always apply.

  Returns:
    The global norm of the all-reduced gradient before decay and clipping
    (0 for an update the loss scale skipped).
  """
  grads = [tf.zeros(v.shape, v.dtype) if g is None else g for g, v in zip(grads, variables)]
  context = tf.distribute.get_replica_context()
  grads = context.all_reduce('SUM', grads)
  norm = tf.linalg.global_norm(grads)
  if clip_before_decay and grad_clip:
    grads, _ = tf.clip_by_global_norm(grads, grad_clip, use_norm=norm)
  grads = coupled_l2(grads, variables, weight_decay)
  if not clip_before_decay and grad_clip:
    grads, _ = tf.clip_by_global_norm(grads, grad_clip)
  if loss_scale is None:
    optimizer.apply_gradients(zip(grads, variables))
    return norm
  finite = tf.math.is_finite(norm)
  loss_scale.apply_if_finite(optimizer, grads, variables, finite)
  return tf.where(finite, norm, tf.zeros_like(norm))


def cross_entropy(labels, logits, label_smoothing=0.0):
  """Per-example cross entropy with label smoothing (DARTS CrossEntropyLabelSmooth).

  Args:
    labels: int32[B].
    logits: float[B, K] (cast to float32).
    label_smoothing: eps; targets are (1 - eps) * one_hot + eps / K.

  Returns:
    float32[B].
  """
  logits = tf.cast(logits, tf.float32)
  log_probs = tf.nn.log_softmax(logits, axis=-1)
  nll = -tf.gather(log_probs, labels, axis=-1, batch_dims=1)
  if not label_smoothing:
    return nll
  return (1.0 - label_smoothing) * nll - label_smoothing * tf.reduce_mean(log_probs, axis=-1)


def count_correct(labels, logits):
  return tf.reduce_sum(tf.cast(
      tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32))
