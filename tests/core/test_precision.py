"""Mixed precision and XLA in search and training (edd_tf/core/precision.py and the steps)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from edd_tf import search
from edd_tf import train
from edd_tf.bilevel import searcher as searcher_lib
from edd_tf.core import precision
from edd_tf.data import pipeline as data_lib
from edd_tf.final import genotypes
from edd_tf.final import models
from edd_tf.final import steps
from tests import test_search
from tests import test_train

COMPUTE_DTYPE = {'mixed_bfloat16': tf.bfloat16, 'mixed_float16': tf.float16}


def _batch(seed, n, size=32):
  rng = np.random.default_rng(seed)
  return (tf.constant(rng.standard_normal((n, size, size, 3)), tf.float32),
          tf.constant(rng.integers(0, 10, n), tf.int32))


def _conv_layers(model):
  return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Conv2D)]  # pylint: disable=protected-access


@pytest.mark.parametrize('run', [search.run, train.run])
def test_unknown_precision_fails_before_any_work(tmp_path, run):
  config = (test_search.tiny_config() if run is search.run else test_train.tiny_config())
  config.precision = 'float16'
  workdir = tmp_path / 'w'
  with pytest.raises(ValueError, match=r"unknown config.precision 'float16'; allowed: "
                                       r"\['float32', 'mixed_bfloat16', 'mixed_float16'\]"):
    run(config, workdir)
  assert not workdir.exists()


def test_jit_compile_must_be_a_bool():
  config = test_search.tiny_config()
  del config['jit_compile']
  config.jit_compile = 'yes'
  with pytest.raises(ValueError, match='config.jit_compile must be True or False'):
    search.check_config(config)


def test_compiled_pass_that_all_reduces_on_replicas_is_refused():
  precision.check_compiled_pass(True, 1, ['config.sync_batch_norm=True'])  # one replica: fine
  precision.check_compiled_pass(False, 2, ['config.sync_batch_norm=True'])
  with pytest.raises(ValueError, match=r'config.jit_compile=True .* 2 replicas with '
                                       r'config.sync_batch_norm=True'):
    precision.check_compiled_pass(True, 2, ['config.sync_batch_norm=True'])


def test_policy_scope_restores_the_global_policy_even_on_error():
  before = keras.config.dtype_policy().name
  with pytest.raises(RuntimeError):
    with precision.policy_scope('mixed_bfloat16'):
      assert keras.layers.Dense(2).dtype_policy.name == 'mixed_bfloat16'
      assert keras.layers.Dense(2, dtype='float32').dtype_policy.name == 'float32'
      raise RuntimeError('boom')
  assert keras.config.dtype_policy().name == before


@pytest.mark.parametrize('policy', ['mixed_bfloat16', 'mixed_float16'])
def test_mixed_precision_search_step_keeps_alphas_float32(policy):
  keras.utils.set_random_seed(0)
  searcher = searcher_lib.Searcher(test_search.tiny_config(precision=policy), 10, 32)
  assert keras.config.dtype_policy().name == 'float32'  # restored after the build
  assert all(layer.compute_dtype == COMPUTE_DTYPE[policy].name
             for layer in _conv_layers(searcher.model))
  assert all(v.dtype == 'float32' for v in searcher.model.weights)
  logits = searcher.model(_batch(0, 4)[0], searcher.mixing()[0], training=False)
  assert logits.dtype == tf.float32
  alphas = searcher.alphas.numpy().copy()
  weights = [v.numpy().copy() for v in searcher.weight_variables]
  loss, _, val_loss, _, norm = [float(v) for v in searcher.pair_step(_batch(1, 32),
                                                                     _batch(2, 32), True)]
  assert np.isfinite([loss, val_loss, norm]).all() and norm > 0
  assert searcher.alphas.dtype == 'float32' and searcher.temperature.dtype == tf.float32
  assert not np.array_equal(searcher.alphas.numpy(), alphas)  # the alpha step was applied
  assert any(not np.array_equal(v.numpy(), w) for v, w in zip(searcher.weight_variables, weights))
  assert (searcher.w_loss_scale is not None) == (policy == 'mixed_float16')
  if searcher.w_loss_scale is not None:
    assert float(searcher.w_loss_scale.scale.numpy()) == 2.0 ** 15  # no overflow: not halved


@pytest.mark.parametrize('policy', ['mixed_float16', 'mixed_bfloat16'])
def test_low_precision_weight_gradient_is_close_to_float32(policy):
  """Same weights and batch: the loss-scaled float16 (or bfloat16) gradient vs float32.

  Measured: relative error 0.07 (cosine 0.998) in float16, 0.21 (0.979) in
  bfloat16's 8-bit mantissa; ReLU units near 0 flip in low precision.
  """
  images, labels = _batch(0, 32)
  grads = {}
  for name in ('float32', policy):
    keras.utils.set_random_seed(0)
    searcher = searcher_lib.Searcher(test_search.tiny_config(precision=name), 10, 32)
    g, _, _ = searcher._weight_gradients(images, labels, tf.constant([0, 0]))  # pylint: disable=protected-access
    grads[name] = np.concatenate([np.ravel(x) for x in g])
  want, got = grads['float32'], grads[policy]
  assert np.linalg.norm(got - want) / np.linalg.norm(want) < (0.15 if policy == 'mixed_float16'
                                                              else 0.4)
  assert got @ want / np.linalg.norm(got) / np.linalg.norm(want) > 0.95


def _float16_search(workdir, epochs):
  config = test_search.tiny_config(**{'precision': 'mixed_float16', 'search.epochs': epochs})
  return search.run(config, workdir)


def test_float16_tasks_checkpoint_their_loss_scales(tmp_path):
  config = test_search.tiny_config(precision='mixed_float16')
  items = search.SearchTask(config, tmp_path / 's').optional_checkpoint_items()
  assert {'w_loss_scale', 'a_loss_scale'} <= set(items)
  config = test_train.tiny_config()
  config.precision = 'mixed_float16'
  assert 'loss_scale' in train.TrainTask(config, tmp_path / 't').optional_checkpoint_items()
  config.precision = 'float32'
  assert 'loss_scale' not in train.TrainTask(config, tmp_path / 't').optional_checkpoint_items()


@pytest.mark.slow
def test_float16_search_runs_then_continues_in_float32_with_allow_config_change(tmp_path):
  """The loss scales are optional checkpoint items: a float32 continuation restores."""
  result = _float16_search(tmp_path, epochs=1)
  assert np.isfinite(result['history'][0]['train_loss'])
  names = tf.train.load_checkpoint(str(tmp_path / 'checkpoints')).get_variable_to_shape_map()
  assert any(n.startswith('w_loss_scale/scale') for n in names)
  config = test_search.tiny_config(**{'precision': 'float32', 'search.epochs': 2})
  with pytest.raises(ValueError, match='precision'):
    search.run(config, tmp_path)
  result = search.run(config, tmp_path, allow_config_change=True)
  assert len(result['history']) == 2 and np.isfinite(result['history'][1]['train_loss'])


@pytest.mark.parametrize('policy', ['mixed_bfloat16', 'mixed_float16'])
def test_mixed_precision_training_step(policy):
  config = test_train.tiny_config()
  config.precision = policy
  info = data_lib.DATASETS['cifar10']
  model = models.build_model(config, genotypes.resolve_genotype(config.genotype, config.network),
                             info)
  assert all(layer.compute_dtype == COMPUTE_DTYPE[policy].name for layer in _conv_layers(model))
  assert model(_batch(0, 2)[0]).dtype == tf.float32
  optimizer = steps.make_optimizer(config.train, model.trainable_variables)
  from edd_tf.core import optim  # pylint: disable=g-import-not-at-top
  scale = optim.LossScale() if policy == 'mixed_float16' else None
  step = steps.make_train_step(model, optimizer, strategy=tf.distribute.get_strategy(),
                               global_batch_size=16, weight_decay=5e-4, grad_clip=5.0,
                               loss_scale=scale)
  before = [v.numpy().copy() for v in model.trainable_variables]
  loss, correct = step(*_batch(1, 16))
  assert np.isfinite(float(loss)) and 0 <= float(correct) <= 16
  assert all(v.dtype == 'float32' for v in model.weights)
  assert any(not np.array_equal(v.numpy(), w) for v, w in zip(model.trainable_variables, before))


def _train_step_result(jit):
  config = test_train.tiny_config()
  config.genotype = '|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|none~1|skip_connect~2|'
  keras.utils.set_random_seed(0)
  model = models.build_model(config, genotypes.resolve_genotype(config.genotype, config.network),
                             data_lib.DATASETS['cifar10'])
  optimizer = steps.make_optimizer(config.train, model.trainable_variables)
  step = steps.make_train_step(model, optimizer, strategy=tf.distribute.get_strategy(),
                               global_batch_size=8, weight_decay=5e-4, grad_clip=5.0,
                               jit_compile=jit)
  losses = [float(step(*_batch(seed, 8, 16))[0]) for seed in (1, 2)]
  return losses, [v.numpy() for v in model.trainable_variables]


def test_xla_training_step_equals_the_default_step():
  want_losses, want = _train_step_result(jit=False)
  got_losses, got = _train_step_result(jit=True)
  np.testing.assert_allclose(got_losses, want_losses, rtol=1e-5)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_xla_search_pair_step_equals_the_default_step():
  """sn-softmax's custom gradient and its checks inside the compiled pass (~1 min to compile)."""
  results = []
  for jit in (False, True):
    keras.utils.set_random_seed(0)
    searcher = searcher_lib.Searcher(test_search.tiny_config(jit_compile=jit), 10, 16)
    losses = [float(v) for v in searcher.pair_step(_batch(1, 32, 16), _batch(2, 32, 16), True)]
    results.append((losses, searcher.alphas.numpy(),
                    [v.numpy() for v in searcher.weight_variables]))
  (want_losses, want_alphas, want), (got_losses, got_alphas, got) = results
  np.testing.assert_allclose(got_losses, want_losses, rtol=1e-4)
  np.testing.assert_allclose(got_alphas, want_alphas, rtol=0, atol=1e-3 * 3e-2)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
