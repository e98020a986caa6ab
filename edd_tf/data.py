"""Input pipelines: the embedded CIFAR-10 sample, ImageFolder directories, tfds.

Images are loaded into memory as uint8 arrays (`Arrays`), split for the bilevel
search (`split_for_search`) and turned into batched, normalised and augmented
`tf.data` pipelines (`make_dataset`). ImageNet is streamed from a prepared tfds
`data_dir` instead (`imagenet_dataset`).

Augmentation follows the PyTorch references (reference.md sect. 2.7, 3.5, 3.7,
3.8): RandomCrop(32, padding=4) (padding 2 for 16 px images) with zero padding
of the raw pixels, RandomHorizontalFlip, Normalize, then DARTS Cutout on the
normalised image. All randomness is stateless: batch b of epoch e is a pure
function of (seed, epoch, b), so a pipeline can be rebuilt at any step.
"""

import dataclasses
import pathlib
import re
import socket
import threading

from absl import logging
import ml_collections
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from edd_tf import errors

ASSETS_DIR = pathlib.Path(__file__).parent / 'assets'
SAMPLE_FILE = 'cifar10_sample.npz'
SOURCES = ('sample', 'tfds', 'folder')
SPLITS = ('train', 'test')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
# The order of the examples returned by load_arrays (fixed for reproducibility).
_ORDER_SEED = 0
# Skipped bad images named in the warning (the rest are counted).
_NAMED_BAD_IMAGES = 5
# config.data.download=True first checks that this (host, port) answers (tfds
# fetches dataset metadata from Google Cloud Storage), for at most this long.
NETWORK_CHECK_ADDRESS = ('storage.googleapis.com', 443)
NETWORK_CHECK_SECONDS = 3.0


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """Static facts about a dataset.

  Attributes:
    name: the DATASETS key (also the tfds name).
    num_classes: number of labels.
    image_size: side of the square images the models see.
    mean: per-channel mean, in [0, 1] units.
    std: per-channel standard deviation, in [0, 1] units.
    class_names: label names in label order (may be empty).
  """
  name: str
  num_classes: int
  image_size: int
  mean: tuple
  std: tuple
  class_names: tuple = ()


CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse',
                   'ship', 'truck')

DATASETS = {
    # DARTS cnn/utils.py::_data_transforms_cifar10.
    'cifar10': DatasetInfo('cifar10', 10, 32, (0.49139968, 0.48215827, 0.44653124),
                           (0.24703233, 0.24348505, 0.26158768), CIFAR10_CLASSES),
    # Small-temperature reference src/utils.py (reference.md sect. 5.5).
    'cifar100': DatasetInfo('cifar100', 100, 32, (0.5071, 0.4865, 0.4409),
                            (0.2673, 0.2564, 0.2762)),
    'svhn_cropped': DatasetInfo('svhn_cropped', 10, 32, (0.4377, 0.4438, 0.4728),
                                (0.1980, 0.2010, 0.1970), tuple(str(i) for i in range(10))),
    # torchvision ImageNet statistics (DARTS cnn/train_imagenet.py).
    'imagenet2012': DatasetInfo('imagenet2012', 1000, 224, (0.485, 0.456, 0.406),
                                (0.229, 0.224, 0.225)),
}


@dataclasses.dataclass(frozen=True)
class Arrays:
  """An in-memory split.

  Attributes:
    images: uint8[N, H, W, 3].
    labels: int32[N].
    info: the dataset's DatasetInfo (image_size and classes as loaded).
  """
  images: np.ndarray
  labels: np.ndarray
  info: DatasetInfo

  def __len__(self):
    return len(self.labels)


def default_data_config():
  """The data section of an experiment config (`config.data`)."""
  return ml_collections.ConfigDict(dict(
      source='sample',      # 'sample' | 'tfds' | 'folder'.
      name='cifar10',       # DATASETS key: normalisation, classes, tfds name.
      path='',              # ImageFolder root holding train/ and test/<class>/ images.
      data_dir='',          # tfds data_dir ('' = tfds default).
      download=False,       # Let tfds download and prepare (needs internet; checked first).
      train_examples=0,     # 0 = all; else a deterministic class-balanced subset.
      test_examples=0,
      image_size=0,         # 0 = the dataset's size; images are resized to it.
      skip_bad_images=False,  # 'folder': skip (and count) files that do not decode.
  ))


# --------------------------------------------------------------------------
# Loading into memory
# --------------------------------------------------------------------------


def load_arrays(data_config, split):
  """Loads one split of the configured dataset into memory.

  The examples come in a fixed pseudo-random order (the same on every call), so
  the first half of 'train' is a class-mixed half, as `split_for_search` needs.

  Args:
    data_config: a ConfigDict like `default_data_config()`.
    split: 'train' or 'test'.

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
  if name not in DATASETS:
    raise ValueError(f'unknown config.data.name {name!r}; allowed: {sorted(DATASETS)}')
  field = f'{split}_examples'
  limit = data_config.get(field, 0)
  if not isinstance(limit, (int, np.integer)) or limit < 0:
    raise ValueError(f'config.data.{field} must be an integer >= 0 (0 = all), got {limit!r}')
  size = data_config.get('image_size', 0)
  if not isinstance(size, (int, np.integer)) or size < 0:
    raise ValueError(f'config.data.image_size must be an integer >= 0 (0 = the dataset size '
                     f'{DATASETS[name].image_size}), got {size!r}')
  size = int(size) or DATASETS[name].image_size

  if source == 'sample':
    arrays = _load_sample(name, split, limit, field)
  elif source == 'folder':
    arrays = _load_folder(data_config.get('path', ''), name, split, limit, field, size,
                          skip_bad=bool(data_config.get('skip_bad_images', False)))
  else:
    arrays = _load_tfds(data_config, name, split, limit, field)
  if arrays.images.shape[1:3] != (size, size):
    arrays = Arrays(_resize_uint8(arrays.images, size), arrays.labels,
                    dataclasses.replace(arrays.info, image_size=size))
  logging.info('loaded %s/%s %s: %d images of %s', source, name, split, len(arrays),
               arrays.images.shape[1:])
  return arrays


def _subset_order(labels, limit, field):
  """Indices of a class-balanced subset (`limit` 0 = all) in a fixed shuffled order.

  The subset takes the first examples of every class round-robin (the k-th of
  each class before any (k+1)-th), so it is as balanced as the classes allow.
  """
  labels = np.asarray(labels)
  n = len(labels)
  if limit > n:
    raise ValueError(f'config.data.{field}={limit} but the split has only {n} examples '
                     f'(use 0 for all)')
  rank = np.zeros(n, np.int64)
  for c in np.unique(labels):
    members = np.flatnonzero(labels == c)
    rank[members] = np.arange(len(members))
  order = np.lexsort((np.arange(n), labels, rank))  # Primary key: rank; then class.
  if limit:
    order = order[:limit]
  return order[np.random.default_rng(_ORDER_SEED).permutation(len(order))]


def _decode_one(data, size=None):
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


def _decode_all(encoded, size=None):
  """Decodes a list of encoded images into uint8[N, size, size, 3].

  Raises:
    tf.errors.InvalidArgumentError: if any of them does not decode (unnamed;
      `_decode_folder` finds which).
  """
  if not encoded:
    return np.zeros((0, size or 0, size or 0, 3), np.uint8)
  ds = tf.data.Dataset.from_tensor_slices(tf.constant(encoded, tf.string))
  ds = ds.map(lambda data: _decode_one(data, size), num_parallel_calls=tf.data.AUTOTUNE,
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

  The slow path of `_decode_folder`, taken only after `_decode_all` failed:
  one parallel pass that drops the failing images, then the failures alone,
  one by one, for their error messages (the first `_NAMED_BAD_IMAGES`).
  """
  ds = tf.data.Dataset.from_tensor_slices(tf.constant(encoded, tf.string)).enumerate()
  ds = ds.map(lambda i, data: (i, _decode_one(data, size)),
              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
  decoded = {int(i): image for i, image in ds.as_numpy_iterator()}
  reasons = {}
  for position in (p for p in range(len(encoded)) if p not in decoded):
    reason = 'does not decode'
    if len(reasons) < _NAMED_BAD_IMAGES:
      try:
        _decode_one(tf.constant(encoded[position]), size)
      except tf.errors.OpError as e:
        reason = _op_error_text(e)
    reasons[position] = reason
  return decoded, reasons


def _resize_uint8(images, size):
  """Resizes uint8[N, H, W, 3] to uint8[N, size, size, 3] (antialiased bilinear)."""
  out = tf.image.resize(tf.convert_to_tensor(images), [size, size], antialias=True)
  return tf.cast(tf.round(tf.clip_by_value(out, 0, 255)), tf.uint8).numpy()


def _load_sample(name, split, limit, field):
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
  order = _subset_order(labels, limit, field)
  encoded = [blob[offsets[i]:offsets[i + 1]] for i in order]
  images = _decode_all(encoded, DATASETS[name].image_size)
  return Arrays(images, labels[order], DATASETS[name])


def _list_classes(split_dir):
  return sorted(p.name for p in split_dir.iterdir() if p.is_dir())


def _load_folder(path, name, split, limit, field, size, *, skip_bad=False):
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
    more = f' and {len(names) - _NAMED_BAD_IMAGES} more' if len(names) > _NAMED_BAD_IMAGES else ''
    logging.warning('config.data.path=%r: skipped %d bad image file(s) of %s/ '
                    '(config.data.skip_bad_images=True): %s%s', path, len(bad), split,
                    ', '.join(names[:_NAMED_BAD_IMAGES]), more)
  info = dataclasses.replace(DATASETS[name], num_classes=len(classes), image_size=size,
                             class_names=tuple(classes))
  return Arrays(images, labels[order], info)


def _decode_folder(files, labels, limit, field, size, *, skip_bad, path, split):
  """Reads and decodes the (subset of the) files of one ImageFolder split.

  Fast path: all files at once (`_decode_all`). Only if a file cannot be read
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
    order = keep[_subset_order(labels[keep], limit, field)]
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
        return _decode_all([blobs[i] for i in todo], size), order, bad
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


def _tfds_error(name, data_dir, error):
  where = data_dir or 'the tfds default data_dir (~/tensorflow_datasets or $TFDS_DATA_DIR)'
  return ValueError(
      f'no prepared tfds dataset {name!r} in config.data.data_dir={where!r} ({error}). '
      f'Prepare it on a machine with internet (`tfds build {name} --data_dir=...`, or set '
      f'config.data.download=True) and copy it there, or use config.data.source='
      f"'folder' (an ImageFolder tree) or 'sample' (the embedded CIFAR-10 sample).")


def network_problem(address=NETWORK_CHECK_ADDRESS, timeout=NETWORK_CHECK_SECONDS):
  """Why a TCP connection to `address` does not open within `timeout` s; None if it does.

  Name resolution counts towards the timeout (it runs in a helper thread,
  since socket timeouts do not cover it). `_load_tfds` calls this before a
  download; tests replace it to simulate being on- or offline.
  """
  outcome = []

  def connect():
    try:
      socket.create_connection(address, timeout=timeout).close()
      outcome.append(None)
    except OSError as e:
      outcome.append(errors.one_line(e) or type(e).__name__)

  thread = threading.Thread(target=connect, name='network-check', daemon=True)
  thread.start()
  thread.join(timeout)
  if not outcome:
    return f'no answer within {timeout:g} s'
  return outcome[0]


def _is_prepared(name, data_dir):
  """Whether tfds has `name` prepared in `data_dir` (None = tfds default); offline."""
  try:
    return tfds.builder(name, data_dir=data_dir).is_prepared()
  except Exception:  # pylint: disable=broad-except  # Unknown = let tfds.load decide.
    return False


def _check_download(name, data_dir):
  """Raises DataError at once if tfds would have to download `name` without a network."""
  if _is_prepared(name, data_dir):
    return
  host, port = NETWORK_CHECK_ADDRESS
  problem = network_problem()
  if problem is None:
    return
  where = data_dir or 'the tfds default data_dir'
  raise errors.DataError(
      f'config.data.download=True but there is no network: cannot reach {host}:{port} '
      f'({problem}), and {name!r} is not prepared in {where}. Prepare it on a machine with '
      f'internet (`tfds build {name} --data_dir=DIR`), copy DIR here and set '
      f"config.data.data_dir=DIR, or use config.data.source='folder' with config.data.path "
      f'(an ImageFolder tree)')


def _load_tfds(data_config, name, split, limit, field):
  """A tfds dataset loaded whole into memory (CIFAR/SVHN sized)."""
  if name == 'imagenet2012':
    raise ValueError("config.data.name='imagenet2012' is too large to load into memory with "
                     "config.data.source='tfds'; stream it with data.imagenet_dataset()")
  data_dir = data_config.get('data_dir', '') or None
  if data_config.get('download', False):
    _check_download(name, data_dir)
  try:
    (images, labels), info = tfds.load(
        name, split=split, data_dir=data_dir, download=bool(data_config.get('download', False)),
        batch_size=-1, as_supervised=True, with_info=True)
  except (AssertionError, ConnectionError, OSError) as e:
    # tfds raises a bare AssertionError when the data is missing and a
    # requests ConnectionError (an OSError) when a download fails.
    raise _tfds_error(name, data_config.get('data_dir', ''), e) from e
  labels = np.asarray(labels, np.int32)
  order = _subset_order(labels, limit, field)
  class_names = tuple(info.features['label'].names)
  ds_info = dataclasses.replace(DATASETS[name], class_names=class_names)
  return Arrays(np.asarray(images)[order], labels[order], ds_info)


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


def apply_cutout(images, length, seed):
  """DARTS Cutout: zeroes one `length` square per image, centre anywhere, clipped.

  Args:
    images: float32[B, H, W, C] (normalised, so zero is the mean colour).
    length: side of the square.
    seed: int[2] stateless seed.

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
  return tf.where(hole[..., None], tf.zeros_like(images), images)


def make_dataset(arrays, batch_size, *, training, seed=0, epoch=0, cutout=0,
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
      x = apply_cutout(x, cutout_length, cutout_seed)
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


# --------------------------------------------------------------------------
# ImageNet (DARTS cnn/train_imagenet.py, reference.md sect. 3.8)
# --------------------------------------------------------------------------

IMAGENET_CROP = 224
IMAGENET_RESIZE = 256
_IMAGENET = DATASETS['imagenet2012']


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
  return normalize(x * 255.0, _IMAGENET)


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
  return normalize(tf.clip_by_value(x, 0.0, 255.0), _IMAGENET)


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
    raise _tfds_error('imagenet2012', data_dir, e) from e
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
