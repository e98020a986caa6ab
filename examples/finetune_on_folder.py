# %% [markdown]
# # Fine-tune a found network on your own folder of images
#
# A network found by a search (here the published DARTS_V2 cell) is trained on CIFAR-10,
# then fine-tuned with plain `model.compile()` / `model.fit()` onto a folder of your own
# images laid out as `<folder>/<class name>/<image>` (what
# `keras.utils.image_dataset_from_directory` reads). The recipe's pieces come as Keras parts
# from `edd_tf.final.keras_parts`: normalisation inside the model, Cutout as a layer, the
# auxiliary head's loss, and the drop-path ramp as a callback.
#
# Run it as a script (`python examples/finetune_on_folder.py` from the repository root) or
# cell by cell in Jupyter / VS Code. Environment variables:
#
# * `EDD_TRAIN_WORKDIR`: a `binaries.train` workdir to start from (its `model.keras` or latest
#   checkpoint, and its `dataset.json` normalisation) instead of training here.
# * `EDD_IMAGE_FOLDER`: your folder of images; without it a small one is written from the
#   CIFAR-10 sample shipped with edd_tf.
# * `EDD_EXAMPLES_OUT`: the output directory (`finetune_on_folder/finetuned.keras`; default: a new temp dir).
# * `EDD_EXAMPLES_TINY=1`: a smoke run of seconds (tiny network, a few steps).
#
# Runtime at the default sizes: about 25 minutes on a 2-core CPU (measured 1.7 s per step of 64
# images, loaded machine), nearly all of it the CIFAR-10 pre-training that `EDD_TRAIN_WORKDIR`
# skips; with `EDD_EXAMPLES_TINY=1` under 30 s.

# %%
import importlib.util
import os
import pathlib
import sys
import tempfile

if importlib.util.find_spec('edd_tf') is None:   # a clone without `pip install -e .`
  sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
# edd_tf before TensorFlow loads: importing it picks the CPU kernels (edd_tf/core/kernels.py).
from edd_tf.arch import genotype as genotype_lib
from edd_tf.data import pipeline
from edd_tf.final import keras_parts
from edd_tf.nets import finalnet
import keras
import numpy as np
import tensorflow as tf

TINY = os.environ.get('EDD_EXAMPLES_TINY') == '1'
TRAIN_WORKDIR = os.environ.get('EDD_TRAIN_WORKDIR', '')
IMAGE_FOLDER = os.environ.get('EDD_IMAGE_FOLDER', '')
OUT = pathlib.Path(os.environ.get('EDD_EXAMPLES_OUT')
                   or tempfile.mkdtemp(prefix='edd_examples_')) / 'finetune_on_folder'
OUT.mkdir(parents=True, exist_ok=True)

# Sizes a user would pick (the RobustDARTS evaluation network: C=16, 8 cells), or tiny ones.
CHANNELS, CELLS = (4, 3) if TINY else (16, 8)    # 3 cells: the fewest with the auxiliary head
PRETRAIN_EXAMPLES, PRETRAIN_EPOCHS = (16, 1) if TINY else (5000, 10)
FOLDER_IMAGES_PER_CLASS = 6 if TINY else 100
FINETUNE_EPOCHS = 1 if TINY else 10
BATCH = 8 if TINY else 64
# The smoke run skips tracing the step graphs (many seconds each for a DARTS net on a CPU).
EAGER = TINY
keras.utils.set_random_seed(0)
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

# %% [markdown]
# ## 1. A found network, trained on CIFAR-10
#
# Either the network of a training workdir (pixels in: `from_workdir` puts its `dataset.json`
# normalisation inside the model), or DARTS_V2 trained briefly here on the CIFAR-10 sample with
# the DARTS recipe's pieces: Cutout 16 inside the model, the auxiliary head's loss weighted 0.4,
# and drop path ramped linearly to 0.2 over the epochs (binaries.train's recipe also has a
# coupled L2 weight decay, which Keras' optimizers do not offer).

# %%
cifar = pipeline.DATASETS['cifar10']
if TRAIN_WORKDIR:
  pretrained, info = keras_parts.from_workdir(TRAIN_WORKDIR)
  image_size = info.image_size
else:
  image_size = cifar.image_size
  net = finalnet.build_final_network('darts_cifar', genotype_lib.GENOTYPES['DARTS_V2'],
                                     cifar.num_classes, channels=CHANNELS, layers=CELLS,
                                     auxiliary=True)
  net.call_with_aux(tf.zeros([1, image_size, image_size, 3]), training=False)   # build
  pretrained = keras_parts.with_preprocessing(net, cifar.mean, cifar.std, cutout=16)
  pretrained.summary()

  data = pipeline.default_data_config()
  data.update(source='sample', name='cifar10', train_examples=PRETRAIN_EXAMPLES)
  cifar_train = pipeline.load_arrays(data, 'train')     # uint8 pixels and int labels

  def crop_flip(batch, seed):   # the recipe's pad-4 random crop and flip, on raw pixels
    images, labels = batch
    return pipeline.random_crop_flip(tf.cast(images, tf.float32), seed, pad=4), labels

  batches = (tf.data.Dataset.from_tensor_slices((cifar_train.images, cifar_train.labels))
             .shuffle(len(cifar_train.labels), seed=0).batch(BATCH, drop_remainder=True))
  seeds = tf.data.Dataset.random(seed=0, rerandomize_each_iteration=True).batch(2)
  cifar_ds = tf.data.Dataset.zip(batches, seeds).map(crop_flip).prefetch(tf.data.AUTOTUNE)

  model = keras_parts.AuxiliaryLossModel(pretrained, aux_weight=0.4)
  steps = 2 if TINY else PRETRAIN_EXAMPLES // BATCH
  lr = keras.optimizers.schedules.CosineDecay(0.025, decay_steps=PRETRAIN_EPOCHS * steps)
  model.compile(optimizer=keras.optimizers.SGD(lr, momentum=0.9, nesterov=True,
                                               global_clipnorm=5.0),
                loss=LOSS, metrics=['accuracy'], run_eagerly=EAGER)
  model.fit(cifar_ds, epochs=PRETRAIN_EPOCHS, steps_per_epoch=steps,
            callbacks=[keras_parts.DropPathRamp(0.2, epochs=PRETRAIN_EPOCHS)], verbose=2)

# %% [markdown]
# ## 2. Your folder of images
#
# Set `EDD_IMAGE_FOLDER` to a folder of `<class>/<image>` files (any size; they are resized).
# Without it, three CIFAR-10 classes of the sample's test split are written as PNG files.

# %%
if IMAGE_FOLDER:
  folder = pathlib.Path(IMAGE_FOLDER)
else:
  folder = OUT / 'my_images'
  data = pipeline.default_data_config()
  data.update(source='sample', name='cifar10')
  sample = pipeline.load_arrays(data, 'test')
  for label, name in ((3, 'cat'), (5, 'dog'), (7, 'horse')):
    (folder / name).mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(sample.images[sample.labels == label][:FOLDER_IMAGES_PER_CLASS]):
      tf.io.write_file(str(folder / name / f'{i:03d}.png'), tf.io.encode_png(image))
print('images from', folder)

train_ds, val_ds = keras.utils.image_dataset_from_directory(
    folder, image_size=(image_size, image_size), batch_size=BATCH, validation_split=0.25,
    subset='both', seed=0)      # float32 pixels in [0, 255], int32 labels
class_names = train_ds.class_names
print('classes:', class_names)

# %% [markdown]
# ## 3. Fine-tune: a new head for your classes
#
# `fine_tune_model` keeps the network's weights (and the normalisation in front of it) and puts
# a new classifier on top; `freeze=True` trains only that head first (its BatchNorms then use
# their CIFAR-10 statistics). `set_frozen(model, False)` unfreezes everything for a second,
# slower phase, the usual Keras transfer-learning recipe.

# %%
finetuned = keras_parts.fine_tune_model(pretrained, len(class_names), freeze=True)
finetuned.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=LOSS,
                  metrics=['accuracy'], run_eagerly=EAGER)
finetuned.fit(train_ds, validation_data=val_ds, epochs=FINETUNE_EPOCHS, verbose=2)

keras_parts.set_frozen(finetuned, False)
finetuned.compile(optimizer=keras.optimizers.SGD(0.005, momentum=0.9), loss=LOSS,
                  metrics=['accuracy'], run_eagerly=EAGER)    # recompile after (un)freezing
finetuned.fit(train_ds, validation_data=val_ds, epochs=FINETUNE_EPOCHS, verbose=2)

# %% [markdown]
# ## 4. Predict, save, load
#
# The model takes pixels, so images go in as they are read. `finetuned.keras` loads with
# `keras.saving.load_model` after `import edd_tf.final.keras_parts` (which registers Cutout
# and the network classes).

# %%
images, labels = next(iter(val_ds))
probabilities = tf.nn.softmax(finetuned(images, training=False)).numpy()   # or .predict()
for p, label in zip(probabilities[:5], labels.numpy()[:5]):
  print(f'true {class_names[label]:>8}  predicted {class_names[int(np.argmax(p))]:>8} '
        f'({p.max():.2f})')

finetuned.save(OUT / 'finetuned.keras')
reloaded = keras.saving.load_model(OUT / 'finetuned.keras')
np.testing.assert_allclose(reloaded(images).numpy(), finetuned(images).numpy(), atol=1e-5)
print('saved', OUT / 'finetuned.keras')

# %% [markdown]
# ## 5. On a device: TFLite
#
# `edd_tf.api.to_tflite` freezes the pixels-in model into `finetuned.tflite` (uint8 images in,
# probabilities out, built-in ops only; `mode='dynamic'` or `'int8'` for smaller files), checks
# it in a fresh interpreter process on the images given, and `api.predict` runs it.

# %%
from edd_tf import api   # pylint: disable=g-import-not-at-top,wrong-import-position

pixels = np.clip(np.rint(images.numpy()), 0, 255).astype(np.uint8)
summary = api.to_tflite(finetuned, OUT / 'finetuned.tflite', pixels)
print('TFLite:', summary)
on_device = api.predict(OUT / 'finetuned.tflite', pixels)
print(f'TFLite and Keras agree on {np.mean(on_device.argmax(1) == probabilities.argmax(1)):.0%} '
      f'of {len(pixels)} images')
