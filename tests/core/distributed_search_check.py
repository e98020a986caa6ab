"""Run by test_distribute.py in a fresh process: 2 logical CPUs, MirroredStrategy.

Logical devices must be configured before TensorFlow initialises, which pytest's
process has already done; so the checks run here and print 'OK'.
`python -m tests.core.distributed_search_check [check ...]` runs the named checks
(default: all).
"""

import contextlib
import sys
import tempfile

import tensorflow as tf

cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from edd_tf.data import pipeline as data_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from edd_tf import search  # pylint: disable=g-import-not-at-top,wrong-import-position
from edd_tf.bilevel import searcher as searcher_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from edd_tf.final import genotypes  # pylint: disable=g-import-not-at-top,wrong-import-position
from edd_tf.final import models  # pylint: disable=g-import-not-at-top,wrong-import-position
from edd_tf.final import steps  # pylint: disable=g-import-not-at-top,wrong-import-position
from edd_tf.core import optim  # pylint: disable=g-import-not-at-top,wrong-import-position
from tests import test_train  # pylint: disable=g-import-not-at-top,wrong-import-position
from tests.helpers import tiny_search_config as tiny_config  # pylint: disable=g-import-not-at-top,wrong-import-position


_MIRRORED = []


def mirrored_strategy():
  """One MirroredStrategy over the 2 logical CPUs for the whole process.

  Two strategies over the same devices number their collectives alike, and
  the runtime caches a collective's shape by its key: a second strategy's
  all-reduce of another shape then fails ("Shape mismatch in the collective").
  """
  if not _MIRRORED:
    _MIRRORED.append(tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1']))
  return _MIRRORED[0]


def replica_values(variable, strategy):
  return [np.asarray(v) for v in strategy.experimental_local_results(variable.value)]


def random_batch(rng, n):
  return (rng.standard_normal((n, 32, 32, 3)).astype(np.float32),
          rng.integers(0, 10, n).astype(np.int32))


def doubled(batch):
  return tuple(np.concatenate([x, x]) for x in batch)


def check_replicas_equal_one_device_on_their_half(weight_lr):
  """2 replicas on the global batch [A; A] take exactly one device's step on A.

  Each replica then sees A, so its forward pass, BN statistics and gradient
  are the single device's on A (batch_size = 16): the loss share sum(A) / 32,
  all-reduced over the 2 replicas, is mean(A), and the pipeline's scaling by
  powers of two is exact. So losses, accuracies, the alpha gradient norm,
  weights and alphas must agree to float32 rounding; measured bitwise equal.
  A wrong aggregation (summed or halved gradients, a missing all-reduce) is
  off by the update itself.

  Why not compare with one device on [A; A]: its BN statistics over 32
  images are associated differently from those over 16, a ~1e-6 relative
  difference in the activations, and a ReLU input that close to 0 flips.
  One flipped unit changes the weight gradients by up to 3.5% (measured in
  WORKSPACE "2-replica weight updates"), which this comparison would read as
  a bug.
  """
  overrides = {'optim.arch.lr': 3e-4, 'optim.weights.lr': weight_lr,
               'optim.weights.lr_min': 0.0}
  mirrored = mirrored_strategy()
  keras.utils.set_random_seed(0)
  single = searcher_lib.Searcher(tiny_config(**overrides, **{'search.batch_size': 16}), 10, 32)
  keras.utils.set_random_seed(0)
  multi = searcher_lib.Searcher(tiny_config(**overrides, **{'search.batch_size': 32}), 10, 32,
                          mirrored)
  for a, b in zip(single.weight_variables, multi.weight_variables):
    np.testing.assert_array_equal(a.numpy(), replica_values(b, mirrored)[0])
  multi.alphas.assign(single.alphas.numpy())
  rng = np.random.default_rng(0)
  initial = [v.numpy().copy() for v in single.weight_variables]
  initial_alphas = single.alphas.numpy().copy()
  for _ in range(2):
    train, val = random_batch(rng, 16), random_batch(rng, 16)
    want = [float(v) for v in single.pair_step(train, val, True)]
    batches = zip(multi.distribute(tf.data.Dataset.from_tensors(doubled(train))),
                  multi.distribute(tf.data.Dataset.from_tensors(doubled(val))))
    got = [float(v) for b in batches for v in multi.pair_step(*b, True)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
  # Updates after two steps, compared to 2e-5 of the largest update of each
  # variable (measured: 0).
  for w0, a, b in zip(initial, single.weight_variables, multi.weight_variables):
    update = np.abs(a.numpy() - w0).max()
    assert weight_lr == 0 or update > 0, a.path
    for value in replica_values(b, mirrored):
      np.testing.assert_allclose(value - w0, a.numpy() - w0, rtol=0, atol=2e-5 * update,
                                 err_msg=a.path)
  alpha_update = np.abs(single.alphas.numpy() - initial_alphas).max()
  for value in replica_values(multi.alphas, mirrored):
    np.testing.assert_allclose(value, single.alphas.numpy(), rtol=0, atol=2e-5 * alpha_update)


def check_run_keeps_replicas_in_sync():
  config = tiny_config(**{'search.epochs': 2})
  mirrored = mirrored_strategy()
  with tempfile.TemporaryDirectory() as workdir:
    result = search.run(config, workdir, strategy=mirrored)
  assert len(result['history']) == 2
  assert all(np.isfinite(h['train_loss']) for h in result['history'])


@contextlib.contextmanager
def smooth_relu():
  """ReLU -> softplus(8x) / 8 in everything traced inside (keras.ops.relu is looked up per call).

  Comparing two ways of computing the same BN statistics (all-reduced sums on
  2 replicas vs the fused kernel on one device) leaves ~1e-6 relative float
  differences; a ReLU input that close to 0 flips and moves a weight gradient
  by percents (WORKSPACE "2-replica weight updates": 2.5% with sync BN, the
  same order as the float association of one device's [A; A]). A smooth
  activation keeps the comparison about the statistics.
  """
  relu = keras.ops.relu
  keras.ops.relu = lambda x: tf.nn.softplus(8.0 * x) / 8.0
  try:
    yield
  finally:
    keras.ops.relu = relu


def _search_steps(strategy, sync, batches):
  """Losses per step and weights / alphas (replica 0) before and after each step."""
  config = tiny_config(**{'optim.arch.lr': 3e-4, 'optim.weights.lr': 0.025,
                          'optim.weights.lr_min': 0.0, 'sync_batch_norm': sync})
  keras.utils.set_random_seed(0)
  searcher = searcher_lib.Searcher(config, 10, 32, strategy)
  snapshots = [[replica_values(v, searcher.strategy) for v in searcher.weight_variables]]
  alphas = [replica_values(searcher.alphas, searcher.strategy)]
  losses = []
  for train_batch, val_batch in batches:
    pairs = zip(searcher.distribute(tf.data.Dataset.from_tensors(train_batch)),
                searcher.distribute(tf.data.Dataset.from_tensors(val_batch)))
    losses.append([float(v) for pair in pairs for v in searcher.pair_step(*pair, True)])
    snapshots.append([replica_values(v, searcher.strategy) for v in searcher.weight_variables])
    alphas.append(replica_values(searcher.alphas, searcher.strategy))
  return losses, snapshots, alphas


def _max_relative_difference(want, got, start):
  """max over variables of max |got - want| / the variable's largest update (replica 0).

  A variable whose update is below 1% of the largest one (e.g. a BN offset
  right before another BN: gradient 0 up to float noise) is measured against
  that 1% instead.
  """
  updates = [np.abs(w[0] - s0[0]).max() for w, s0 in zip(want, start)]
  floor = 0.01 * max(updates)
  return max(np.abs(g[0] - w[0]).max() / max(u, floor) for w, g, u in zip(want, got, updates))


def check_sync_batch_norm_equals_one_device_on_global_batch():
  """2 replicas with config.sync_batch_norm on [A; B] (different halves) take the step
  of one device on [A; B]; without sync they do not.

  Step 1's weight update is -lr (1 + mu) clip(g) - lr wd w (nesterov, empty
  momentum), so comparing it compares the all-reduced weight gradients;
  step 2 compares weights after a second weight and alpha step. Measured with
  the smooth activation: <= 2.4e-4 of each variable's update with sync (the
  explicit sums vs the fused kernel, in float32), 0.37-1.7 without; the
  alphas (Adam, ~lr sign(g) per step) 4e-5 of their update with sync, ~1
  without; losses within 4e-7. Replica copies stay bitwise equal.
  """
  rng = np.random.default_rng(0)
  batches = [(random_batch(rng, 32), random_batch(rng, 32)) for _ in range(2)]
  mirrored = mirrored_strategy()
  with smooth_relu():
    want_losses, want, want_alphas = _search_steps(None, True, batches)
    got_losses, got, got_alphas = _search_steps(mirrored, True, batches)
    _, unsynced, unsynced_alphas = _search_steps(mirrored, False, batches)
  # Losses, accuracies; the alpha gradient norm sums per-replica terms in another order.
  np.testing.assert_allclose(got_losses, want_losses, rtol=2e-5, atol=1e-6)
  for step in (1, 2):
    assert _max_relative_difference(want[step], got[step], want[step - 1]) < 1e-3, step
    assert _max_relative_difference(want[step], unsynced[step], want[step - 1]) > 0.1, step
    for replicas in got[step]:
      np.testing.assert_array_equal(replicas[0], replicas[1])
  alpha_update = np.abs(want_alphas[2][0] - want_alphas[0][0]).max()
  assert np.abs(got_alphas[2][0] - want_alphas[2][0]).max() < 1e-3 * alpha_update
  assert np.abs(unsynced_alphas[2][0] - want_alphas[2][0]).max() > 0.1 * alpha_update
  np.testing.assert_array_equal(got_alphas[2][0], got_alphas[2][1])


def _train_steps(strategy, sync, batches):
  config = test_train.tiny_config()
  config.sync_batch_norm = sync
  config.train.batch_size = 16
  strategy = strategy or tf.distribute.get_strategy()
  keras.utils.set_random_seed(0)
  genotype = genotypes.resolve_genotype(config.genotype, config.network)
  info = data_lib.DATASETS['cifar10']
  with strategy.scope():
    model = models.build_model(config, genotype, info)
    optimizer = steps.make_optimizer(config.train, model.trainable_variables)
  step = steps.make_train_step(model, optimizer, strategy=strategy, global_batch_size=16,
                               weight_decay=5e-4, grad_clip=5.0)
  snapshots = [[replica_values(v, strategy) for v in model.trainable_variables]]
  losses = []
  for batch in batches:
    if strategy.num_replicas_in_sync > 1:
      batch = next(iter(strategy.experimental_distribute_dataset(
          tf.data.Dataset.from_tensors(batch))))
    losses.append([float(v) for v in step(*batch)])
    snapshots.append([replica_values(v, strategy) for v in model.trainable_variables])
  return losses, snapshots


def check_sync_batch_norm_training_step():
  """final.steps.make_train_step: 2 replicas with sync BN on [A; B] == one device on [A; B].

  Measured: <= 3.2e-4 of each variable's update with sync, 1.0-1.7 without.
  """
  rng = np.random.default_rng(1)
  batches = [random_batch(rng, 16) for _ in range(2)]
  mirrored = mirrored_strategy()
  with smooth_relu():
    want_losses, want = _train_steps(None, True, batches)
    got_losses, got = _train_steps(mirrored, True, batches)
    _, unsynced = _train_steps(mirrored, False, batches)
  np.testing.assert_allclose(got_losses, want_losses, rtol=2e-5, atol=1e-6)
  for step in (1, 2):
    assert _max_relative_difference(want[step], got[step], want[step - 1]) < 1e-3, step
    assert _max_relative_difference(want[step], unsynced[step], want[step - 1]) > 0.1, step


def check_loss_scale_skips_on_every_replica_when_one_overflows():
  """Only replica 1's gradient is inf: both replicas skip and halve (tf-notes finding C)."""
  mirrored = mirrored_strategy()
  with mirrored.scope():
    v = keras.Variable(np.ones(3, np.float32))
    opt = optim.sgd(0.1, 0.9, False, [v])
    scale = optim.LossScale(initial_scale=8.0, growth_steps=2)

  @tf.function
  def step(g):
    return mirrored.run(lambda g: optim.apply_gradients(opt, [g], [v], loss_scale=scale),
                        args=(g,))

  def per_replica(value):
    return mirrored.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(value if ctx.replica_id_in_sync_group == 1 else [0.0, 0, 0]))

  step(per_replica([np.inf, 1.0, 1.0]))
  for value in replica_values(v, mirrored):
    np.testing.assert_array_equal(value, [1.0, 1.0, 1.0])
  assert [float(x) for x in mirrored.experimental_local_results(scale.scale)] == [4.0, 4.0]
  assert int(opt.iterations.numpy()) == 0
  for _ in range(2):
    step(per_replica([1.0, 1.0, 1.0]))  # the replicas' shares sum to the gradient [1, 1, 1]
  for value in replica_values(v, mirrored):
    np.testing.assert_allclose(value, [1 - 0.1 - 0.19] * 3, rtol=1e-6)
  assert [float(x) for x in mirrored.experimental_local_results(scale.scale)] == [8.0, 8.0]


def check_gradients_cross_the_replicas_once():
  """apply_gradients all-reduces once per step, and the update is of the mean gradient.

  A stock Keras optimizer sums the gradients over the replicas again inside
  its apply_gradients: correct only with a division by the replica count, and
  twice the all-reduce traffic. Counts the all-reduces traced in one step
  (spying on the replica context's all_reduce) and checks the SGD update of
  replica shares [0, 0] and [1, 1] is lr * [1, 1].
  """
  mirrored = mirrored_strategy()
  with mirrored.scope():
    v = keras.Variable(np.ones(2, np.float32))
    opt = optim.sgd(0.1, 0.0, False, [v])
  calls = []
  spied = {}

  def spy(grads):
    context = tf.distribute.get_replica_context()
    owner = next(k for k in type(context).__mro__ if 'all_reduce' in vars(k))
    if not spied:
      original = owner.all_reduce
      spied['restore'] = (owner, original)

      def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)
      owner.all_reduce = counting
    return optim.apply_gradients(opt, [grads], [v])

  @tf.function
  def step(g):
    return mirrored.run(spy, args=(g,))

  try:
    step(mirrored.experimental_distribute_values_from_function(
        lambda ctx: tf.fill([2], tf.cast(ctx.replica_id_in_sync_group, tf.float32))))
  finally:
    owner, original = spied['restore']
    owner.all_reduce = original
  replicas = mirrored.num_replicas_in_sync
  assert len(calls) == replicas, f'{len(calls)} all-reduce calls traced for {replicas} replicas'
  for value in replica_values(v, mirrored):
    np.testing.assert_allclose(value, [0.9, 0.9], rtol=1e-6)


CHECKS = {
    'exact': lambda: check_replicas_equal_one_device_on_their_half(weight_lr=0.025),
    'run': check_run_keeps_replicas_in_sync,
    'sync_search': check_sync_batch_norm_equals_one_device_on_global_batch,
    'sync_train': check_sync_batch_norm_training_step,
    'loss_scale': check_loss_scale_skips_on_every_replica_when_one_overflows,
    'reduce_once': check_gradients_cross_the_replicas_once,
}


if __name__ == '__main__':
  for name in sys.argv[1:] or list(CHECKS):
    CHECKS[name]()
  print('OK')
  sys.exit(0)
