"""DrNAS' progressive DARTS-space recipe: pruning, masked mixing, widening, stages, resume."""

import json

import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from configs import darts_cifar10_drnas
from edd_tf import search
from edd_tf import spaces
from edd_tf.bilevel import searcher as searcher_lib
from edd_tf.methods import drnas
from edd_tf.nets import mixed_op
from edd_tf.nets import widening
from tests import helpers
from tests.helpers import set_fields
from tests.methods.test_search_methods import tiny_config

STAGES = {'drnas': {'reg': 'l2', 'reg_scale': 1e-3, 'progressive': True, 'stage_epochs': [2, 2],
                    'stage_partial_channels': [6, 4], 'stage_keep_ops': [2, 1]},
          'schedule.name': 'constant', 'schedule.t0': 1.0, 'softmax.kind': 'plain',
          'softmax.st': 0.0, 'model.channels': 12, 'model.partial_channels': 6,
          'search.epochs': 4, 'search.arch_warmup_epochs': 1}


def progressive_config(**overrides):
  """Two stages of 2 epochs on S2 (2 ops; K 6 -> 4 on 12 channels), warm-up 1 per stage."""
  return set_fields(tiny_config('drnas', 's2', **STAGES), overrides)


# ---- pruning and the masked mixing ---------------------------------------------


def test_prune_keeps_the_top_k_by_raw_alpha_among_the_kept_ops():
  alpha = np.array([[0.3, -1.0, 0.9, 0.1, 0.5],
                    [2.0, 2.0, -3.0, 0.0, 1.0],     # a tie: the lower column wins
                    [5.0, 0.2, 0.1, 0.4, 0.3]])     # column 0 was pruned before
  mask = np.ones_like(alpha)
  mask[2, 0] = 0
  np.testing.assert_array_equal(drnas.prune(alpha, 2, mask),
                                [[0, 0, 1, 0, 1], [1, 1, 0, 0, 0], [0, 0, 0, 1, 1]])
  np.testing.assert_array_equal(drnas.prune(alpha, 3, mask)[1], [1, 1, 0, 0, 1])


def test_masked_dirichlet_is_zero_on_pruned_ops_and_sums_to_one():
  beta = tf.constant([[1.0, 2.0, 0.5, 3.0], [0.7, 0.7, 0.7, 0.7]])
  mask = tf.constant([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0]])
  seed = tf.constant([3, 5])
  theta = drnas.dirichlet_sample(beta, seed, mask).numpy()
  np.testing.assert_array_equal(theta[mask.numpy() == 0], 0.0)
  np.testing.assert_allclose(theta.sum(-1), 1.0, rtol=1e-6)
  # The same gamma draws renormalised over the kept ops (Dir(beta_kept)).
  g = np.maximum(tf.random.stateless_gamma([2, 4], seed=seed, alpha=beta).numpy(), 1e-30)
  kept = g * mask.numpy()
  np.testing.assert_allclose(theta, kept / kept.sum(-1, keepdims=True), rtol=1e-6)


def test_readout_is_the_masked_renormalised_softmax():
  alpha = np.array([[0.0, np.log(2.0), np.log(3.0)]])
  mask = np.array([[1.0, 0.0, 1.0]])
  np.testing.assert_allclose(drnas.masked_softmax(alpha, mask), [[0.25, 0.0, 0.75]])


def test_entropy_is_over_the_kept_ops():
  config = progressive_config()
  method = drnas.DrNAS(config, spaces.get_space('s2'))
  method.build_state()
  arch = {k: np.zeros(v.shape, np.float32) for k, v in method.masks.items()}
  np.testing.assert_allclose(method.entropies(arch, 1.0), [np.log(2.0)] * 2, rtol=1e-6)
  for v in method.masks.values():
    v.assign(np.array([[1.0, 0.0]] * 14, np.float32))
  np.testing.assert_allclose(method.entropies(arch, 1.0), [0.0, 0.0], atol=1e-12)


def test_mixed_edge_with_pruned_ops_masked_equals_the_edge_of_the_kept_ops():
  names = ('skip_connect', 'sep_conv_3x3', 'max_pool_3x3', 'avg_pool_3x3')
  kept = (1, 3)
  full = mixed_op.MixedOp(names, 8, 1, pool_bn=True, partial_channels=2)
  small = mixed_op.MixedOp([names[c] for c in kept], 8, 1, pool_bn=True, partial_channels=2)
  x = tf.random.stateless_normal([2, 6, 6, 8], seed=[1, 2])
  full(x, tf.fill([4], 0.25))
  small(x, tf.fill([2], 0.5))
  ops = {col: op for col, _, op in full.candidates}
  for (_, _, op), col in zip(small.candidates, kept):
    for target, source in zip(op.weights, ops[col].weights):
      target.assign(source)
  w = tf.constant([0.0, 0.3, 0.0, 0.7])
  np.testing.assert_allclose(full(x, w, training=True), small(x, tf.constant([0.3, 0.7]), training=True),
                             rtol=1e-5, atol=1e-6)


def test_edge_skipping_the_pruned_ops_gives_the_same_output():
  names = ('skip_connect', 'sep_conv_3x3', 'max_pool_3x3', 'dil_conv_3x3')
  edge = mixed_op.MixedOp(names, 8, 1, pool_bn=True, partial_channels=2)
  x = tf.random.stateless_normal([2, 6, 6, 8], seed=[4, 4])
  w = tf.constant([0.0, 0.3, 0.0, 0.7])
  everything = edge(x, w, training=True)
  edge.active_columns = {1, 3}
  assert [n for _, n, _ in edge.live_candidates()] == ['sep_conv_3x3', 'dil_conv_3x3']
  np.testing.assert_allclose(edge(x, w, training=True), everything, rtol=1e-5, atol=1e-6)


def test_supernet_sets_the_active_ops_of_every_edge():
  space = spaces.get_space('s3')      # none, skip_connect, sep_conv_3x3 on every edge
  model = space.build_supernet(10, ml_collections.ConfigDict(dict(
      channels=8, layers=3, partial_channels=2)))
  active = {'alphas_normal': np.array([[True, False, True]] * 14),
            'alphas_reduce': np.array([[True, True, False]] * 14)}
  model.set_active_ops(active)
  assert [{e.active_columns == ({0, 1} if c.reduction else {0, 2}) for e in c.mixed}
          for c in model.cells] == [{True}] * 3
  model.set_active_ops(None)
  assert model.cells[0].mixed[0].active_columns is None


# ---- widening ---------------------------------------------------------------------


def _edge(k, names=('dil_conv_3x3', 'sep_conv_3x3', 'max_pool_3x3')):
  edge = mixed_op.MixedOp(names, 12, 1, pool_bn=True, partial_channels=k, name='edge_2_0')
  edge(tf.zeros([1, 6, 6, 12]), tf.fill([len(names)], 1.0 / len(names)))
  return edge


def test_widening_copies_existing_channels_and_keeps_the_old_ones():
  narrow, wide = _edge(6), _edge(4)               # ops on 2 -> 3 channels
  for v in narrow.weights:
    v.assign(tf.random.stateless_normal(v.shape, seed=[len(v.path), 7]) + 2.0)
  plan = widening.widening_plan(narrow.weights, wide.weights, seed=(0, 1))
  widening.assign_widened(narrow.weights, wide.weights, plan)
  for old, new, axes in zip(narrow.weights, wide.weights, plan):
    old, new = old.numpy(), new.numpy()
    assert axes and new.shape != old.shape
    np.testing.assert_array_equal(new[tuple(slice(0, n) for n in old.shape)], old)
    for index in axes.values():              # every new channel copies an existing one
      np.testing.assert_array_equal(index[:2], [0, 1])
      assert 0 <= index[2] < 2
    np.testing.assert_array_equal(new, widening.widen(old, axes))
  # One copy per op: the pointwise kernel's in and out channels, its depthwise kernel
  # and its BN statistics follow the same map.
  sep = [axes for v, axes in zip(narrow.weights, plan) if 'sep_conv' in v.path]
  maps = {tuple(index) for axes in sep for index in axes.values()}
  assert len(maps) == 1


def test_widened_single_block_ops_compute_the_same_function_on_the_kept_channels():
  # dil_conv (ReLU, depthwise, pointwise, BN) and pool + BN act channel-wise on the new
  # input channels, so with those at zero the kept output channels are the old ones.
  # (sep_conv's second block also reads the copied channels, not rescaled: DrNAS
  # net2wider.py copies without rescaling, so it is not function-preserving.)
  narrow, wide = _edge(6), _edge(4)
  for v in narrow.weights:
    if v.trainable:
      v.assign(tf.random.stateless_normal(v.shape, seed=[len(v.path), 3]))
  widening.assign_widened(narrow.weights, wide.weights,
                          widening.widening_plan(narrow.weights, wide.weights, seed=(0, 1)))
  h = tf.random.stateless_normal([4, 6, 6, 2], seed=[5, 6])
  padded = tf.concat([h, tf.zeros([4, 6, 6, 1])], -1)
  for (_, name, old), (_, _, new) in zip(narrow.candidates, wide.candidates):
    if name == 'sep_conv_3x3':
      continue
    np.testing.assert_allclose(new(padded, training=True)[..., :2], old(h, training=True),
                               rtol=1e-5, atol=1e-5, err_msg=name)


def test_stage_change_prunes_widens_and_extends_the_momenta():
  config = progressive_config()
  s = searcher_lib.Searcher(config, 10, 16)
  assert [m.cells[0].mixed[0].op_channels for m in s.models] == [2, 3]
  rng = np.random.default_rng(0)
  for opt in s.w_opts[:1]:
    for m in opt.momentums:
      m.assign(rng.normal(size=m.shape).astype(np.float32))
  for v in s.models[0].weights:
    v.assign(rng.normal(size=v.shape).astype(np.float32))
  s.w_opts[0].iterations.assign(7)
  alpha = np.array([[0.2, -0.1]] * 7 + [[-0.3, 0.4]] * 7, np.float32)
  s.arch['alphas_normal'].assign(alpha)
  assert s.begin_epoch(1) == {'stage': 0.0} and s.stage == 0
  assert s.begin_epoch(2) == {'stage': 1.0} and s.stage == 1 and s.model is s.models[1]
  # The supernet of stage 2 runs only the kept op of every edge.
  assert s.model.cells[0].mixed[0].active_columns == {0}
  assert s.models[0].cells[0].mixed[0].active_columns is None
  assert int(s.stage_reached.numpy()) == 1 and int(s.w_opt.iterations.numpy()) == 7
  # Pruning to 1 op: the larger raw alpha kept, the other alpha 0 and masked.
  mask = s.method.masks['alphas_normal'].numpy()
  np.testing.assert_array_equal(mask, [[1, 0]] * 7 + [[0, 1]] * 7)
  np.testing.assert_allclose(s.arch['alphas_normal'].numpy(), alpha * mask)
  # Weights and momenta widened with the same channel maps.
  plan = widening.widening_plan(s.models[0].weights, s.models[1].weights, seed=(config.seed, 1))
  axes = {v.path: a for v, a in zip(s.models[0].weights, plan)}
  for old, new in zip(s.models[0].weights, s.models[1].weights):
    np.testing.assert_array_equal(new.numpy(), widening.widen(old.numpy(), axes[old.path]))
  grown = 0
  for v, m_old, m_new in zip(s.models[0].trainable_variables, s.w_opts[0].momentums,
                             s.w_opts[1].momentums):
    np.testing.assert_array_equal(m_new.numpy(), widening.widen(m_old.numpy(), axes[v.path]))
    grown += bool(axes[v.path])
  assert grown > 0
  # Entering again (a resumed run) changes nothing.
  before = s.arch['alphas_normal'].numpy()
  s.begin_epoch(3)
  np.testing.assert_array_equal(s.arch['alphas_normal'].numpy(), before)


def test_warmup_epochs_count_from_each_stage():
  method = drnas.DrNAS(progressive_config(), spaces.get_space('s2'))
  assert [method.stage_of_epoch(e) for e in range(4)] == [0, 0, 1, 1]
  assert [method.epoch_in_stage(e) for e in range(4)] == [0, 1, 0, 1]


# ---- config -------------------------------------------------------------------------


def test_the_recipe_config_validates():
  config = darts_cifar10_drnas.get_config()
  search.check_config(config)
  assert config.space == 'darts_no_none' and tuple(config.drnas.stage_keep_ops) == (7, 4)


def test_progressive_on_nb201_is_refused_before_any_write(tmp_path):
  config = tiny_config('drnas', 'nb201', **STAGES)
  config.model.partial_channels = 6
  with pytest.raises(ValueError, match=r"config\.drnas\.progressive=True.*allowed config\.space: "
                                       r"darts_no_none, darts, s1-s4.*'nb201'"):
    search.run(config, tmp_path / 'w')
  assert not (tmp_path / 'w').exists()


@pytest.mark.parametrize('field, value, match', [
    ('search.epochs', 5, r'config\.search\.epochs=5 must equal the sum'),
    ('model.partial_channels', 4, r'config\.model\.partial_channels=4 must be'),
    ('drnas.stage_partial_channels', [6, 12], r'non-increasing'),
    ('drnas.stage_keep_ops', [3, 1], r'stage_keep_ops\[0\] must be .*allowed: \[2\]'),
])
def test_bad_stage_settings_are_refused(field, value, match):
  with pytest.raises(ValueError, match=match):
    search.check_config(progressive_config(**{field: value}))


# ---- the whole search -------------------------------------------------------------------


@pytest.mark.slow
def test_two_stage_search_warms_up_prunes_and_resumes_exactly_in_stage_2(tmp_path):
  config = progressive_config()
  arch_after = []

  def record(epoch, step, steps, metrics):
    del epoch, metrics
    if step == steps:
      result = json.loads((tmp_path / 'ref' / 'genotype.json').read_text())
      arch_after.append({k: np.array(v) for k, v in result['arch'].items()})

  reference = search.run(config, tmp_path / 'ref', progress=record)
  assert len(arch_after) == 4
  assert [h['arch_grad_norm'] is None for h in reference['history']] == [True, False] * 2
  init = drnas.DrNAS(config, spaces.get_space('s2')).init_arch(np.random.default_rng(config.seed))
  for key, a0 in init.items():
    np.testing.assert_array_equal(arch_after[0][key], a0)             # stage 1 warm-up
    assert not np.allclose(arch_after[1][key], a0)
    mask = drnas.prune(arch_after[1][key], 1, np.ones_like(a0))
    np.testing.assert_array_equal(arch_after[2][key], arch_after[1][key] * mask)  # pruned, warm-up
    assert not np.allclose(arch_after[3][key], arch_after[2][key])

  # Cut in the first epoch of stage 2 (the resumed run carries stage 1 over again from
  # the checkpoint), then in its second (it restores stage 2's weights and masks).
  for at in (2, 3):
    with pytest.raises(helpers.Interrupt):
      search.run(config, tmp_path / 'cut', progress=helpers.interrupt_at(at, 1))
  resumed = search.run(config, tmp_path / 'cut')
  assert resumed['genotype'] == reference['genotype']
  for key, value in reference['arch'].items():
    np.testing.assert_allclose(resumed['arch'][key], value, rtol=1e-4, atol=1e-6, err_msg=key)
  want = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / 'ref' / 'checkpoints')))
  got = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / 'cut' / 'checkpoints')))
  masks = [n for n in want.get_variable_to_shape_map() if n.startswith('drnas_mask')]
  assert len(masks) == 2
  for name in masks:
    np.testing.assert_array_equal(got.get_tensor(name), want.get_tensor(name))
