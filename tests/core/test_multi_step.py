"""Several steps per tf.function call (core/multi_step.py): the same run as one step per call."""

import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from edd_tf import search
from edd_tf import train
from edd_tf.core import errors
from edd_tf.core import multi_step
from tests.helpers import tiny_search_config
from tests.helpers import tiny_train_config


def _checkpoint_arrays(workdir):
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(workdir / 'checkpoints')))
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if 'OPTIMIZER' not in k and k != '_CHECKPOINTABLE_OBJECT_GRAPH'
          and not k.startswith(('state/', 'save_counter/'))}


def _assert_same_run(a, b, workdir_a, workdir_b, keys):
  assert len(a.get('history', ())) == len(b.get('history', ()))
  for want, got in zip(a.get('history', ()), b.get('history', ())):
    assert got['steps'] == want['steps']
    for key in keys:
      np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-7, err_msg=key)
  want, got = _checkpoint_arrays(workdir_a), _checkpoint_arrays(workdir_b)
  assert want.keys() == got.keys() and len(want) > 10
  for key in want:  # weights, alphas, BN statistics, counters
    np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_n_steps_in_one_call_with_one_trace():
  counter = tf.Variable(0.0)

  def step(x):
    counter.assign_add(x)
    return {'value': counter.read_value(), 'twice': 2.0 * x}

  steps = multi_step.MultiStep(step, ('value', 'twice'))
  iterator = iter(tf.data.Dataset.range(1, 8).map(lambda i: (tf.cast(i, tf.float32),)))
  rows = steps(iterator, 4) + steps(iterator, 3)  # a full call, then a shorter last one
  assert [float(r['value']) for r in rows] == [1, 3, 6, 10, 15, 21, 28]
  assert [float(r['twice']) for r in rows] == [2, 4, 6, 8, 10, 12, 14]
  assert len(steps._calls) == 1  # pylint: disable=protected-access
  assert steps._calls[None].experimental_get_tracing_count() == 1  # pylint: disable=protected-access


def test_a_step_returning_other_metrics_is_named():
  steps = multi_step.MultiStep(lambda x: {'loss': x}, ('loss', 'acc'))
  with pytest.raises(ValueError, match=r"returned \['loss'\], expected \['acc', 'loss'\]"):
    steps(iter(tf.data.Dataset.from_tensors((1.0,))), 1)


@pytest.mark.parametrize('value', [0, -1, True])
def test_bad_steps_per_call_is_named(value):
  with pytest.raises(ValueError, match=r'config.search.steps_per_call must be an integer >= 1'):
    search.check_config(tiny_search_config(**{'search.steps_per_call': value}))
  config = tiny_train_config()
  config.train.steps_per_call = value
  with pytest.raises(ValueError, match=r'config.train.steps_per_call must be an integer >= 1'):
    train.check_config(config)


SEARCH = {'search.epochs': 2, 'search.arch_warmup_epochs': 1, 'benchmark.nb201_table': 'none',
          'data.train_examples': 192}   # 3 steps an epoch; epoch 1 frozen alphas, epoch 2 not


def test_search_with_two_steps_per_call_equals_one(tmp_path):
  one = search.run(tiny_search_config(**SEARCH), tmp_path / 'k1')
  two = search.run(tiny_search_config(**SEARCH, **{'search.steps_per_call': 2}), tmp_path / 'k2')
  assert one['history'][0]['steps'] == 3  # so a call of 2 and a shorter call of 1
  assert two['genotype'] == one['genotype']
  np.testing.assert_array_equal(two['arch']['alphas'], one['arch']['alphas'])
  _assert_same_run(one, two, tmp_path / 'k1', tmp_path / 'k2',
                   ('train_loss', 'train_acc', 'val_loss', 'val_acc', 'discrete_acc', 'entropy'))


def test_training_with_three_steps_per_call_equals_one(tmp_path):
  one_config, three_config = tiny_train_config(epochs=2), tiny_train_config(epochs=2)
  three_config.train.steps_per_call = 3  # 4 steps an epoch: calls of 3 and 1
  one = train.run(one_config, tmp_path / 'k1')
  three = train.run(three_config, tmp_path / 'k3')
  for key in ('test_accuracy', 'test_loss', 'train_loss', 'train_accuracy'):
    np.testing.assert_allclose(three[key], one[key], rtol=1e-6, err_msg=key)
  _assert_same_run(one, three, tmp_path / 'k1', tmp_path / 'k3', ())


def test_sigterm_inside_a_call_saves_at_its_end_and_resumes_to_the_same_run(tmp_path):
  config = tiny_search_config(**SEARCH, **{'search.steps_per_call': 2})
  full = search.run(config, tmp_path / 'full')

  def preempt(epoch, step, steps, metrics):
    del steps, metrics
    if epoch == 1 and step == 1:  # the first step of the call running steps 1-2
      os.kill(os.getpid(), signal.SIGTERM)

  with pytest.raises(errors.Preempted, match='saved epoch 2 at step 2'):
    search.run(config, tmp_path / 'cut', progress=preempt)
  calls = []
  resumed = search.run(config, tmp_path / 'cut', progress=lambda e, s, n, m: calls.append((e, s)))
  assert calls[0] == (1, 3)  # went on at step 3
  assert resumed['genotype'] == full['genotype']
  np.testing.assert_array_equal(resumed['arch']['alphas'], full['arch']['alphas'])
  _assert_same_run(full, resumed, tmp_path / 'full', tmp_path / 'cut',
                   ('train_loss', 'val_loss', 'discrete_acc'))
