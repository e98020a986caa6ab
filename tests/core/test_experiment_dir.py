"""edd_tf.core.experiment_dir: config.json is the experiment; runtime.json records each start."""

import json

import pytest

from edd_tf.core import errors
from edd_tf.core import experiment_dir


def test_each_start_appends_its_software_and_cpu_kernels(tmp_path):
  for _ in range(2):
    path, lock = experiment_dir.open_workdir(tmp_path, {'seed': 0}, kind='search')
    lock.release()
  assert json.loads((path / 'config.json').read_text()) == {'seed': 0}
  starts = json.loads((path / 'runtime.json').read_text())['starts']
  assert len(starts) == 2
  kernels = starts[-1]['cpu_kernels']
  assert set(kernels) == {'TF_ENABLE_ONEDNN_OPTS', 'set_by', 'onednn_enabled',
                          'tensorflow_default'}
  assert kernels['set_by'] in ('user', 'edd_tf', 'tensorflow')
  assert starts[-1]['tensorflow'].startswith('2.') and starts[-1]['keras'].startswith('3.')


def test_another_experiment_is_refused_before_runtime_json_changes(tmp_path):
  path, lock = experiment_dir.open_workdir(tmp_path, {'seed': 0}, kind='search')
  lock.release()
  before = (path / 'runtime.json').read_text()
  with pytest.raises(errors.WorkdirError, match='seed: 0 -> 1'):
    experiment_dir.open_workdir(tmp_path, {'seed': 1}, kind='search')
  assert (path / 'runtime.json').read_text() == before
