"""ImageNet streamed from a prepared tfds data_dir (DARTS cnn/train_imagenet.py).

Training: RandomResizedCrop(224), flip, ColorJitter(.4, .4, .4, .2), all with
stateless per-image seeds; evaluation: resize the short side to 256 and
centre-crop 224 (reference.md sect. 3.8).
"""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from edd_tf.data import pipeline as data
from edd_tf.data import datasets
from edd_tf.data import tfds_source

IMAGENET_CROP = 224
IMAGENET_RESIZE = 256
_IMAGENET = datasets.DATASETS['imagenet2012']


def _jitter(image, kind, factor):
  """One torchvision ColorJitter adjustment on float[H, W, 3] in [0, 1]."""
  if kind == 'brightness':
    out = image * factor
  elif kind == 'contrast':
    mean = tf.reduce_mean(tf.image.rgb_to_grayscale(image))
    out = (image - mean) * factor + mean
  elif kind == 'saturation':
    gray = tf.image.rgb_to_grayscale(image)
    out = (image - gray) * factor + gray
  else:  # hue: factor is the shift as a fraction of the hue circle.
    out = tf.image.adjust_hue(image, factor)
  return tf.clip_by_value(out, 0.0, 1.0)


def imagenet_train_transform(image, seed):
  """RandomResizedCrop(224), flip, ColorJitter(.4, .4, .4, .2), normalise.

  Args:
    image: uint8[H, W, 3].
    seed: int[2] stateless seed (use a different one per image).

  Returns:
    float32[224, 224, 3].
  """
  seeds = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4))
  begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
      tf.shape(image), bounding_boxes=tf.zeros([1, 0, 4]), seed=seeds[0],
      min_object_covered=0.0, aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0),
      max_attempts=10, use_image_if_no_bounding_boxes=True)
  crop = tf.slice(image, begin, size)
  x = tf.image.resize(crop, [IMAGENET_CROP, IMAGENET_CROP], antialias=True) / 255.0
  x = tf.clip_by_value(x, 0.0, 1.0)
  x = tf.image.stateless_random_flip_left_right(x, seeds[1])
  # ColorJitter: factors uniform in [1 - .4, 1 + .4], hue shift in [-.2, .2],
  # applied in a random order (torchvision ColorJitter.get_params).
  low = tf.constant([0.6, 0.6, 0.6, -0.2])
  high = tf.constant([1.4, 1.4, 1.4, 0.2])
  factors = low + (high - low) * tf.random.stateless_uniform([4], seeds[2])
  order = tf.argsort(tf.random.stateless_uniform([4], seeds[3]))
  kinds = ('brightness', 'contrast', 'saturation', 'hue')
  for position in range(4):
    branches = [lambda k=k, x=x: _jitter(x, kinds[k], factors[k]) for k in range(4)]
    x = tf.switch_case(order[position], branches)
  x = tf.ensure_shape(x, [IMAGENET_CROP, IMAGENET_CROP, 3])
  return data.normalize(x * 255.0, _IMAGENET)


def imagenet_eval_transform(image):
  """Resize the shorter side to 256, centre-crop 224, normalise.

  Args:
    image: uint8[H, W, 3].

  Returns:
    float32[224, 224, 3].
  """
  shape = tf.shape(image)
  h, w = shape[0], shape[1]
  short = tf.minimum(h, w)
  # torchvision Resize(int): short side -> 256, long side truncated.
  new_h = tf.where(h == short, IMAGENET_RESIZE, (IMAGENET_RESIZE * h) // short)
  new_w = tf.where(w == short, IMAGENET_RESIZE, (IMAGENET_RESIZE * w) // short)
  x = tf.image.resize(image, tf.stack([new_h, new_w]), antialias=True)
  top = tf.cast(tf.round(tf.cast(new_h - IMAGENET_CROP, tf.float32) / 2), tf.int32)
  left = tf.cast(tf.round(tf.cast(new_w - IMAGENET_CROP, tf.float32) / 2), tf.int32)
  x = tf.slice(x, tf.stack([top, left, 0]), [IMAGENET_CROP, IMAGENET_CROP, 3])
  return data.normalize(tf.clip_by_value(x, 0.0, 255.0), _IMAGENET)


def imagenet_dataset(data_dir, split, batch_size, *, training, seed=0):
  """Streams tfds 'imagenet2012' from a manually prepared data_dir.

  Args:
    data_dir: tfds data_dir holding imagenet2012 ('' = tfds default).
    split: 'train', or 'validation' (alias 'test').
    batch_size: global batch size.
    training: shuffle + imagenet_train_transform, else imagenet_eval_transform.
    seed: non-negative base seed.

  Returns:
    A dataset of (float32[B, 224, 224, 3], int32[B]).
  """
  allowed = ('train', 'validation', 'test')
  if split not in allowed:
    raise ValueError(f'unknown ImageNet split {split!r}; allowed: {list(allowed)}')
  if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
    raise ValueError(f'batch_size must be a positive integer, got {batch_size!r}')
  tfds_split = 'validation' if split == 'test' else split
  try:
    ds = tfds.load('imagenet2012', split=tfds_split, data_dir=data_dir or None, download=False,
                   as_supervised=True, shuffle_files=training,
                   read_config=tfds.ReadConfig(shuffle_seed=seed))
  except (AssertionError, OSError) as e:
    raise tfds_source.tfds_error('imagenet2012', data_dir, e) from e
  key = tf.constant([seed, 0], tf.int64)
  if training:
    ds = ds.shuffle(10_000, seed=seed)
    ds = ds.enumerate().map(
        lambda i, xy: (imagenet_train_transform(
            xy[0], tf.random.experimental.stateless_fold_in(key, i)), tf.cast(xy[1], tf.int32)),
        num_parallel_calls=tf.data.AUTOTUNE)
  else:
    ds = ds.map(lambda x, y: (imagenet_eval_transform(x), tf.cast(y, tf.int32)),
                num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)
