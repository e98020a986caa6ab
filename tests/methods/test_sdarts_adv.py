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
