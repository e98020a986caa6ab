"""Data from Python: the forms it takes, the checks with their messages, the order and the hash."""

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.data import pipeline
from edd_tf.data import python_source


def _images(n=12, size=8, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _labels(n=12, k=3):
  return np.arange(n) % k


def _load(data, split='train', limit=0):
  return python_source.load_python(data, 'cifar10', split, limit, f'{split}_examples')


def test_arrays_and_dataset_forms_give_the_same_arrays():
  x, y = _images(), _labels()
  a = _load((x, y))
  # The same examples come back in the fixed class-mixed order of every source.
  assert sorted(map(tuple, a.images.reshape(12, -1).tolist())) == sorted(
      map(tuple, x.reshape(12, -1).tolist()))
  assert a.info.num_classes == 3 and a.info.image_size == 8
  assert a.images.dtype == np.uint8 and a.labels.dtype == np.int32
  unbatched = tf.data.Dataset.from_tensor_slices((x, y))
  batched = tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y[:, None])).batch(5)
  for ds in (unbatched, batched):
    b = _load({'train': ds})
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_class_names_and_the_balanced_subset():
  ds = tf.data.Dataset.from_tensor_slices((_images(), _labels()))
  ds.class_names = ['a', 'b', 'c']   # what image_dataset_from_directory sets
  a = _load(ds, limit=6)
  assert a.info.class_names == ('a', 'b', 'c')
  assert np.bincount(a.labels).tolist() == [2, 2, 2]


@pytest.mark.parametrize('data, message', [
    ((_images()[..., 0], _labels()), r"data\['train'\] images must be \[N, height, width, 3\]"),
    ((_images().astype(np.float32) / 255, _labels()), r'floats in \[0, 1\]'),
    ((_images().astype(np.float32) * 2, _labels()), r'pixels in \[0, 255\]'),
    ((_images().astype(bool), _labels()), 'must be uint8'),
    ((_images(), _labels().astype(np.float32)), 'integer class indices'),
    ((_images(), _labels()[:5]), r'labels must be \[N\] with N = 12'),
    ((_images(), _labels() - 1), 'labels must be >= 0'),
    ((_images(), np.zeros(12, int)), 'at least 2 distinct labels'),
    ({'train': (_images(), _labels()), 'test': (_images(), _labels(k=5))},
     r"data\['test'\] labels must be in \[0, 3\)"),
    ({'test': (_images(), _labels())}, "'train' \\(required\\)"),
    ('images.npy', 'data must be'),
    (tf.data.Dataset.from_tensor_slices(_images()), r'yield \(image, label\) pairs'),
    (tf.data.Dataset.from_tensor_slices((_images(), _labels())).repeat(), 'repeats forever'),
])
def test_bad_data_is_named_in_one_line(data, message):
  split = 'test' if isinstance(data, dict) and 'test' in data and 'train' in data else 'train'
  with pytest.raises(ValueError, match=message) as e:
    _load(data, split)
  assert '\n' not in str(e.value)


def test_source_and_data_go_together():
  config = pipeline.default_data_config()
  with pytest.raises(ValueError, match="config.data.source='sample'"):
    pipeline.check_python_data(config, (_images(), _labels()))
  config.source = 'python'
  with pytest.raises(ValueError, match='pass data=... to edd_tf.api'):
    pipeline.check_python_data(config, None)
  with pytest.raises(ValueError, match=r"needs data\['test'\] too"):
    pipeline.load_arrays(config, 'test', (_images(), _labels()))


def test_load_arrays_resizes_to_the_configured_size_and_the_fingerprint_tells_arrays_apart():
  config = pipeline.default_data_config()
  config.source = 'python'
  a = pipeline.load_arrays(config, 'train', (_images(size=8), _labels()))
  assert a.images.shape == (12, 32, 32, 3) and a.info.image_size == 32
  same = pipeline.load_arrays(config, 'train', (_images(size=8), _labels()))
  other = pipeline.load_arrays(config, 'train', (_images(size=8, seed=1), _labels()))
  assert pipeline.fingerprint_of(config, a) == pipeline.fingerprint_of(config, same)
  assert pipeline.fingerprint_of(config, a) != pipeline.fingerprint_of(config, other)
  config.source = 'sample'
  assert pipeline.fingerprint_of(config, a) == ''
