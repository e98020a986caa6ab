"""Input pipelines: the embedded CIFAR-10 sample, ImageFolder directories, tfds.

Images are loaded into memory as uint8 arrays (`Arrays`), split for the bilevel
search (`split_for_search`) and turned into batched, normalised and augmented
`tf.data` pipelines (`make_dataset`). ImageNet is streamed from a prepared tfds
`data_dir` instead (`imagenet_data.imagenet_dataset`). The sources live in
`image_folder` and `tfds_source`; the dataset catalogue in `datasets`.

Augmentation follows the PyTorch references (reference.md sect. 2.7, 3.5, 3.7,
3.8): RandomCrop(32, padding=4) (padding 2 for 16 px images) with zero padding
of the raw pixels, RandomHorizontalFlip, Normalize, then DARTS Cutout on the
normalised image. All randomness is stateless: batch b of epoch e is a pure
function of (seed, epoch, b), so a pipeline can be rebuilt at any step.
"""

import dataclasses
import pathlib

from absl import logging
import ml_collections
import numpy as np
import tensorflow as tf

from edd_tf.data import datasets
from edd_tf.data import image_folder
from edd_tf.data import python_source
from edd_tf.data import tfds_source

ASSETS_DIR = pathlib.Path(__file__).resolve().parents[1] / 'assets'
SAMPLE_FILE = 'cifar10_sample.npz'
SOURCES = ('sample', 'tfds', 'folder', 'python')
SPLITS = image_folder.SPLITS

# The catalogue, under the names the rest of the code (and users) know.
DatasetInfo = datasets.DatasetInfo
DATASETS = datasets.DATASETS
Arrays = datasets.Arrays
CIFAR10_CLASSES = datasets.CIFAR10_CLASSES


def default_data_config():
  """The data section of an experiment config (`config.data`)."""
  return ml_collections.ConfigDict(dict(
      source='sample',      # 'sample' | 'tfds' | 'folder' | 'python' (data= from Python).
      name='cifar10',       # DATASETS key: normalisation, classes, tfds name.
      path='',              # ImageFolder root holding train/ and test/<class>/ images.
      data_dir='',          # tfds data_dir ('' = tfds default).
      download=False,       # Let tfds download and prepare (needs internet; checked first).
      train_examples=0,     # 0 = all; else a deterministic class-balanced subset.
      test_examples=0,
      image_size=0,         # 0 = the dataset's size; images are resized to it.
      skip_bad_images=False,  # 'folder': skip (and count) files that do not decode.
      # 'python': the hash of the arrays the run saw (set by the run; a workdir
      # does not resume on other arrays). Leave ''.
      fingerprint='',
  ))


def load_arrays(data_config, split, python_data=None):
  """Loads one split of the configured dataset into memory.

  The examples come in a fixed pseudo-random order (the same on every call), so
  the first half of 'train' is a class-mixed half, as `split_for_search` needs.

  Args:
    data_config: a ConfigDict like `default_data_config()`.
    split: 'train' or 'test'.
    python_data: for source 'python', the data handed over from Python
      (data/python_source.py lists its forms).

  Returns:
    Arrays with uint8[N, S, S, 3] images and int32[N] labels, S the image size.

  Raises:
    ValueError: on a bad field, a missing folder or missing tfds data.
    DataError (a ValueError): an image file of the folder that cannot be read
      or decoded (named; config.data.skip_bad_images=True skips them), or
      config.data.download=True without a network.
  """
  if split not in SPLITS:
    raise ValueError(f'unknown split {split!r}; allowed splits: {list(SPLITS)}')
  source = data_config.get('source', 'sample')
  if source not in SOURCES:
    raise ValueError(f'unknown config.data.source {source!r}; allowed: {list(SOURCES)}')
  name = data_config.get('name', 'cifar10')
  if name not in datasets.DATASETS:
    raise ValueError(f'unknown config.data.name {name!r}; allowed: {sorted(datasets.DATASETS)}')
  field = f'{split}_examples'
  limit = data_config.get(field, 0)
  if not isinstance(limit, (int, np.integer)) or limit < 0:
    raise ValueError(f'config.data.{field} must be an integer >= 0 (0 = all), got {limit!r}')
  size = data_config.get('image_size', 0)
  if not isinstance(size, (int, np.integer)) or size < 0:
    raise ValueError(f'config.data.image_size must be an integer >= 0 (0 = the dataset size '
                     f'{datasets.DATASETS[name].image_size}), got {size!r}')
  size = int(size) or datasets.DATASETS[name].image_size

  if source == 'sample':
    arrays = load_sample(name, split, limit, field)
  elif source == 'python':
    arrays = python_source.load_python(python_data, name, split, limit, field)
  elif source == 'folder':
    arrays = image_folder.load_folder(data_config.get('path', ''), name, split, limit, field, size,
                          skip_bad=bool(data_config.get('skip_bad_images', False)))
  else:
    arrays = tfds_source.load_tfds(data_config, name, split, limit, field)
  if arrays.images.shape[1:3] != (size, size):
    arrays = datasets.Arrays(image_folder.resize_uint8(arrays.images, size), arrays.labels,
                    dataclasses.replace(arrays.info, image_size=size))
  logging.info('loaded %s/%s %s: %d images of %s', source, name, split, len(arrays),
               arrays.images.shape[1:])
  return arrays


def check_python_data(data_config, python_data):
  """Data from Python goes with config.data.source='python', and only with it."""
  source = data_config.get('source', 'sample')
  if python_data is not None and source != 'python':
    raise ValueError(f"data was given from Python but config.data.source={source!r}; set "
                     "config.data.source='python' (edd_tf.api does) to use it")
  if source == 'python':
    python_source.as_splits(python_data)   # the one-line message for data=None


def fingerprint_of(data_config, *arrays):
  """config.data.fingerprint of a run: the arrays' hash for 'python', else ''."""
  if data_config.get('source', 'sample') != 'python':
    return ''
  return python_source.fingerprint(*arrays)


def load_sample(name, split, limit, field):
  """The CIFAR-10 sample shipped in edd_tf/assets (see assets/README.md)."""
  if name != 'cifar10':
    raise ValueError(f"config.data.source='sample' only has config.data.name='cifar10', "
                     f"got {name!r}; use source='tfds' or 'folder' for other datasets")
  with np.load(ASSETS_DIR / SAMPLE_FILE, allow_pickle=False) as f:
    blob = f[f'{split}_jpeg'].tobytes()
    offsets = f[f'{split}_offsets']
    labels = f[f'{split}_labels'].astype(np.int32)
    class_names = tuple(str(c) for c in f['class_names'])
  if class_names != CIFAR10_CLASSES:
    raise ValueError(f'{ASSETS_DIR / SAMPLE_FILE} has classes {class_names}, '
                     f'expected {CIFAR10_CLASSES}')
  order = datasets.subset_order(labels, limit, field)
  encoded = [blob[offsets[i]:offsets[i + 1]] for i in order]
  images = image_folder.decode_all(encoded, datasets.DATASETS[name].image_size)
  return datasets.Arrays(images, labels[order], datasets.DATASETS[name])


# What the two steps of a search train on (config.search.data_mode).
DATA_MODES = ('bilevel', 'erm')


def split_for_search(arrays, portion=0.5):
  """Splits training arrays for the bilevel search (DARTS train_search.py).

  Args:
    arrays: the (already shuffled) training Arrays.
    portion: fraction in (0, 1) that trains the weights.

  Returns:
    (weight_arrays, arch_arrays): the first floor(portion * N) examples and the
    rest. Disjoint, together all of `arrays`.
  """
  if not 0.0 < portion < 1.0:
    raise ValueError(f'portion must be in (0, 1), got {portion!r}')
  cut = int(np.floor(portion * len(arrays.labels)))
  return (Arrays(arrays.images[:cut], arrays.labels[:cut], arrays.info),
          Arrays(arrays.images[cut:], arrays.labels[cut:], arrays.info))


def search_arrays(arrays, mode='bilevel', portion=0.5):
  """(weight_arrays, arch_arrays) of a search: `mode` is config.search.data_mode.

  'bilevel' splits (`split_for_search`); 'erm' (GAEA's single level) gives both
  steps the full training set (the search draws them as two streams with
  their own shuffles).
  """
  if mode not in DATA_MODES:
    raise ValueError(f'unknown config.search.data_mode {mode!r}; allowed: {list(DATA_MODES)}')
  if mode == 'erm':
    return arrays, arrays
  return split_for_search(arrays, portion)


# --------------------------------------------------------------------------
# CIFAR-style pipelines
# --------------------------------------------------------------------------


def normalize(images, info):
  """(x / 255 - mean) / std.

  Args:
    images: uint8 or float[..., H, W, 3] with values in 0..255.
    info: the DatasetInfo holding mean and std.

  Returns:
    float32[..., H, W, 3].
  """
  x = tf.cast(images, tf.float32) / 255.0
  return (x - tf.constant(info.mean, tf.float32)) / tf.constant(info.std, tf.float32)


def crop_padding(image_size):
  """RandomCrop padding: 4 for CIFAR-size images, 2 for 16 px ones (NB201)."""
  return 2 if image_size <= 16 else 4


def random_crop_flip(images, seed, pad):
  """Pad-`pad` random crop and random horizontal flip of every image.

  Args:
    images: float32[B, H, W, C] raw pixels (zero padding is black, as in
      torchvision's RandomCrop(padding=pad)).
    seed: int[2] stateless seed.
    pad: padding on every side.

  Returns:
    float32[B, H, W, C].
  """
  crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  batch = tf.shape(images)[0]
  height, width = images.shape[1], images.shape[2]
  x = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
  offsets = tf.random.stateless_uniform([2, batch], crop_seed, 0, 2 * pad + 1, dtype=tf.int32)
  rows = offsets[0][:, None] + tf.range(height)[None]   # [B, H]
  cols = offsets[1][:, None] + tf.range(width)[None]    # [B, W]
  x = tf.gather(x, rows, axis=1, batch_dims=1)          # [B, H, W + 2 pad, C]
  x = tf.gather(x, cols, axis=2, batch_dims=1)          # [B, H, W, C]
  flip = tf.random.stateless_uniform([batch], flip_seed) < 0.5
  return tf.where(flip[:, None, None, None], tf.reverse(x, axis=[2]), x)


def apply_cutout(images, length, seed, prob=1.0):
  """DARTS Cutout: zeroes one `length` square per image, centre anywhere, clipped.

  Args:
    images: float32[B, H, W, C] (normalised, so zero is the mean colour).
    length: side of the square.
    seed: int[2] stateless seed.
    prob: Python float, the probability that an image gets its square
      (RobustDARTS utils.py Cutout(length, prob): one Bernoulli per image);
      1.0 draws nothing more (the same squares as without it).

  Returns:
    float32[B, H, W, C].
  """
  batch = tf.shape(images)[0]
  height, width = images.shape[1], images.shape[2]
  y_seed, x_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  cy = tf.random.stateless_uniform([batch, 1], y_seed, 0, height, dtype=tf.int32)
  cx = tf.random.stateless_uniform([batch, 1], x_seed, 0, width, dtype=tf.int32)
  ys, xs = tf.range(height)[None], tf.range(width)[None]
  in_y = (ys >= cy - length // 2) & (ys < cy + length // 2)   # [B, H]
  in_x = (xs >= cx - length // 2) & (xs < cx + length // 2)   # [B, W]
  hole = in_y[:, :, None] & in_x[:, None, :]                   # [B, H, W]
  if prob < 1.0:
    u = tf.random.stateless_uniform([batch], tf.random.experimental.stateless_fold_in(seed, 2))
    hole = hole & (u < prob)[:, None, None]
  return tf.where(hole[..., None], tf.zeros_like(images), images)


def make_dataset(arrays, batch_size, *, training, seed=0, epoch=0, cutout=0, cutout_prob=1.0,
                 drop_remainder=None, start_step=0):
  """A batched pipeline of normalised images.

  Args:
    arrays: the examples.
    batch_size: global batch size.
    training: True shuffles (order from (seed, epoch)) and augments
      (crop, flip, optional cutout); False keeps the order and does not augment.
    seed: non-negative base seed.
    epoch: non-negative epoch number; each epoch has its own order and crops.
    cutout: Cutout length (0 = none); only when training.
    cutout_prob: probability in [0, 1] that an image gets the cutout
      (R-DARTS ramps it per epoch).
    drop_remainder: default True when training, False otherwise.
    start_step: skip the epoch's first batches (a run resumed mid-epoch); the
      batches that follow are the same as without skipping: a batch's images
      and its crops depend only on (seed, epoch, batch index), and skipped
      batches are never augmented.

  Returns:
    A dataset of (float32[B, H, W, 3], int32[B]).
  """
  cutout_length = cutout
  if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
    raise ValueError(f'batch_size must be a positive integer, got {batch_size!r}')
  if seed < 0 or epoch < 0 or cutout_length < 0:
    raise ValueError(f'seed, epoch and cutout must be >= 0, got {seed}, {epoch}, {cutout_length}')
  if start_step < 0:
    raise ValueError(f'start_step must be >= 0, got {start_step}')
  if not 0.0 <= cutout_prob <= 1.0:
    raise ValueError(f'cutout_prob must be in [0, 1], got {cutout_prob!r}')
  if drop_remainder is None:
    drop_remainder = training
  info = arrays.info
  images, labels = arrays.images, arrays.labels.astype(np.int32)
  if not training:
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(
        batch_size, drop_remainder=drop_remainder)
    ds = ds.map(lambda x, y: (normalize(x, info), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.with_options(_OPTIONS).prefetch(tf.data.AUTOTUNE)

  perm = np.random.default_rng((seed, epoch)).permutation(len(labels))
  key = tf.constant([seed, epoch], tf.int64)
  pad = crop_padding(images.shape[1])

  def augment(index, batch):
    x, y = batch
    batch_seed = tf.random.experimental.stateless_fold_in(key, index)
    crop_seed, cutout_seed = tf.unstack(tf.random.experimental.stateless_split(batch_seed, 2))
    x = random_crop_flip(tf.cast(x, tf.float32), crop_seed, pad)
    x = normalize(x, info)
    if cutout_length:
      x = apply_cutout(x, cutout_length, cutout_seed, float(cutout_prob))
    return x, y

  ds = tf.data.Dataset.from_tensor_slices((images[perm], labels[perm]))
  ds = ds.batch(batch_size, drop_remainder=drop_remainder).enumerate().skip(start_step)
  ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return ds.with_options(_OPTIONS).prefetch(tf.data.AUTOTUNE)


# In-memory arrays have no files to shard: under MultiWorkerMirroredStrategy
# every worker builds the same global batches and keeps its replicas' slices.
_OPTIONS = tf.data.Options()
_OPTIONS.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA


def steps_per_epoch(arrays, batch_size, drop_remainder=True):
  """Number of batches `make_dataset` yields per epoch."""
  if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
    raise ValueError(f'batch_size must be a positive integer, got {batch_size!r}')
  n = len(arrays.labels)
  return n // batch_size if drop_remainder else -(-n // batch_size)

