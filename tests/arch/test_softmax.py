"""Tests for edd_tf.arch.softmax: sn-softmax (Eq. 7-8), Gumbel sampling, entropy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from edd_tf.arch import softmax


def _np_softmax(x, t):
  z = np.exp((x - x.max(-1, keepdims=True)) / t)
  return z / z.sum(-1, keepdims=True)


def _np_eq7_grad(logits, upstream, t, noise_t, axis):
  """Eq. (8) with explicit Jacobian matrices, row by row, in float64."""
  x = np.moveaxis(logits.astype(np.float64), axis, -1)
  g = np.moveaxis(upstream.astype(np.float64), axis, -1)
  out = np.zeros_like(x)
  for idx in np.ndindex(x.shape[:-1]):
    b = _np_softmax(x[idx], t)
    jac = (np.diag(b) - np.outer(b, b)) / t
    if noise_t is not None:
      bn = _np_softmax(x[idx], noise_t)
      jac = jac + (np.diag(bn) - np.outer(bn, bn)) / noise_t
    out[idx] = jac.T @ g[idx]
  return np.moveaxis(out, -1, axis)


def _grad(logits, upstream, temperature, **kwargs):
  x = tf.constant(logits)
  with tf.GradientTape() as tape:
    tape.watch(x)
    loss = tf.reduce_sum(softmax.sn_softmax(x, temperature, **kwargs) * upstream)
  return tape.gradient(loss, x).numpy()


@pytest.mark.parametrize('shape,axis', [((5,), -1), ((3, 4), -1), ((2, 3, 5), -1), ((2, 5, 3), 1),
                                        ((4, 3), 0), ((2, 5, 3), -2)])
@pytest.mark.parametrize('t', [1.0, 0.1, 0.02])
def test_forward_equals_tempered_softmax(shape, axis, t):
  x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
  got = softmax.sn_softmax(x, t, st=1.0, axis=axis)
  np.testing.assert_allclose(got, tf.nn.softmax(x / t, axis=axis), rtol=1e-6, atol=1e-7)
  assert got.dtype == tf.float32


@pytest.mark.parametrize('shape,axis', [((5,), -1), ((3, 4), -1), ((2, 3, 5), -1), ((2, 5, 3), 1),
                                        ((4, 3), 0), ((2, 5, 3), -2)])
@pytest.mark.parametrize('t,mode', [(1.0, {'s': 2.0}), (0.1, {'s': 100.0}), (0.05, {'s': 7.0}),
                                    (0.1, {'st': 1.0}), (0.02, {'st': 0.5}), (0.3, {})])
def test_gradient_matches_eq7_in_numpy(shape, axis, t, mode):
  rng = np.random.default_rng(1)
  x = rng.normal(scale=0.3, size=shape).astype(np.float32)
  g = rng.normal(size=shape).astype(np.float32)
  noise_t = t * mode['s'] if 's' in mode else mode.get('st')
  want = _np_eq7_grad(x, g, t, noise_t, axis)
  np.testing.assert_allclose(_grad(x, g, t, axis=axis, **mode), want, rtol=2e-4, atol=2e-5)


def test_plain_gradient_equals_softmax_autodiff():
  rng = np.random.default_rng(2)
  x = tf.constant(rng.normal(size=(3, 5)).astype(np.float32))
  g = rng.normal(size=(3, 5)).astype(np.float32)
  with tf.GradientTape() as tape:
    tape.watch(x)
    loss = tf.reduce_sum(tf.nn.softmax(x / 0.2) * g)
  np.testing.assert_allclose(_grad(x.numpy(), g, 0.2), tape.gradient(loss, x), rtol=1e-5,
                             atol=1e-6)


def test_saturated_forward_keeps_only_noise_term():
  # a/t = 500 between the top two logits: beta_t is one-hot in float32.
  x = np.array([[0.0, 0.5, 0.2, -0.3, 0.1]], np.float32)
  g = np.array([[1.0, -2.0, 0.5, 0.3, -0.7]], np.float32)
  plain = _grad(x, g, 1e-3)
  np.testing.assert_array_equal(plain, np.zeros_like(plain))
  sn = _grad(x, g, 1e-3, st=1.0)
  noise_only = _np_eq7_grad(x, g, 1.0, None, -1)  # A_st / st with st = 1
  assert np.abs(sn).max() > 0.1
  np.testing.assert_allclose(sn, noise_only, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(softmax.sn_softmax(x, 1e-3, st=1.0), [[0, 1, 0, 0, 0]])


def test_saturated_forward_with_scale_uses_s_times_t():
  x = np.array([0.0, 0.5, 0.2], np.float32)
  g = np.array([1.0, -2.0, 0.5], np.float32)
  np.testing.assert_allclose(_grad(x, g, 1e-3, s=500.0), _np_eq7_grad(x, g, 0.5, None, -1),
                             rtol=1e-5, atol=1e-6)


def test_temperature_gradient_is_zero():
  x = tf.constant([[0.1, 0.3, -0.2]])
  for mode in [{}, {'s': 10.0}, {'st': 1.0}]:
    t = tf.constant(0.5)
    with tf.GradientTape() as tape:
      tape.watch(t)
      loss = tf.reduce_sum(softmax.sn_softmax(x, t, **mode) * [1.0, 2.0, 3.0])
    assert float(tape.gradient(loss, t)) == 0.0


def test_float16_logits_do_not_overflow():
  x = tf.constant([[100.0, 99.0, 0.0]], tf.float16)  # x / 1e-3 overflows float16
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = softmax.sn_softmax(x, 1e-3, st=1.0)
    loss = tf.reduce_sum(y * [1.0, 2.0, 3.0])
  grad = tape.gradient(loss, x)
  assert y.dtype == tf.float32 and grad.dtype == tf.float16
  np.testing.assert_array_equal(y, [[1.0, 0.0, 0.0]])
  assert np.all(np.isfinite(grad.numpy()))


@pytest.mark.parametrize('jit', [False, True])
def test_tf_function_matches_eager(jit):
  rng = np.random.default_rng(3)
  x = tf.constant(rng.normal(scale=0.3, size=(2, 4, 3)).astype(np.float32))
  g = rng.normal(size=(2, 4, 3)).astype(np.float32)
  temperature = tf.Variable(0.05)

  @tf.function(jit_compile=jit)
  def step(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      loss = tf.reduce_sum(softmax.sn_softmax(x, temperature, s=20.0, axis=1) * g)
    return tape.gradient(loss, x)

  np.testing.assert_allclose(step(x), _grad(x.numpy(), g, 0.05, s=20.0, axis=1), rtol=1e-5,
                             atol=1e-6)


def test_variable_temperature_change_does_not_retrace():
  temperature = tf.Variable(1.0)
  x = tf.constant([[0.0, 0.5, 0.2]])

  @tf.function
  def forward(x):
    return softmax.sn_softmax(x, temperature, st=1.0)

  first = forward(x).numpy()
  temperature.assign(1e-3)
  second = forward(x).numpy()
  assert forward.experimental_get_tracing_count() == 1
  np.testing.assert_allclose(first, tf.nn.softmax(x / 1.0), rtol=1e-6)
  np.testing.assert_allclose(second, [[0.0, 1.0, 0.0]], atol=1e-6)


def test_keras_variable_temperature_in_eager():
  temperature = keras.Variable(0.5)
  x = np.array([0.1, -0.4, 0.3], np.float32)
  g = np.array([1.0, 0.0, -1.0], np.float32)
  np.testing.assert_allclose(_grad(x, g, temperature, st=1.0), _np_eq7_grad(x, g, 0.5, 1.0, -1),
                             rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('mode,t', [({}, 0.3), ({'st': 1.0}, 0.1), ({'s': 10.0}, 0.2)])
def test_second_order_matches_autodiff_of_eq8(mode, t):
  rng = np.random.default_rng(4)
  x = tf.constant(rng.normal(scale=0.3, size=(2, 4)).astype(np.float32))
  w = tf.constant(rng.normal(size=(2, 4)).astype(np.float32))
  v = tf.constant(rng.normal(size=(2, 4)).astype(np.float32))
  noise_t = t * mode['s'] if 's' in mode else mode.get('st')

  def vjp(beta, temp):
    return beta * (w - tf.reduce_sum(w * beta, -1, keepdims=True)) / temp

  with tf.GradientTape() as outer:
    outer.watch(x)
    with tf.GradientTape() as inner:
      inner.watch(x)
      loss = tf.reduce_sum(softmax.sn_softmax(x, t, **mode) * w)
    hvp_got = tf.reduce_sum(inner.gradient(loss, x) * v)
  got = outer.gradient(hvp_got, x)
  with tf.GradientTape() as tape:
    tape.watch(x)
    grad = vjp(tf.nn.softmax(x / t), t)
    if noise_t is not None:
      grad += vjp(tf.nn.softmax(x / noise_t), noise_t)
    hvp_want = tf.reduce_sum(grad * v)
  want = tape.gradient(hvp_want, x)
  assert np.abs(want.numpy()).max() > 1e-3
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('kwargs,match', [({'s': 10.0, 'st': 1.0}, 'at most one of s and st'),
                                          ({'s': 1.0}, 's must be > 1'),
                                          ({'s': 0.5}, 's must be > 1'),
                                          ({'st': 0.0}, 'st must be > 0'),
                                          ({'st': -1.0}, 'st must be > 0')])
def test_bad_scale_raises(kwargs, match):
  with pytest.raises(ValueError, match=match):
    softmax.sn_softmax(tf.zeros([3]), 1.0, **kwargs)


@pytest.mark.parametrize('temperature', [0.0, -0.5, 0])
def test_non_positive_python_temperature_raises(temperature):
  with pytest.raises(ValueError, match='temperature must be > 0'):
    softmax.sn_softmax(tf.zeros([3]), temperature)


def test_non_positive_tensor_temperature_fails_eagerly():
  with pytest.raises(tf.errors.InvalidArgumentError, match='temperature must be > 0'):
    softmax.sn_softmax(tf.zeros([3]), tf.constant(-1.0), st=1.0)


def test_non_positive_variable_temperature_fails_in_graph():
  temperature = tf.Variable(0.0)
  forward = tf.function(lambda x: softmax.sn_softmax(x, temperature))
  with pytest.raises(tf.errors.InvalidArgumentError, match='temperature must be > 0'):
    forward(tf.zeros([3]))


def test_gumbel_sample_is_one_hot_and_deterministic():
  logits = tf.constant(np.random.default_rng(5).normal(size=(6, 5)).astype(np.float32))
  hard, index = softmax.gumbel_softmax_sample(logits, 1.0, tf.constant([3, 4]))
  again, index_again = softmax.gumbel_softmax_sample(logits, 1.0, tf.constant([3, 4]))
  np.testing.assert_array_equal(hard, tf.one_hot(index, 5))
  np.testing.assert_array_equal(hard, again)
  np.testing.assert_array_equal(index, index_again)
  assert index.dtype == tf.int32 and index.shape == (6,)


def test_gumbel_samples_follow_softmax_of_logits():
  # Gumbel-max: argmax(log_softmax(a) + G) ~ Categorical(softmax(a)), for any tau.
  row = np.array([1.0, 0.0, -1.0, 0.5], np.float32)
  logits = tf.constant(np.tile(row, (20000, 1)))
  _, index = softmax.gumbel_softmax_sample(logits, 10.0, tf.constant([7, 8]))
  freq = np.bincount(index.numpy(), minlength=4) / 20000
  np.testing.assert_allclose(freq, _np_softmax(row, 1.0), atol=0.015)


def test_gumbel_seed_changes_sample():
  logits = tf.zeros([50, 4])
  _, a = softmax.gumbel_softmax_sample(logits, 1.0, tf.constant([0, 1]))
  _, b = softmax.gumbel_softmax_sample(logits, 1.0, tf.constant([0, 2]))
  assert np.any(a.numpy() != b.numpy())


def test_gumbel_gradient_is_straight_through():
  logits = tf.constant([[0.2, -0.1, 0.4], [0.0, 0.3, -0.2]])
  w = tf.constant([[1.0, 2.0, -1.0], [0.5, -0.5, 2.0]])
  with tf.GradientTape() as tape:
    tape.watch(logits)
    hard, _ = softmax.gumbel_softmax_sample(logits, 0.5, tf.constant([1, 1]))
    loss = tf.reduce_sum(hard * w)
  grad = tape.gradient(loss, logits).numpy()
  assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 1e-3
  # log_softmax makes the sample invariant to a per-row shift of the logits.
  np.testing.assert_allclose(grad.sum(-1), 0.0, atol=1e-6)


def test_expected_entropy_values():
  uniform = tf.fill([4, 5], 0.2)
  np.testing.assert_allclose(softmax.expected_entropy(uniform), np.log(5.0), rtol=1e-6)
  mixed = tf.constant([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
  np.testing.assert_allclose(softmax.expected_entropy(mixed), np.log(2.0) / 2, rtol=1e-6)
  np.testing.assert_allclose(softmax.expected_entropy(tf.transpose(mixed), axis=0),
                             np.log(2.0) / 2, rtol=1e-6)


def test_expected_entropy_gradient_is_finite_at_zero():
  probs = tf.constant([[1.0, 0.0, 0.0], [0.25, 0.75, 0.0]])
  with tf.GradientTape() as tape:
    tape.watch(probs)
    h = softmax.expected_entropy(probs)
  assert np.all(np.isfinite(tape.gradient(h, probs).numpy()))
