"""The one gradient pipeline and learning-rate schedule of search and training.

`apply_gradients` runs in replica context and does, in order (PyTorch's
`clip_grad_norm_` then `SGD(weight_decay)` / `Adam(weight_decay)`):
all-reduce to the global-batch mean, global-norm clip, coupled L2
(g + wd * w; Keras' `weight_decay=` is decoupled, so it is not used), and
division by the replica count (Keras' apply_gradients sums over replicas once
more). The architecture step clips after the decay instead (Table 1 "clip"
acts on the gradient Adam sees): `clip_before_decay=False`.
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
  """PyTorch's weight_decay: g + wd * w for every variable."""
  if not weight_decay:
    return list(grads)
  return [g + weight_decay * tf.cast(tf.convert_to_tensor(v), g.dtype)
          for g, v in zip(grads, variables)]


def sgd(lr, momentum, nesterov, variables):
  """Keras SGD built eagerly on `variables` (tf-notes finding A); call in scope."""
  optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=momentum, nesterov=bool(nesterov))
  optimizer.build(variables)
  return optimizer


def adam(lr, beta1, beta2, variables):
  optimizer = keras.optimizers.Adam(learning_rate=lr, beta_1=beta1, beta_2=beta2)
  optimizer.build(variables)
  return optimizer


def apply_gradients(optimizer, grads, variables, *, grad_clip=0.0, weight_decay=0.0,
                    clip_before_decay=True):
  """All-reduce, clip, coupled L2, replica scaling, apply (replica context).

  Args:
    optimizer: a Keras optimizer built on `variables`.
    grads: this replica's gradients of its share of the global-batch mean loss
      (None for a variable without a gradient: a cell node that feeds only
      'none' edges; it gets zeros, as PyTorch's grad None leaves it unchanged
      except for the decay).
    variables: the variables, in the same order.
    grad_clip: global-norm clip (0 = none).
    weight_decay: coupled L2 coefficient.
    clip_before_decay: clip, then add the decay (weights); else the reverse.

  Returns:
    The global norm of the all-reduced gradient before decay and clipping.
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
  replicas = context.num_replicas_in_sync
  if replicas > 1:
    grads = [g / replicas for g in grads]
  optimizer.apply_gradients(zip(grads, variables))
  return norm


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
