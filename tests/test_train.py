"""Tests for edd_tf.train: the configs, the genotype checks of a run, the training loop.

The pieces it runs are tested in tests/final/ (genotypes, models, steps).
"""

import importlib
import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from edd_tf.data import imagenet as imagenet_data
from edd_tf import train
from edd_tf.final import genotypes
from edd_tf.final import models
from tests.helpers import NB201_CELL
from tests.helpers import Recorder
from tests.helpers import tiny_darts_train_config
from tests.helpers import tiny_train_config as tiny_config

REPO = pathlib.Path(__file__).resolve().parents[1]
TRAIN_CONFIGS = sorted(p.stem for p in (REPO / 'configs').glob('train_*.py'))
def read_checkpoint(workdir):
  reader = tf.train.load_checkpoint(str(pathlib.Path(workdir) / train.CHECKPOINT_DIR))
  return reader


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """(workdir, results, recorder) of a 1-epoch tiny run."""
  workdir = tmp_path_factory.mktemp('train')
  recorder = Recorder()
  results = train.run(tiny_config(), workdir, progress=recorder)
  return workdir, results, recorder


# --------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------


@pytest.mark.parametrize('name', TRAIN_CONFIGS)
def test_train_config_is_valid(name):
  config = importlib.import_module(f'configs.{name}').get_config()
  train.check_config(config)
  assert set(config.model) >= {'channels', 'layers', 'cells_per_stage', 'auxiliary_weight',
                               'drop_path_prob'}
  if name == 'train_robust_darts':  # The S1-S4 genotype must be given.
    with pytest.raises(ValueError, match='--config.genotype='):
      genotypes.resolve_genotype(config.genotype, config.network)
  else:
    genotypes.resolve_genotype(config.genotype, config.network)


@pytest.mark.parametrize('dataset', ['cifar10', 'cifar100', 'svhn_cropped'])
def test_robust_darts_config_takes_the_dataset(dataset):
  config = importlib.import_module('configs.train_robust_darts').get_config(dataset)
  assert config.data.name == dataset
  assert (config.model.channels, config.model.layers) == (16, 8)


# --------------------------------------------------------------------------
# Genotype checks of a run (the resolution itself: tests/final/test_genotypes.py)
# --------------------------------------------------------------------------


def test_unknown_genotype_name_lists_known_names(tmp_path):
  config = tiny_config()
  config.network = 'darts_cifar'
  config.genotype = 'DARTS_V3'
  with pytest.raises(ValueError, match='unknown genotype name.*DARTS_V2'):
    train.run(config, tmp_path)


def test_darts_genotype_for_nb201_network_is_rejected(tmp_path):
  config = tiny_config()
  config.genotype = 'DARTS_V2'
  with pytest.raises(ValueError, match="DARTS-space Genotype.*config.network='nb201'"):
    train.run(config, tmp_path)


# --------------------------------------------------------------------------
# DARTS networks: drop path, ImageNet streaming
# --------------------------------------------------------------------------


def event_values(workdir, tag):
  values = {}
  for path in (pathlib.Path(workdir) / 'tb').glob('events.out.tfevents.*'):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for v in event.summary.value:
        if v.tag == tag:
          values[event.step] = float(tf.make_ndarray(v.tensor))
  return values


def test_darts_network_trains_with_drop_path_ramp(tmp_path):
  results = train.run(tiny_darts_train_config(epochs=2), tmp_path)
  assert results['network'] == 'darts_cifar' and results['genotype_source'] == 'DARTS_V2'
  assert event_values(tmp_path, 'schedule/drop_path_rate') == pytest.approx({1: 0.0, 2: 0.1})


def test_imagenet_network_streams_imagenet_dataset(tmp_path, monkeypatch):
  calls = []

  def fake_imagenet(data_dir, split, batch_size, *, training, seed=0):
    calls.append((data_dir, split, batch_size, training, seed))
    images = tf.random.stateless_normal([4, 224, 224, 3], [seed, 1])
    return tf.data.Dataset.from_tensor_slices((images, tf.constant([0, 1, 2, 999]))).batch(
        batch_size, drop_remainder=training)

  monkeypatch.setattr(imagenet_data, 'imagenet_dataset', fake_imagenet)
  config = tiny_darts_train_config(epochs=2)
  config.network = 'darts_imagenet'
  config.train.update(batch_size=2, label_smoothing=0.1, lr_schedule='step', cutout=0)
  config.data.update(source='tfds', name='imagenet2012', data_dir='/data/tfds')
  results = train.run(config, tmp_path)
  assert results['data']['num_classes'] == 1000 and results['epochs'] == 2
  train_calls = [c for c in calls if c[1] == 'train']
  assert [c[:4] for c in train_calls] == [('/data/tfds', 'train', 2, True)] * 2
  assert train_calls[0][4] != train_calls[1][4]  # A new shuffle/augmentation seed per epoch.
  assert ('/data/tfds', 'test', 2, False, 0) in calls


# --------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------


def test_learns_cifar10_above_chance(tmp_path, sample_folder):
  config = tiny_config(epochs=4)
  config.model.channels = 8
  config.train.update(lr=0.1)
  config.data.update(source='folder', path=str(sample_folder), train_examples=2000,
                     test_examples=500)
  results = train.run(config, tmp_path)
  assert results['test_accuracy'] > 0.25  # Chance is 0.10; seeds 0-4 give 0.34-0.38.


def test_writes_results_config_and_checkpoint(trained):
  workdir, results, _ = trained
  on_disk = json.loads((workdir / 'results.json').read_text())
  assert on_disk == results
  assert results['epochs'] == 1 and results['genotype'] == NB201_CELL
  assert results['params'] > 0 and results['flops'] > 0
  assert 0.0 <= results['test_accuracy'] <= 1.0
  config = json.loads((workdir / 'config.json').read_text())
  assert config['genotype'] == NB201_CELL and config['model']['channels'] == 4
  assert json.loads((workdir / 'dataset.json').read_text())['num_classes'] == 10
  assert read_checkpoint(workdir).get_tensor('epoch/.ATTRIBUTES/VARIABLE_VALUE') == 1


def test_writes_the_trained_network_as_a_keras_file(trained):
  workdir, results, _ = trained
  assert results['keras_model'] == str(workdir / 'model.keras')
  loaded = keras.saving.load_model(workdir / 'model.keras')
  restored, *_ = models.load_workdir_model(workdir)
  x = tf.random.stateless_normal([2, 32, 32, 3], seed=[3, 4])
  np.testing.assert_array_equal(loaded(x, training=False).numpy(),
                                restored(x, training=False).numpy())


def test_checkpoint_restores_every_weight(trained):
  workdir, _, _ = trained
  keras.utils.set_random_seed(1)
  first, *_ = models.load_workdir_model(workdir)
  keras.utils.set_random_seed(2)  # Different initial values: all must be overwritten.
  second, *_ = models.load_workdir_model(workdir)
  assert len(first.weights) == len(second.weights) > 10
  for a, b in zip(first.weights, second.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_writes_tensorboard_summaries(trained):
  workdir, _, _ = trained
  tags = set()
  for path in (workdir / 'tb').glob('events.out.tfevents.*'):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      tags.update(v.tag for v in event.summary.value)
  assert {'train/loss', 'train/accuracy', 'test/loss', 'test/accuracy', 'schedule/lr',
          'schedule/drop_path_rate',
          'model/params', 'model/flops', 'genotype'} <= tags
  # Every log_every_steps steps: running loss/accuracy, lr, speed.
  assert {'step/loss', 'step/accuracy', 'step/lr', 'step/seconds_per_step',
          'step/images_per_second'} <= tags


def test_progress_reports_every_step_and_test_metrics_last(trained):
  _, results, recorder = trained
  assert [c[1] for c in recorder.calls] == [1, 2, 3, 4]
  assert all(c[2] == 4 for c in recorder.calls)
  last = recorder.calls[-1][3]
  assert last['test_accuracy'] == results['test_accuracy'] and 'lr' in last


def test_finished_run_just_reports(trained):
  workdir, results, _ = trained
  recorder = Recorder()
  assert train.run(tiny_config(), workdir, progress=recorder) == results
  assert not recorder.calls


def test_resume_continues_from_last_epoch(tmp_path):
  train.run(tiny_config(epochs=1), tmp_path)
  reader = read_checkpoint(tmp_path)
  assert reader.get_tensor('optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE') == 4
  recorder = Recorder()
  results = train.run(tiny_config(epochs=2), tmp_path, progress=recorder)
  assert recorder.epochs == [1]  # Epoch 0 was not run again.
  reader = read_checkpoint(tmp_path)
  assert reader.get_tensor('epoch/.ATTRIBUTES/VARIABLE_VALUE') == 2
  assert reader.get_tensor('optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE') == 8
  assert results['epochs'] == 2


def test_resume_with_a_different_network_is_an_error(tmp_path):
  train.run(tiny_config(epochs=1), tmp_path)
  config = tiny_config(epochs=2)
  config.model.channels = 8
  with pytest.raises(ValueError, match='different config.*model.channels'):
    train.run(config, tmp_path)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  train.run(tiny_config(epochs=1), tmp_path)
  ckpt_dir = tmp_path / train.CHECKPOINT_DIR
  good = tf.train.latest_checkpoint(str(ckpt_dir))
  reader = tf.train.load_checkpoint(good)
  weights = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
             if k.startswith('model/')}
  config = tiny_config(epochs=2)
  config.train.lr = float('inf')  # The first step of epoch 2 makes the weights inf/NaN.
  with pytest.raises(ValueError, match='different config.*train.lr'):
    train.run(config, tmp_path)  # A changed lr needs the explicit switch.
  with pytest.raises(FloatingPointError, match='epoch 2.*last good checkpoint'):
    train.run(config, tmp_path, allow_config_change=True)
  assert tf.train.latest_checkpoint(str(ckpt_dir)) == good
  reader = tf.train.load_checkpoint(good)
  assert reader.get_tensor('epoch/.ATTRIBUTES/VARIABLE_VALUE') == 1
  for key, value in weights.items():
    np.testing.assert_array_equal(reader.get_tensor(key), value)
    assert np.all(np.isfinite(value))


def test_cell_with_dead_node_trains(tmp_path):
  """Node 2 feeds only a 'none' edge, so its ops get no gradient: still trains."""
  config = tiny_config()
  config.genotype = '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|nor_conv_3x3~0|skip_connect~1|none~2|'
  results = train.run(config, tmp_path)
  assert results['epochs'] == 1


def test_distribute_field_picks_the_strategy(tmp_path):
  config = tiny_config()
  config.distribute = 'gpus'
  with pytest.raises(ValueError, match=r"config.distribute.*mirrored"):
    train.run(config, tmp_path / 'bad')
  config.distribute = 'tpu'  # no TPU here: refused before any write
  with pytest.raises(ValueError, match=r"'tpu': no TPU found"):
    train.run(config, tmp_path / 'tpu')
  assert not (tmp_path / 'tpu').exists()
  config.distribute = 'default'
  assert train.run(config, tmp_path / 'ok')['epochs'] == 1
