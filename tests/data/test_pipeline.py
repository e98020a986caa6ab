"""Tests for edd_tf.data.pipeline."""

import socket
import time

import numpy as np
import pytest
import tensorflow as tf

from binaries import make_assets
from edd_tf.data import pipeline as data
from edd_tf.core import errors
from edd_tf.data import imagenet as imagenet_data
from edd_tf.data import tfds_source
from tests.helpers import SHARED_DATA
from tests.helpers import requires_shared
from tests.helpers import write_sample_folder

CIFAR_DIR = SHARED_DATA / 'cifar10'
CIFAR10 = data.DATASETS['cifar10']


def _config(**overrides):
  config = data.default_data_config()
  config.update(overrides)
  return config


@pytest.fixture(scope='module')
def sample_train():
  return data.load_arrays(_config(), 'train')


def _gradient_arrays(n=16, size=32, num_classes=4):
  """Images whose every pixel is distinct within an image: x = row*size + col (mod 251)."""
  rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing='ij')
  base = ((rows * size + cols) % 251).astype(np.uint8)
  images = np.repeat(np.stack([base, 255 - base, base // 2], -1)[None], n, axis=0)
  labels = (np.arange(n) % num_classes).astype(np.int32)
  info = data.DATASETS['cifar10']
  if size != info.image_size:
    info = data.dataclasses.replace(info, image_size=size)
  return data.Arrays(images, labels, info)


def _constant_arrays(n=32, value=255, size=32):
  images = np.full((n, size, size, 3), value, np.uint8)
  return data.Arrays(images, np.zeros(n, np.int32), CIFAR10)


def _take_all(ds):
  xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
  return np.concatenate(xs), np.concatenate(ys)


# --------------------------------------------------------------------------
# Dataset table and config
# --------------------------------------------------------------------------


def test_dataset_statistics_match_the_references():
  assert data.DATASETS['cifar10'].mean == (0.49139968, 0.48215827, 0.44653124)
  assert data.DATASETS['cifar10'].std == (0.24703233, 0.24348505, 0.26158768)
  assert data.DATASETS['cifar100'].mean == (0.5071, 0.4865, 0.4409)
  assert data.DATASETS['cifar100'].std == (0.2673, 0.2564, 0.2762)
  assert data.DATASETS['svhn_cropped'].mean == (0.4377, 0.4438, 0.4728)
  assert data.DATASETS['svhn_cropped'].std == (0.1980, 0.2010, 0.1970)
  assert data.DATASETS['imagenet2012'].mean == (0.485, 0.456, 0.406)
  assert data.DATASETS['imagenet2012'].std == (0.229, 0.224, 0.225)
  assert data.DATASETS['imagenet2012'].image_size == 224
  assert [data.DATASETS[k].num_classes for k in sorted(data.DATASETS)] == [10, 100, 1000, 10]


def test_default_config_is_offline_sample():
  config = data.default_data_config()
  assert config.source == 'sample' and config.name == 'cifar10'
  assert config.download is False
  assert (config.path, config.data_dir) == ('', '')
  assert (config.train_examples, config.test_examples, config.image_size) == (0, 0, 0)


# --------------------------------------------------------------------------
# Embedded sample
# --------------------------------------------------------------------------


def test_sample_train_shapes_and_counts(sample_train):
  assert sample_train.images.shape == (5000, 32, 32, 3)
  assert sample_train.images.dtype == np.uint8
  assert sample_train.labels.dtype == np.int32
  assert np.bincount(sample_train.labels).tolist() == [500] * 10
  assert sample_train.info.num_classes == 10
  assert sample_train.info.class_names == ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
                                           'frog', 'horse', 'ship', 'truck')


def test_sample_test_counts():
  test = data.load_arrays(_config(), 'test')
  assert test.images.shape == (1000, 32, 32, 3)
  assert np.bincount(test.labels).tolist() == [100] * 10


def test_sample_is_shuffled_not_class_sorted(sample_train):
  # split_for_search takes the first half: it must hold every class.
  assert len(np.unique(sample_train.labels[:100])) == 10


@requires_shared
def test_sample_equals_the_first_500_per_class_of_the_shared_folder(sample_train):
  # Same files, same labels (CIFAR order = sorted folder names), same order.
  folder = data.load_arrays(_config(source='folder', path=str(CIFAR_DIR), train_examples=5000),
                            'train')
  np.testing.assert_array_equal(folder.labels, sample_train.labels)
  np.testing.assert_array_equal(folder.images, sample_train.images)


@requires_shared
def test_sample_asset_holds_the_original_jpeg_bytes():
  with np.load(data.ASSETS_DIR / data.SAMPLE_FILE, allow_pickle=False) as f:
    for split in data.SPLITS:
      blob, offsets = f[f'{split}_jpeg'].tobytes(), f[f'{split}_offsets']
      labels, file_ids = f[f'{split}_labels'], f[f'{split}_file_ids']
      for i in range(len(labels)):
        source = CIFAR_DIR / split / data.CIFAR10_CLASSES[labels[i]] / f'{file_ids[i]:04d}.jpg'
        assert blob[offsets[i]:offsets[i + 1]] == source.read_bytes(), source


@pytest.mark.parametrize('source', ['shipped', pytest.param('shared', marks=pytest.mark.shared_data)])
def test_make_assets_regenerates_the_sample_byte_for_byte(tmp_path, sample_folder, source):
  # From the sample written back out as a folder (works on a clone), and from
  # the shared data it was made from (developers' machines only).
  if source == 'shared' and not CIFAR_DIR.is_dir():
    pytest.skip(f'cross-check against {CIFAR_DIR}, which a clone of the repository does not have')
  out = tmp_path / data.SAMPLE_FILE
  make_assets.make_cifar10_sample(sample_folder if source == 'shipped' else CIFAR_DIR, out, 500, 100)
  assert out.read_bytes() == (data.ASSETS_DIR / data.SAMPLE_FILE).read_bytes()


def test_sample_subset_is_class_balanced():
  test = data.load_arrays(_config(test_examples=25), 'test')
  assert len(test) == 25
  assert sorted(np.bincount(test.labels, minlength=10).tolist()) == [2] * 5 + [3] * 5


def test_sample_image_size_resizes():
  test = data.load_arrays(_config(test_examples=20, image_size=16), 'test')
  assert test.images.shape == (20, 16, 16, 3)
  assert test.info.image_size == 16


def test_load_arrays_is_deterministic():
  a = data.load_arrays(_config(test_examples=50), 'test')
  b = data.load_arrays(_config(test_examples=50), 'test')
  np.testing.assert_array_equal(a.images, b.images)
  np.testing.assert_array_equal(a.labels, b.labels)


# --------------------------------------------------------------------------
# ImageFolder
# --------------------------------------------------------------------------


def test_folder_train_examples_limits(sample_folder):
  arrays = data.load_arrays(_config(source='folder', path=str(sample_folder), train_examples=40),
                            'train')
  assert arrays.images.shape == (40, 32, 32, 3)
  assert np.bincount(arrays.labels).tolist() == [4] * 10
  assert arrays.info.class_names == data.CIFAR10_CLASSES


def _write_png(path, shape, value):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(tf.io.encode_png(np.full(shape, value, np.uint8)).numpy())


def test_folder_reads_png_resizes_and_names_classes(tmp_path):
  _write_png(tmp_path / 'train' / 'zebra' / 'a.png', (8, 8, 3), 10)
  _write_png(tmp_path / 'train' / 'ant' / 'b.PNG', (40, 20, 3), 200)
  _write_png(tmp_path / 'train' / 'ant' / 'c.png', (32, 32, 3), 100)
  (tmp_path / 'train' / 'ant' / 'notes.txt').write_text('not an image')
  arrays = data.load_arrays(_config(source='folder', path=str(tmp_path)), 'train')
  assert arrays.info.class_names == ('ant', 'zebra')
  assert arrays.info.num_classes == 2
  assert arrays.images.shape == (3, 32, 32, 3)
  by_value = {int(img[0, 0, 0]): int(label) for img, label in zip(arrays.images, arrays.labels)}
  assert by_value == {10: 1, 200: 0, 100: 0}


def test_folder_rejects_different_classes_in_train_and_test(tmp_path):
  _write_png(tmp_path / 'train' / 'a' / '0.png', (4, 4, 3), 0)
  _write_png(tmp_path / 'test' / 'b' / '0.png', (4, 4, 3), 0)
  with pytest.raises(ValueError, match='class folders'):
    data.load_arrays(_config(source='folder', path=str(tmp_path)), 'test')


def _small_folder(root, train=6, test=2):
  """The shipped sample as an ImageFolder with `train` / `test` JPEGs per class."""
  return write_sample_folder(root, {'train': train, 'test': test})


def _damage(root):
  """Empties one file and truncates another; returns their paths."""
  zero = sorted((root / 'train' / 'cat').glob('*.jpg'))[0]
  zero.write_bytes(b'')
  truncated = sorted((root / 'train' / 'dog').glob('*.jpg'))[1]
  truncated.write_bytes(truncated.read_bytes()[:200])
  return zero, truncated


def test_folder_names_a_zero_byte_image(tmp_path):
  root = _small_folder(tmp_path / 'd')
  zero, _ = _damage(root)
  with pytest.raises(errors.DataError) as e:
    data.load_arrays(_config(source='folder', path=str(root)), 'train')
  assert isinstance(e.value, ValueError)
  assert str(e.value) == (
      f"config.data.path='{root}': cannot decode {zero} (empty file, 0 bytes), and 1 more bad "
      f"file(s) of train/; fix or remove them, or set --config.data.skip_bad_images=True")


def test_folder_names_a_corrupt_image(tmp_path):
  root = _small_folder(tmp_path / 'd')
  (root / 'test' / 'cat' / 'notes.png').write_bytes(b'not a PNG')
  with pytest.raises(errors.DataError) as e:
    data.load_arrays(_config(source='folder', path=str(root)), 'test')
  message = str(e.value)
  assert message.startswith(f"config.data.path='{root}': cannot decode "
                            f"{root / 'test' / 'cat' / 'notes.png'} (Unknown image file format")
  assert message.endswith('; fix or remove it, or set --config.data.skip_bad_images=True')
  assert '\n' not in message and 'Op:' not in message and 'function_node' not in message


def test_folder_skip_bad_images_is_as_if_they_were_removed(tmp_path, caplog):
  root = _small_folder(tmp_path / 'd')
  bad = _damage(root)
  clean = _small_folder(tmp_path / 'clean')
  for path in bad:
    (clean / path.relative_to(root)).unlink()
  for limit in (0, 20):
    caplog.clear()
    with caplog.at_level('WARNING'):
      skipped = data.load_arrays(_config(source='folder', path=str(root), skip_bad_images=True,
                                         train_examples=limit), 'train')
    expected = data.load_arrays(_config(source='folder', path=str(clean), train_examples=limit),
                                'train')
    np.testing.assert_array_equal(skipped.images, expected.images)
    np.testing.assert_array_equal(skipped.labels, expected.labels)
  assert len(skipped) == 20
  warnings = [r.getMessage() for r in caplog.records if 'skipped' in r.getMessage()]
  assert len(warnings) == 1, warnings
  caplog.clear()
  with caplog.at_level('WARNING'):
    data.load_arrays(_config(source='folder', path=str(root), skip_bad_images=True), 'train')
  [warning] = [r.getMessage() for r in caplog.records if 'skipped' in r.getMessage()]
  assert 'skipped 2 bad image file(s) of train/' in warning
  assert 'train/cat/' + bad[0].name in warning and 'train/dog/' + bad[1].name in warning


def test_folder_skip_bad_images_names_the_first_few(tmp_path, caplog):
  root = _small_folder(tmp_path / 'd', train=2)
  for i in range(7):
    (root / 'train' / 'cat' / f'bad{i}.jpg').write_bytes(b'')
  with caplog.at_level('WARNING'):
    arrays = data.load_arrays(_config(source='folder', path=str(root), skip_bad_images=True),
                              'train')
  assert len(arrays) == 20
  [warning] = [r.getMessage() for r in caplog.records if 'skipped' in r.getMessage()]
  assert 'skipped 7 bad image file(s)' in warning
  assert 'train/cat/bad4.jpg and 2 more' in warning and 'bad5' not in warning


def test_folder_without_a_usable_image(tmp_path):
  for name in ('a', 'b'):
    (tmp_path / 'train' / name).mkdir(parents=True)
    (tmp_path / 'train' / name / '0.jpg').write_bytes(b'\xff\xd8 truncated')
  with pytest.raises(errors.DataError, match=r'none of the 2 image files of train/ can be used'):
    data.load_arrays(_config(source='folder', path=str(tmp_path), skip_bad_images=True), 'train')


def test_skip_bad_images_is_off_by_default():
  assert data.default_data_config().skip_bad_images is False


# --------------------------------------------------------------------------
# tfds download without a network
# --------------------------------------------------------------------------


def _no_tfds_load(*args, **kwargs):
  raise AssertionError(f'tfds.load was called: {args} {kwargs}')


def test_download_without_network_fails_at_once(tmp_path, monkeypatch):
  monkeypatch.setattr(tfds_source, 'network_problem', lambda: 'no answer within 3 s')
  monkeypatch.setattr(tfds_source.tfds, 'load', _no_tfds_load)
  config = _config(source='tfds', data_dir=str(tmp_path), download=True)
  with pytest.raises(errors.DataError) as e:
    data.load_arrays(config, 'train')
  message = str(e.value)
  assert message.startswith('config.data.download=True but there is no network: cannot reach '
                            'storage.googleapis.com:443 (no answer within 3 s)')
  assert f"'cifar10' is not prepared in {tmp_path}" in message
  assert 'tfds build cifar10 --data_dir=DIR' in message and 'config.data.data_dir=DIR' in message
  assert "config.data.source='folder'" in message


def test_download_with_network_is_left_to_tfds(tmp_path, monkeypatch):
  calls = []

  def fake_load(name, **kwargs):
    calls.append((name, kwargs['download']))
    raise ConnectionError('simulated download failure')

  monkeypatch.setattr(tfds_source, 'network_problem', lambda: None)
  monkeypatch.setattr(tfds_source.tfds, 'load', fake_load)
  with pytest.raises(ValueError, match='simulated download failure'):
    data.load_arrays(_config(source='tfds', data_dir=str(tmp_path), download=True), 'train')
  assert calls == [('cifar10', True)]


def test_network_is_checked_only_for_a_download_of_missing_data(tmp_path, monkeypatch):
  def fail():
    raise AssertionError('network_problem was called')

  monkeypatch.setattr(tfds_source, 'network_problem', fail)
  with pytest.raises(ValueError, match='no prepared tfds dataset'):
    data.load_arrays(_config(source='tfds', data_dir=str(tmp_path), download=False), 'train')
  monkeypatch.setattr(tfds_source, '_is_prepared', lambda name, data_dir: True)
  monkeypatch.setattr(tfds_source.tfds, 'load', lambda *a, **k: (_ for _ in ()).throw(OSError('x')))
  with pytest.raises(ValueError, match='no prepared tfds dataset'):
    data.load_arrays(_config(source='tfds', data_dir=str(tmp_path), download=True), 'train')


def test_network_problem_of_a_local_server_and_a_closed_port():
  with socket.socket() as server:
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    assert tfds_source.network_problem(server.getsockname(), timeout=3) is None
  with socket.socket() as closed:
    closed.bind(('127.0.0.1', 0))
    address = closed.getsockname()
  assert 'refused' in tfds_source.network_problem(address, timeout=3).lower()


class _SlowConnection:
  """socket.create_connection that answers after 1 s (as a hanging DNS look-up would)."""

  def __init__(self, *args, **kwargs):
    del args, kwargs
    time.sleep(1)

  def close(self):
    pass


def test_network_problem_gives_up_after_the_timeout(monkeypatch):
  monkeypatch.setattr(tfds_source.socket, 'create_connection', _SlowConnection)
  start = time.monotonic()
  assert tfds_source.network_problem(('example.org', 443), timeout=0.2) == 'no answer within 0.2 s'
  assert time.monotonic() - start < 0.9


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def test_unknown_source_names_field_and_choices():
  with pytest.raises(ValueError, match=r"config\.data\.source 'web'.*'sample', 'tfds', 'folder'"):
    data.load_arrays(_config(source='web'), 'train')


def test_unknown_name_names_field_and_choices():
  with pytest.raises(ValueError, match=r"config\.data\.name 'mnist'.*'cifar10', 'cifar100'"):
    data.load_arrays(_config(name='mnist'), 'train')


def test_sample_only_has_cifar10():
  with pytest.raises(ValueError, match="only has config.data.name='cifar10'"):
    data.load_arrays(_config(name='cifar100'), 'train')


def test_bad_split():
  with pytest.raises(ValueError, match=r"unknown split 'valid'.*'train', 'test'"):
    data.load_arrays(_config(), 'valid')


def test_negative_train_examples():
  with pytest.raises(ValueError, match=r'config\.data\.train_examples must be an integer >= 0'):
    data.load_arrays(_config(train_examples=-1), 'train')


def test_too_many_examples():
  with pytest.raises(ValueError, match=r'config\.data\.test_examples=2000 .* only 1000'):
    data.load_arrays(_config(test_examples=2000), 'test')


def test_folder_without_path():
  with pytest.raises(ValueError, match=r'needs config\.data\.path'):
    data.load_arrays(_config(source='folder'), 'train')


def test_missing_folder(tmp_path):
  with pytest.raises(ValueError, match=r'config\.data\.path=.*nope.* does not exist'):
    data.load_arrays(_config(source='folder', path=str(tmp_path / 'nope')), 'train')


def test_folder_without_split_subdir(tmp_path):
  _write_png(tmp_path / 'train' / 'a' / '0.png', (4, 4, 3), 0)
  with pytest.raises(ValueError, match="has no 'test' subfolder"):
    data.load_arrays(_config(source='folder', path=str(tmp_path)), 'test')


def test_empty_folder(tmp_path):
  (tmp_path / 'train' / 'cat').mkdir(parents=True)
  (tmp_path / 'train' / 'cat' / 'readme.txt').write_text('no images here')
  with pytest.raises(ValueError, match='no images'):
    data.load_arrays(_config(source='folder', path=str(tmp_path)), 'train')


def test_tfds_without_prepared_data_is_a_clear_error(tmp_path):
  config = _config(source='tfds', data_dir=str(tmp_path), download=False)
  with pytest.raises(ValueError, match=r"no prepared tfds dataset 'cifar10'.*data_dir.*download"):
    data.load_arrays(config, 'train')


def test_tfds_imagenet_is_not_loaded_into_memory():
  with pytest.raises(ValueError, match='imagenet_dataset'):
    data.load_arrays(_config(source='tfds', name='imagenet2012'), 'train')


@pytest.mark.parametrize('batch_size', [0, -4, 2.0])
def test_non_positive_batch_size(batch_size):
  arrays = _constant_arrays(4)
  with pytest.raises(ValueError, match='batch_size must be a positive integer'):
    data.make_dataset(arrays, batch_size, training=True)
  with pytest.raises(ValueError, match='batch_size must be a positive integer'):
    data.steps_per_epoch(arrays, batch_size)


# --------------------------------------------------------------------------
# Search split
# --------------------------------------------------------------------------


def test_split_for_search_is_disjoint_and_complete():
  n = 11
  images = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
  arrays = data.Arrays(images, np.arange(n, dtype=np.int32), CIFAR10)
  weights, arch = data.split_for_search(arrays, 0.5)
  assert (len(weights), len(arch)) == (5, 6)
  assert not set(weights.labels) & set(arch.labels)
  np.testing.assert_array_equal(np.concatenate([weights.labels, arch.labels]), arrays.labels)
  np.testing.assert_array_equal(np.concatenate([weights.images, arch.images]), arrays.images)


@pytest.mark.parametrize('portion', [0.0, 1.0, -0.1])
def test_split_for_search_rejects_bad_portion(portion):
  with pytest.raises(ValueError, match='portion'):
    data.split_for_search(_constant_arrays(4), portion)


# --------------------------------------------------------------------------
# Pipelines
# --------------------------------------------------------------------------


def test_normalize_numbers():
  mean, std = np.array(CIFAR10.mean), np.array(CIFAR10.std)
  pixels = np.stack([255 * mean, 255 * (mean + std), np.zeros(3)]).astype(np.float32)
  out = data.normalize(pixels, CIFAR10).numpy()
  np.testing.assert_allclose(out[0], 0.0, atol=1e-5)
  np.testing.assert_allclose(out[1], 1.0, atol=1e-5)
  np.testing.assert_allclose(out[2], -mean / std, rtol=1e-6)
  assert data.normalize(np.zeros((1, 2, 2, 3), np.uint8), CIFAR10).dtype == tf.float32


def test_eval_pipeline_keeps_order_without_augmentation():
  arrays = _gradient_arrays(n=10)
  ds = data.make_dataset(arrays, 4, training=False)
  x, y = _take_all(ds)
  assert [b[1].shape[0] for b in ds] == [4, 4, 2]  # drop_remainder False by default.
  np.testing.assert_array_equal(y, arrays.labels)
  np.testing.assert_allclose(x, data.normalize(arrays.images, CIFAR10).numpy(), atol=1e-6)


def test_training_pipeline_types_and_drop_remainder():
  ds = data.make_dataset(_gradient_arrays(n=10), 4, training=True)
  shapes = [(x.shape, x.dtype, y.dtype) for x, y in ds]
  assert shapes == [((4, 32, 32, 3), tf.float32, tf.int32)] * 2


def test_training_pipeline_is_deterministic():
  arrays = _gradient_arrays(n=24)
  a = _take_all(data.make_dataset(arrays, 8, training=True, seed=3, epoch=2, cutout=8))
  b = _take_all(data.make_dataset(arrays, 8, training=True, seed=3, epoch=2, cutout=8))
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])


def test_training_order_changes_with_epoch_and_seed():
  arrays = data.Arrays(np.zeros((64, 4, 4, 3), np.uint8), np.arange(64, dtype=np.int32), CIFAR10)
  orders = [_take_all(data.make_dataset(arrays, 16, training=True, seed=s, epoch=e))[1]
            for s, e in [(0, 0), (0, 1), (1, 0)]]
  for order in orders:
    assert sorted(order) == list(range(64))  # a permutation of the whole set.
  assert not np.array_equal(orders[0], orders[1])
  assert not np.array_equal(orders[0], orders[2])
  assert not np.array_equal(orders[0], np.arange(64))


def _match_crop_flip(out, image, pad):
  """(dy, dx, flipped) such that `out` is that crop of the zero-padded `image`."""
  size = image.shape[0]
  padded = np.pad(image, [(pad, pad), (pad, pad), (0, 0)])
  for dy in range(2 * pad + 1):
    for dx in range(2 * pad + 1):
      crop = padded[dy:dy + size, dx:dx + size]
      for flipped, candidate in ((False, crop), (True, crop[:, ::-1])):
        if np.allclose(candidate, out, atol=1e-4):
          return dy, dx, flipped
  return None


@pytest.mark.parametrize('size,pad', [(32, 4), (16, 2)])
def test_training_augmentation_is_pad_crop_and_flip(size, pad):
  arrays = _gradient_arrays(n=32, size=size)
  x, _ = _take_all(data.make_dataset(arrays, 16, training=True, seed=5))
  mean, std = np.array(CIFAR10.mean), np.array(CIFAR10.std)
  raw = (x * std + mean) * 255.0  # undo the normalisation
  matches = [_match_crop_flip(img, arrays.images[0].astype(np.float32), pad) for img in raw]
  assert None not in matches  # every output is a pad-`pad` crop, maybe flipped.
  assert len({(dy, dx) for dy, dx, _ in matches}) > 5  # crops really vary ...
  assert {f for _, _, f in matches} == {False, True}  # ... and some images are flipped.


def test_training_crop_pads_with_black_before_normalising():
  x, _ = _take_all(data.make_dataset(_constant_arrays(32, 255), 32, training=True, seed=0))
  black = (-np.array(CIFAR10.mean) / np.array(CIFAR10.std)).astype(np.float32)
  white = ((1 - np.array(CIFAR10.mean)) / np.array(CIFAR10.std)).astype(np.float32)
  is_black = np.all(np.isclose(x, black, atol=1e-5), axis=-1)
  is_white = np.all(np.isclose(x, white, atol=1e-5), axis=-1)
  assert np.all(is_black | is_white)
  assert is_black.any()  # without the padded crop every pixel would be white.
  assert is_white.mean() > 0.7


def test_cutout_zeroes_one_clipped_square():
  length = 8
  x, _ = _take_all(data.make_dataset(_constant_arrays(64, 255), 64, training=True, seed=1,
                                     cutout=length))
  zero = np.all(x == 0.0, axis=-1)  # normalised white/black pixels are never exactly 0.
  full_squares = 0
  for hole in zero:
    rows, cols = np.flatnonzero(hole.any(1)), np.flatnonzero(hole.any(0))
    assert rows.size and cols.size  # every image has a hole
    assert hole[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()  # a filled rectangle
    assert hole.sum() == rows.size * cols.size
    assert rows.size <= length and cols.size <= length
    full_squares += rows.size == cols.size == length
  assert full_squares > 10


def test_no_cutout_by_default():
  x, _ = _take_all(data.make_dataset(_constant_arrays(16, 255), 16, training=True))
  assert not np.any(np.all(x == 0.0, axis=-1))


def test_steps_per_epoch_matches_the_pipeline():
  arrays = _constant_arrays(10)
  assert data.steps_per_epoch(arrays, 4) == 2
  assert data.steps_per_epoch(arrays, 4, drop_remainder=False) == 3
  assert len(list(data.make_dataset(arrays, 4, training=True))) == 2
  assert len(list(data.make_dataset(arrays, 4, training=False))) == 3


def test_sample_pipeline_batch(sample_train):
  weights, _ = data.split_for_search(sample_train)
  x, y = next(iter(data.make_dataset(weights, 64, training=True, cutout=16)))
  assert x.shape == (64, 32, 32, 3) and x.dtype == tf.float32
  assert y.shape == (64,) and y.dtype == tf.int32
  assert -2.5 < float(tf.reduce_mean(x)) < 2.5


# --------------------------------------------------------------------------
# ImageNet transforms
# --------------------------------------------------------------------------


def _random_image(h, w, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_imagenet_train_transform_shape_and_determinism():
  image = _random_image(300, 400)
  a = imagenet_data.imagenet_train_transform(image, tf.constant([1, 2]))
  b = imagenet_data.imagenet_train_transform(image, tf.constant([1, 2]))
  c = imagenet_data.imagenet_train_transform(image, tf.constant([1, 3]))
  assert a.shape == (224, 224, 3) and a.dtype == tf.float32
  np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert not np.allclose(a.numpy(), c.numpy())
  lo = (0 - np.array(data.DATASETS['imagenet2012'].mean)) / data.DATASETS['imagenet2012'].std
  hi = (1 - np.array(data.DATASETS['imagenet2012'].mean)) / data.DATASETS['imagenet2012'].std
  assert np.all(a.numpy() >= lo - 1e-4) and np.all(a.numpy() <= hi + 1e-4)


def test_imagenet_eval_transform_is_resize_and_center_crop():
  image = _random_image(256, 300)  # short side already 256: resize is the identity.
  out = imagenet_data.imagenet_eval_transform(image)
  assert out.shape == (224, 224, 3) and out.dtype == tf.float32
  expected = data.normalize(image[16:240, 38:262], data.DATASETS['imagenet2012'])
  np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=1e-3)


def test_imagenet_eval_transform_resizes_small_images():
  out = imagenet_data.imagenet_eval_transform(_random_image(100, 150))
  assert out.shape == (224, 224, 3)


def test_imagenet_dataset_without_data_is_a_clear_error(tmp_path):
  with pytest.raises(ValueError, match=r"no prepared tfds dataset 'imagenet2012'"):
    imagenet_data.imagenet_dataset(str(tmp_path), 'train', 8, training=True)


def test_imagenet_dataset_rejects_bad_split(tmp_path):
  with pytest.raises(ValueError, match=r"unknown ImageNet split 'val'"):
    imagenet_data.imagenet_dataset(str(tmp_path), 'val', 8, training=False)


@pytest.mark.parametrize('name', ['cifar100', 'svhn_cropped'])
def test_folder_takes_the_named_datasets_normalisation(sample_folder, name):
  """CIFAR-100 / SVHN search pipelines through ImageFolder use their own mean and std."""
  arrays = data.load_arrays(_config(source='folder', path=str(sample_folder), name=name,
                                    train_examples=20), 'train')
  assert arrays.info.mean == data.DATASETS[name].mean and arrays.info.std == data.DATASETS[name].std
  batch = next(iter(data.make_dataset(arrays, 20, training=False)))[0].numpy()
  want = (arrays.images / 255.0 - np.array(data.DATASETS[name].mean)) / np.array(
      data.DATASETS[name].std)
  np.testing.assert_allclose(batch, want, atol=1e-5)
