"""Sparse-noisy softmax (Sect. 2.1, Alg. 1), Gumbel sampling and entropy.

``sn_softmax`` computes ``softmax(logits / t)`` in the forward pass but
back-propagates through the sum of two softmax Jacobians (Eq. 7-8):

  d beta_t / dA = A_t / t + A_tn / tn,   tn = s * t  or  tn = st,

where ``A_x = diag(beta_x) - beta_x beta_x^T`` and ``beta_x = softmax(A / x)``.
When the forward softmax saturates (``A_t = 0``) the smoother second term
still moves the logits. The Jacobians are symmetric, so the vector-Jacobian
product for an upstream gradient ``g`` is

  beta_t * (g - <g, beta_t>) / t + beta_n * (g - <g, beta_n>) / tn.

Everything is computed in float32: at t ~ 1e-3, ``logits / t`` overflows
float16 (paper-notes, "Scale of the forward pass").
"""

import numbers

import numpy as np
import tensorflow as tf


def _softmax_vjp(beta, g, temperature, axis):
  """(A_x / x)^T g for beta = softmax(logits / x); the Jacobian is symmetric."""
  return beta * (g - tf.reduce_sum(g * beta, axis=axis, keepdims=True)) / temperature


def _as_float32(value):
  return tf.cast(tf.convert_to_tensor(value), tf.float32)


def _checked_positive(value, name, lower=0.0):
  """float32 tensor of `value`, checked to be > `lower`.

  Python numbers raise ValueError right away; tensors get an in-graph
  `tf.debugging.assert_greater` (which raises InvalidArgumentError eagerly and
  in graphs). XLA drops asserts, so in graphs a bad value also becomes NaN.
  """
  if isinstance(value, numbers.Real):
    if not value > lower:  # also rejects NaN
      raise ValueError(f'sn_softmax: {name} must be > {lower}, got {value}')
    return tf.constant(float(value), tf.float32)
  value = _as_float32(value)  # KerasVariable -> tensor (tf-notes finding H)
  check = tf.debugging.assert_greater(
      value, tf.constant(lower, tf.float32), message=f'sn_softmax: {name} must be > {lower}')
  if check is None:  # eager: already checked
    return value
  # XLA drops Assert ops: make a bad value poison the result with NaN instead.
  value = tf.where(value > lower, value, tf.constant(np.nan, tf.float32))
  with tf.control_dependencies([check]):
    return tf.identity(value)


def sn_softmax(logits, temperature, *, s=None, st=None, axis=-1):
  """Sparse-noisy softmax: tempered forward, two-temperature backward (Alg. 1).

  Exactly one of `s` and `st` selects the noise temperature of the backward
  pass: `s` fixes the ratio (tn = s * t, the paper's "s = 100"), `st` fixes the
  noise temperature itself (the paper's "st = 1"). With neither, this is a
  plain tempered softmax (its gradient is the ordinary softmax gradient).
  The temperature is treated as a constant: its gradient is zero.

  Args:
    logits: float[..., M, ...] architecture logits (any float dtype; cast to
      float32).
    temperature: forward temperature t > 0: a Python number, a scalar tensor
      or a variable (read here, so a tf.function does not retrace when the
      variable changes).
    s: optional scale s > 1 of the noise temperature.
    st: optional fixed noise temperature > 0.
    axis: the softmax axis (negative values count from the end).

  Returns:
    float32 tensor of the shape of `logits`: softmax(logits / t) along `axis`.

  Raises:
    ValueError: if both `s` and `st` are given, s <= 1, st <= 0, or a Python
      temperature <= 0. A non-positive tensor temperature fails the in-graph
      check with InvalidArgumentError (under jit_compile XLA drops the check
      and the output is NaN instead).
  """
  if s is not None and st is not None:
    raise ValueError(f'sn_softmax: give at most one of s and st, got s={s}, st={st}')
  t = _checked_positive(temperature, 'temperature')
  logits = _as_float32(logits)
  if s is not None:
    noise_t = t * _checked_positive(s, 's', lower=1.0)
  elif st is not None:
    noise_t = _checked_positive(st, 'st')
  else:
    noise_t = None

  @tf.custom_gradient
  def _forward(a, t, *maybe_noise_t):
    beta_t = tf.nn.softmax(a / t, axis=axis)

    def grad(g):
      grad_a = _softmax_vjp(beta_t, g, t, axis)
      if maybe_noise_t:
        tn = maybe_noise_t[0]
        # Eq. (7): the smoother Jacobian at the noise temperature.
        grad_a += _softmax_vjp(tf.nn.softmax(a / tn, axis=axis), g, tn, axis)
      return (grad_a, tf.zeros_like(t)) + tuple(tf.zeros_like(x) for x in maybe_noise_t)

    return beta_t, grad

  if noise_t is None:
    return _forward(logits, t)
  return _forward(logits, t, noise_t)


def gumbel_softmax_sample(logits, tau, seed):
  """GDAS straight-through Gumbel sample per row (reference sect. 2.6).

  ``probs = softmax((log_softmax(logits) + gumbel) / tau)``; the forward value
  is the one-hot argmax, the gradient that of `probs`. Uses stateless random
  ops, so the same `seed` gives the same sample (deterministic, nothing to
  checkpoint). Uniforms are drawn in [tiny, 1), so the Gumbel noise is always
  finite (the reference resamples on inf/NaN instead).

  Args:
    logits: float[num_edges, num_ops] architecture logits.
    tau: Gumbel-softmax temperature > 0 (number or scalar tensor).
    seed: int[2] seed tensor (e.g. derived from the global step).

  Returns:
    (hard, index): hard float32[num_edges, num_ops] one-hot rows carrying the
    gradient of probs; index int32[num_edges] the sampled op per edge.
  """
  logits = _as_float32(logits)
  tau = _checked_positive(tau, 'tau')
  uniform = tf.random.stateless_uniform(
      tf.shape(logits), seed=seed, minval=np.finfo(np.float32).tiny,
      maxval=1.0, dtype=tf.float32)
  gumbel = -tf.math.log(-tf.math.log(uniform))
  probs = tf.nn.softmax((tf.nn.log_softmax(logits, axis=-1) + gumbel) / tau, axis=-1)
  index = tf.argmax(probs, axis=-1, output_type=tf.int32)
  one_hot = tf.one_hot(index, tf.shape(logits)[-1], dtype=tf.float32)
  hard = one_hot - tf.stop_gradient(probs) + probs
  return hard, index


def expected_entropy(probs, axis=-1):
  """Mean entropy of the distributions in `probs` (Eq. 13).

  Args:
    probs: float[num_edges, num_ops] (or any rank) rows summing to one along
      `axis`; entries equal to 0 contribute 0 (0 log 0 = 0, also in the
      gradient).
    axis: the distribution axis.

  Returns:
    float32 scalar: mean over all other positions (edges) of -sum p log p.
  """
  probs = _as_float32(probs)
  return tf.reduce_mean(-tf.reduce_sum(tf.math.xlogy(probs, probs), axis=axis))
