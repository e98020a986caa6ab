"""DARTS- (methods/darts_minus.py): the beta schedule and the aux skip on every supernet edge."""

import numpy as np
import pytest
import tensorflow as tf

from configs import darts_cifar10_darts_minus
from edd_tf import search
from edd_tf import spaces
from edd_tf.methods import darts_minus
from edd_tf.spaces import darts_supernet as ds

S2 = ds.ROBUST_DARTS_SPACES['s2']   # ('skip_connect', 'sep_conv_3x3') on every edge


def _x(shape, seed=0):
  return tf.constant(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def test_linear_beta_runs_from_one_to_0_02_and_is_held_after_the_stop():
  beta = lambda e, **kw: darts_minus.beta_at(e, 1.0, **kw)
  assert [beta(e) for e in (0, 1, 2, 25, 49)] == pytest.approx([1.0, 0.98, 0.96, 0.5, 0.02])
  assert beta(60) == pytest.approx(0.0)                          # e clamped to t_stop = t_max
  assert beta(30, t_stop=20) == pytest.approx(0.6)               # held after t_stop
  assert darts_minus.beta_at(10, 2.0, 'linear', t_start=0, t_stop=40, t_max=40) == 1.5
  assert darts_minus.beta_at(7, 0.7, 'constant') == 0.7          # the code's decay=None
  assert darts_minus.beta_at(25, 1.0, 'cosine') == pytest.approx(0.5)
  assert darts_minus.beta_at(25, 1.0, 'slow_cosine') == pytest.approx(np.cos(np.pi / 4))


def test_method_sets_beta_per_epoch_into_the_mixing_and_drops_it_at_readout():
  config = darts_cifar10_darts_minus.get_config()
  method = darts_minus.DartsMinus(config, spaces.get_space('darts'))
  method.build_state()
  assert method.begin_epoch(1, 50) == {'aux_skip_beta': pytest.approx(0.98)}
  arch = {k: _x(s, i) for i, (k, s) in enumerate(method.arch_shapes().items())}
  weights, indices = method.mixing(arch, tf.constant(1.0), tf.constant([0, 0]))
  assert indices is None and float(weights['aux_skip']) == pytest.approx(0.98)
  weight_step, _ = method.weight_mixing(arch, tf.constant(1.0), tf.constant([0, 0]))
  assert float(weight_step['aux_skip']) == pytest.approx(0.98)   # also in the weight step
  np.testing.assert_allclose(weights['alphas_normal'], tf.nn.softmax(arch['alphas_normal']),
                             rtol=1e-6)
  assert sorted(method.readout_weights({k: v.numpy() for k, v in arch.items()})) == [
      'alphas_normal', 'alphas_reduce']


def test_config_needs_aux_skip_and_other_methods_refuse_it():
  config = darts_cifar10_darts_minus.get_config()
  search.check_config(config)
  config.model.aux_skip = False
  with pytest.raises(ValueError, match='config.model.aux_skip=True'):
    search.check_config(config)
  other = darts_cifar10_darts_minus.get_config()
  other.method = 'darts'
  with pytest.raises(ValueError, match='config.model.aux_skip=True needs a method'):
    search.check_config(other)
  nb201 = darts_cifar10_darts_minus.get_config()
  nb201.space = 'nb201'
  with pytest.raises(ValueError, match='config.model.aux_skip must be False for space nb201'):
    search.check_config(nb201)
  bad = darts_cifar10_darts_minus.get_config()
  bad.darts_minus.decay = 'step'
  with pytest.raises(ValueError, match='config.darts_minus.decay'):
    search.check_config(bad)


@pytest.mark.parametrize('fused', [True, False])
def test_normal_edge_is_mixed_sum_plus_beta_times_x(fused):
  """Hand probe: skip weight w on every edge, sep_conv weight 0: edge = (w + beta) * x."""
  cell = ds.DartsSearchCell(S2[0], 4, reduction=False, reduction_prev=False, fused=fused,
                            aux_skip=True)
  s0, s1 = _x([2, 8, 8, 4], 1), _x([2, 8, 8, 4], 2)
  weights = tf.constant([[0.3, 0.0]] * 14)
  out = cell(s0, s1, weights, aux_beta=tf.constant(0.5), training=False)
  a = cell.preprocess0(s0, training=False)
  b = cell.preprocess1(s1, training=False)
  states = [a, b]
  for node in range(2, 6):
    states.append((0.3 + 0.5) * tf.add_n(states[:node]))
  np.testing.assert_allclose(out, tf.concat(states[2:], -1), rtol=1e-5, atol=1e-5)
  plain = cell(s0, s1, weights, aux_beta=None, training=False)   # no key: no aux term
  states = [a, b]
  for node in range(2, 6):
    states.append(0.3 * tf.add_n(states[:node]))
  np.testing.assert_allclose(plain, tf.concat(states[2:], -1), rtol=1e-5, atol=1e-5)


def _pair(**kwargs):
  plain = ds.DartsSupernet(10, normal_ops=S2[0], reduce_ops=S2[1], channels=4, layers=3, **kwargs)
  aux = ds.DartsSupernet(10, normal_ops=S2[0], reduce_ops=S2[1], channels=4, layers=3,
                         aux_skip=True, **kwargs)
  return plain, aux


def test_beta_zero_equals_the_supernet_without_aux_and_reduction_aux_learns():
  plain, aux = _pair()
  images = _x([2, 16, 16, 3], 3)
  weights = {'alphas_normal': tf.nn.softmax(_x([14, 2], 4)),
             'alphas_reduce': tf.nn.softmax(_x([14, 2], 5))}
  plain(images, weights)
  aux(images, weights)
  aux_vars = [v for v in aux.weights if '/aux_' in v.path]
  # 2 reduction cells x 8 stride-2 edges, each FactorizedReduce with two 1x1 convs + BN stats.
  assert len([v for v in aux_vars if v.trainable]) == 2 * 8 * 2
  shared = [v for v in aux.weights if '/aux_' not in v.path]
  assert len(plain.weights) == len(shared)
  for v, w in zip(plain.weights, shared):   # same layers in the same order
    assert v.shape == w.shape
    v.assign(w)
  zero = dict(weights, aux_skip=tf.constant(0.0))
  np.testing.assert_allclose(aux(images, zero, training=True), plain(images, weights, training=True),
                             rtol=1e-5, atol=1e-5)
  labels = tf.constant([1, 2])
  with tf.GradientTape() as tape:
    logits = aux(images, dict(weights, aux_skip=tf.constant(0.5)), training=True)
    loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, True))
  trainable = [v for v in aux_vars if v.trainable]
  grads = tape.gradient(loss, trainable)
  assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
  assert not np.allclose(aux(images, dict(weights, aux_skip=tf.constant(0.5))),
                         aux(images, zero))
