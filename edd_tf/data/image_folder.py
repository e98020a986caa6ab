"""Images from files: decoding, resizing, and ImageFolder trees with bad-file handling.

`load_folder` reads `path/{train,test}/<class>/*.{jpg,jpeg,png}` into memory.
Everything is decoded in one parallel pass; only when that fails are the files
decoded one by one to name the bad ones (`config.data.skip_bad_images` skips
them instead of stopping).
"""

import dataclasses
import pathlib
import re

from absl import logging
import numpy as np
import tensorflow as tf

from edd_tf.data import datasets
from edd_tf.core import errors

SPLITS = ('train', 'test')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
# Skipped bad images named in the warning (the rest are counted).
NAMED_BAD_IMAGES = 5


def decode_one(data, size=None):
  """Decodes one encoded image to uint8[H, W, 3], resized to [size, size] if given."""
  image = tf.io.decode_image(data, channels=3, expand_animations=False)
  if size is not None:
    image = tf.cond(
        tf.reduce_all(tf.shape(image)[:2] == size),
        lambda: image,
        lambda: tf.cast(tf.round(tf.clip_by_value(
            tf.image.resize(image, [size, size], antialias=True), 0, 255)), tf.uint8))
    image = tf.ensure_shape(image, [size, size, 3])
  return image


def decode_all(encoded, size=None):
  """Decodes a list of encoded images into uint8[N, size, size, 3].

  Raises:
    tf.errors.InvalidArgumentError: if any of them does not decode (unnamed;
      `_decode_folder` finds which).
  """
  if not encoded:
    return np.zeros((0, size or 0, size or 0, 3), np.uint8)
  ds = tf.data.Dataset.from_tensor_slices(tf.constant(encoded, tf.string))
  ds = ds.map(lambda data: decode_one(data, size), num_parallel_calls=tf.data.AUTOTUNE,
              deterministic=True)
  if size is None:
    return np.stack(list(ds.as_numpy_iterator()))
  return ds.batch(len(encoded)).get_single_element().numpy()


def _op_error_text(error):
  """The informative part of a TF op error ('Input is empty.'), one line."""
  text = getattr(error, 'message', None) or str(error)
  text = re.sub(r'\{\{function_node [^}]*\}\}\s*', '', text)
  text = re.sub(r'\s*\[Op:\w+\].*$', '', text, flags=re.DOTALL)
  return errors.one_line(text).rstrip('.') or type(error).__name__


def _decode_each(encoded, size):
  """Decodes what decodes: ({position: image}, {position: reason}).

  The slow path of `_decode_folder`, taken only after `decode_all` failed:
  one parallel pass that drops the failing images, then the failures alone,
  one by one, for their error messages (the first `NAMED_BAD_IMAGES`).
  """
  ds = tf.data.Dataset.from_tensor_slices(tf.constant(encoded, tf.string)).enumerate()
  ds = ds.map(lambda i, data: (i, decode_one(data, size)),
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
  decoded = {int(i): image for i, image in ds.as_numpy_iterator()}
  reasons = {}
  for position in (p for p in range(len(encoded)) if p not in decoded):
    reason = 'does not decode'
    if len(reasons) < NAMED_BAD_IMAGES:
      try:
        decode_one(tf.constant(encoded[position]), size)
      except tf.errors.OpError as e:
        reason = _op_error_text(e)
    reasons[position] = reason
  return decoded, reasons


def resize_uint8(images, size):
  """Resizes uint8[N, H, W, 3] to uint8[N, size, size, 3] (antialiased bilinear)."""
  out = tf.image.resize(tf.convert_to_tensor(images), [size, size], antialias=True)
  return tf.cast(tf.round(tf.clip_by_value(out, 0, 255)), tf.uint8).numpy()


def _list_classes(split_dir):
  return sorted(p.name for p in split_dir.iterdir() if p.is_dir())


def load_folder(path, name, split, limit, field, size, *, skip_bad=False):
  """An ImageFolder tree `path/{train,test}/<class>/*.{jpg,jpeg,png}`.

  A file that cannot be read or decoded is a DataError naming it, unless
  `skip_bad` (config.data.skip_bad_images): then it is left out as if it were
  not there, and one warning counts and names the skipped files.
  """
  if not path:
    raise ValueError("config.data.source='folder' needs config.data.path, the folder holding "
                     "train/<class>/*.jpg and test/<class>/*.jpg")
  root = pathlib.Path(path)
  if not root.is_dir():
    raise ValueError(f'config.data.path={path!r} does not exist or is not a directory')
  split_dir = root / split
  if not split_dir.is_dir():
    raise ValueError(f'config.data.path={path!r} has no {split!r} subfolder; expected '
                     f'{path}/{{train,test}}/<class>/*.jpg')
  classes = _list_classes(split_dir)
  for other in SPLITS:
    other_dir = root / other
    if other != split and other_dir.is_dir() and _list_classes(other_dir) != classes:
      raise ValueError(f'config.data.path={path!r}: the class folders of {split!r} '
                       f'{classes} differ from those of {other!r} {_list_classes(other_dir)}')
  files, labels = [], []
  for label, class_name in enumerate(classes):
    for f in sorted((split_dir / class_name).iterdir()):
      if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS:
        files.append(f)
        labels.append(label)
  if not files:
    raise ValueError(f'config.data.path={path!r}: no images ({", ".join(IMAGE_EXTENSIONS)}) '
                     f'in {split_dir}/<class>/')
  labels = np.asarray(labels, np.int32)
  images, order, bad = _decode_folder(files, labels, limit, field, size, skip_bad=skip_bad,
                                      path=path, split=split)
  if bad:
    names = [str(files[i].relative_to(root)) for i in sorted(bad)]
    more = f' and {len(names) - NAMED_BAD_IMAGES} more' if len(names) > NAMED_BAD_IMAGES else ''
    logging.warning('config.data.path=%r: skipped %d bad image file(s) of %s/ '
                    '(config.data.skip_bad_images=True): %s%s', path, len(bad), split,
                    ', '.join(names[:NAMED_BAD_IMAGES]), more)
  info = dataclasses.replace(datasets.DATASETS[name], num_classes=len(classes), image_size=size,
                             class_names=tuple(classes))
  return datasets.Arrays(images, labels[order], info)


def _decode_folder(files, labels, limit, field, size, *, skip_bad, path, split):
  """Reads and decodes the (subset of the) files of one ImageFolder split.

  Fast path: all files at once (`decode_all`). Only if a file cannot be read
  or decoded are the files decoded one by one (`_decode_each`) to find which.
  With `skip_bad`, a bad file is treated as if it were not in the folder: the
  subset is drawn again from the other files (decoding only the new ones).

  Returns:
    (uint8[N, size, size, 3] images, the file indices they come from,
    {file index: problem} of the skipped files).

  Raises:
    DataError: naming the first bad file (unless skip_bad), or if no file of
      the split decodes.
  """
  keep = np.arange(len(files))
  decoded, bad = {}, {}   # file index -> image / problem
  while True:
    order = keep[datasets.subset_order(labels[keep], limit, field)]
    todo = [int(i) for i in order if int(i) not in decoded]
    blobs, problems = {}, {}
    for i in todo:
      try:
        blobs[i] = files[i].read_bytes()
      except OSError as e:
        problems[i] = f'cannot read {files[i]} ({e.strerror or e})'
      else:
        if not blobs[i]:
          del blobs[i]
          problems[i] = f'cannot decode {files[i]} (empty file, 0 bytes)'
    if not problems and not decoded:
      try:
        return decode_all([blobs[i] for i in todo], size), order, bad
      except tf.errors.InvalidArgumentError:
        pass  # Find the culprits below.
    readable = list(blobs)
    images, reasons = _decode_each([blobs[i] for i in readable], size)
    decoded.update((readable[p], image) for p, image in images.items())
    problems.update((readable[p], f'cannot decode {files[readable[p]]} ({reason})')
                    for p, reason in reasons.items())
    if not problems:
      return np.stack([decoded[int(i)] for i in order]), order, bad
    first = min(problems, key=lambda i: str(files[i]))
    if not skip_bad:
      others, it = '', 'it'
      if len(problems) > 1:
        others, it = f', and {len(problems) - 1} more bad file(s) of {split}/', 'them'
      raise errors.DataError(f'config.data.path={path!r}: {problems[first]}{others}; fix or '
                             f'remove {it}, or set --config.data.skip_bad_images=True')
    bad.update(problems)
    keep = np.asarray([i for i in keep if int(i) not in problems], np.int64)
    if not len(keep):
      raise errors.DataError(f'config.data.path={path!r}: none of the {len(files)} image files '
                             f'of {split}/ can be used; the first: {problems[first]}')

