"""edd_tf.api: configs by name or path with checked overrides; a search on arrays from Python.

The whole path (search, train, export, predict from Python) runs in tests/test_examples.py.
"""

import json

import ml_collections
import numpy as np
import pytest

from edd_tf import api
from edd_tf.data import pipeline
from tests.helpers import ROOT


def test_load_config_by_name_path_argument_and_configdict():
  by_name = api.load_config('nb201_cifar10_edd')
  by_path = api.load_config(str(ROOT / 'configs' / 'nb201_cifar10_edd.py'))
  assert by_name.to_dict() == by_path.to_dict()
  assert api.load_config('robust_darts:s3,cifar100').space == 's3'
  copied = api.load_config(by_name, {'search.epochs': 2})
  assert copied.search.epochs == 2 and by_name.search.epochs == 50   # a copy, not the original
  assert isinstance(copied, ml_collections.ConfigDict)


@pytest.mark.parametrize('spec, overrides, message', [
    ('nb201_cifar10_edd', {'search.epoch': 2}, "unknown config field 'search.epoch'; did you "
                                              "mean 'search.epochs'"),
    ('nb201_cifar10_edd', {'search.epochs': 'two'}, "config field 'search.epochs': 'two'"),
    ('nb201_cifar10_ed', None, "no config named 'nb201_cifar10_ed'; installed configs: .*"
                               "'nb201_cifar10_edd'"),
])
def test_load_config_names_what_is_wrong(spec, overrides, message):
  with pytest.raises(ValueError, match=message):
    api.load_config(spec, overrides)


def _tiny(epochs):
  return api.load_config('nb201_cifar10_edd', {
      'model.channels': 4, 'model.cells_per_stage': 1, 'search.epochs': epochs,
      'search.batch_size': 32, 'search.eval_examples': 32, 'search.eval_batch_size': 32})


def test_search_on_arrays_records_them_and_resumes_only_on_the_same_arrays(tmp_path):
  sample = pipeline.load_sample('cifar10', 'train', 128, 'train_examples')
  data = (sample.images, sample.labels)
  found = api.search(_tiny(1), tmp_path, data=data, verbose=False)
  assert found.finished and len(found.history) == 1
  written = json.loads(found.genotype_path.read_text())
  assert written['genotype'] == found.genotype
  assert written['recipe'] == 'darts, sn-softmax (st=1), edd temperature schedule (lam=0.06)'
  saved = json.loads((tmp_path / 'config.json').read_text())['data']
  assert saved['source'] == 'python' and len(saved['fingerprint']) == 16
  # Another epoch on the same arrays continues the run ...
  again = api.search(_tiny(2), tmp_path, data=data, verbose=False)
  assert [r['epoch'] for r in again.history] == [1, 2]
  # ... other arrays are another experiment, refused before anything is written.
  other = (np.ascontiguousarray(sample.images[::-1]), sample.labels[::-1])
  with pytest.raises(ValueError, match='data.fingerprint'):
    api.search(_tiny(3), tmp_path, data=other, verbose=False)
  assert json.loads((tmp_path / 'config.json').read_text())['data'] == saved


def test_search_without_arrays_for_a_python_source_says_how(tmp_path):
  config = _tiny(1)
  config.data.source = 'python'
  with pytest.raises(ValueError, match=r'pass data=\.\.\. to edd_tf.api.search'):
    api.search(config, tmp_path / 'run', verbose=False)
  assert not (tmp_path / 'run').exists()


def test_predict_refuses_what_is_not_an_export(tmp_path):
  with pytest.raises(ValueError, match='neither an export directory'):
    api.predict(tmp_path, np.zeros((1, 32, 32, 3), np.uint8))
  with pytest.raises(ValueError, match=r'uint8\[N, S, S, 3\]'):
    api.predict(tmp_path, np.zeros((1, 32, 32, 3), np.float32))


def test_to_tflite_of_a_pixels_in_keras_model_matches_it(tmp_path):
  """A network with the normalisation inside (what fine-tuning yields) becomes a .tflite file."""
  from edd_tf.data import datasets
  from edd_tf.final import keras_parts
  from edd_tf.nets import finalnet
  from tests.helpers import NB201_CELL
  net = finalnet.build_final_network('nb201', NB201_CELL, 10, channels=4, cells_per_stage=1)
  info = datasets.DATASETS['cifar10']
  model = keras_parts.with_preprocessing(net, info.mean, info.std, image_size=32)
  images = pipeline.load_sample('cifar10', 'test', 16, 'test_examples').images
  summary = api.to_tflite(model, tmp_path / 'tuned.tflite', images)
  assert summary['top1_agreement'] == 1.0 and summary['max_abs_diff'] < 1e-4
  got = api.predict(tmp_path / 'tuned.tflite', images)
  want = np.asarray(keras_softmax(model(images.astype(np.float32), training=False)))
  np.testing.assert_allclose(got, want, atol=1e-4)
  with pytest.raises(ValueError, match=r'uint8\[N, S, S, 3\]'):
    api.to_tflite(model, tmp_path / 'x.tflite', images.astype(np.float32))
  assert not (tmp_path / 'x.tflite').exists()


def keras_softmax(logits):
  import tensorflow as tf
  return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1).numpy()
