"""The gradient pipeline (edd_tf/core/optim.py): loss scaling, coupled L2, lr schedules, loss."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from edd_tf.core import optim


def _sgd_on(value):
  v = keras.Variable(np.asarray(value, np.float32))
  return v, optim.sgd(0.1, 0.9, False, [v])


@pytest.mark.parametrize('traced', [False, True])
def test_loss_scale_skips_and_halves_on_inf_then_grows(traced):
  v, opt = _sgd_on([1.0, 2.0])
  scale = optim.LossScale(initial_scale=8.0, growth_steps=2)

  def apply(g):
    return optim.apply_gradients(opt, [g], [v], loss_scale=scale)

  if traced:
    apply = tf.function(apply)
  norm = apply(tf.constant([np.inf, 1.0]))
  # Skipped: weights, momentum and the step counter untouched; scale halved.
  np.testing.assert_array_equal(v.numpy(), [1.0, 2.0])
  assert int(opt.iterations.numpy()) == 0
  assert float(scale.scale.numpy()) == 4.0 and int(scale.good_steps.numpy()) == 0
  assert float(norm) == 0.0  # a skipped step reports no gradient (the loop's NaN guard)
  apply(tf.constant([np.nan, 0.0]))
  assert float(scale.scale.numpy()) == 2.0 and int(opt.iterations.numpy()) == 0
  # Finite steps are applied; after growth_steps of them in a row the scale doubles.
  apply(tf.constant([1.0, 1.0]))
  np.testing.assert_allclose(v.numpy(), [0.9, 1.9])
  assert float(scale.scale.numpy()) == 2.0 and int(scale.good_steps.numpy()) == 1
  apply(tf.constant([1.0, 1.0]))
  assert int(opt.iterations.numpy()) == 2
  assert float(scale.scale.numpy()) == 4.0 and int(scale.good_steps.numpy()) == 0


def test_loss_scale_never_falls_below_one():
  v, opt = _sgd_on([1.0])
  scale = optim.LossScale(initial_scale=2.0)
  for _ in range(3):
    optim.apply_gradients(opt, [tf.constant([np.inf])], [v], loss_scale=scale)
  assert float(scale.scale.numpy()) == 1.0


def test_loss_scaled_gradient_equals_the_unscaled_one():
  """Same float32 model: d(loss * s)/dw / s == dL/dw (s a power of two: exact)."""
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.layers.Dense(8, activation='relu'), keras.layers.Dense(3)])
  x = tf.random.normal([16, 5])
  model(x)
  scale = optim.LossScale()
  with tf.GradientTape(persistent=True) as tape:
    loss = tf.reduce_mean(tf.square(model(x)))
  want = tape.gradient(loss, model.trainable_variables)
  got = scale.gradients(tape, loss, model.trainable_variables)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=0)


def test_apply_with_finite_gradient_equals_apply_without_loss_scale():
  v1, opt1 = _sgd_on([1.0, -1.0])
  v2, opt2 = _sgd_on([1.0, -1.0])
  scale = optim.LossScale()
  for g in ([0.5, 0.25], [1.0, -2.0]):
    n1 = optim.apply_gradients(opt1, [tf.constant(g)], [v1], grad_clip=1.0, weight_decay=0.1)
    n2 = optim.apply_gradients(opt2, [tf.constant(g)], [v2], grad_clip=1.0, weight_decay=0.1,
                               loss_scale=scale)
    assert float(n1) == float(n2)
  np.testing.assert_array_equal(v1.numpy(), v2.numpy())


# --------------------------------------------------------------------------
# Coupled L2, learning-rate schedules and the loss
# --------------------------------------------------------------------------


def test_coupled_weight_decay_adds_wd_times_w():
  v = tf.Variable([1.0, -2.0])
  (g,) = optim.coupled_l2([tf.constant([0.5, 0.5])], [v], 0.1)
  np.testing.assert_allclose(g, [0.6, 0.3])


def test_cosine_lr_end_points():
  assert optim.learning_rate(0, epochs=50, lr=0.025, lr_min=0.001) == pytest.approx(0.025)
  assert optim.learning_rate(25, epochs=50, lr=0.025, lr_min=0.001) == pytest.approx(0.013)
  assert optim.learning_rate(50, epochs=50, lr=0.025, lr_min=0.001) == pytest.approx(0.001)


def test_cosine_schedule_edges():
  kw = dict(lr=0.1, lr_min=0.001, epochs=10, schedule='cosine')
  assert optim.learning_rate(0, **kw) == pytest.approx(0.1)
  assert optim.learning_rate(5, **kw) == pytest.approx((0.1 + 0.001) / 2)
  assert optim.learning_rate(10, **kw) == pytest.approx(0.001)


def test_step_schedule_decays_per_epoch():
  kw = dict(lr=0.1, epochs=250, schedule='step', gamma=0.97)
  assert optim.learning_rate(0, **kw) == pytest.approx(0.1)
  assert optim.learning_rate(3, **kw) == pytest.approx(0.1 * 0.97 ** 3)


def test_warmup_scales_first_epochs():
  kw = dict(lr=0.5, epochs=250, schedule='step', gamma=0.97, warmup_epochs=5)
  assert optim.learning_rate(0, **kw) == pytest.approx(0.5 / 5)
  assert optim.learning_rate(4, **kw) == pytest.approx(0.5 * 0.97 ** 4)


def test_unknown_schedule_is_an_error():
  with pytest.raises(ValueError, match='lr_schedule.*cosine'):
    optim.learning_rate(0, lr=0.1, epochs=1, schedule='exp')


def test_label_smoothed_cross_entropy_matches_hand_formula():
  logits = tf.constant([[2.0, 0.0, -1.0]])
  log_p = np.log(np.exp([2.0, 0.0, -1.0]) / np.exp([2.0, 0.0, -1.0]).sum())
  target = np.array([0.1 / 3, 0.9 + 0.1 / 3, 0.1 / 3])
  got = optim.cross_entropy(tf.constant([1]), logits, label_smoothing=0.1)
  np.testing.assert_allclose(got.numpy(), [-(target * log_p).sum()], rtol=1e-6)
