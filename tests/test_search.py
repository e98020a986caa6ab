"""The bilevel search loop (edd_tf/search.py) on real images."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from edd_tf import search
from edd_tf.bilevel import searcher as searcher_lib
from tests import helpers
from tests.helpers import tiny_search_config as tiny_config


@pytest.fixture(scope='module')
def edd_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('edd')
  return workdir, search.run(tiny_config(), workdir)


def test_edd_search_moves_temperature_and_entropy_as_scheduled(edd_run):
  workdir, result = edd_run
  history = result['history']
  assert [h['epoch'] for h in history] == [1, 2, 3]
  # EDD: t starts at t0 = 1 and falls every epoch (Eq. 14-15 with H > 0).
  temps = [h['temperature'] for h in history]
  assert temps[0] == 1.0 and temps[0] > temps[1] > temps[2] > 0
  # The temperature of epoch k+1 follows Eq. 15 from the recorded d_exp.
  e_a = json.loads((workdir / 'genotype.json').read_text())['history'][0]
  for h in history:
    assert h['next_temperature'] < h['temperature']
  d = [h['d_exp'] for h in history]
  assert d[0] == pytest.approx(0.06 * 0.5 * history[0]['entropy'])          # Eq. 14, d(0) = 0
  assert d[1] == pytest.approx(0.06 * 0.5 * history[1]['entropy'] + 0.5 * d[0])
  # Small temperature sparsifies beta: the tempered entropy falls from ln 5.
  assert history[0]['entropy_tempered'] == pytest.approx(math.log(5), abs=0.05)
  assert history[-1]['entropy_tempered'] < 0.5 * math.log(5)
  assert history[-1]['entropy'] < math.log(5)  # the alphas moved
  for h in history:
    assert 0.0 <= h['discrete_acc'] <= 1.0
    assert math.isfinite(h['train_loss']) and math.isfinite(h['val_loss'])
  del e_a


def test_outputs_genotype_benchmark_and_tensorboard(edd_run):
  workdir, result = edd_run
  saved = json.loads((workdir / 'genotype.json').read_text())
  assert saved['genotype'] == result['genotype'] == result['history'][-1]['genotype']
  assert saved['benchmark']['arch'] == result['genotype']
  assert 0 < saved['benchmark']['cifar10_valid'] < 100
  assert json.loads((workdir / 'config.json').read_text())['schedule']['name'] == 'edd'
  events = list((workdir / 'tb').glob('events.out.tfevents.*'))
  assert events
  acc = event_accumulator.EventAccumulator(str(events[0]), size_guidance={'tensors': 0})
  acc.Reload()
  tags = set(acc.Tags()['tensors'])
  for tag in ('search/temperature', 'search/d_exp', 'search/entropy', 'search/discrete_acc',
              'search/train_loss', 'search/val_acc', 'arch/betas/alphas', 'arch/genotype',
              'arch/alphas'):
    assert tag in tags, tag
  assert len(acc.Tensors('search/temperature')) == 3
  # Step summaries every log_every_steps (2) of the 4 steps per epoch.
  for tag in ('step/loss', 'step/acc', 'step/val_acc', 'step/lr', 'step/temperature',
              'step/seconds_per_step', 'step/images_per_second', 'step/arch_grad_norm'):
    assert len(acc.Tensors(tag)) == 6, tag
  assert [e.step for e in acc.Tensors('step/loss')] == [2, 4, 6, 8, 10, 12]
  # The beta heat map is a labelled RGBA rendering, not a bare matrix.
  image = acc.Tensors('arch/betas/alphas')[-1]
  assert len(image.tensor_proto.string_val) == 3  # width, height, PNG
  assert 'nor_conv_3x3' in acc.Tensors('arch/betas_table/alphas')[-1].tensor_proto.string_val[
      0].decode()


def searcher_weights(config):
  searcher = searcher_lib.Searcher(config, num_classes=10, image_size=32)
  return searcher.model.weights


def test_resume_after_interrupt_matches_uninterrupted_run(tmp_path):
  config = tiny_config(**{'search.epochs': 2})
  reference = search.run(config, tmp_path / 'ref')

  interrupt = helpers.interrupt_at(1, 2)

  with pytest.raises(helpers.Interrupt):
    search.run(config, tmp_path / 'cut', progress=interrupt)
  partial = json.loads((tmp_path / 'cut' / 'genotype.json').read_text())
  assert partial['epochs'] == 1  # epoch 1 completed and was saved

  seen = []
  resumed = search.run(config, tmp_path / 'cut', progress=lambda e, *a: seen.append(e))
  assert set(seen) == {1}  # only the second epoch was trained again
  assert resumed['history'][0] == partial['history'][0]
  for got, want in zip(resumed['history'], reference['history']):
    assert got['temperature'] == pytest.approx(want['temperature'], rel=1e-6)
    assert got['d_exp'] == pytest.approx(want['d_exp'], rel=1e-4)
    assert got['train_loss'] == pytest.approx(want['train_loss'], rel=1e-3)
  # Every checkpointed tensor (weights, BN statistics, alphas, both optimizers'
  # slots, temperature) equals the uninterrupted run's.
  want = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / 'ref' / 'checkpoints')))
  got = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / 'cut' / 'checkpoints')))
  names = [n for n in want.get_variable_to_shape_map() if n.endswith('VARIABLE_VALUE')]
  assert sum('model_weights' in n for n in names) == len(searcher_weights(config))
  for name in names:
    if 'state' in name or 'save_counter' in name:
      continue
    np.testing.assert_allclose(got.get_tensor(name), want.get_tensor(name), rtol=1e-4, atol=1e-5,
                               err_msg=name)
  # Resuming with a different experiment is refused, naming the field.
  with pytest.raises(ValueError, match=r'model.channels: 4 -> 8'):
    search.run(tiny_config(**{'search.epochs': 2, 'model.channels': 8}), tmp_path / 'cut')
  # A finished run reruns as a no-op with the same result.
  again = search.run(config, tmp_path / 'cut')
  assert again['history'] == resumed['history']


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  # Cosine from lr 0.025 "down" to lr_min 1e30: epoch 1 trains normally, the
  # weights blow up in epoch 2.
  config = tiny_config(**{'search.epochs': 3, 'optim.weights.lr_min': 1e30,
                          'optim.weights.grad_clip': 0.0})
  with pytest.raises(FloatingPointError, match='non-finite'):
    search.run(config, tmp_path)
  saved = json.loads((tmp_path / 'genotype.json').read_text())
  assert saved['epochs'] == 1
  steps = saved['history'][0]['steps']  # checkpoints are numbered by global step
  assert tf.train.latest_checkpoint(str(tmp_path / 'checkpoints')).endswith(f'ckpt-{steps}')
  reader = tf.train.load_checkpoint(str(tmp_path / 'checkpoints' / f'ckpt-{steps}'))
  for name in reader.get_variable_to_shape_map():
    value = reader.get_tensor(name)
    if isinstance(value, np.ndarray) and value.dtype.kind == 'f':
      assert np.isfinite(value).all(), name


def test_plain_softmax_constant_temperature_is_darts(tmp_path):
  config = tiny_config(**{'softmax.kind': 'plain', 'softmax.st': 0.0,
                          'schedule.name': 'constant', 'search.epochs': 1,
                          'benchmark.nb201_table': 'none'})
  result = search.run(config, tmp_path)
  assert result['history'][0]['temperature'] == 1.0
  assert result['history'][0]['next_temperature'] == 1.0
  assert result['benchmark'] is None


@pytest.mark.parametrize('field, value, match', [
    ('space', 'darts_x', r"unknown search space 'darts_x'.*nb201"),
    ('schedule.name', 'cosine', r"unknown schedule 'cosine'.*edd"),
    ('schedule.lam', 0.0, "lam"),
    ('schedule.t0', -1.0, "t0"),
    ('softmax.kind', 'sparse', r"config.softmax.kind.*plain"),
    ('softmax.s', 50.0, "exactly one of"),
    ('schedule.entropy', 'beta', r"config.schedule.entropy.*alphas"),
    ('data.source', 'web', r"config.data.source"),
    ('distribute', 'gpus', r"config.distribute.*mirrored"),
])
def test_bad_config_values_name_the_field(tmp_path, field, value, match):
  with pytest.raises(ValueError, match=match):
    search.run(tiny_config(**{field: value}), tmp_path)


def test_missing_folder_and_empty_folder(tmp_path):
  with pytest.raises(ValueError, match='config.data.path'):
    search.run(tiny_config(**{'data.source': 'folder', 'data.path': str(tmp_path / 'nope')}),
               tmp_path / 'w1')
  (tmp_path / 'empty' / 'train' / 'cat').mkdir(parents=True)
  (tmp_path / 'empty' / 'test' / 'cat').mkdir(parents=True)
  with pytest.raises(ValueError, match='no images|empty'):
    search.run(tiny_config(**{'data.source': 'folder', 'data.path': str(tmp_path / 'empty')}),
               tmp_path / 'w2')


def test_mirrored_strategy_without_gpus_is_refused_before_any_write(tmp_path):
  """config.distribute='mirrored' on a CPU-only machine (one device) is a mistake."""
  if tf.config.list_physical_devices('GPU'):
    pytest.skip('a GPU is present')
  with pytest.raises(ValueError, match="'mirrored' needs GPUs"):
    search.run(tiny_config(**{'distribute': 'mirrored', 'search.epochs': 1}), tmp_path / 'w')
  assert not (tmp_path / 'w').exists()


