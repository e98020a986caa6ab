"""The found network's training and evaluation steps, and its per-epoch drop-path rate.

The step follows PyTorch's `SGD(momentum, nesterov, weight_decay)` as used by
every reference: the weight decay is L2 *coupled* to the gradient
(`g + wd * w`, every parameter incl. BN and biases), added after the gradient
norm clipping (`clip_grad_norm_` runs before `optimizer.step()`, which adds
the decay). Keras' own `weight_decay=` is decoupled, so it is not used; the
pipeline is `optim.apply_gradients`, shared with the search's weight step.
"""

import tensorflow as tf

from edd_tf.core import optim
from edd_tf.core import precision as precision_lib
from edd_tf.final import models


def drop_path_rate(epoch, *, drop_path_prob, epochs):
  """DARTS train.py: `drop_path_prob * epoch / epochs` for a 0-based epoch."""
  return drop_path_prob * epoch / epochs


def make_optimizer(train_config, variables):
  """SGD with momentum, built eagerly on `variables` (tf-notes finding A).

  Call inside the strategy scope.
  """
  return optim.sgd(train_config.lr, train_config.momentum, train_config.nesterov, variables)


def make_train_step(model, optimizer, *, strategy, global_batch_size, weight_decay=0.0,
                    grad_clip=0.0, label_smoothing=0.0, auxiliary_weight=0.0, loss_scale=None,
                    jit_compile=False):
  """One SGD step as a tf.function over a (distributed) global batch.

  The model and its variables are captured by closure (tf-notes finding G).
  Gradients are all-reduced once, first, so that the clip and the weight
  decay act on the full-batch gradient, as on one device
  (`optim.apply_gradients`).

  Args:
    model: a built Keras model; `model.call_with_aux` when auxiliary_weight > 0.
    optimizer: an `optim.sgd` optimizer built on `model.trainable_variables`.
    strategy: the tf.distribute strategy the variables were created under.
    global_batch_size: examples per step over all replicas.
    weight_decay: coupled L2 coefficient.
    grad_clip: global-norm clip (0 = none).
    label_smoothing: see `optim.cross_entropy`.
    auxiliary_weight: weight of the auxiliary-head loss (0 = no head).
    loss_scale: an `optim.LossScale` (config.precision='mixed_float16'), or None.
    jit_compile: XLA-compile the per-replica forward/backward pass; the
      gradient pipeline runs outside it (XLA around strategy.run fails).

  Returns:
    step(images float32[B, H, W, 3], labels int32[B]) -> (loss, correct): the
    mean training loss (incl. the auxiliary term) and the number of correct
    top-1 predictions of the main head, as scalar tensors.
  """
  variables = model.trainable_variables

  def gradients(images, labels):
    with tf.GradientTape() as tape:
      if auxiliary_weight:
        logits, aux_logits = model.call_with_aux(images, training=True)
      else:
        logits = model(images, training=True)
      per_example = optim.cross_entropy(labels, logits, label_smoothing)
      if auxiliary_weight:
        per_example += auxiliary_weight * optim.cross_entropy(labels, aux_logits, label_smoothing)
      loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
    if loss_scale is None:
      grads = tape.gradient(loss, variables)
    else:
      grads = loss_scale.gradients(tape, loss, variables)
    return grads, loss, optim.count_correct(labels, logits)

  if jit_compile:
    gradients = tf.function(gradients, jit_compile=True)

  def replica_step(images, labels):
    grads, loss, correct = gradients(images, labels)
    # A cell whose node feeds only 'none' edges (e.g. |...|none~2|) leaves that
    # node's ops without a gradient: apply_gradients gives them zeros.
    optim.apply_gradients(optimizer, grads, variables, grad_clip=grad_clip,
                          weight_decay=weight_decay, loss_scale=loss_scale)
    return loss, correct

  @tf.function
  def step(images, labels):
    loss, correct = strategy.run(replica_step, args=(images, labels))
    return (strategy.reduce('SUM', loss, axis=None), strategy.reduce('SUM', correct, axis=None))

  return step


def build_training(config, genotype, info, strategy):
  """The final network, its optimizer, loss scale and step, as the training loop runs them.

  Returns:
    (model, optimizer, loss_scale or None, train_step); the variables are
    created under `strategy`; config.precision, config.jit_compile and the
    recipe (config.train) are applied.
  """
  precision_lib.check_compiled_pass(
      config.get('jit_compile', False), strategy.num_replicas_in_sync,
      ['config.sync_batch_norm=True'] if config.get('sync_batch_norm', False) else [])
  t = config.train
  with strategy.scope():
    model = models.build_model(config, genotype, info)
    optimizer = make_optimizer(t, model.trainable_variables)
    loss_scale = (optim.LossScale() if precision_lib.uses_loss_scaling(
        config.get('precision', 'float32')) else None)
  step = make_train_step(
      model, optimizer, strategy=strategy, global_batch_size=t.batch_size,
      weight_decay=t.weight_decay, grad_clip=t.grad_clip, label_smoothing=t.label_smoothing,
      auxiliary_weight=config.model.auxiliary_weight, loss_scale=loss_scale,
      jit_compile=config.get('jit_compile', False))
  return model, optimizer, loss_scale, step


def make_eval_step(model, strategy):
  """tf.function (images, labels) -> (sum of losses, number correct, count)."""

  def replica_step(images, labels):
    logits = model(images, training=False)
    loss = tf.reduce_sum(optim.cross_entropy(labels, logits))
    correct = optim.count_correct(labels, logits)
    count = tf.cast(tf.shape(labels)[0], tf.float32)
    return loss, correct, count

  @tf.function
  def step(images, labels):
    out = strategy.run(replica_step, args=(images, labels))
    return tuple(strategy.reduce('SUM', v, axis=None) for v in out)

  return step
