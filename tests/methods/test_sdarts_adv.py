"""SDARTS-ADV: the PGD attack on a loss linear in A, and the revert rule."""

import numpy as np
import tensorflow as tf

from edd_tf.methods import sdarts_adv


def test_pgd_on_linear_loss_hits_the_inf_ball():
  a = tf.constant([[0.25, 0.25, 0.25, 0.25]])
  c = tf.constant([[1.0, -1.0, 2.0, -3.0]])
  out = sdarts_adv.pgd(lambda w: tf.reduce_sum(c * w['x']), {'x': a}, {'x': a}, 0.1, 7)
  # step 0.2/7: four steps overshoot 0.1, clipped to the ball; rows still sum to one.
  np.testing.assert_allclose(out['x'].numpy(), [[0.35, 0.15, 0.35, 0.15]], atol=1e-6)


def test_revert_when_the_attack_lowered_the_loss():
  w, adv = {'x': tf.constant([[1.0, 0.0]])}, {'x': tf.constant([[0.5, 0.5]])}
  np.testing.assert_allclose(sdarts_adv.revert(w, adv, 2.0, 1.0)['x'].numpy(), [[1.0, 0.0]])
  np.testing.assert_allclose(sdarts_adv.revert(w, adv, 1.0, 2.0)['x'].numpy(), [[0.5, 0.5]])


def test_the_attack_leaves_bn_statistics_alone_and_moves_the_mixing():
  from edd_tf.bilevel import searcher as searcher_lib  # pylint: disable=g-import-not-at-top
  from tests.helpers import tiny_search_config  # pylint: disable=g-import-not-at-top
  c = tiny_search_config(method='sdarts_adv')
  c.softmax.update(kind='plain', s=0.0, st=0.0)
  c.sdarts_rs = __import__('ml_collections').ConfigDict(dict(eps_min=0.1, eps_max=0.1,
                                                             pgd_steps=3))
  s = searcher_lib.Searcher(c, num_classes=10, image_size=8)
  s.method.begin_epoch(0, 1)
  rng = np.random.default_rng(0)
  images = tf.constant(rng.standard_normal((8, 8, 8, 3)).astype(np.float32))
  labels = tf.constant(rng.integers(0, 10, 8).astype(np.int32))
  before = [v.numpy().copy() for v in s.model.non_trainable_variables]
  weights, _ = s.method.weight_step_mixing(s, images, labels, tf.constant([1, 2]))
  for b, v in zip(before, s.model.non_trainable_variables):
    np.testing.assert_array_equal(b, v.numpy(), err_msg=v.path)
  clean = tf.nn.softmax(s.alphas).numpy()
  moved = weights['alphas'].numpy()
  np.testing.assert_allclose(moved.sum(-1), 1.0, rtol=1e-5)   # still on the simplex
  # Clipped to the eps-ball, then renormalised onto the simplex (as perturb.py),
  # which may move an entry a little past eps.
  assert np.abs(moved - clean).max() <= 2 * 0.1
  # Kept only when it raised the inference-mode training loss (else reverted to A exactly).
  loss = lambda w: float(s.loss(labels, s.model(images, {'alphas': tf.constant(w)},
                                                training=False))[0])
  assert np.allclose(moved, clean, atol=1e-7) or loss(moved) >= loss(clean)


def _float16_attack_setup(precision, pgd_steps=1):
  import keras  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  from edd_tf.bilevel import searcher as searcher_lib  # pylint: disable=g-import-not-at-top
  from tests.helpers import tiny_search_config  # pylint: disable=g-import-not-at-top
  c = tiny_search_config(method='sdarts_adv', precision=precision)
  c.softmax.update(kind='plain', s=0.0, st=0.0)
  c.sdarts_rs = ml_collections.ConfigDict(dict(eps_min=0.1, eps_max=0.1, pgd_steps=pgd_steps))
  keras.utils.set_random_seed(0)   # the same weights in both precisions
  s = searcher_lib.Searcher(c, num_classes=10, image_size=8)
  s.method.begin_epoch(0, 1)
  rng = np.random.default_rng(0)
  images = tf.constant(rng.standard_normal((8, 8, 8, 3)).astype(np.float32))
  labels = tf.constant(rng.integers(0, 10, 8).astype(np.int32))
  return s, images, labels


# A loss this small has float16 backward values below float16's smallest subnormal (6e-8):
# measured, the unscaled float16 attack gradient is exactly 0 everywhere at 1e-5, while the
# float32 one is ~1e-7 on every non-'none' entry.
TINY = 1e-5


def test_float16_attack_gradient_is_loss_scaled():
  grads = {}
  for precision in ('float32', 'mixed_float16'):
    s, images, labels = _float16_attack_setup(precision)
    weights, _ = s.mixing()
    loss_fn = lambda a: TINY * s.loss(labels, s.model(images, a, None, training=False))[0]  # pylint: disable=cell-var-from-loop
    grads[precision] = sdarts_adv.attack_gradient(loss_fn, weights, s.weight_gradients)['alphas']
    if precision == 'mixed_float16':
      assert s.w_loss_scale is not None
      unscaled = sdarts_adv.attack_gradient(loss_fn, weights)['alphas'].numpy()
      assert not np.any(unscaled)   # what the attack saw before: sign 0, no step
  want, got = grads['float32'].numpy(), grads['mixed_float16'].numpy()
  assert np.all(np.isfinite(got))
  nonzero = want != 0
  assert nonzero.sum() >= 20 and np.all(got[nonzero] != 0)   # 24 non-'none' entries
  assert np.mean(np.sign(got[nonzero]) == np.sign(want[nonzero])) >= 0.9
  np.testing.assert_allclose(got, want, rtol=0.1, atol=0.05 * np.abs(want).max())


def test_float16_adv_step_differentiates_the_attack_with_the_weight_loss_scale():
  s, images, labels = _float16_attack_setup('mixed_float16', pgd_steps=2)
  seen = []
  scaled = s.weight_gradients

  def spy(tape, loss, sources):
    grads = scaled(tape, loss, sources)
    seen.append(grads)
    return grads

  s.weight_gradients = spy
  loss = s.loss
  s.loss = lambda y, logits: (TINY * loss(y, logits)[0], loss(y, logits)[1])
  weights, _ = s.method.weight_step_mixing(s, images, labels, tf.constant([1, 2]))
  assert len(seen) == 2   # one per PGD step
  for grads in seen:
    g = grads[0].numpy()
    assert np.all(np.isfinite(g)) and np.count_nonzero(g) >= 20
  np.testing.assert_allclose(weights['alphas'].numpy().sum(-1), 1.0, rtol=1e-5)
  s.loss, s.weight_gradients = loss, scaled
  batch = lambda: (images, labels)
  before = [v.numpy().copy() for v in s.weight_variables]
  loss, _ = s._weight_step(*batch(), tf.constant([3, 4]))  # pylint: disable=protected-access
  assert np.isfinite(float(loss))   # the whole ADV weight step (eager: no minute of tracing)
  assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, s.weight_variables))
  assert float(s.w_loss_scale.scale.numpy()) == 2.0 ** 15   # finite: not halved


def test_non_finite_attack_gradient_does_not_move():
  a = tf.constant([[0.25, 0.75]])
  inf = lambda tape, loss, sources: [tf.constant([[np.inf, np.nan]])]
  np.testing.assert_array_equal(sdarts_adv.attack_gradient(lambda w: tf.reduce_sum(w['x']),
                                                           {'x': a}, inf)['x'], [[0.0, 0.0]])
  out = sdarts_adv.pgd(lambda w: tf.reduce_sum(w['x']), {'x': a}, {'x': a}, 0.1, 3, inf)
  np.testing.assert_allclose(out['x'], a.numpy(), rtol=1e-6)
