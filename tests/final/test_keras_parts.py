"""edd_tf/final/keras_parts.py: the recipe's pieces for model.fit, normalisation in the model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from edd_tf.arch import genotype as genotype_lib
from edd_tf.core import optim
from edd_tf.data import pipeline
from edd_tf.final import keras_parts
from edd_tf.final import steps
from edd_tf.nets import finalnet
from tests.helpers import NB201_CELL

CIFAR = pipeline.DATASETS['cifar10']
CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _nb201(num_classes=3, size=8):
  net = finalnet.build_final_network('nb201', NB201_CELL, num_classes, channels=4,
                                     cells_per_stage=1)
  net(tf.zeros([1, size, size, 3]))
  return net


def _darts_aux():
  """DARTS_V2, C=4, 3 cells, auxiliary head (it needs 32 px input)."""
  net = finalnet.build_final_network('darts_cifar', genotype_lib.GENOTYPES['DARTS_V2'], 10,
                                     channels=4, layers=3, auxiliary=True)
  net.call_with_aux(tf.zeros([1, 32, 32, 3]), training=False)
  return net


def _copy(net):
  other = type(net).from_config(net.get_config())
  other.build_from_config(net.get_build_config())
  for a, b in zip(other.weights, net.weights):
    a.assign(b)
  return other


def _pixels(n, size, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)).astype(np.uint8)


# ---- the auxiliary head's loss through fit ----

@pytest.mark.parametrize('run_eagerly', [True, pytest.param(False, marks=pytest.mark.slow)])
def test_fit_with_aux_loss_is_the_custom_steps_loss_and_update(run_eagerly):
  keras.utils.set_random_seed(0)
  net = _darts_aux()
  twin, plain = _copy(net), _copy(net)
  images = tf.random.stateless_normal([8, 32, 32, 3], seed=[1, 2])
  labels = tf.range(8) % 10
  lr = 0.1
  step = steps.make_train_step(net, optim.sgd(lr, 0.0, False, net.trainable_variables),
                               strategy=tf.distribute.get_strategy(), global_batch_size=8,
                               auxiliary_weight=0.4)
  tf.config.run_functions_eagerly(run_eagerly)   # tracing the DARTS step takes ~15 s
  try:
    step_loss, _ = step(images, labels)
  finally:
    tf.config.run_functions_eagerly(False)

  model = keras_parts.AuxiliaryLossModel(twin, aux_weight=0.4)
  model.compile(optimizer=keras.optimizers.SGD(lr), loss=CE, run_eagerly=run_eagerly)
  history = model.fit(images, labels, batch_size=8, epochs=1, shuffle=False, verbose=0)
  assert history.history['loss'][0] == pytest.approx(float(step_loss), rel=1e-5)
  assert not np.isclose(float(step_loss),   # the auxiliary term is in there
                        float(CE(labels, plain(images, training=True))))
  for a, b in zip(net.weights, twin.weights):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=a.path)


def test_aux_wrapper_predicts_the_main_head_and_saves(tmp_path):
  net = _darts_aux()
  model = keras_parts.AuxiliaryLossModel(keras_parts.with_preprocessing(net, CIFAR.mean,
                                                                        CIFAR.std), 0.4)
  x = _pixels(2, 32)
  want = model(x).numpy()
  np.testing.assert_allclose(want, net(pipeline.normalize(x, CIFAR)).numpy(), atol=1e-4)
  model.save(tmp_path / 'aux.keras')
  loaded = keras.saving.load_model(tmp_path / 'aux.keras')
  assert isinstance(loaded, keras_parts.AuxiliaryLossModel) and loaded.aux_weight == 0.4
  np.testing.assert_array_equal(loaded(x).numpy(), want)


def test_aux_weight_zero_is_the_default_fit_and_a_headless_net_is_refused():
  net = _nb201()
  with pytest.raises(ValueError, match='auxiliary head'):
    keras_parts.AuxiliaryLossModel(net, 0.4)
  model = keras_parts.AuxiliaryLossModel(net, 0.0)
  model.compile(optimizer='sgd', loss=CE, run_eagerly=True)
  history = model.fit(np.zeros((4, 8, 8, 3), np.float32), np.zeros(4), verbose=0)
  assert np.isfinite(history.history['loss']).all()


# ---- drop-path ramp ----

def test_drop_path_ramp_sets_the_training_loops_rate_each_epoch():
  net = _nb201(size=8)
  model = keras_parts.with_preprocessing(net, CIFAR.mean, CIFAR.std)
  seen = []
  record = keras.callbacks.LambdaCallback(
      on_epoch_begin=lambda epoch, logs: seen.append(float(net.drop_path_rate.numpy())))
  model.compile(optimizer=keras.optimizers.SGD(0.0), loss=CE, run_eagerly=True)
  x, y = np.zeros((2, 8, 8, 3), np.float32), np.zeros(2)
  ramp = keras_parts.DropPathRamp(0.3, epochs=4)
  model.fit(x, y, epochs=4, initial_epoch=1, callbacks=[ramp, record], verbose=0)
  assert seen == pytest.approx([0.075, 0.15, 0.225])     # 0.3 * epoch / 4, epochs 1..3
  assert seen == pytest.approx([steps.drop_path_rate(e, drop_path_prob=0.3, epochs=4)
                                for e in (1, 2, 3)])
  with pytest.raises(ValueError, match='drop_path_prob'):
    keras_parts.DropPathRamp(1.5, epochs=4)


# ---- cutout ----

def test_cutout_zeroes_one_square_in_training_only():
  layer = keras_parts.Cutout(4, seed=3)
  x = tf.ones([6, 16, 16, 3])
  np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
  np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
  out = layer(x, training=True).numpy()
  for image in out:
    rows, cols = np.nonzero(image[..., 0] == 0)
    assert (image == 0).all(-1).sum() == (image == 0).any(-1).sum()   # all channels at once
    # A 4x4 square, clipped at the border: a full rectangle of side <= 4 (>= 2: centre inside).
    h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert 2 <= h <= 4 and 2 <= w <= 4 and len(rows) == h * w
  # The pipeline's function with the seed the layer drew.
  again = keras_parts.Cutout(4, seed=3)
  seed = tf.cast(keras.random.SeedGenerator(3).next(), tf.int64)
  np.testing.assert_array_equal(again(x, training=True).numpy(),
                                pipeline.apply_cutout(x, 4, seed).numpy())
  assert keras_parts.Cutout.from_config(layer.get_config()).length == 4
  with pytest.raises(ValueError, match='length'):
    keras_parts.Cutout(0)


# ---- normalisation inside the model ----

def test_pixel_model_matches_the_net_on_normalised_input_and_round_trips(tmp_path):
  net = _nb201(size=8)
  model = keras_parts.with_preprocessing(net, CIFAR.mean, CIFAR.std, cutout=2)
  x = _pixels(4, 8)
  want = net(pipeline.normalize(x, CIFAR), training=False).numpy()
  got = model(x).numpy()      # uint8 in; cutout is off at inference
  np.testing.assert_allclose(got, want, atol=1e-5)
  np.testing.assert_allclose(model(x.astype(np.float32)).numpy(), want, atol=1e-5)
  model.save(tmp_path / 'pixels.keras')
  loaded = keras.saving.load_model(tmp_path / 'pixels.keras')
  np.testing.assert_array_equal(loaded(x).numpy(), got)
  assert [type(layer).__name__ for layer in loaded.layers] == [
      'Rescaling', 'Normalization', 'Cutout', 'NB201Network']


def test_from_workdir_puts_dataset_json_normalisation_in_front(tmp_path):
  import json
  net = _nb201(size=8)
  net.save(tmp_path / 'model.keras')
  info = dict(name='x', num_classes=3, image_size=8, mean=[0.1, 0.2, 0.3], std=[0.5, 0.4, 0.3],
              class_names=['a', 'b', 'c'])
  (tmp_path / 'dataset.json').write_text(json.dumps(info))
  model, got_info = keras_parts.from_workdir(tmp_path)
  assert got_info.class_names == ('a', 'b', 'c')
  x = _pixels(2, 8)
  np.testing.assert_allclose(model(x).numpy(),
                             net(pipeline.normalize(x, got_info)).numpy(), atol=1e-5)


# ---- fine-tuning ----

def _fit_some(model, x, y, epochs):
  model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss=CE, run_eagerly=True)
  return model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0).history['loss']


def test_frozen_fine_tuning_trains_the_new_head_only():
  keras.utils.set_random_seed(0)
  net = _nb201(num_classes=10, size=8)
  model = keras_parts.fine_tune_model(keras_parts.with_preprocessing(net, CIFAR.mean,
                                                                     CIFAR.std), 2)
  new = model.layers[-1]
  assert new.num_classes == 2 and new is not net
  x, y = _pixels(8, 8), np.arange(8) % 2
  # The copied body gives the old network's features: same logits on a 10-way head copy.
  body = [v.numpy().copy() for v in new.weights if 'classifier' not in v.path]
  assert {id(v) for v in model.trainable_weights} == {id(v) for v in new.classifier.weights}
  losses = _fit_some(model, x, y, 4)
  assert losses[-1] < losses[0]
  after = [v.numpy() for v in new.weights if 'classifier' not in v.path]
  assert len(body) == len(after) > 10
  for a, b in zip(body, after):
    if a.dtype.kind == 'f':     # BN statistics too; not the seed generator's counter
      np.testing.assert_array_equal(a, b)


def test_unfrozen_fine_tuning_copies_then_trains_everything():
  keras.utils.set_random_seed(0)
  net = _nb201(num_classes=10, size=8)
  new = keras_parts.fine_tune_model(net, 3, freeze=False)
  old_body = [v for v in net.weights if 'classifier' not in v.path]
  new_body = [v for v in new.weights if 'classifier' not in v.path]
  for a, b in zip(old_body, new_body):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert len(new.trainable_weights) == len(net.trainable_weights)
  x = pipeline.normalize(_pixels(8, 8), CIFAR).numpy()
  losses = _fit_some(new, x, np.arange(8) % 3, 4)
  assert losses[-1] < losses[0]
  stem = new.stem.weights[0]
  assert not np.array_equal(stem.numpy(), net.stem.weights[0].numpy())


def test_fine_tuning_drops_the_auxiliary_head_or_keeps_it_with_a_new_classifier():
  net = _darts_aux()
  x = tf.random.stateless_normal([2, 32, 32, 3], seed=[0, 3])
  plain = keras_parts.fine_tune_model(net, 4)
  assert plain.auxiliary_head is None and plain(x).shape == (2, 4)
  new = keras_parts.fine_tune_model(net, 4, auxiliary=True)
  logits, aux = new.call_with_aux(x, training=False)
  assert logits.shape == aux.shape == (2, 4)
  trainable = {id(v) for v in new.trainable_weights}
  assert trainable == {id(v) for v in new.classifier.weights + new.auxiliary_head.classifier.weights}
  # The body is the same in both (and the original's): the same new-head-free features.
  np.testing.assert_array_equal(new.auxiliary_head.conv_1.weights[0].numpy(),
                                net.auxiliary_head.conv_1.weights[0].numpy())
  np.testing.assert_array_equal(plain.cells[-1].weights[0].numpy(), net.cells[-1].weights[0].numpy())
  with pytest.raises(ValueError, match='auxiliary'):
    keras_parts.fine_tune_model(_nb201(), 2, auxiliary=True)
