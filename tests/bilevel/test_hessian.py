"""edd_tf/bilevel/hessian.py: the alpha Hessian of the validation loss and its top eigenvalue.

Finite differences of the gradient are checked on a smooth stand-in model:
on the ReLU supernet the alpha gradient jumps wherever an activation crosses
zero, so a central difference there measures the kinks, not the curvature
(double backprop gives the almost-everywhere Hessian, as R-DARTS' does). On
the real supernet the Hessian is checked against forward-over-backward
autodiff, for symmetry, and for leaving every variable as it was.
"""

import types

import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from edd_tf.bilevel import hessian
from edd_tf.bilevel import searcher as searcher_lib
from edd_tf.core import optim
from tests.helpers import tiny_search_config


def test_hessian_of_a_quadratic_is_its_matrix():
  rng = np.random.default_rng(0)
  a = rng.standard_normal((5, 5))
  b = rng.standard_normal(5)
  a_t, b_t = tf.constant(a, tf.float64), tf.constant(b, tf.float64)
  fn = lambda x: 0.5 * tf.tensordot(x, tf.linalg.matvec(a_t, x), 1) + tf.tensordot(b_t, x, 1)
  h = hessian.hessian_of(fn, tf.constant(rng.standard_normal(5), tf.float64)).numpy()
  np.testing.assert_allclose(h, 0.5 * (a + a.T), atol=1e-12)


def test_max_eigenvalue_matches_numpy_and_symmetrises():
  rng = np.random.default_rng(1)
  m = rng.standard_normal((6, 6))
  sym = m + m.T
  assert hessian.max_eigenvalue(sym) == pytest.approx(np.linalg.eigvalsh(sym).max(), abs=1e-12)
  # A slightly asymmetric H (float32 rounding) has the eigenvalues of its symmetric part.
  skew = 1e-6 * (m - m.T)
  assert hessian.max_eigenvalue(sym + skew) == pytest.approx(np.linalg.eigvalsh(sym).max(),
                                                             abs=1e-9)
  assert hessian.max_eigenvalue(np.diag([3.0, -7.0, 1.0])) == 3.0


def test_flatten_orders_by_key_and_round_trips():
  arch = {'b': tf.reshape(tf.range(6.0), (2, 3)), 'a': tf.constant([[10.0, 11.0]])}
  keys = sorted(arch)
  flat = hessian.flatten(arch, keys)
  np.testing.assert_array_equal(flat.numpy(), [10, 11, 0, 1, 2, 3, 4, 5])
  back = hessian.unflatten(flat, {'a': (1, 2), 'b': (2, 3)}, keys)
  for k in keys:
    np.testing.assert_array_equal(back[k].numpy(), arch[k].numpy())


class _SmoothModel:
  """logits[b, c] = sum_{e,o} w[e,o] tanh(mean_hw(x_b) P[e,o])_c: smooth in the weights."""

  def __init__(self, shapes, classes, rng):
    self.keys = sorted(shapes)
    self.p = {k: tf.constant(rng.standard_normal(shapes[k] + (3, classes)), tf.float32)
              for k in self.keys}
    self.trainable_variables = [tf.Variable(1.0)]
    self.non_trainable_variables = [tf.Variable(0.0)]

  def stateless_call(self, trainable, non_trainable, images, weights, indices, training,
                     drop_path=None):
    del indices, training, drop_path
    feats = tf.reduce_mean(images, axis=[1, 2])                         # [B, 3]
    logits = 0.0
    for k in self.keys:
      act = tf.tanh(tf.einsum('bi,eoic->beoc', feats, self.p[k]))      # [B, E, O, C]
      logits += tf.einsum('eo,beoc->bc', weights[k], act)
    return trainable[0] * logits, non_trainable


def _fake_searcher(weight_decay, rng):
  shapes = {'alphas_normal': (3, 2), 'alphas_reduce': (3, 2)}
  arch = {k: tf.Variable(rng.standard_normal(s).astype(np.float32)) for k, s in shapes.items()}
  method = types.SimpleNamespace(mixing=lambda a, t, seed: (
      {k: tf.nn.softmax(v / t) for k, v in a.items()}, None))
  config = ml_collections.ConfigDict({'optim': {'arch': {'weight_decay': weight_decay}}})
  return types.SimpleNamespace(
      model=_SmoothModel(shapes, 4, rng), arch=arch, method=method, config=config,
      temperature_tensor=lambda: tf.constant(0.7), drop_path=lambda seed: None,
      arch_tensors=lambda: {k: tf.convert_to_tensor(v) for k, v in arch.items()})


def _loss(searcher, flat, images, labels):
  keys = sorted(searcher.arch)
  shapes = {k: tuple(searcher.arch[k].shape) for k in keys}
  weights, _ = searcher.method.mixing(hessian.unflatten(flat, shapes, keys), 0.7, None)
  logits, _ = searcher.model.stateless_call([tf.constant(1.0)], [tf.constant(0.0)], images,
                                            weights, None, True)
  wd = searcher.config.optim.arch.weight_decay
  return (tf.reduce_mean(optim.cross_entropy(labels, logits))
          + 0.5 * wd * tf.reduce_sum(tf.square(flat)))


def test_arch_hessian_matches_finite_differences_on_a_smooth_model():
  rng = np.random.default_rng(2)
  searcher = _fake_searcher(1e-3, rng)
  images = tf.constant(rng.standard_normal((8, 4, 4, 3)).astype(np.float32))
  labels = tf.constant(rng.integers(0, 4, 8).astype(np.int32))
  h = hessian.ArchHessian(searcher)(images, labels)
  assert h.shape == (12, 12)
  x0 = hessian.flatten(searcher.arch_tensors(), sorted(searcher.arch)).numpy().astype(np.float64)

  def grad(x):
    x = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
      tape.watch(x)
      loss = _loss(searcher, x, images, labels)
    return tape.gradient(loss, x).numpy().astype(np.float64)

  eps = 1e-2
  fd = np.stack([(grad(x0 + eps * e) - grad(x0 - eps * e)) / (2 * eps) for e in np.eye(12)], 1)
  np.testing.assert_allclose(h, fd, atol=2e-4)
  # The alpha weight decay adds exactly wd * I.
  searcher.config.optim.arch.weight_decay = 0.0
  h0 = hessian.ArchHessian(searcher)(images, labels)
  np.testing.assert_allclose(h - h0, 1e-3 * np.eye(12), atol=1e-6)


def test_arch_hessian_on_the_supernet_agrees_with_forward_over_backward():
  c = tiny_search_config()
  c.softmax.kind = 'plain'
  s = searcher_lib.Searcher(c, num_classes=10, image_size=8)
  rng = np.random.default_rng(3)
  s.alphas.assign(rng.standard_normal((6, 5)).astype(np.float32))
  images = tf.constant(rng.standard_normal((8, 8, 8, 3)).astype(np.float32))
  labels = tf.constant(rng.integers(0, 10, 8).astype(np.int32))
  before = [v.numpy().copy() for v in s.model.variables] + [s.alphas.numpy().copy()]
  h = hessian.ArchHessian(s)(images, labels)
  after = [v.numpy() for v in s.model.variables] + [s.alphas.numpy()]
  for b, a in zip(before, after):  # BN statistics included: nothing moved
    np.testing.assert_array_equal(b, a)
  assert h.shape == (30, 30)
  np.testing.assert_allclose(h, h.T, atol=1e-6)
  assert np.abs(h).max() > 1e-3
  # H v by forward-mode differentiation of the reverse-mode gradient.
  v = tf.constant(rng.standard_normal(30).astype(np.float32))
  x = tf.reshape(tf.convert_to_tensor(s.alphas), [-1])
  trainable = [tf.convert_to_tensor(w) for w in s.model.trainable_variables]
  frozen = [tf.convert_to_tensor(w) for w in s.model.non_trainable_variables]
  with tf.autodiff.ForwardAccumulator(x, v) as acc:
    with tf.GradientTape() as tape:
      tape.watch(x)
      weights, _ = s.method.mixing({'alphas': tf.reshape(x, (6, 5))}, s.temperature_tensor(),
                                   tf.constant([0, 0]))
      logits, _ = s.model.stateless_call(trainable, frozen, images, weights, None, training=True)
      loss = (tf.reduce_mean(optim.cross_entropy(labels, logits))
              + 0.5 * c.optim.arch.weight_decay * tf.reduce_sum(tf.square(x)))
    g = tape.gradient(loss, x)
  np.testing.assert_allclose(h @ v.numpy(), acc.jvp(g).numpy(), atol=1e-5, rtol=1e-3)
