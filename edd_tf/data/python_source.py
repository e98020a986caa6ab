"""Images and labels handed over from Python (`config.data.source='python'`).

`edd_tf.api.search(config, workdir, data=...)` (and `search.run` / `train.run`
with `data=`) takes its splits from Python instead of the sample, a folder or
tfds. `data` is one of:

  (images, labels)                 the 'train' split (a search needs no more)
  {'train': ..., 'test': ...}      each value a pair as above or a Dataset
  a tf.data.Dataset                of (image, label), batched or not: 'train'

`images` are uint8[N, H, W, 3] pixels (floats in [0, 255], e.g. from
`keras.utils.image_dataset_from_directory`, are rounded to uint8) and `labels`
integers in [0, K) with K >= 2 classes (K = 1 + the largest training label).
A Dataset's `class_names` attribute (image_dataset_from_directory sets it) or
the dict's 'class_names' entry names the classes. Every bad input ends in one
ValueError naming the split and what is wrong.

The arrays come back in the fixed class-mixed order of every other source
(`datasets.subset_order`), so `split_for_search` halves are mixed and
`config.data.train_examples` takes a balanced subset. `fingerprint` is the
run's record of which arrays it saw: a workdir refuses to resume on others.
"""

import dataclasses
import hashlib

import numpy as np
import tensorflow as tf

from edd_tf.data import datasets

FORMS = ("(images, labels), {'train': ..., 'test': ...} or a tf.data.Dataset of "
         "(image, label)")


def as_splits(data):
  """{'train': value[, 'test': value]} of any accepted form of `data`."""
  if data is None:
    raise ValueError("config.data.source='python' needs the data from Python: pass "
                     f"data=... to edd_tf.api.search / train ({FORMS})")
  if isinstance(data, dict):
    unknown = sorted(set(data) - {'train', 'test', 'class_names'})
    if unknown or 'train' not in data:
      raise ValueError(f"data as a dict has the keys 'train' (required), 'test' and "
                       f"'class_names'; got {sorted(data)}")
    return data
  if isinstance(data, (tuple, list, tf.data.Dataset)):
    return {'train': data}
  raise ValueError(f'data must be {FORMS}; got a {type(data).__name__}')


def _from_dataset(ds, where):
  spec = ds.element_spec
  if not (isinstance(spec, tuple) and len(spec) == 2):
    raise ValueError(f'{where}: a tf.data.Dataset must yield (image, label) pairs; '
                     f'its elements are {spec}')
  if ds.cardinality() == tf.data.INFINITE_CARDINALITY:
    raise ValueError(f'{where}: the tf.data.Dataset repeats forever; pass it without .repeat()')
  batched = spec[0].shape.rank == 4
  images, labels = [], []
  for x, y in ds.as_numpy_iterator():
    images.append(x if batched else x[None])
    labels.append(np.reshape(y, (-1,)) if batched else np.reshape(y, (1,)))
  if not images:
    raise ValueError(f'{where}: the tf.data.Dataset is empty')
  return np.concatenate(images), np.concatenate(labels)


def _pixels(images, where):
  images = np.asarray(images)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f'{where} images must be [N, height, width, 3] (RGB), got shape '
                     f'{images.shape}')
  if images.dtype == np.uint8:
    return images
  if np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating):
    low, high = float(images.min()), float(images.max())
    if np.issubdtype(images.dtype, np.floating) and 0.0 <= low and high <= 1.0:
      raise ValueError(f'{where} images are floats in [0, 1]; pass pixels in [0, 255] '
                       '(e.g. (images * 255).astype(np.uint8))')
    if low < 0 or high > 255 or not np.isfinite(low + high):
      raise ValueError(f'{where} images must be pixels in [0, 255], got values in '
                       f'[{low:g}, {high:g}]')
    return np.rint(images).astype(np.uint8)
  raise ValueError(f'{where} images must be uint8 (or numbers in [0, 255]), got dtype '
                   f'{images.dtype}')


def _labels(labels, n, where):
  labels = np.asarray(labels)
  if labels.ndim == 2 and labels.shape[1] == 1:
    labels = labels[:, 0]
  if labels.ndim != 1 or len(labels) != n:
    raise ValueError(f'{where} labels must be [N] with N = {n} (one per image), got shape '
                     f'{labels.shape}')
  if not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f'{where} labels must be integer class indices, got dtype {labels.dtype} '
                     '(one-hot labels: pass labels.argmax(-1))')
  if n and labels.min() < 0:
    raise ValueError(f'{where} labels must be >= 0, got {labels.min()}')
  return labels.astype(np.int32)


def split_arrays(value, where):
  """(uint8 images, int32 labels) of one split's value, validated."""
  if isinstance(value, tf.data.Dataset):
    images, labels = _from_dataset(value, where)
  elif isinstance(value, (tuple, list)) and len(value) == 2:
    images, labels = value
  else:
    raise ValueError(f'{where} must be an (images, labels) pair or a tf.data.Dataset, got '
                     f'{type(value).__name__}')
  images = _pixels(images, where)
  if len(images) == 0:
    raise ValueError(f'{where} has no images')
  return images, _labels(labels, len(images), where)


def num_classes_of(splits):
  """K = 1 + the largest training label; at least 2 distinct classes."""
  _, labels = split_arrays(splits['train'], "data['train']")
  if len(np.unique(labels)) < 2:
    raise ValueError(f"data['train'] has {len(np.unique(labels))} class; a classifier needs "
                     'at least 2 distinct labels')
  return int(labels.max()) + 1


def _class_names(splits, k):
  names = splits.get('class_names')
  if names is None:
    names = getattr(splits['train'], 'class_names', None)
  if names is None:
    return ()
  names = tuple(str(n) for n in names)
  if len(names) < k:
    raise ValueError(f"data: {len(names)} class_names for labels up to {k - 1}")
  return names


def load_python(data, name, split, limit, field):
  """The `split` of Python data as `datasets.Arrays` (see the module docstring)."""
  splits = as_splits(data)
  if split not in splits:
    raise ValueError(f"config.data.source='python': this run needs data['{split}'] too; pass "
                     f"data={{'train': ..., '{split}': ...}}")
  k = num_classes_of(splits)
  images, labels = split_arrays(splits[split], f"data['{split}']")
  if labels.max() >= k:
    raise ValueError(f"data['{split}'] labels must be in [0, {k}) (the training labels' "
                     f'classes), got {labels.max()}')
  order = datasets.subset_order(labels, limit, field)
  info = dataclasses.replace(datasets.DATASETS[name], name=name, num_classes=k,
                             image_size=images.shape[1], class_names=_class_names(splits, k))
  return datasets.Arrays(images[order], labels[order], info)


def fingerprint(*arrays):
  """A short hash of the images and labels of `arrays` (datasets.Arrays)."""
  h = hashlib.sha256()
  for a in arrays:
    h.update(str(a.images.shape).encode())
    h.update(np.ascontiguousarray(a.images).tobytes())
    h.update(np.ascontiguousarray(a.labels).tobytes())
  return h.hexdigest()[:16]
