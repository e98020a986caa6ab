"""BatchNorm with PyTorch semantics on the fused kernel, optionally synchronised.

`BatchNorm` (torch.nn.BatchNorm2d semantics, FusedBatchNormV3; `scale=` folds
a mixing weight into the kernel), `batch_norm(affine)` (the ops' builder) and
`synchronize_batch_norm(model)` (config.sync_batch_norm).
"""


from keras import layers
import tensorflow as tf


class BatchNorm(layers.Layer):
  """PyTorch-semantics BatchNorm2d on one fused kernel (FusedBatchNormV3).

  Keras' BatchNormalization normalises with ~10 separate element-wise ops and
  as many in the backward pass; the fused kernel does one pass each way (the
  benchmark in WORKSPACE.md). Semantics follow torch.nn.BatchNorm2d: the batch
  is normalised with the biased variance, the running variance is updated with
  the unbiased one, ``running = momentum * running + (1 - momentum) * batch``
  with momentum 0.9 (PyTorch's 0.1), eps 1e-5.

  ``call(x, training, scale=s)`` multiplies the normalised output by a
  per-channel ``s`` inside the kernel (only without affine parameters): the
  search cells use it to apply a mixing weight beta to a conv op for free,
  with the gradient w.r.t. ``s`` from the same fused backward kernel.

  A frozen layer (``trainable=False``, e.g. fine-tuning) normalises with its
  moving statistics even when ``training=True`` and does not update them,
  as Keras' BatchNormalization does.

  ``synchronized=True`` (PyTorch SyncBatchNorm): in a replica context with
  more than one replica, the training-mode statistics are those of the
  global batch: per-replica sums of x and x^2 and the element count are
  all-reduced (one all-reduce per layer; its gradient all-reduces the
  upstream gradients), then normalised with explicit ops. With one replica
  (or outside a replica context) it is the fused kernel, as unsynchronised.
  Every replica then assigns the same moving statistics.

  The variables are float32 and read as float32 under a mixed dtype policy
  (``autocast=False``): the fused kernel takes x in float16/bfloat16 with
  float32 scale, offset and statistics.
  """

  def __init__(self, affine=True, momentum=0.9, epsilon=1e-5, synchronized=False, **kwargs):
    super().__init__(**kwargs)
    self.affine = affine
    self.momentum = momentum
    self.epsilon = epsilon
    self.synchronized = synchronized

  def build(self, input_shape):
    c = input_shape[-1]
    if self.affine:
      self.gamma = self.add_weight(shape=(c,), initializer='ones', name='gamma', autocast=False)
      self.beta = self.add_weight(shape=(c,), initializer='zeros', name='beta', autocast=False)
    self.moving_mean = self.add_weight(shape=(c,), initializer='zeros', trainable=False,
                                       name='moving_mean', autocast=False)
    self.moving_variance = self.add_weight(shape=(c,), initializer='ones', trainable=False,
                                           name='moving_variance', autocast=False)

  def syncs_now(self):
    """Whether a training-mode call here all-reduces its statistics."""
    if not self.synchronized:
      return False
    context = tf.distribute.get_replica_context()
    return context is not None and context.num_replicas_in_sync > 1

  def update_moving_statistics(self, mean, unbiased_variance):
    m = self.momentum
    self.moving_mean.assign(m * self.moving_mean.value + (1 - m) * mean)
    self.moving_variance.assign(m * self.moving_variance.value + (1 - m) * unbiased_variance)

  def compute_output_shape(self, input_shape):
    return tuple(input_shape)

  def call(self, x, training=False, scale=None):
    c = x.shape[-1]
    if self.affine:
      if scale is not None:
        raise ValueError('BatchNorm(affine=True) has its own scale')
      gamma, offset = self.gamma.value, self.beta.value
    else:
      gamma = tf.ones([c], tf.float32) if scale is None else tf.cast(scale, tf.float32)
      offset = tf.zeros([c], tf.float32)
    # Keras' BatchNormalization convention: a frozen layer (trainable=False,
    # fine-tuning) normalises with its moving statistics and leaves them alone.
    training = training and self.trainable
    if training and self.syncs_now():
      return self._synchronized_call(x, gamma, offset)
    if training:
      y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
          x, gamma, offset, epsilon=self.epsilon, is_training=True)
      self.update_moving_statistics(mean, variance)  # the kernel returns the unbiased variance
      return y
    y, _, _ = tf.compat.v1.nn.fused_batch_norm(
        x, gamma, offset, mean=self.moving_mean.value, variance=self.moving_variance.value,
        epsilon=self.epsilon, is_training=False)
    return y

  def _synchronized_call(self, x, gamma, offset):
    """Training-mode BN with the statistics of the global batch (replica context)."""
    c = x.shape[-1]
    x32 = tf.cast(x, tf.float32)
    count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
    local = tf.concat([tf.reduce_sum(x32, [0, 1, 2]), tf.reduce_sum(tf.square(x32), [0, 1, 2]),
                       count[None]], axis=0)
    total = tf.distribute.get_replica_context().all_reduce('SUM', local)
    n = total[2 * c]
    mean = total[:c] / n
    variance = tf.maximum(total[c:2 * c] / n - tf.square(mean), 0.0)  # biased
    y = (x32 - mean) * (tf.math.rsqrt(variance + self.epsilon) * gamma) + offset
    self.update_moving_statistics(tf.stop_gradient(mean),
                                  tf.stop_gradient(variance * n / tf.maximum(n - 1.0, 1.0)))
    return tf.cast(y, x.dtype)


def batch_norm(affine, name=None):
  return BatchNorm(affine=affine, name=name)


def synchronize_batch_norm(model, synchronized=True):
  """Sets `synchronized` on every batch_norm.BatchNorm of `model` (config.sync_batch_norm).

  One explicit call where a search or training builds its network, instead of
  a flag threaded through every op builder and the OPS registry signature.

  Returns:
    The number of BatchNorm layers set.
  """
  layers_found = [layer for layer in model._flatten_layers(include_self=True, recursive=True)  # pylint: disable=protected-access
                  if isinstance(layer, BatchNorm)]
  for layer in layers_found:
    layer.synchronized = bool(synchronized)
  return len(layers_found)
