"""The training recipe as Keras parts, for `model.compile()` / `model.fit()` on any tf.data input.

binaries.train runs the recipe in its own loop (final/steps.py); these are the
same pieces for a Keras user who has a found network (`model.keras` of a
training workdir, or `finalnet.build_final_network`) and a dataset such as
`keras.utils.image_dataset_from_directory`:

  * `with_preprocessing(net, mean, std)` / `from_workdir(workdir)`: a
    `keras.Sequential` that takes pixels in [0, 255] (uint8 or float) and
    normalises inside (Rescaling + Normalization with the dataset's fixed
    mean/std, then an optional `Cutout`), so no one has to look up
    dataset.json. It saves and loads as `.keras`.
  * `Cutout(length)`: DARTS Cutout (`pipeline.apply_cutout`) as a layer; it
    acts in training only and is the identity at inference.
  * `AuxiliaryLossModel(model, aux_weight)`: `fit` minimises
    loss(logits) + aux_weight * loss(aux_logits), the compiled loss on both
    heads (steps.make_train_step's objective); evaluate/predict see the main
    head only.
  * `DropPathRamp(drop_path_prob, epochs)`: the DARTS drop-path ramp as a
    callback (`steps.drop_path_rate` at each epoch begin).
  * `fine_tune_model(model, num_classes, freeze=True)`: the found network with
    a new classifier for a user's classes; `freeze` keeps every weight it
    learned (BatchNorm statistics included) and trains the new head only.

The recipe's coupled L2 and its gradient clip stay in binaries.train: Keras'
`weight_decay=` is decoupled (pass `global_clipnorm=` for the clip).

Usage (fine-tuning a network trained on CIFAR-10 on a folder of images)::

  import keras
  from edd_tf.final import keras_parts
  net, info = keras_parts.from_workdir('/tmp/edd/quick')   # pixels in, logits out
  model = keras_parts.fine_tune_model(net, num_classes=3, freeze=True)
  ds = keras.utils.image_dataset_from_directory('my_images/', image_size=(32, 32))
  model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=['accuracy'])
  model.fit(ds, epochs=5)
  model.save('finetuned.keras')

examples/finetune_on_folder.py runs it end to end.
"""

import json
import pathlib

import keras
from keras import layers
import numpy as np
import tensorflow as tf

from edd_tf.data import pipeline
from edd_tf.final import models
from edd_tf.final import steps
from edd_tf.nets import finalnet

PACKAGE = finalnet.PACKAGE  # keras.saving registration: 'edd_tf>Cutout', ...


def split_model(model):
  """(preprocessing layers, FinalNetwork) of a found network, bare or with preprocessing.

  Args:
    model: a `finalnet.FinalNetwork`, or a `keras.Sequential` whose last layer
      is one (what `with_preprocessing` builds).

  Raises:
    ValueError: for any other model.
  """
  if isinstance(model, finalnet.FinalNetwork):
    return [], model
  if isinstance(model, keras.Sequential) and model.layers and isinstance(
      model.layers[-1], finalnet.FinalNetwork):
    return list(model.layers[:-1]), model.layers[-1]
  raise ValueError(f'expected a found network (finalnet.FinalNetwork) or a keras.Sequential '
                   f'ending in one (keras_parts.with_preprocessing), got {type(model).__name__}')


def final_networks(model):
  """Every `finalnet.FinalNetwork` inside `model` (itself included), each once."""
  if isinstance(model, finalnet.FinalNetwork):
    return [model]
  found = []
  for layer in getattr(model, 'layers', ()):
    found.extend(n for n in final_networks(layer) if not any(n is f for f in found))
  return found


def _input_shape(net, image_size):
  """(S, S, 3): `image_size` if given, else the size the network was built on."""
  if image_size:
    return (int(image_size), int(image_size), 3)
  shape = getattr(net, '_edd_input_shape', None)
  if not shape or None in shape[1:]:
    raise ValueError('image_size is needed: the network has not been called on a batch yet')
  return tuple(int(d) for d in shape[1:])


# --------------------------------------------------------------------------
# Cutout and normalisation inside the model
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package=PACKAGE)
class Cutout(layers.Layer):
  """DARTS Cutout (`pipeline.apply_cutout`): one zeroed `length` square per image.

  In training only; the identity at inference. It zeroes the *normalised*
  image (zero is the mean colour), so it goes after the normalisation, as
  `with_preprocessing(..., cutout=16)` places it. Each call draws the squares'
  centres from the layer's seed generator (saved with the model).
  """

  def __init__(self, length, seed=None, **kwargs):
    super().__init__(**kwargs)
    if not isinstance(length, (int, np.integer)) or length < 1:
      raise ValueError(f'Cutout length must be a positive integer, got {length!r}')
    self.length, self.seed = int(length), seed
    self.seed_generator = keras.random.SeedGenerator(seed)

  def call(self, images, training=None):
    if not training:
      return images
    seed = tf.cast(self.seed_generator.next(), tf.int64)
    return pipeline.apply_cutout(images, self.length, seed)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    return {**super().get_config(), 'length': self.length, 'seed': self.seed}


def with_preprocessing(model, mean, std, *, image_size=0, cutout=0):
  """A model taking pixels in [0, 255]: Rescaling, Normalization, optional Cutout, `model`.

  Normalization holds the fixed `mean` and `std**2` (`pipeline.normalize`'s
  (x / 255 - mean) / std, to float rounding), so `.keras` files carry them.

  Args:
    model: a found network (`finalnet.FinalNetwork`) taking normalised images.
    mean, std: 3 per-channel values of images scaled to [0, 1] (dataset.json).
    image_size: input side S; 0 = the size the network was built on.
    cutout: Cutout length (0 = none), active in training only.

  Returns:
    keras.Sequential mapping [B, S, S, 3] uint8/float pixels to logits.
  """
  _, net = split_model(model)
  mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
  if mean.shape != (3,) or std.shape != (3,) or not (std > 0).all():
    raise ValueError(f'mean and std must be 3 per-channel values (std > 0), got {mean}, {std}')
  if not isinstance(cutout, (int, np.integer)) or cutout < 0:
    raise ValueError(f'cutout must be an integer >= 0 (0 = none), got {cutout!r}')
  parts = [keras.Input(_input_shape(net, image_size), name='pixels'),
           layers.Rescaling(1.0 / 255.0, name='rescale'),
           layers.Normalization(mean=mean, variance=np.square(std), name='normalize')]
  if cutout:
    parts.append(Cutout(int(cutout), name='cutout'))
  return keras.Sequential(parts + [net], name=f'{net.name}_pixels')


def from_workdir(workdir, *, cutout=0):
  """The network of a training workdir (binaries.train), taking pixels: (model, DatasetInfo).

  Loads the workdir's model.keras when training finished, else rebuilds the
  network from its latest checkpoint (`models.load_workdir_model`), and puts
  dataset.json's normalisation in front (`with_preprocessing`).
  """
  workdir = pathlib.Path(workdir)
  keras_file = workdir / 'model.keras'   # train.KERAS_MODEL_FILE (train.py is upstairs)
  if keras_file.is_file() and (workdir / models.DATASET_FILE).is_file():
    net = keras.saving.load_model(keras_file)
    with open(workdir / models.DATASET_FILE) as f:
      info = models.dataset_info_from_dict(json.load(f))
  else:
    net, info, _, _ = models.load_workdir_model(workdir)
  return (with_preprocessing(net, info.mean, info.std, image_size=info.image_size,
                             cutout=cutout), info)


# --------------------------------------------------------------------------
# The auxiliary head's loss and the drop-path ramp
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package=PACKAGE)
class AuxiliaryLossModel(keras.Model):
  """`fit` trains on loss(logits) + aux_weight * loss(aux_logits); everything else is `model`.

  The compiled loss is applied to both heads (steps.make_train_step: DARTS
  weight 0.4, the same label smoothing on both); metrics, evaluate and
  predict see the main head only, and the auxiliary head never runs outside
  `fit`'s training step. With aux_weight=0 `fit` is Keras' default step.

  Args:
    model: a DARTS network built with auxiliary=True, or a `with_preprocessing`
      model around one; it is shared, not copied (save `model` itself to keep
      the network without the wrapper; the wrapper saves as `.keras` too).
    aux_weight: weight of the auxiliary term (>= 0).
  """

  def __init__(self, model, aux_weight=0.4, **kwargs):
    super().__init__(**kwargs)
    if isinstance(model, dict):   # from get_config (a saved wrapper)
      model = keras.saving.deserialize_keras_object(model)
    self.preprocessing, self.net = split_model(model)
    if not aux_weight >= 0:
      raise ValueError(f'aux_weight must be >= 0, got {aux_weight!r}')
    if aux_weight and self.net.auxiliary_head is None:
      raise ValueError(f'aux_weight={aux_weight} needs a network with an auxiliary head; '
                       f'this {self.net.network} network has none (build a DARTS network '
                       'with auxiliary=True)')
    self.model, self.aux_weight = model, float(aux_weight)

  def call(self, images, training=False):
    return self.model(images, training=training)

  def compute_output_shape(self, input_shape):
    return (input_shape[0], self.net.num_classes)

  def build(self, input_shape=None):
    del input_shape

  def get_config(self):
    return {**super().get_config(), 'model': keras.saving.serialize_keras_object(self.model),
            'aux_weight': self.aux_weight}

  def call_with_aux(self, images, training=True):
    """(logits, aux_logits) of `images` through the preprocessing and the network."""
    x = images
    for layer in self.preprocessing:
      x = layer(x, training=training)
    return self.net.call_with_aux(x, training=training)

  def train_step(self, data):
    """Keras' TensorFlow train_step (trainer.py) with the auxiliary term added to the loss."""
    if not self.aux_weight:
      return super().train_step(data)
    if self._compile_loss is None:   # pylint: disable=protected-access
      raise ValueError('AuxiliaryLossModel.fit needs a loss: model.compile(loss=...)')
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    with tf.GradientTape() as tape:
      logits, aux_logits = self.call_with_aux(x, training=True)
      loss = self.compute_loss(x=x, y=y, y_pred=logits, sample_weight=sample_weight,
                               training=True)
      # The compiled loss again on the auxiliary head (regularisers counted once).
      loss = loss + self.aux_weight * self._compile_loss(y, aux_logits, sample_weight)  # pylint: disable=protected-access
      # As Keras does: the tracker sees the loss unscaled for distribution.
      replicas = tf.distribute.get_strategy().num_replicas_in_sync
      self._loss_tracker.update_state(loss * replicas, sample_weight=tf.shape(logits)[0])  # pylint: disable=protected-access
      scaled = self.optimizer.scale_loss(loss)
    variables = self.trainable_weights
    self.optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
    return self.compute_metrics(x, y, logits, sample_weight=sample_weight)


class DropPathRamp(keras.callbacks.Callback):
  """Sets drop_path_rate = drop_path_prob * epoch / epochs at each epoch begin (DARTS train.py).

  Acts on every found network inside the fitted model (bare, with
  preprocessing, or in an `AuxiliaryLossModel`); `fit(initial_epoch=k)`
  resumes the ramp at epoch k, as binaries.train does.
  """

  def __init__(self, drop_path_prob, epochs):
    super().__init__()
    if not 0.0 <= drop_path_prob < 1.0:
      raise ValueError(f'drop_path_prob must be in [0, 1), got {drop_path_prob!r}')
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
      raise ValueError(f'epochs must be a positive integer, got {epochs!r}')
    self.drop_path_prob, self.epochs = float(drop_path_prob), int(epochs)

  def on_epoch_begin(self, epoch, logs=None):
    del logs
    nets = final_networks(self.model)
    if not nets:
      raise ValueError(f'DropPathRamp: no found network (finalnet.FinalNetwork) in '
                       f'{type(self.model).__name__} {self.model.name!r}')
    rate = steps.drop_path_rate(epoch, drop_path_prob=self.drop_path_prob, epochs=self.epochs)
    for net in nets:
      net.drop_path_rate.assign(rate)


# --------------------------------------------------------------------------
# Fine-tuning on new classes
# --------------------------------------------------------------------------


def _ids(layer):
  return {id(v) for v in layer.weights} if layer is not None else set()


def fine_tune_model(model, num_classes, *, freeze=True, auxiliary=False):
  """The found network with a new classifier for `num_classes`.

  Every other weight, BatchNorm statistics included, is copied from `model`
  (which stays untouched). With `freeze` the copied layers are not trainable,
  so `fit` trains the new head only and the frozen BatchNorms run in
  inference mode (Keras' transfer-learning convention); with freeze=False
  everything trains. A `.keras` file does not keep the flags of the network's
  sub-layers: after loading, `set_frozen(loaded)` freezes them again.

  Args:
    model: a built found network, bare or with preprocessing (that is kept).
    num_classes: classes of the new head.
    freeze: train the new classifier(s) only.
    auxiliary: keep the DARTS auxiliary head (copied, with a new classifier
      of its own) to fine-tune through `AuxiliaryLossModel`; by default the
      new network has none.

  Returns:
    A model of the same form as `model` (bare network or Sequential).
  """
  pre, net = split_model(model)
  if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
    raise ValueError(f'num_classes must be a positive integer, got {num_classes!r}')
  shape = _input_shape(net, 0)
  if auxiliary and not _ids(net.auxiliary_head):
    raise ValueError('auxiliary=True needs a network whose auxiliary head has weights (a DARTS '
                     'network built with auxiliary=True and called with call_with_aux)')
  config = {**net.get_config(), 'num_classes': int(num_classes)}
  if 'auxiliary' in config:
    config['auxiliary'] = bool(auxiliary)
  new = type(net).from_config(config)
  new.build_from_config({'input_shape': [None] + list(shape), 'with_aux': bool(auxiliary)})
  head = getattr(net.auxiliary_head, 'classifier', None) if auxiliary else net.auxiliary_head
  old_skip = _ids(net.classifier) | _ids(head)
  new_skip = _ids(new.classifier) | _ids(getattr(new.auxiliary_head, 'classifier', None))
  old = [v for v in net.weights if id(v) not in old_skip]
  kept = [v for v in new.weights if id(v) not in new_skip]
  if len(old) != len(kept) or any(a.shape != b.shape for a, b in zip(old, kept)):
    raise ValueError('fine_tune_model: the rebuilt network does not match the original weights')
  for source, target in zip(old, kept):
    target.assign(source)
  set_frozen(new, freeze)
  return keras.Sequential(pre + [new], name=f'{new.name}_pixels') if pre else new


def set_frozen(model, frozen=True):
  """Makes every layer of the found network(s) in `model` but the classifiers (un)trainable.

  A layer holding a classifier (the network, the auxiliary head) stays
  trainable itself (Keras hides the weights of a non-trainable layer's
  children); its other sub-layers are set.
  """
  for net in final_networks(model):
    heads = [net.classifier] + ([net.auxiliary_head.classifier] if net.auxiliary_head else [])
    for layer in net._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
      holds_head = any(h is sub for sub in layer._flatten_layers(include_self=True)  # pylint: disable=protected-access
                       for h in heads)
      if not holds_head:
        layer.trainable = not frozen
  return model
