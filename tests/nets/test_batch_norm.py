"""Tests for edd_tf.nets.batch_norm: PyTorch semantics, folded scale, synchronisation."""

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.nets import batch_norm as batch_norm_lib
from edd_tf.nets import ops

def _bn_step(bn, call, x, scale, upstream):
  """(y, dL/dx, dL/dscale) with L = sum(y * upstream), via `call(bn, x, scale)`."""
  with tf.GradientTape() as tape:
    tape.watch([x, scale])
    y = call(bn, x, scale)
    loss = tf.reduce_sum(y * upstream)
  return (y, *tape.gradient(loss, [x, scale]))


def test_batch_norm_has_pytorch_semantics():
  bn = batch_norm_lib.BatchNorm(affine=False)
  x = np.random.default_rng(0).normal(2.0, 3.0, (4, 5, 5, 3)).astype(np.float32)
  y = bn(x, training=True).numpy()
  flat = x.reshape(-1, 3)
  want = (flat - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-5)  # biased variance
  np.testing.assert_allclose(y.reshape(-1, 3), want, atol=1e-4)
  # Running stats: momentum 0.1 in PyTorch terms, unbiased variance.
  np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * flat.mean(0), rtol=1e-4)
  np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * flat.var(0, ddof=1),
                             rtol=1e-4)
  inference = bn(x, training=False).numpy().reshape(-1, 3)
  np.testing.assert_allclose(
      inference, (flat - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-5),
      atol=1e-4)


def test_frozen_batch_norm_runs_in_inference_mode_when_training():
  """Keras' convention (fine-tuning): trainable=False uses and keeps the moving statistics."""
  bn = batch_norm_lib.BatchNorm(affine=True)
  x = np.random.default_rng(1).normal(2.0, 3.0, (4, 5, 5, 3)).astype(np.float32)
  bn(x, training=True)
  mean, variance = bn.moving_mean.numpy(), bn.moving_variance.numpy()
  bn.trainable = False
  np.testing.assert_array_equal(bn(x, training=True).numpy(), bn(x, training=False).numpy())
  np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)
  np.testing.assert_array_equal(bn.moving_variance.numpy(), variance)
  bn.trainable = True
  assert not np.allclose(bn(x, training=True).numpy(), bn(x, training=False).numpy())


def test_batch_norm_scale_argument_multiplies_and_gets_gradient():
  bn = batch_norm_lib.BatchNorm(affine=False)
  x = tf.random.normal([2, 4, 4, 3], seed=3)
  scale = tf.constant([0.5, 2.0, -1.0])
  with tf.GradientTape() as tape:
    tape.watch(scale)
    y = bn(x, training=True, scale=scale)
    loss = tf.reduce_sum(y * tf.cast(tf.range(3), tf.float32))
  plain = batch_norm_lib.BatchNorm(affine=False)(x, training=True)
  np.testing.assert_allclose(y, plain * scale, atol=1e-5)
  # d loss / d scale_c = sum over the channel of normalised(x) * c.
  np.testing.assert_allclose(tape.gradient(loss, scale),
                             tf.reduce_sum(plain, axis=[0, 1, 2]) * [0.0, 1.0, 2.0], atol=1e-3)


def test_synchronized_batch_norm_math_equals_the_fused_kernel():
  """The all-reduced path (here one replica: all-reduce = identity) is PyTorch BN too."""
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(1.5, 2.0, (4, 6, 6, 3)), tf.float32)
  upstream = tf.constant(rng.normal(size=(4, 6, 6, 3)), tf.float32)
  scale = tf.constant([0.5, 2.0, -1.0])
  fused, synced = batch_norm_lib.BatchNorm(affine=False), batch_norm_lib.BatchNorm(affine=False, synchronized=True)
  want = _bn_step(fused, lambda bn, x, s: bn(x, training=True, scale=s), x, scale, upstream)
  synced.build(x.shape)
  got = _bn_step(synced, lambda bn, x, s: bn._synchronized_call(x, s, tf.zeros([3])), x, scale,
                 upstream)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(synced.moving_mean.numpy(), fused.moving_mean.numpy(), rtol=1e-5)
  np.testing.assert_allclose(synced.moving_variance.numpy(), fused.moving_variance.numpy(),
                             rtol=1e-5)


def test_synchronized_batch_norm_with_one_replica_is_unsynchronised():
  x = tf.random.normal([4, 5, 5, 3], seed=1)
  plain, synced = batch_norm_lib.BatchNorm(), batch_norm_lib.BatchNorm(synchronized=True)
  assert not synced.syncs_now()  # default strategy: one replica
  np.testing.assert_array_equal(synced(x, training=True), plain(x, training=True))
  np.testing.assert_array_equal(synced.moving_variance.numpy(), plain.moving_variance.numpy())


def test_synchronize_batch_norm_sets_every_batch_norm_of_a_model():
  layer = ops.SepConv(8, 3, 1, affine=False)
  layer(tf.zeros([1, 8, 8, 8]))
  assert batch_norm_lib.synchronize_batch_norm(layer) == 2
  assert layer.bn_1.synchronized and layer.bn_2.synchronized


@pytest.mark.parametrize('policy', ['mixed_bfloat16', 'mixed_float16'])
def test_batch_norm_under_a_mixed_policy_keeps_float32_variables(policy):
  bn = batch_norm_lib.BatchNorm(dtype=policy)
  x = tf.random.normal([2, 4, 4, 3])
  y = bn(x, training=True)
  assert y.dtype == tf.dtypes.as_dtype(policy.split('_')[1])
  assert all(v.dtype == 'float32' for v in bn.weights)
  assert np.isfinite(bn.moving_variance.numpy()).all()
