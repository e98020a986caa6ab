"""Tests for edd_tf.serving.export: the serving SavedModel, checked in fresh processes."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.data import pipeline as data
from edd_tf.core import errors
from edd_tf.serving import export
from edd_tf import train
from edd_tf.final import models
from tests.helpers import NB201_CELL
from tests.helpers import png_bytes
from tests.helpers import sample_jpegs
from tests.helpers import tiny_train_config as tiny_config

REPO = pathlib.Path(__file__).resolve().parents[2]
@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  path = tmp_path_factory.mktemp('workdir')
  train.run(tiny_config(), path)
  return path


@pytest.fixture(scope='module')
def export_dir(workdir, tmp_path_factory):
  path = tmp_path_factory.mktemp('export') / '1'
  export.export(workdir, path)
  return path


@pytest.fixture(scope='module')
def images():
  config = tiny_config()
  return data.load_arrays(config.data, 'test').images[:5]


@pytest.fixture(scope='module')
def loaded(export_dir):
  return tf.saved_model.load(str(export_dir))


def run_plain_python(code, cwd, *args):
  """Runs `code` in a fresh interpreter that cannot import the project."""
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  return subprocess.run([sys.executable, '-c', textwrap.dedent(code), *map(str, args)],
                        cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_fresh_process_reproduces_keras_probabilities(workdir, export_dir, images, tmp_path):
  np.save(tmp_path / 'images.npy', images)
  result = run_plain_python("""
      import sys
      import numpy as np
      import tensorflow as tf
      serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']
      out = serve(images=tf.constant(np.load(sys.argv[2])))
      np.save(sys.argv[3], out['probabilities'].numpy())
      np.save(sys.argv[4], out['classes'].numpy())
      assert not [m for m in sys.modules if m.startswith('edd_tf')]
      """, tmp_path, export_dir, tmp_path / 'images.npy', tmp_path / 'probs.npy',
      tmp_path / 'classes.npy')
  assert result.returncode == 0, result.stderr
  model, info, _, _ = models.load_workdir_model(workdir)
  want = tf.nn.softmax(model(data.normalize(images, info), training=False)).numpy()
  served = np.load(tmp_path / 'probs.npy')
  assert served.shape == (5, 10) and served.dtype == np.float32
  np.testing.assert_allclose(served, want, atol=1e-5)
  np.testing.assert_array_equal(np.load(tmp_path / 'classes.npy'), want.argmax(-1))


_BAD_INPUT_SCRIPT = """
    import sys
    import tensorflow as tf
    serve = tf.saved_model.load(sys.argv[1]).signatures['serving_default']
    shape = [int(d) for d in sys.argv[2].split(',')]
    try:
      serve(images=tf.zeros(shape, tf.uint8))
      sys.exit('bad input accepted')
    except tf.errors.InvalidArgumentError as e:
      print('rejected:', e.message.splitlines()[0] if e.message else '')
    out = serve(images=tf.zeros([2, 32, 32, 3], tf.uint8))  # The process keeps serving.
    assert out['probabilities'].shape == (2, 10)
    print('still serving')
    """


def test_rank3_batch_is_rejected_and_process_survives(export_dir, tmp_path):
  result = run_plain_python(_BAD_INPUT_SCRIPT, tmp_path, export_dir, '32,32,3')
  assert result.returncode == 0, result.stderr
  assert 'rejected' in result.stdout and 'still serving' in result.stdout


def test_wrong_size_batch_is_rejected_and_process_survives(export_dir, tmp_path):
  result = run_plain_python(_BAD_INPUT_SCRIPT, tmp_path, export_dir, '2,28,28,3')
  assert result.returncode == 0, result.stderr
  assert 'rejected' in result.stdout and 'still serving' in result.stdout


def test_float32_input_is_rejected_at_the_signature(export_dir):
  serve = tf.saved_model.load(str(export_dir)).signatures['serving_default']
  with pytest.raises(tf.errors.InvalidArgumentError, match='uint8'):
    serve(images=tf.zeros([2, 32, 32, 3], tf.float32))


def test_saved_model_cli_lists_the_signature(export_dir):
  cli = pathlib.Path(sys.executable).parent / 'saved_model_cli'
  assert cli.is_file(), 'saved_model_cli ships with tensorflow'
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  result = subprocess.run([str(cli), 'show', '--all', '--dir', str(export_dir)],
                          capture_output=True, text=True, env=env, timeout=120)
  assert result.returncode == 0, result.stderr
  out = result.stdout
  assert "signature_def['serving_default']" in out
  assert "inputs['images']" in out and 'DT_UINT8' in out
  assert "outputs['probabilities']" in out and "outputs['classes']" in out
  assert "signature_def['serving_bytes']" in out
  assert "inputs['image_bytes']" in out and 'DT_STRING' in out


def test_writes_labels_and_metadata(export_dir):
  labels = (export_dir / 'labels.txt').read_text().split()
  assert labels == list(data.CIFAR10_CLASSES)
  metadata = json.loads((export_dir / 'metadata.json').read_text())
  assert metadata['image_size'] == 32 and metadata['num_classes'] == 10
  assert metadata['genotype'] == NB201_CELL
  signatures = metadata['signatures']
  assert set(signatures) == {'serving_default', 'serving_bytes'}
  assert signatures['serving_default']['inputs']['images']['shape'] == [None, 32, 32, 3]
  assert signatures['serving_bytes']['inputs']['image_bytes']['dtype'] == 'string'
  for signature in signatures.values():
    assert set(signature['outputs']) == {'probabilities', 'classes'}


def test_refuses_non_empty_export_dir(workdir, export_dir):
  with pytest.raises(errors.WorkdirError, match=rf'--export_dir={export_dir} is not empty \(it '
                                                r'holds assets, fingerprint.pb, labels.txt, '
                                                r'metadata.json, saved_model.pb, \.\.\. \(6 in '
                                                r'all\)\); .* --overwrite'):
    export.export(workdir, export_dir)


def test_export_dir_that_is_a_file(workdir, tmp_path):
  (tmp_path / 'file').write_text('x')
  with pytest.raises(errors.WorkdirError) as e:
    export.export(workdir, tmp_path / 'file')
  assert str(e.value) == (f'--export_dir={tmp_path / "file"} is a file, not a directory; give '
                          f'the directory to write the SavedModel to')
  with pytest.raises(errors.WorkdirError, match='a parent is a file'):
    export.export(workdir, tmp_path / 'file' / '1')
  assert (tmp_path / 'file').read_text() == 'x'


def test_overwrite_replaces_only_an_earlier_export(workdir, tmp_path):
  out = tmp_path / 'out'
  export.export(workdir, out)
  (out / 'assets').mkdir(exist_ok=True)
  (out / 'assets' / 'stale.txt').write_text('from an older export')
  (out / 'metadata.json').write_text('{}')
  export.export(workdir, out, overwrite=True)
  assert not (out / 'assets' / 'stale.txt').exists()
  assert json.loads((out / 'metadata.json').read_text())['num_classes'] == 10
  assert {p.name for p in out.iterdir()} <= set(export.EXPORT_ENTRIES)
  # Anything else in the directory: refused even with overwrite, nothing deleted.
  (out / 'notes.txt').write_text('mine')
  with pytest.raises(errors.WorkdirError, match=r'holds files that are not part of an export '
                                                r'\(notes.txt\); --overwrite only replaces'):
    export.export(workdir, out, overwrite=True)
  assert (out / 'notes.txt').read_text() == 'mine' and (out / 'saved_model.pb').is_file()


def test_refused_export_writes_nothing(workdir, tmp_path):
  empty = _workdir_without_checkpoint(workdir, tmp_path)
  with pytest.raises(ValueError, match='no checkpoint'):
    export.export(empty, tmp_path / 'new' / '1')
  assert not (tmp_path / 'new').exists()


def _workdir_without_checkpoint(workdir, tmp_path):
  empty = tmp_path / 'no_ckpt'
  empty.mkdir()
  for name in ('config.json', 'dataset.json'):
    shutil.copy(workdir / name, empty / name)
  return empty


def test_workdir_without_checkpoint_is_a_clear_error(workdir, tmp_path):
  with pytest.raises(ValueError, match='no checkpoint'):
    export.export(_workdir_without_checkpoint(workdir, tmp_path), tmp_path / 'out')


def test_binary_reports_missing_checkpoint_without_traceback(workdir, tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  result = subprocess.run(
      [sys.executable, '-m', 'binaries.export',
       f'--workdir={_workdir_without_checkpoint(workdir, tmp_path)}',
       f'--export_dir={tmp_path / "out"}'],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
  assert result.returncode != 0
  assert 'no checkpoint' in result.stderr
  assert 'Traceback' not in result.stderr


def test_darts_export_has_no_auxiliary_head_or_drop_path(tmp_path):
  """A DARTS net trained with an auxiliary head and drop path exports without them."""
  config = train.default_config()
  config.genotype = 'DARTS_V2'
  config.network = 'darts_cifar'
  # 3 layers: reductions at cells 1 and 2, the auxiliary head at cell 2 (8x8).
  config.model.update(channels=16, layers=3, auxiliary_weight=0.4, drop_path_prob=0.3)
  config.train.update(epochs=1, batch_size=32, cutout=16)
  config.data.update(source='sample', train_examples=64, test_examples=32)
  train.run(config, tmp_path / 'work')
  model, info, _, _ = models.load_workdir_model(tmp_path / 'work')
  assert model.auxiliary_head is not None
  export.export(tmp_path / 'work', tmp_path / 'export')
  loaded = tf.saved_model.load(str(tmp_path / 'export'))
  aux = {id(v.value) for v in model.auxiliary_head.weights + [model.drop_path_rate]}
  inference = [v for v in model.weights if id(v.value) not in aux]
  assert aux and len(loaded.serving_variables) == len(inference)
  assert not [v for v in loaded.serving_variables
              if 'aux' in v.name.lower() or 'drop_path' in v.name]
  model.drop_path_rate.assign(0.3)  # must not matter for serving
  images = data.load_arrays(config.data, 'test').images[:4]
  want = tf.nn.softmax(model(data.normalize(images, info), training=False))
  got = loaded.signatures['serving_default'](images=tf.constant(images))['probabilities']
  np.testing.assert_allclose(got, want, atol=1e-5)


def test_bytes_signature_matches_uint8_signature(export_dir, tmp_path):
  """JPEG and PNG files of 32x32 images give exactly the uint8 signature's answer."""
  files = []
  for i, (jpeg, _) in enumerate(sample_jpegs(4)):
    files.append(tmp_path / f'{i}.jpg')
    files[-1].write_bytes(jpeg)
    image = tf.io.decode_jpeg(jpeg).numpy()
    files.append(tmp_path / f'{i}.png')
    files[-1].write_bytes(png_bytes(image))
  # A larger and a non-square, smaller image: resized in the graph.
  big = np.random.default_rng(0).integers(0, 256, [64, 64, 3], dtype=np.uint8)
  (tmp_path / 'big.png').write_bytes(png_bytes(big))
  (tmp_path / 'odd.png').write_bytes(png_bytes(big[:20, :30]))
  result = run_plain_python("""
      import pathlib
      import sys
      import numpy as np
      import tensorflow as tf
      loaded = tf.saved_model.load(sys.argv[1])
      by_array = loaded.signatures['serving_default']
      by_bytes = loaded.signatures['serving_bytes']
      paths = [pathlib.Path(p) for p in sys.argv[2:]]
      encoded = [p.read_bytes() for p in paths]
      decoded = [tf.io.decode_image(e, channels=3, expand_animations=False) for e in encoded]
      def to_32(image):  # The documented resize; identity at 32x32.
        if image.shape[:2] == (32, 32):
          return image
        image = tf.image.resize(image, [32, 32], method='bilinear', antialias=True)
        return tf.cast(tf.round(tf.clip_by_value(image, 0, 255)), tf.uint8)
      want = by_array(images=tf.stack([to_32(d) for d in decoded]))
      got = by_bytes(image_bytes=tf.constant(encoded))
      assert got['probabilities'].shape == (len(paths), 10), got['probabilities'].shape
      np.testing.assert_allclose(got['probabilities'], want['probabilities'], atol=1e-5)
      np.testing.assert_array_equal(got['classes'], want['classes'])
      # One image at a time (JPEG, then the 64x64 PNG) gives the same answer.
      for i in (0, len(paths) - 2):
        one = by_bytes(image_bytes=tf.constant(encoded[i:i + 1]))
        np.testing.assert_allclose(one['probabilities'][0], want['probabilities'][i], atol=1e-5)
      assert not [m for m in sys.modules if m.startswith('edd_tf')]
      print('ok', len(paths))
      """, tmp_path, export_dir, *files, tmp_path / 'big.png', tmp_path / 'odd.png')
  assert result.returncode == 0, result.stderr
  assert result.stdout.split() == ['ok', '10']


def test_bytes_signature_resize_is_identity_at_training_size(loaded):
  """Same-size images are not resampled: 32x32 PNG pixels reach the network unchanged."""
  images = np.random.default_rng(1).integers(0, 256, [3, 32, 32, 3], dtype=np.uint8)
  want = loaded.signatures['serving_default'](images=tf.constant(images))['probabilities']
  got = loaded.signatures['serving_bytes'](
      image_bytes=tf.constant([png_bytes(i) for i in images]))['probabilities']
  np.testing.assert_array_equal(got, want)


def test_undecodable_bytes_are_rejected_and_model_survives(loaded):
  serve = loaded.signatures['serving_bytes']
  good = sample_jpegs(2)[1][0]
  for bad in ([b'not an image'], [good, b'not an image'], [b''], [good[:len(good) // 2]]):
    with pytest.raises(tf.errors.InvalidArgumentError):
      serve(image_bytes=tf.constant(bad))
  out = serve(image_bytes=tf.constant([good, good]))
  assert out['probabilities'].shape == (2, 10)
  np.testing.assert_array_equal(out['classes'][0], out['classes'][1])


def test_empty_batch_is_rejected_by_both_signatures(loaded):
  with pytest.raises(tf.errors.InvalidArgumentError, match='empty batch'):
    loaded.signatures['serving_default'](images=tf.zeros([0, 32, 32, 3], tf.uint8))
  with pytest.raises(tf.errors.InvalidArgumentError, match='empty batch'):
    loaded.signatures['serving_bytes'](image_bytes=tf.constant([], tf.string))
  # A rank-3 image is a shape error, not an empty batch; the model keeps working.
  with pytest.raises(tf.errors.InvalidArgumentError, match='not compatible'):
    loaded.signatures['serving_default'](images=tf.zeros([32, 32, 3], tf.uint8))
  out = loaded.signatures['serving_default'](images=tf.zeros([1, 32, 32, 3], tf.uint8))
  assert out['probabilities'].shape == (1, 10)


def test_keras_model_beside_the_saved_model_agrees_with_it(workdir, images, tmp_path):
  import keras  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'with_keras'
  metadata = export.export(workdir, path, keras_model=True)
  assert metadata['keras_model'] == 'model.keras'
  net = keras.saving.load_model(path / 'model.keras')
  normalised = (images.astype(np.float32) / 255.0 - np.array(metadata['mean'], np.float32)) / (
      np.array(metadata['std'], np.float32))
  probs = tf.nn.softmax(net(normalised, training=False)).numpy()
  served = tf.saved_model.load(str(path)).signatures['serving_default'](
      images=tf.constant(images, tf.uint8))['probabilities'].numpy()
  np.testing.assert_allclose(probs, served, atol=1e-5)
  assert json.loads((path / 'metadata.json').read_text())['keras_model'] == 'model.keras'


@pytest.mark.parametrize('mode', [pytest.param('float32', marks=pytest.mark.slow),
                                  pytest.param('dynamic', marks=pytest.mark.slow), 'int8'])
def test_tflite_file_agrees_with_the_saved_model(workdir, images, tmp_path, mode):
  path = tmp_path / mode
  metadata = export.export(workdir, path, tflite=mode, tflite_images=8)
  summary = metadata['tflite']
  assert summary['mode'] == mode and summary['bytes'] == (path / 'model.tflite').stat().st_size
  served = tf.saved_model.load(str(path)).signatures['serving_default'](
      images=tf.constant(images, tf.uint8))['probabilities'].numpy()
  from edd_tf.serving import tflite  # pylint: disable=g-import-not-at-top
  got = tflite.run_in_fresh_process(path / 'model.tflite', images)
  tolerance = {'float32': 1e-5, 'dynamic': 0.05, 'int8': 0.1}[mode]
  np.testing.assert_allclose(got, served, atol=tolerance)
  assert summary['top1_agreement'] >= (1.0 if mode == 'float32' else 0.75)


def test_bad_tflite_mode_names_the_allowed_ones(workdir, tmp_path):
  with pytest.raises(ValueError, match=r"unknown TFLite mode 'fp8'.*'float32', 'dynamic', 'int8'"):
    export.export(workdir, tmp_path / 'x', tflite='fp8')
  assert not (tmp_path / 'x').exists()


def test_a_tflite_file_that_kills_the_interpreter_is_reported(tmp_path, images):
  from edd_tf.serving import tflite  # pylint: disable=g-import-not-at-top
  bad = tmp_path / 'model.tflite'
  bad.write_bytes(b'TFL3' + bytes(200))
  with pytest.raises(tflite.TFLiteError, match='the TFLite interpreter failed on'):
    tflite.run_in_fresh_process(bad, images)
