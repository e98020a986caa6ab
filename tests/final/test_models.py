"""edd_tf/final/models.py: the workdir's dataset.json and what a workdir without a model says.

Rebuilding a trained workdir's model bit-exactly is tested on a real run in
tests/test_train.py (test_checkpoint_restores_every_weight).
"""

import json

import pytest

from edd_tf.data import pipeline as data_lib
from edd_tf.final import models


def test_dataset_info_round_trips_through_json():
  info = data_lib.DATASETS['cifar10']
  blob = json.loads(json.dumps(models.dataset_info_to_dict(info)))
  assert blob['num_classes'] == 10 and blob['image_size'] == 32
  assert models.dataset_info_from_dict(blob) == info


def test_a_directory_without_config_is_not_a_training_workdir(tmp_path):
  with pytest.raises(ValueError, match=r'not a training workdir: config.json is missing'):
    models.load_workdir_model(tmp_path)


def test_a_workdir_without_checkpoint_says_so(tmp_path):
  (tmp_path / 'config.json').write_text('{}')
  (tmp_path / models.DATASET_FILE).write_text(
      json.dumps(models.dataset_info_to_dict(data_lib.DATASETS['cifar10'])))
  with pytest.raises(ValueError, match='no checkpoint in .*not completed an epoch'):
    models.load_workdir_model(tmp_path)
