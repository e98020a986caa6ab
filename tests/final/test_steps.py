"""edd_tf/final/steps.py: the SGD step (PyTorch's coupled weight decay), drop path."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from edd_tf import train
from edd_tf.arch import genotype as genotype_lib
from edd_tf.core import optim
from edd_tf.data import pipeline as data_lib
from edd_tf.final import models
from edd_tf.final import steps
from tests.helpers import tiny_darts_train_config


def test_drop_path_ramp():
  assert steps.drop_path_rate(0, drop_path_prob=0.2, epochs=600) == 0.0
  assert steps.drop_path_rate(300, drop_path_prob=0.2, epochs=600) == pytest.approx(0.1)


def test_coupled_weight_decay_after_clipping_matches_hand_step():
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(3)])
  images = tf.random.normal([4, 2, 2, 3])
  labels = tf.constant([0, 1, 2, 1])
  model(images)
  w0 = [v.numpy().copy() for v in model.trainable_variables]
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, model(images)))
  grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
  norm = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
  clip, lr, wd = norm / 4, 0.5, 0.1  # The clip is active.
  # PyTorch: clip_grad_norm_ first, then SGD adds wd * w; first momentum step = plain step.
  expected = [w - lr * (g * clip / norm + wd * w) for w, g in zip(w0, grads)]

  strategy = tf.distribute.get_strategy()
  config = train.default_config().train
  config.update(lr=lr, momentum=0.9, nesterov=False)
  optimizer = steps.make_optimizer(config, model.trainable_variables)
  step = steps.make_train_step(model, optimizer, strategy=strategy, global_batch_size=4,
                               weight_decay=wd, grad_clip=clip)
  step_loss, _ = step(images, labels)
  assert float(step_loss) == pytest.approx(float(loss), rel=1e-6)
  for got, want in zip(model.trainable_variables, expected):
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_auxiliary_loss_is_weighted_into_the_step():
  config = tiny_darts_train_config()
  info = data_lib.DATASETS['cifar10']
  keras.utils.set_random_seed(0)
  model = models.build_model(config, genotype_lib.GENOTYPES['DARTS_V2'], info)
  images = tf.random.normal([8, 32, 32, 3])
  labels = tf.range(8) % 10
  logits, aux_logits = model.call_with_aux(images, training=True)  # Drop path rate is 0.
  want = tf.reduce_mean(optim.cross_entropy(labels, logits)
                        + 0.4 * optim.cross_entropy(labels, aux_logits))
  optimizer = steps.make_optimizer(config.train, model.trainable_variables)
  step = steps.make_train_step(model, optimizer, strategy=tf.distribute.get_strategy(),
                               global_batch_size=8, auxiliary_weight=0.4)
  loss, _ = step(images, labels)
  assert float(loss) == pytest.approx(float(want), rel=1e-5)
