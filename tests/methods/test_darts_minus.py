"""DARTS- (methods/darts_minus.py): the beta schedule and the aux skip on every supernet edge."""

import numpy as np
import pytest
import tensorflow as tf

import ml_collections

from configs import darts_cifar10_darts_minus
from configs import nb201_cifar10_darts_minus
from edd_tf import search
from edd_tf import spaces
from edd_tf.arch import genotype as genotype_lib
from edd_tf.methods import darts_minus
from edd_tf.spaces import darts_supernet as ds
from edd_tf.spaces import nb201_supernet

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
  nb201 = nb201_cifar10_darts_minus.get_config()
  search.check_config(nb201)
  assert (nb201.space, nb201.search.epochs, nb201.darts_minus.t_max) == ('nb201', 100, 100)
  nb201.method = 'darts'
  with pytest.raises(ValueError, match='config.model.aux_skip=True needs a method'):
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


@pytest.mark.parametrize('fused', [True, False])
def test_nb201_edge_is_mixed_sum_plus_beta_times_x(fused):
  """Hand probe: skip weight 0.3 on every edge, beta 0.5: node_i = 0.8 * sum_{j<i} node_j."""
  space = spaces.get_space('nb201')
  cell_cls = nb201_supernet.FusedNB201SearchCell if fused else nb201_supernet.NB201SearchCell
  cell = cell_cls(space, 4)
  x = _x([2, 8, 8, 4], 6)
  betas = tf.constant([[0.0, 0.3, 0.0, 0.0, 0.0]] * 6)
  for beta, w in ((0.5, 0.8), (None, 0.3)):   # no aux_beta: no aux term
    nodes = [x]
    for _ in range(3):
      nodes.append(w * tf.add_n(nodes))
    got = cell(x, betas, aux_beta=None if beta is None else tf.constant(beta), training=False)
    np.testing.assert_allclose(got, nodes[-1], rtol=1e-5, atol=1e-5)


def test_nb201_beta_zero_equals_the_plain_darts_supernet():
  # The fused cell (the default); the per-edge one is pinned by the hand probe above.
  space = spaces.get_space('nb201')

  def build(aux_skip):
    model = space.build_supernet(10, ml_collections.ConfigDict(dict(
        channels=4, cells_per_stage=1, fused=True, aux_skip=aux_skip)))
    model(tf.zeros([1, 8, 8, 3]), space.dummy_weights())
    return model

  plain, aux = build(False), build(True)
  assert [v.shape for v in plain.weights] == [v.shape for v in aux.weights]   # no aux variables
  aux.set_weights(plain.get_weights())
  images = _x([2, 8, 8, 3], 7)
  weights = {'alphas': tf.nn.softmax(_x([6, 5], 8))}
  want = plain(images, weights, training=True)
  np.testing.assert_allclose(aux(images, dict(weights, aux_skip=tf.constant(0.0)), training=True),
                             want, rtol=1e-5, atol=1e-5)
  assert not np.allclose(aux(images, dict(weights, aux_skip=tf.constant(0.5)), training=True),
                         want, atol=1e-4)


def test_nb201_aux_is_in_the_mixing_not_in_the_genotype():
  config = nb201_cifar10_darts_minus.get_config()
  space = spaces.get_space('nb201')
  method = darts_minus.DartsMinus(config, space)
  method.build_state()
  assert method.begin_epoch(1, 100) == {'aux_skip_beta': pytest.approx(0.99)}
  alphas = np.zeros((6, 5), np.float32)
  alphas[:, 1] = 1.0                                   # skip_connect favoured ...
  alphas[0, 3] = 2.0                                   # ... except on edge 1<-0
  weights, _ = method.mixing({'alphas': tf.constant(alphas)}, tf.constant(1.0),
                             tf.constant([0, 0]))
  assert sorted(weights) == ['alphas', 'aux_skip']
  assert float(weights['aux_skip']) == pytest.approx(0.99)
  readout = method.readout_weights({'alphas': alphas})
  assert sorted(readout) == ['alphas']
  genotype = method.genotype({'alphas': alphas})
  assert genotype == ('|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|'
                      '+|skip_connect~0|skip_connect~1|skip_connect~2|')
  assert genotype == genotype_lib.derive_nb201(tf.nn.softmax(alphas).numpy(), space.ops)
  assert sorted(space.discretize(genotype)) == ['alphas']
