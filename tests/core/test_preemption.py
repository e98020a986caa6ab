"""SIGTERM mid-epoch: a checkpoint at that step, and the rerun ends where an uninterrupted run ends."""

import json
import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.core import errors
from edd_tf import search
from tests.helpers import tiny_search_config as tiny_config


def _arch_values(workdir):
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(workdir / 'checkpoints')))
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if k.startswith('alphas') and 'OPTIMIZER' not in k}


def test_sigterm_mid_epoch_resumes_at_that_step_and_ends_equal(tmp_path):
  config = tiny_config(**{'search.epochs': 2, 'benchmark.nb201_table': 'none'})
  full = search.run(config, tmp_path / 'full')
  steps = full['history'][0]['steps']
  assert steps >= 3

  def preempt(epoch, step, steps, metrics):
    del steps, metrics
    if epoch == 1 and step == 2:
      os.kill(os.getpid(), signal.SIGTERM)  # the loop's handler only sets a flag

  with pytest.raises(errors.Preempted, match='SIGTERM received: saved epoch 2 at step 2'):
    search.run(config, tmp_path / 'cut', progress=preempt)
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler restored
  assert tf.train.latest_checkpoint(str(tmp_path / 'cut' / 'checkpoints')).endswith(
      f'ckpt-{steps + 2}')
  saved = json.loads((tmp_path / 'cut' / 'genotype.json').read_text())
  assert saved['epochs'] == 1 and not saved['finished']

  calls = []
  resumed = search.run(config, tmp_path / 'cut',
                       progress=lambda e, s, n, m: calls.append((e, s)))
  assert calls[0] == (1, 3)  # epoch 2 went on at its step 3: steps 1-2 were not rerun
  assert resumed['finished'] and resumed['genotype'] == full['genotype']
  for want, got in zip(full['history'], resumed['history']):
    for key in ('train_loss', 'val_loss', 'train_acc', 'val_acc', 'entropy', 'discrete_acc',
                'next_temperature'):
      np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert got['steps'] == want['steps']
  want, got = _arch_values(tmp_path / 'full'), _arch_values(tmp_path / 'cut')
  assert want and want.keys() == got.keys()
  for key in want:
    np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_metrics_read_every_n_steps_still_stop_a_nan(tmp_path):
  calls = []
  config = tiny_config(**{'search.epochs': 3, 'optim.weights.lr_min': 1e30,
                          'optim.weights.grad_clip': 0.0, 'search.metrics_every_steps': 3})
  with pytest.raises(FloatingPointError, match='non-finite search metrics at epoch 2, by step'):
    search.run(config, tmp_path, progress=lambda e, s, n, m: calls.append((e, s)))
  # Progress comes every 3 steps (and at the epoch's end), not after every step.
  assert (0, 3) in calls and (0, 1) not in calls and (0, 2) not in calls


@pytest.mark.slow  # two epochs of a DARTS network, three times
def test_training_with_drop_path_resumes_mid_epoch_to_the_same_weights(tmp_path):
  """Drop-path masks come from a SeedGenerator whose state the checkpoint now holds."""
  from edd_tf import train  # pylint: disable=g-import-not-at-top
  from tests.helpers import tiny_train_config as train_config  # pylint: disable=g-import-not-at-top
  config = train_config(epochs=2)  # the drop-path rate ramps up from 0 in epoch 1
  config.network, config.genotype = 'darts_cifar', 'DARTS_V2'
  config.model.update(channels=4, layers=3, drop_path_prob=0.3)
  config.train.cutout = 8
  full = train.run(config, tmp_path / 'full')

  def preempt(epoch, step, steps, metrics):
    del steps, metrics
    if epoch == 1 and step == 2:
      os.kill(os.getpid(), signal.SIGTERM)

  with pytest.raises(errors.Preempted, match='saved epoch 2 at step 2'):
    train.run(config, tmp_path / 'cut', progress=preempt)
  resumed = train.run(config, tmp_path / 'cut')
  for key in ('loss', 'accuracy', 'test_loss', 'test_accuracy'):
    np.testing.assert_allclose(resumed[key if key.startswith('test') else f'train_{key}'],
                               full[key if key.startswith('test') else f'train_{key}'],
                               rtol=1e-5, atol=1e-6, err_msg=key)
  want = tf.train.load_checkpoint(str(tmp_path / 'full' / 'checkpoints'))
  got = tf.train.load_checkpoint(str(tmp_path / 'cut' / 'checkpoints'))
  names = [n for n in want.get_variable_to_shape_map() if n.startswith('model_weights/')]
  assert names
  for name in names:
    np.testing.assert_allclose(got.get_tensor(name), want.get_tensor(name), rtol=1e-5,
                               atol=1e-6, err_msg=name)
