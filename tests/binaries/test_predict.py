"""Tests for binaries.predict: image files classified by the SavedModel alone."""

import ast
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

from edd_tf.data import pipeline as data
from edd_tf.serving import export
from edd_tf import train
from tests.helpers import png_bytes
from tests.helpers import sample_jpegs
from tests.helpers import tiny_train_config as tiny_config

REPO = pathlib.Path(__file__).resolve().parents[2]
LINE = re.compile(r'^(?P<path>.+): (?P<top>\S+ \d\.\d{3}(, \S+ \d\.\d{3})*)$')


@pytest.fixture(scope='module')
def export_dir(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('workdir')
  train.run(tiny_config(), workdir)
  path = tmp_path_factory.mktemp('export') / '1'
  export.export(workdir, path, tflite='float32')   # model.tflite for the --tflite tests
  return path


@pytest.fixture(scope='module')
def images(tmp_path_factory):
  """A folder of 3 JPEGs and 2 PNGs (one 64x64) from the shipped sample, and a text file."""
  folder = tmp_path_factory.mktemp('images')
  samples = sample_jpegs(5)
  for i, (jpeg, _) in enumerate(samples[:3]):
    (folder / f'{i}.jpg').write_bytes(jpeg)
  image = tf.io.decode_jpeg(samples[3][0]).numpy()
  (folder / '3.png').write_bytes(png_bytes(image))
  big = tf.image.resize(tf.io.decode_jpeg(samples[4][0]), [64, 64], method='nearest')
  (folder / '4_big.PNG').write_bytes(png_bytes(big.numpy()))
  (folder / 'notes.txt').write_text('not an image')
  return folder


def run_predict(*args, cwd=REPO):
  """Runs `python -m binaries.predict ARGS` as a user would (TF logs not pre-silenced)."""
  env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'TF_CPP_MIN_LOG_LEVEL')}
  return subprocess.run([sys.executable, '-m', 'binaries.predict', *map(str, args)],
                        cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def parse(stdout):
  """{path: [(class name, probability)]} of predict's output lines."""
  out = {}
  for line in stdout.splitlines():
    match = LINE.match(line)
    assert match, f'unexpected output line {line!r}'
    out[match['path']] = [(name, float(p)) for name, p in
                          (item.split(' ') for item in match['top'].split(', '))]
  return out


def assert_no_tf_log_lines(stderr):
  assert not re.search(r'^[IWE]\d{4} ', stderr, re.MULTILINE), stderr


def test_files_get_top_k_classes_with_names(export_dir, images):
  files = [images / '0.jpg', images / '3.png', images / '4_big.PNG']
  result = run_predict(f'--export_dir={export_dir}', *files)
  assert result.returncode == 0, result.stderr
  assert_no_tf_log_lines(result.stderr)
  lines = parse(result.stdout)
  assert list(lines) == [str(f) for f in files]
  for top in lines.values():
    assert len(top) == 3
    assert {name for name, _ in top} <= set(data.CIFAR10_CLASSES)
    probabilities = [p for _, p in top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1.001
  # Top-1 is the signature's class.
  serve = tf.saved_model.load(str(export_dir)).signatures['serving_bytes']
  classes = serve(image_bytes=tf.constant([f.read_bytes() for f in files]))['classes'].numpy()
  assert [top[0][0] for top in lines.values()] == [data.CIFAR10_CLASSES[c] for c in classes]


def test_folder_is_expanded_sorted_in_small_batches(export_dir, images):
  result = run_predict(f'--export_dir={export_dir}', '--top_k=2', '--batch_size=2', images,
                       images / '0.jpg')
  assert result.returncode == 0, result.stderr
  paths = [line.split(': ')[0] for line in result.stdout.splitlines()]
  assert paths == [str(images / n) for n in ('0.jpg', '1.jpg', '2.jpg', '3.png', '4_big.PNG',
                                             '0.jpg')]
  assert all(len(top) == 2 for top in parse(result.stdout).values())


def test_tflite_file_gives_the_savedmodels_classes(export_dir, images):
  files = [images / '0.jpg', images / '3.png', images / '4_big.PNG']   # one resized
  saved = parse(run_predict(f'--export_dir={export_dir}', *files).stdout)
  result = run_predict(f'--tflite={export_dir / "model.tflite"}', '--batch_size=2', *files)
  assert result.returncode == 0, result.stderr
  lite = parse(result.stdout)
  assert list(lite) == list(saved)
  for path in saved:
    assert [n for n, _ in lite[path]] == [n for n, _ in saved[path]]
    for (_, p), (_, q) in zip(lite[path], saved[path]):
      assert abs(p - q) <= 0.002


@pytest.mark.parametrize('case', ['missing', 'no_labels', 'both'])
def test_bad_tflite_argument(export_dir, images, tmp_path, case):
  tflite = export_dir / 'model.tflite'
  if case == 'missing':
    args, message = [f'--tflite={tmp_path / "none.tflite"}'], 'does not exist'
  elif case == 'no_labels':
    shutil.copy(tflite, tmp_path / 'model.tflite')
    args, message = [f'--tflite={tmp_path / "model.tflite"}'], 'has no labels.txt beside it'
  else:
    args, message = [f'--tflite={tflite}', f'--export_dir={export_dir}'], 'not both'
  result = run_predict(*args, images / '0.jpg')
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith('error: ')
  assert message in result.stderr


def test_imports_no_project_model_code():
  tree = ast.parse((REPO / 'binaries' / 'predict.py').read_text())
  modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
  modules |= {node.module if node.module != 'binaries' else f'binaries.{alias.name}'
              for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
              for alias in node.names}
  # binaries.cli (one-line errors, quiet start-up) imports only edd_tf.core.errors and
  # edd_tf.core.kernels (the oneDNN default; neither imports model code).
  assert modules <= {'os', 'pathlib', 'absl', 'numpy', 'tensorflow', 'binaries.cli'}, modules
  cli_tree = ast.parse((REPO / 'binaries' / 'cli.py').read_text())
  project = {f'{node.module}.{alias.name}' for node in ast.walk(cli_tree)
             if isinstance(node, ast.ImportFrom) and node.module.startswith(('edd_tf', 'binaries'))
             for alias in node.names}
  assert project == {'edd_tf.core.errors', 'edd_tf.core.kernels'}, project


def _assert_one_error_line(result, *fragments):
  assert result.returncode == 1, (result.stdout, result.stderr)
  assert 'Traceback' not in result.stderr, result.stderr
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith('error: '), result.stderr
  for fragment in fragments:
    assert fragment in last, last


def test_undecodable_file_is_named(export_dir, images, tmp_path):
  bad = tmp_path / 'broken.jpg'
  bad.write_bytes(b'this is not a JPEG')
  result = run_predict(f'--export_dir={export_dir}', images / '0.jpg', bad)
  _assert_one_error_line(result, 'cannot decode image', str(bad))


@pytest.mark.parametrize('case', ['no_args', 'empty_folder', 'missing_path'])
def test_bad_image_arguments(export_dir, tmp_path, case):
  (tmp_path / 'empty').mkdir()
  (tmp_path / 'empty' / 'readme.txt').write_text('no images here')
  args, fragments = {
      'no_args': ([], ['no images given']),
      'empty_folder': ([tmp_path / 'empty'], ['holds no images', str(tmp_path / 'empty')]),
      'missing_path': ([tmp_path / 'nope.jpg'], ['does not exist', str(tmp_path / 'nope.jpg')]),
  }[case]
  _assert_one_error_line(run_predict(f'--export_dir={export_dir}', *args), *fragments)


def _export_without_bytes_signature(path):
  """A SavedModel with only a uint8 serving_default (and labels.txt), like old exports."""
  module = tf.Module()
  module.serve = tf.function(
      lambda images: {'classes': tf.zeros(tf.shape(images)[:1], tf.int64)},
      input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.uint8, name='images')])
  tf.saved_model.save(module, str(path),
                      signatures={'serving_default': module.serve.get_concrete_function()})
  (path / 'labels.txt').write_text('\n'.join(data.CIFAR10_CLASSES) + '\n')
  return path


@pytest.mark.parametrize('case', ['missing', 'no_saved_model', 'no_labels', 'no_bytes_signature'])
def test_export_dir_that_is_not_ours(export_dir, images, tmp_path, case):
  if case == 'missing':
    bad, fragments = tmp_path / 'nowhere', ['does not exist']
  elif case == 'no_saved_model':
    bad, fragments = tmp_path, ['no saved_model.pb']
  elif case == 'no_labels':
    bad = shutil.copytree(export_dir, tmp_path / 'copy')
    (bad / 'labels.txt').unlink()
    fragments = ['no labels.txt']
  else:
    bad, fragments = _export_without_bytes_signature(tmp_path / 'old'), ["no 'serving_bytes'"]
  result = run_predict(f'--export_dir={bad}', images / '0.jpg')
  _assert_one_error_line(result, str(bad), *fragments)

