"""R-DARTS(DP) / (L2): scheduled drop path on the mixed edges, ramped cutout, coupled L2, configs."""

import pathlib

import numpy as np
import pytest
import tensorflow as tf

from configs import rdarts
from edd_tf import search
from edd_tf import spaces
from edd_tf.bilevel import regularisation
from edd_tf.bilevel import searcher as searcher_lib
from edd_tf.data import pipeline
from edd_tf.experiments import grid as grid_lib
from edd_tf.experiments import sweep
from edd_tf.nets import mixed_op
from edd_tf.spaces import darts_supernet as ds
from edd_tf.spaces import nb201_supernet
from tests.helpers import set_fields

S2 = ds.ROBUST_DARTS_SPACES['s2']   # ('skip_connect', 'sep_conv_3x3') on every edge
SEED = tf.constant([3, 7], tf.int32)


def _x(shape, seed=0):
  return tf.constant(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


# ---- the schedules ----------------------------------------------------------


def test_drop_path_rate_ramps_from_zero_to_p_max_at_the_last_epoch():
  rate = regularisation.drop_path_rate
  assert rate(0, 50, 0.6) == 0.0
  assert rate(1, 50, 0.6) == pytest.approx(0.6 / 49)
  assert rate(25, 50, 0.6) == pytest.approx(0.6 * 25 / 49)
  assert rate(49, 50, 0.6) == pytest.approx(0.6)
  assert rate(0, 1, 0.6) == 0.0                       # one epoch: E - 1 = 0
  assert rate(49, 50, 0.0) == 0.0


def test_cutout_probability_ramps_from_zero_to_one_or_stays_one():
  prob = regularisation.cutout_prob
  assert [prob(e, 50) for e in (0, 10, 49)] == pytest.approx([0.0, 10 / 49, 1.0])
  assert [prob(e, 50, 'constant') for e in (0, 10, 49)] == [1.0, 1.0, 1.0]
  config = rdarts.get_config('dp0.4,s2,cifar10').search
  assert regularisation.epoch_values(config, 10, 50) == pytest.approx(
      {'drop_path_rate': 0.4 * 10 / 49, 'cutout_prob': 10 / 49})
  assert regularisation.cutout_args(config, 0, 50) == {'cutout': 16, 'cutout_prob': 0.0}
  assert regularisation.cutout_args(config, 49, 50) == {'cutout': 16, 'cutout_prob': 1.0}
  off = search.default_config().search
  assert regularisation.epoch_values(off, 10, 50) == {}   # nothing logged when off
  assert regularisation.cutout_args(off, 10, 50) == {'cutout': 0, 'cutout_prob': 1.0}


# ---- drop path on a mixed edge and in the supernets ------------------------


def test_dropped_sample_is_zero_and_the_others_are_rescaled():
  """Hand check on one skip edge: y = w x, then y * m / (1 - p), m from the seed."""
  edge = mixed_op.MixedOp(('skip_connect',), 4, 1)
  x = _x([32, 4, 4, 4])
  w, p = 0.5, 0.25
  out = edge(x, tf.constant([w]), training=True, drop_path=(tf.constant(p), SEED)).numpy()
  u = tf.random.stateless_uniform([32, 1, 1, 1], SEED).numpy()
  kept = u[:, 0, 0, 0] < 1 - p
  assert 0 < kept.sum() < 32                            # both kinds of sample occur
  np.testing.assert_array_equal(out[~kept], 0.0)
  np.testing.assert_allclose(out[kept], w * x.numpy()[kept] / (1 - p), rtol=1e-6)
  plain = edge(x, tf.constant([w]), training=True).numpy()
  np.testing.assert_array_equal(plain, w * x.numpy())


def test_the_cell_folds_the_edge_into_the_seed_in_both_paths():
  """Skip weight 1, sep weight 0: node i = sum_j m_ij h_j / (1 - p); fused == reference."""
  cells = [ds.DartsSearchCell(S2[0], 4, reduction=False, reduction_prev=False, fused=f)
           for f in (True, False)]
  s0, s1 = _x([16, 4, 4, 4], 1), _x([16, 4, 4, 4], 2)
  weights = tf.constant([[1.0, 0.0]] * 14)
  for cell in cells:
    cell(s0, s1, weights)
  cells[1].set_weights(cells[0].get_weights())
  p = 0.5
  drop = (tf.constant(p), SEED)
  fused, reference = [c(s0, s1, weights, training=True, drop_path=drop) for c in cells]
  np.testing.assert_allclose(fused, reference, rtol=1e-5, atol=1e-5)
  cell = cells[1]
  states = [cell.preprocess0(s0, training=True), cell.preprocess1(s1, training=True)]
  for node, (start, end) in enumerate(ds.edge_groups(4)):
    terms = []
    for k in range(start, end):
      u = tf.random.stateless_uniform([16, 1, 1, 1], tf.random.experimental.stateless_fold_in(
          SEED, k))
      terms.append(states[ds.DARTS_EDGES[k][1]] * tf.cast(u < 1 - p, tf.float32) / (1 - p))
    states.append(tf.add_n(terms))
  np.testing.assert_allclose(reference, tf.concat(states[2:], -1), rtol=1e-5, atol=1e-5)


# A two-step DARTS cell (5 edges) keeps these eager calls quick.
S2_SMALL = ((('skip_connect', 'sep_conv_3x3'),) * 5,) * 2


def _supernets():
  darts = [ds.DartsSupernet(10, normal_ops=S2_SMALL[0], reduce_ops=S2_SMALL[1], channels=4,
                            layers=3, steps=2, multiplier=2, fused=f) for f in (True, False)]
  space = spaces.get_space('nb201')
  nb = [nb201_supernet.NB201Supernet(10, channels=4, cells_per_stage=1, space=space, fused=f)
        for f in (True, False)]
  darts_w = {'alphas_normal': tf.nn.softmax(_x([5, 2], 4)),
             'alphas_reduce': tf.nn.softmax(_x([5, 2], 5))}
  nb_w = {'alphas': tf.nn.softmax(_x([6, 5], 6))}
  return [(m, darts_w) for m in darts] + [(m, nb_w) for m in nb]


@pytest.mark.slow  # four supernets, eagerly: ~15 s quiet, a minute on a loaded machine
def test_p_max_zero_leaves_the_supernets_bit_identical():
  """p_max = 0 passes no drop path (the graph of before); rate 0 multiplies by exactly 1."""
  images = _x([8, 8, 8, 3], 3)
  for model, weights in _supernets():
    plain = model(images, weights, training=True).numpy()
    np.testing.assert_array_equal(model(images, weights, training=True, drop_path=None), plain)
    # At rate 0 the DARTS cells are bitwise the same; the fused NB201 cell sums
    # each edge's terms before the node's sum (the drop acts on an edge's sum).
    np.testing.assert_allclose(
        model(images, weights, training=True, drop_path=(tf.constant(0.0), SEED)), plain,
        rtol=1e-5, atol=1e-5)
    dropped = model(images, weights, training=True, drop_path=(tf.constant(0.5), SEED))
    assert not np.allclose(dropped, plain)
    # Inference mode (read-out, discretized accuracy) never drops.
    np.testing.assert_array_equal(
        model(images, weights, training=False, drop_path=(tf.constant(0.5), SEED)),
        model(images, weights, training=False))


def test_searcher_with_p_max_zero_takes_the_step_of_before():
  """drop_path_max = 0: the weight gradients equal a plain training-mode forward's, bitwise."""
  s = searcher_lib.Searcher(_tiny(), 10, 8)
  assert s.drop_path(SEED) is None
  images, labels = _x([8, 8, 8, 3], 1), tf.constant(np.arange(8) % 10, tf.int32)
  weights, indices = s.method.weight_step_mixing(s, images, labels, SEED)
  with tf.GradientTape() as tape:
    loss, _ = s.loss(labels, s.model(images, weights, indices, training=True))
  want = tape.gradient(loss, s.weight_variables)
  got, got_loss, _ = s._weight_gradients(images, labels, SEED)
  assert float(got_loss) == float(loss)
  for a, b in zip(got, want):
    np.testing.assert_array_equal(a, b)


def _tiny(space='nb201', **overrides):
  c = search.default_config()
  c.space = space
  c.model.update(channels=4, cells_per_stage=1, layers=3)
  c.search.update(batch_size=8)
  c.optim.weights.update(lr=0.1, momentum=0.0, nesterov=False, grad_clip=0.0)
  return set_fields(c, overrides)


def test_searcher_draws_the_masks_from_the_step_seed():
  on = searcher_lib.Searcher(_tiny(**{'search.drop_path_max': 0.6}), 10, 8)
  on.drop_path_rate.assign(0.3)
  rate, seed = on.drop_path(SEED)
  assert float(rate) == pytest.approx(0.3)
  assert not np.array_equal(seed, SEED)               # its own stream of the step seed
  images, labels = _x([8, 8, 8, 3], 1), tf.constant(np.arange(8) % 10, tf.int32)
  g1 = on._weight_gradients(images, labels, SEED)[0]
  g2 = on._weight_gradients(images, labels, SEED)[0]
  g3 = on._weight_gradients(images, labels, SEED + 1)[0]
  for a, b in zip(g1, g2):
    np.testing.assert_array_equal(a, b)               # stateless: the same masks again
  assert any(not np.allclose(a, b) for a, b in zip(g1, g3))


# ---- cutout with a probability ---------------------------------------------


def test_cutout_probability_cuts_a_share_of_the_images():
  rng = np.random.default_rng(0)
  arrays = pipeline.Arrays(rng.integers(0, 256, [64, 32, 32, 3], dtype=np.uint8),
                           np.arange(64, dtype=np.int32) % 10, pipeline.DATASETS['cifar10'])

  def batch(**kwargs):
    ds_ = pipeline.make_dataset(arrays, 64, training=True, seed=1, epoch=2, **kwargs)
    return next(iter(ds_))[0].numpy()

  none, full = batch(), batch(cutout=16)
  np.testing.assert_array_equal(batch(cutout=16, cutout_prob=1.0), full)   # as before
  np.testing.assert_array_equal(batch(cutout=16, cutout_prob=0.0), none)
  half = batch(cutout=16, cutout_prob=0.5)
  cut = [not np.array_equal(half[i], none[i]) for i in range(64)]
  assert 10 < sum(cut) < 54
  for i in range(64):
    np.testing.assert_array_equal(half[i], full[i] if cut[i] else none[i])
  with pytest.raises(ValueError, match='cutout_prob must be in'):
    pipeline.make_dataset(arrays, 8, training=True, cutout=16, cutout_prob=1.5)


# ---- R-DARTS(L2): the weight decay is coupled L2 -----------------------------


def test_l2_reaches_the_weight_step_as_coupled_l2():
  """First SGD step, momentum 0, no clip: w' = w - lr (dL/dw + wd w), with wd = 2.43e-2."""
  config = _tiny(**{'optim.weights.weight_decay': 2.43e-2})
  s = searcher_lib.Searcher(config, 10, 8)
  images, labels = _x([8, 8, 8, 3], 2), tf.constant(np.arange(8) % 10, tf.int32)
  seed = tf.constant([0, 0], tf.int32)
  weights, indices = s.method.weight_step_mixing(s, images, labels, seed)
  with tf.GradientTape() as tape:
    loss, _ = s.loss(labels, s.model(images, weights, indices, training=True))
  grads = tape.gradient(loss, s.weight_variables)
  before = [v.numpy() for v in s.weight_variables]
  s._weight_step(images, labels, seed)
  for v, w, g in zip(s.weight_variables, before, grads):
    np.testing.assert_allclose(v.numpy(), w - 0.1 * (g.numpy() + 2.43e-2 * w), rtol=1e-4,
                               atol=1e-6, err_msg=v.path)


# ---- config ----------------------------------------------------------------


@pytest.mark.parametrize('value', [1.0, -0.1, 1.5])
def test_bad_drop_path_max_is_refused_naming_the_field(value):
  config = search.default_config()
  config.search.drop_path_max = value
  with pytest.raises(ValueError, match=r'config\.search\.drop_path_max must be a number in '
                                       r'\[0, 1\)'):
    search.check_config(config)


def test_bad_cutout_settings_are_refused_naming_the_field():
  config = search.default_config()
  config.search.cutout = -1
  with pytest.raises(ValueError, match=r'config\.search\.cutout must be an integer >= 0'):
    search.check_config(config)
  config.search.cutout = 16
  config.search.cutout_schedule = 'linear'
  with pytest.raises(ValueError, match=r"config\.search\.cutout_schedule 'linear'; allowed: "
                                       r"\['ramp', 'constant'\]"):
    search.check_config(config)


def test_rdarts_config_recipe_and_grids():
  dp = rdarts.get_config('dp0.6,s2,cifar10')
  assert (dp.method, dp.space, dp.search.order) == ('darts_2nd', 's2', 'a_then_w')
  assert (dp.search.drop_path_max, dp.search.cutout, dp.search.cutout_schedule) == (0.6, 16,
                                                                                     'ramp')
  assert dp.optim.weights.weight_decay == 3e-4 and dp.optim.arch.weight_decay == 1e-3
  assert rdarts.get_config('dp,s1,cifar10').search.drop_path_max == 0.6
  assert rdarts.get_config('dp0,s1,cifar10').search.cutout == 0   # RD: no cutout at p = 0
  l2 = rdarts.get_config('l2=8.1e-3,s3,cifar100')
  assert (l2.optim.weights.weight_decay, l2.search.drop_path_max, l2.search.cutout) == (
      8.1e-3, 0.0, 0)
  assert l2.data.name == 'cifar100' and l2.optim.arch.weight_decay == 1e-3
  for arg in ('dp0.3,s1,cifar10', 'l2=1e-3,s1,cifar10', 'dp,s9,cifar10', 'x,s1,cifar10',
              'dp,s1'):
    with pytest.raises(ValueError, match='configs/rdarts.py'):
      rdarts.get_config(arg)


@pytest.mark.parametrize('grid_file,spec,runs', [('rdarts_dp.txt', 'dp,s1,cifar10', 12),
                                                 ('rdarts_l2.txt', 'l2,s1,cifar10', 15)])
def test_grid_files_plan_valid_searches(tmp_path, grid_file, spec, runs):
  root = pathlib.Path(__file__).resolve().parents[2]
  axes = grid_lib.read_grid_file(root / 'configs' / 'grids' / grid_file)
  plan = sweep.plan_sweep(f'{root / "configs" / "rdarts.py"}:{spec}', axes, {}, tmp_path / 'sw',
                          check=search.check_config)
  assert len(plan.runs) == runs
