"""Workdirs written before the stage packages (commit 90a0ef8) resume and export today.

`tests/fixtures/workdirs_90a0ef8/` holds a tiny NB201 search and a tiny NB201
training run, each stopped by SIGTERM at epoch 2, step 2, as the code of
commit 90a0ef8 wrote them (its `make.py`), with the results its own
uninterrupted runs reached. Resuming them with today's code must reach the
same results: checkpoint keys, genotype.json and config.json did not change
with the module layout.
"""

import json
import shutil

import numpy as np
import tensorflow as tf

from edd_tf import search
from edd_tf import train
from edd_tf.serving import export
from tests.helpers import ROOT
from tests.helpers import sample_jpegs

FIXTURE = ROOT / 'tests' / 'fixtures' / 'workdirs_90a0ef8'
METRICS = ('train_loss', 'train_acc', 'val_loss', 'val_acc', 'entropy', 'discrete_acc',
           'next_temperature')


def _config(default, name):
  """default_config() with the fixture's values (types kept, later fields at default)."""
  config = default

  def merge(node, values):
    for key, value in values.items():
      if isinstance(value, dict):
        merge(node[key], value)
      else:
        node[key] = type(node[key])(value) if isinstance(node[key], (int, float)) else value

  merge(config, json.loads((FIXTURE / name).read_text()))
  return config


def _checkpoint_arrays(workdir):
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(workdir / 'checkpoints')))
  return {k.replace('/', '|'): reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}


def _assert_variables_equal(workdir, expected_file):
  got = _checkpoint_arrays(workdir)
  with np.load(FIXTURE / expected_file) as want:
    assert len(want.files) > 10
    for key in want.files:
      np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_old_interrupted_search_resumes_to_the_old_result(tmp_path):
  workdir = tmp_path / 'search'
  shutil.copytree(FIXTURE / 'search', workdir)
  calls = []
  result = search.run(_config(search.default_config(), 'search_config.json'), workdir,
                      progress=lambda e, s, n, m: calls.append((e, s)))
  assert calls[0] == (1, 3)  # went on at epoch 2, step 3: the old checkpoint was restored
  want = json.loads((FIXTURE / 'expected_search_genotype.json').read_text())
  assert result['finished'] and result['genotype'] == want['genotype']
  assert len(result['history']) == len(want['history']) == 2
  for got_epoch, want_epoch in zip(result['history'], want['history']):
    for key in METRICS:
      np.testing.assert_allclose(got_epoch[key], want_epoch[key], rtol=1e-5, atol=1e-6,
                                 err_msg=key)
  _assert_variables_equal(workdir, 'expected_search_variables.npz')


def test_old_interrupted_training_resumes_and_exports(tmp_path):
  workdir = tmp_path / 'train'
  shutil.copytree(FIXTURE / 'train', workdir)
  results = train.run(_config(train.default_config(), 'train_config.json'), workdir)
  want = json.loads((FIXTURE / 'expected_train_results.json').read_text())
  for key in ('test_accuracy', 'test_loss', 'train_loss', 'train_accuracy'):
    np.testing.assert_allclose(results[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)
  assert (results['params'], results['flops'], results['epochs']) == (
      want['params'], want['flops'], want['epochs'])
  _assert_variables_equal(workdir, 'expected_train_variables.npz')

  out = tmp_path / 'export'
  export.export(workdir, out)
  serve = tf.saved_model.load(str(out)).signatures['serving_bytes']
  jpegs = [jpeg for jpeg, _ in sample_jpegs(4)]
  probabilities = serve(image_bytes=tf.constant(jpegs))['probabilities'].numpy()
  assert probabilities.shape == (4, 10)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
