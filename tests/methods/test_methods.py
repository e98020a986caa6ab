"""Search methods as plug-ins (edd_tf/methods): mixing, edge normalisation, GDAS, 2nd order."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from edd_tf import methods
from edd_tf import search
from edd_tf import spaces
from edd_tf.bilevel import searcher as searcher_lib
from edd_tf.core import optim


def _config(method, space='nb201', **model):
  c = search.default_config()
  c.method, c.space = method, space
  c.model.update(channels=4, cells_per_stage=1, layers=3, fused=method != 'gdas', **model)
  c.search.batch_size = 8
  return c


def test_registry_lists_known_methods():
  assert set(methods.METHODS) == {'darts', 'darts_2nd', 'pc_darts', 'gdas', 'beta_darts', 'drnas',
                                  'sdarts_rs', 'sdarts_adv', 'gaea', 'gaea_pc', 'fair_darts',
                                  'darts_minus'}
  with pytest.raises(ValueError, match=r"unknown search method 'snas'.*'darts'.*'gdas'"):
    methods.get_method_class('snas')


def test_a_space_refuses_a_method_it_cannot_run():
  config = _config('gdas')
  config.model.fused = True
  with pytest.raises(ValueError, match=r"method='gdas'.*config.model.fused=False"):
    search.check_config(config)


def test_darts_mixing_is_the_tempered_softmax_per_edge():
  space = spaces.get_space('darts')
  method = methods.build_method(_config('darts', 'darts'), space)
  arch = method.init_arch(np.random.default_rng(0))
  assert set(arch) == {'alphas_normal', 'alphas_reduce'}
  weights, indices = method.mixing({k: tf.constant(v) for k, v in arch.items()},
                                   tf.constant(0.5), tf.constant([0, 0]))
  assert indices is None
  for key, value in arch.items():
    np.testing.assert_allclose(weights[key], tf.nn.softmax(value / 0.5), rtol=1e-5)


def test_pc_darts_edge_normalisation_in_mixing_and_readout():
  space = spaces.get_space('darts')
  config = _config('pc_darts', 'darts')
  config.softmax.update(kind='plain', st=0.0)
  method = methods.build_method(config, space)
  rng = np.random.default_rng(1)
  arch = {k: rng.standard_normal(s).astype(np.float32) for k, s in method.arch_shapes().items()}
  assert arch['betas_normal'].shape == (14,) and arch['betas_reduce'].shape == (14,)
  weights, _ = method.mixing({k: tf.constant(v) for k, v in arch.items()}, tf.constant(1.0),
                             tf.constant([0, 0]))
  for key in ('alphas_normal', 'alphas_reduce'):
    betas = arch['betas' + key[len('alphas'):]]
    alpha_hat = tf.nn.softmax(arch[key]).numpy()
    for start, end in space.edge_groups(key):
      beta_hat = tf.nn.softmax(betas[start:end]).numpy()
      np.testing.assert_allclose(weights[key][start:end], alpha_hat[start:end] * beta_hat[:, None],
                                 rtol=1e-5)
      # Every node's incoming weights sum to one over its edges and ops.
      assert float(tf.reduce_sum(weights[key][start:end])) == pytest.approx(1.0, rel=1e-5)
  # The read-out scores edges by softmax(alpha) * beta_hat: a sharp alpha on an
  # edge with a small beta loses to a flatter alpha on a favoured edge.
  a = np.zeros((14, 8), np.float32)
  a[0, 4] = 3.0                            # edge 0: sep_conv_3x3 sharp
  a[1, 5] = 1.0                            # edge 1: sep_conv_5x5, flatter
  b = np.zeros(14, np.float32)
  b[0], b[1] = -4.0, 4.0                   # node 0 prefers edge 1 ...
  arch = {'alphas_normal': a, 'alphas_reduce': a, 'betas_normal': b, 'betas_reduce': b}
  readout = method.readout_weights(arch)
  assert readout['alphas_normal'][1, 5] > readout['alphas_normal'][0].max()
  plain = methods.METHODS['darts'](config, space)  # no edge normalisation
  assert plain.readout_weights(arch)['alphas_normal'][0, 4] > \
      plain.readout_weights(arch)['alphas_normal'][1, 5]


def test_gdas_samples_one_hot_rows_deterministically_per_seed():
  space = spaces.get_space('nb201')
  method = methods.build_method(_config('gdas'), space)
  alphas = {'alphas': tf.constant(np.random.default_rng(0).standard_normal((6, 5)), tf.float32)}
  w1, i1 = method.mixing(alphas, tf.constant(1.0), tf.constant([3, 4]))
  w2, i2 = method.mixing(alphas, tf.constant(1.0), tf.constant([3, 4]))
  np.testing.assert_array_equal(w1['alphas'], w2['alphas'])
  np.testing.assert_array_equal(i1['alphas'], i2['alphas'])
  np.testing.assert_array_equal(tf.reduce_sum(w1['alphas'], -1), np.ones(6))
  np.testing.assert_array_equal(tf.argmax(w1['alphas'], -1), i1['alphas'])
  samples = {tuple(method.mixing(alphas, tf.constant(1.0), tf.constant([0, s]))[1]['alphas']
                   .numpy()) for s in range(20)}
  assert len(samples) > 1  # different steps draw different cells
  with tf.GradientTape() as tape:
    tape.watch(alphas['alphas'])
    w, _ = method.mixing(alphas, tf.constant(1.0), tf.constant([3, 4]))
    loss = tf.reduce_sum(w['alphas'] * tf.range(5, dtype=tf.float32))
  grad = tape.gradient(loss, alphas['alphas'])
  assert np.all(np.abs(grad.numpy()).sum(-1) > 0)  # straight-through: every edge learns


def test_gdas_supernet_runs_only_the_sampled_op():
  """The NB201 supernet with GDAS indices: ops that were not sampled do not run."""
  config = _config('gdas')
  searcher = searcher_lib.Searcher(config, num_classes=10, image_size=16)
  cell = next(b for b in searcher.model.blocks if hasattr(b, 'edges'))
  stats = {v.path: v.numpy().copy() for v in searcher.model.non_trainable_variables}
  index = tf.constant([3, 1, 0, 2, 4, 3])   # nor_conv_3x3, skip, none, 1x1, pool, 3x3
  weights = {'alphas': tf.one_hot(index, 5)}
  images = tf.random.normal([4, 16, 16, 3])
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.function(
        lambda x: searcher.model(x, weights, {'alphas': index}, training=True))(images))
  grads = dict(zip([v.path for v in searcher.weight_variables],
                   tape.gradient(loss, searcher.weight_variables)))
  for k, edge in enumerate(cell.edges):
    for col, name, op in edge.candidates:
      ran = col == int(index[k])
      for v in op.trainable_variables:
        g = grads[v.path]
        assert ran == (g is not None and bool(np.any(g.numpy() != 0))), (k, name, v.path)
      for v in op.non_trainable_variables:  # BN statistics move only for the sampled op
        assert ran == (not np.array_equal(v.numpy(), stats[v.path])), (k, name, v.path)


class SmoothSupernet(keras.Model):
  """An NB201-shaped supernet of smooth ops (tanh, softplus, sin) on flat features.

  The unrolled gradient's finite difference samples grad_alpha L_train at
  w +- R v. Through ReLUs that gradient jumps wherever an activation changes
  sign, so in a real supernet the difference quotient does not converge as
  R -> 0 (it is the reference's approximation, noise included), while nested
  tapes treat ReLU'' as 0. A smooth supernet makes both sides well defined.
  """

  def __init__(self, width=6, num_classes=10):
    super().__init__()
    dense = keras.layers.Dense
    self.stem = dense(width)
    self.edge_ops = [[dense(width) for _ in range(3)] for _ in range(6)]
    self.head = dense(num_classes)

  def call(self, images, weights, indices=None, training=False, drop_path=None):
    del indices, training, drop_path
    betas = weights['alphas']
    h = tf.tanh(self.stem(tf.reshape(images, [tf.shape(images)[0], -1])))
    nodes = [h]
    edges = spaces.get_space('nb201').edges
    for node in range(1, 4):
      total = 0.0
      for k, (i, j) in enumerate(edges):
        if i != node:
          continue
        x = nodes[j]
        a, b, c = self.edge_ops[k]
        ops = [tf.zeros_like(x), x, tf.tanh(a(x)), tf.nn.softplus(b(x)), tf.sin(c(x))]
        total += sum(betas[k, o] * ops[o] for o in range(5))
      nodes.append(total)
    return self.head(nodes[-1])


def _smooth_searcher(lr, seed=0):
  config = _config('darts_2nd')
  config.model.fused = False
  config.softmax.update(kind='sn', s=0.0, st=1.0)
  config.optim.weights.update(lr=lr, momentum=0.9, weight_decay=5e-4)
  keras.utils.set_random_seed(seed)
  searcher = searcher_lib.Searcher(config, num_classes=10, image_size=8)
  searcher.model = SmoothSupernet()
  searcher.model(tf.zeros([1, 8, 8, 3]), {'alphas': tf.fill([6, 5], 0.2)})
  searcher.w_opt = optim.sgd(lr, 0.9, False, searcher.weight_variables)
  searcher.temperature.assign(0.5)
  rng = np.random.default_rng(seed)
  for v in searcher.arch_variables:
    v.assign(rng.standard_normal(v.shape).astype(np.float32))
  # A non-zero momentum buffer, as after some steps.
  for m in searcher.w_opt.momentums:
    m.assign(1e-2 * rng.standard_normal(m.shape).astype(np.float32))
  return searcher


def _batch(seed, n=8, size=8):
  rng = np.random.default_rng(seed)
  return (tf.constant(rng.standard_normal((n, size, size, 3)), tf.float32),
          tf.constant(rng.integers(0, 10, n), tf.int32))


def test_second_order_matches_exact_unrolled_gradient():
  """Finite-difference DARTS-V2 gradient == d/dalpha L_val(w'(alpha), alpha) from nested tapes."""
  searcher = _smooth_searcher(lr=0.5)
  method = searcher.method
  train_batch, val_batch = _batch(1), _batch(2)
  seed = tf.constant([0, 0])
  fd, _, _ = method.unrolled_gradients(searcher, train_batch, val_batch, seed)

  model, cfg = searcher.model, searcher.config.optim.weights
  w = [tf.convert_to_tensor(v) for v in searcher.weight_variables]
  nt = [tf.convert_to_tensor(v) for v in model.non_trainable_variables]
  momenta = [tf.convert_to_tensor(m) for m in searcher.w_opt.momentums]
  xi = 0.5
  sources = searcher.arch_sources()

  def loss_at(weights_list, batch):
    mixing, _ = method.mixing(searcher.arch_tensors(), searcher.temperature_tensor(), seed)
    logits, _ = model.stateless_call(weights_list, nt, batch[0], mixing, training=True)
    return searcher.loss(batch[1], logits)[0]

  with tf.GradientTape() as outer:
    with tf.GradientTape() as inner:
      inner.watch(w)
      train_loss = loss_at(w, train_batch)
    g = inner.gradient(train_loss, w)
    w_prime = [wi + cfg.momentum * m - xi * (gi + cfg.weight_decay * wi)
               for wi, m, gi in zip(w, momenta, g)]
    val_loss = loss_at(w_prime, val_batch)
  exact = outer.gradient(val_loss, sources)
  with tf.GradientTape() as tape:  # the first-order part alone, at w'
    l = loss_at([tf.stop_gradient(x) for x in w_prime], val_batch)
  first_order = tape.gradient(l, sources)
  fd, exact, first = (np.concatenate([x.numpy().ravel() for x in v])
                      for v in (fd, exact, first_order))
  hessian_term = np.linalg.norm(exact - first)
  assert hessian_term > 0.1 * np.linalg.norm(exact)  # the 2nd-order term matters here
  np.testing.assert_allclose(fd, exact, rtol=0, atol=0.03 * hessian_term)
  # The real weights were not touched (everything ran through stateless_call).
  for before, v in zip(w, searcher.weight_variables):
    np.testing.assert_array_equal(before, v.numpy())


def test_describe_names_the_softmax_schedule_and_procedure():
  import importlib
  edd = importlib.import_module('configs.nb201_cifar10_edd').get_config()
  assert methods.describe(edd) == 'darts, sn-softmax (st=1), edd temperature schedule (lam=0.06)'
  v1 = importlib.import_module('configs.nb201_cifar10_darts').get_config()
  assert methods.describe(v1) == 'darts, plain softmax, t=1'
  es = importlib.import_module('configs.darts_es').get_config('s3,cifar10')
  assert methods.describe(es).endswith(', procedure darts_es')
