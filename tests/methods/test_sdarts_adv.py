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
