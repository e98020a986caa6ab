"""Speed, memory and load-independent counts of a config's compiled step, on synthetic data.

What `binaries/benchmark.py` measures, as a library function so that tests
and scripts get the same dict:

  result = step_benchmark.measure(config, steps=10)   # a search or a training config

For a search config the step is one step pair
(`bilevel.searcher.Searcher.pair_step`: a weight step on a training batch +
an alpha step on a validation batch); for a training config it is one SGD
step of the final network (`final.steps.make_train_step`). Both are built
exactly as the loops build them, under the strategy `config.distribute`
names, at the config's full size and batch, with random images (the input
pipeline is not part of it).

Why counts next to timings: this machine is shared and its timings swing;
FLOPs, bytes moved, kernels per step and all-reduce bytes (`edd_tf.perf.profiling`)
do not, and they are what a GPU throughput model is built from (WORKSPACE.md,
"GPU plan (H100)"). The counts come from the first call of the step (the
run metadata of the graph TensorFlow optimised), so they are taken before
the warm-up and cost one extra step.

`images_per_second` counts the global batch of one step (for a search pair:
the `search.batch_size` training images of its weight step; the pair also
reads as many validation images, `images_per_step` counts both).
"""

import dataclasses
import os
import platform
import resource
import time

import keras
import numpy as np
import tensorflow as tf

from edd_tf.data import pipeline as data_lib
from edd_tf.core import distribute as distribute_lib
from edd_tf.core import kernels
from edd_tf.core import multi_step
from edd_tf.nets import finalnet
from edd_tf.perf import profiling
from edd_tf import search
from edd_tf import train
from edd_tf.bilevel import searcher as searcher_lib
from edd_tf.final import genotypes
from edd_tf.final import steps as train_steps

KINDS = ('search', 'train')


def config_kind(config):
  """'search' (has search + schedule) or 'train' (has train + network)."""
  if 'search' in config and 'schedule' in config:
    return 'search'
  if 'train' in config and 'network' in config:
    return 'train'
  raise ValueError(f'neither a search config (config.search, config.schedule) nor a training '
                   f'config (config.train, config.network); top-level fields: '
                   f'{", ".join(sorted(config.keys()))}')


@dataclasses.dataclass
class Subject:
  """One compiled step and what it processes.

  Attributes:
    kind: 'search' (a step pair) or 'train' (one SGD step).
    step: the tf.function the loop calls.
    args: its arguments (global batches, distributed when replicas > 1).
    batch_size: global batch of one step (of the weight step for a search).
    images_per_step: every image one step reads (search: training + validation).
    strategy: the tf.distribute strategy the variables live under.
    model: the Keras model (supernet or final network).
    weight_variables: the model's trainable variables.
    arch_variables: architecture variables (search), else [].
    describe: config facts for the JSON (space, method, network, sizes ...).
  """
  kind: str
  step: object
  args: tuple
  batch_size: int
  images_per_step: int
  strategy: object
  model: object
  weight_variables: list
  arch_variables: list
  describe: dict
  # config.{search,train}.steps_per_call: > 1 times core.multi_step calls over a
  # repeated synthetic batch, as the loop runs them (seconds are per step).
  steps_per_call: int = 1
  call: object = None


def _image_size(config):
  return int(config.data.get('image_size', 0) or data_lib.DATASETS[config.data.name].image_size)


def _random_batch(rng, batch, size, num_classes):
  return (tf.constant(rng.standard_normal((batch, size, size, 3)), tf.float32),
          tf.constant(rng.integers(0, num_classes, batch), tf.int32))


def _distributed(strategy, batch, global_batch):
  """`batch` as the per-replica values a distributed dataset yields (as is for one replica)."""
  if strategy.num_replicas_in_sync == 1:
    return batch
  ds = tf.data.Dataset.from_tensor_slices(batch).batch(global_batch, drop_remainder=True)
  return next(iter(strategy.experimental_distribute_dataset(ds)))


def _check_batch(strategy, batch, field):
  replicas = strategy.num_replicas_in_sync
  if batch % replicas:
    raise ValueError(f'config.{field}={batch} is not divisible by the {replicas} replicas of the '
                     f'strategy')


def build_search(config, strategy):
  """The search step pair of `config` (a search config) at a small temperature."""
  search.check_config(config)
  info = data_lib.DATASETS[config.data.name]
  size, batch = _image_size(config), config.search.batch_size
  _check_batch(strategy, batch, 'search.batch_size')
  searcher = searcher_lib.Searcher(config, info.num_classes, size, strategy)
  searcher.temperature.assign(1e-3)  # a small-temperature epoch, as in EDD's search
  rng = np.random.default_rng(0)
  train_batch, val_batch = (_distributed(strategy, _random_batch(rng, batch, size,
                                                                 info.num_classes), batch)
                            for _ in range(2))
  m = config.model
  describe = dict(space=config.space, method=config.method, channels=m.channels,
                  cells_per_stage=m.cells_per_stage, layers=m.layers,
                  partial_channels=m.partial_channels, fused=bool(m.get('fused', False)),
                  softmax=config.softmax.kind, image_size=size)
  subject = Subject('search', searcher.pair_step, (train_batch, val_batch, True), batch,
                    2 * batch, strategy, searcher.model, list(searcher.weight_variables),
                    list(searcher.arch_variables), describe)
  return _with_steps_per_call(
      subject, config.search.get('steps_per_call', 1), searcher.distribute,
      lambda tb, vb: dict(zip(search.SearchTask.step_metrics, searcher.pair_step(tb, vb, True))),
      search.SearchTask.step_metrics,
      tuple(_random_batch(np.random.default_rng(0), batch, size, info.num_classes)
            for _ in range(2)))


def _with_steps_per_call(subject, k, distribute, step, keys, batches):
  """Sets subject.call to K steps of `step` per core.multi_step call (K > 1)."""
  subject.steps_per_call = k
  if k > 1:
    batch = subject.batch_size
    ds = tf.data.Dataset.from_tensor_slices(batches).batch(batch, drop_remainder=True).repeat()
    iterator = iter(distribute(ds))
    calls = multi_step.MultiStep(step, keys)
    subject.call = lambda: calls(iterator, k)
  return subject


def build_train(config, strategy):
  """One training step of `config` (a training config): final network + SGD."""
  train.check_config(config)
  info = data_lib.DATASETS[config.data.name]
  size, batch = _image_size(config), config.train.batch_size
  _check_batch(strategy, batch, 'train.batch_size')
  info = dataclasses.replace(info, image_size=size)
  genotype = genotypes.resolve_genotype(config.genotype, config.network,
                                        config.get('allow_unfinished_search', False))
  model, _, _, step = train_steps.build_training(config, genotype, info, strategy)
  rng = np.random.default_rng(0)
  images = _distributed(strategy, _random_batch(rng, batch, size, info.num_classes), batch)
  m = config.model
  describe = dict(network=config.network, genotype=genotypes.genotype_text(genotype),
                  channels=m.channels, layers=m.layers, cells_per_stage=m.cells_per_stage,
                  auxiliary_weight=m.auxiliary_weight, image_size=size,
                  inference_macs_per_image=finalnet.count_flops(model, (size, size, 3)))
  subject = Subject('train', step, tuple(images), batch, batch, strategy, model,
                    list(model.trainable_variables), [], describe)

  def distribute(ds):
    return ds if strategy.num_replicas_in_sync == 1 else (
        strategy.experimental_distribute_dataset(ds))

  return _with_steps_per_call(
      subject, config.train.get('steps_per_call', 1), distribute,
      lambda x, y: dict(zip(('loss', 'correct'), step(x, y))), ('loss', 'correct'),
      _random_batch(np.random.default_rng(0), batch, size, info.num_classes))


def build(config, strategy=None):
  """The `Subject` of a search or training config (strategy: from config.distribute)."""
  kind = config_kind(config)
  if strategy is None:
    strategy = distribute_lib.make_strategy(config.get('distribute', 'default'))
  return (build_search if kind == 'search' else build_train)(config, strategy)


def _run(subject):
  """Runs one call (one step, or steps_per_call steps) and waits for its outputs."""
  outputs = subject.call() if subject.call is not None else subject.step(*subject.args)
  tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, 'numpy') else t, outputs)


def count(subject):
  """Load-independent counts of one step; call before the step has run (see module doc).

  Returns:
    dict of JSON-ready counts (see `measure`); runs the step once.
  """
  with profiling.record_all_reduces() as reduces:
    concrete = subject.step.get_concrete_function(*subject.args)
  flops = profiling.count_flops(concrete.graph)
  moved = profiling.count_bytes(concrete.graph)
  graphs, _ = profiling.executed_graphs(subject.step, *subject.args)
  kernels = profiling.count_kernels(graphs)
  replicas = subject.strategy.num_replicas_in_sync
  weights, weight_bytes = profiling.count_params(subject.weight_variables)
  arch, arch_bytes = profiling.count_params(subject.arch_variables)
  return dict(
      flops_per_step=flops['total'],
      flops_per_step_per_replica=flops['total'] // replicas,
      flops_per_image=flops['total'] // subject.batch_size,
      flops_by_op=flops['by_type'],
      bytes_accessed_per_step=moved['total'],
      bytes_accessed_ops=moved['ops'],
      bytes_by_op=dict(list(moved['by_type'].items())[:12]),
      kernels_per_step=kernels['kernels'],
      kernels_per_step_per_replica=kernels['kernels'] // replicas,  # (all devices' graphs)
      graph_nodes_per_step=kernels['nodes'],
      kernels_by_op=dict(list(kernels['by_type'].items())[:20]),
      kernel_count_source='nodes of the Grappler-optimized graph of the first call (run '
                          'metadata), minus nodes that launch no device kernel',
      trainable_params=weights + arch, weight_params=weights, arch_params=arch,
      gradient_bytes=weight_bytes + arch_bytes,
      allreduce_bytes_per_step=reduces.bytes // replicas,
      allreduce_calls_per_step=reduces.calls // replicas,
      allreduce_tensors_per_step=reduces.tensors // replicas)


def time_steps(subjects, steps, warmup):
  """Seconds of `steps` calls of each subject, interleaved (load changes hit all alike)."""
  for s in subjects:
    for _ in range(warmup):
      _run(s)
  times = [[] for _ in subjects]
  for _ in range(steps):
    for i, s in enumerate(subjects):
      start = time.perf_counter()
      _run(s)
      times[i].append((time.perf_counter() - start) / s.steps_per_call)
  return times


def measure_peak_gflops(seconds=3.0, n=2048, chain=4):
  """The machine's fp32 matmul throughput in this process: the best of repeated calls.

  A chain of `chain` n x n float32 matmuls per tf.function call (2 n^3 FLOPs
  each), repeated for about `seconds`; the best call's rate is the peak the
  step's achieved GFLOP/s are compared with (same process, same kernels,
  same threads).
  """
  a = tf.random.stateless_normal([n, n], seed=[1, 2]) / n ** 0.5

  @tf.function
  def matmuls(x):
    for _ in range(chain):
      x = tf.linalg.matmul(x, a)
    return tf.reduce_sum(x)

  matmuls(a).numpy()  # trace + warm-up
  best, end = 0.0, time.perf_counter() + seconds
  while time.perf_counter() < end:
    start = time.perf_counter()
    matmuls(a).numpy()
    best = max(best, 2.0 * n ** 3 * chain / (time.perf_counter() - start) / 1e9)
  return round(best, 1)


def current_rss_mb():
  """Resident memory of this process now (Linux /proc; None elsewhere)."""
  try:
    with open('/proc/self/statm') as f:
      return round(int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20, 1)
  except (OSError, ValueError, IndexError):
    return None


def peak_rss_mb():
  """Peak resident memory of this process so far (ru_maxrss, kB on Linux).

  Linux updates ru_maxrss lazily, so it can lag the current RSS by a few
  pages; the peak is never reported below what /proc shows now.
  """
  peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
  return max(peak, current_rss_mb() or 0.0)


def strategy_devices(strategy):
  """The devices the strategy's replicas run on (the default strategy: the first GPU, else CPU)."""
  try:
    return list(strategy.extended.worker_devices)
  except RuntimeError:  # The default strategy has no worker_devices.
    gpus = tf.config.list_logical_devices('GPU')
    return [(gpus or tf.config.list_logical_devices('CPU'))[0].name]


def device_peaks_mb(strategy):
  """{device: peak MB} of the strategy's GPUs (tf.config.experimental.get_memory_info), or {}."""
  peaks = {}
  for device in strategy_devices(strategy):
    if 'GPU' in device.upper():
      info = tf.config.experimental.get_memory_info(device.split('device:')[-1])
      peaks[device] = round(info['peak'] / 2**20, 1)
  return peaks


def measure_peak_gbytes_per_second(seconds=2.0, mib=64):
  """The machine's streaming bandwidth in this process: y = a + b on `mib`-MiB fp32 tensors.

  Bytes moved as the step's counts count them (inputs + outputs: 3 x size);
  the best call of about `seconds`.
  """
  n = mib * 2**20 // 4
  a, b = tf.ones([n]), tf.fill([n], 2.0)
  add = tf.function(lambda a, b: tf.reduce_sum(a + b))  # the sum reads the result once more
  add(a, b).numpy()
  best, end = 0.0, time.perf_counter() + seconds
  while time.perf_counter() < end:
    start = time.perf_counter()
    add(a, b).numpy()
    best = max(best, 4.0 * n * 4 / (time.perf_counter() - start) / 1e9)
  return round(best, 1)


def measure(config, *, steps=10, warmup=2, compare=(), counts=True, xla_counts=False,
            strategy=None, peak=False):
  """Times (and counts) the step of `config`; the benchmark's JSON as a dict.

  Args:
    config: a search or a training config.
    steps: timed calls of the step (per variant).
    warmup: untimed calls before timing (tracing, caches).
    compare: [(name, config)] variants timed interleaved with `config` (no counts).
    counts: take the load-independent counts (one extra step, plus a walk of
      the traced graph).
    xla_counts: also compile the step with XLA and count its kernels
      (`profiling.count_xla_kernels`; minutes at the paper's size).
    strategy: a tf.distribute strategy (default: from config.distribute).
    peak: also measure the machine's fp32 matmul peak (`measure_peak_gflops`,
      a few seconds) and the step's fraction of it.

  Returns:
    dict: timing (seconds_per_step, images_per_second and per replica;
    search: also seconds_per_pair, pairs_per_s, mean_seconds_per_pair, pairs),
    memory (peak_rss_mb in total and per replica, device_peak_mb),
    strategy / replicas / precision / XLA (as configured and as in effect),
    counts (see `count`; xla_kernels_per_step), the config facts of `Subject.describe`, the machine
    and the load averages at start and end.
  """
  load_start = os.getloadavg()
  rss_start = current_rss_mb()
  subject = build(config, strategy)
  others = [(name, build(c, subject.strategy)) for name, c in compare]
  counted = count(subject) if counts else {}
  if xla_counts:
    xla = profiling.count_xla_kernels(subject.step, *subject.args)
    counted.update(xla_kernels_per_step=xla['kernels'], xla_kernels_by_opcode=xla['by_opcode'],
                   xla_fusion_kinds=xla['fusion_kinds'])
  times = time_steps([subject] + [s for _, s in others], steps, warmup)
  load_end = os.getloadavg()
  seconds = float(np.median(times[0]))
  replicas = subject.strategy.num_replicas_in_sync
  peak = max(peak_rss_mb(), rss_start or 0.0)  # never below an RSS seen in this call
  devices = device_peaks_mb(subject.strategy)
  precision = config.get('precision', 'float32')
  result = dict(
      kind=subject.kind,
      seconds_per_step=round(seconds, 6),
      mean_seconds_per_step=round(float(np.mean(times[0])), 6),
      steps=len(times[0]),
      images_per_second=round(subject.batch_size / seconds, 2),
      images_per_second_per_replica=round(subject.batch_size / seconds / replicas, 2),
      batch_size=subject.batch_size,
      batch_size_per_replica=subject.batch_size // replicas,
      images_per_step=subject.images_per_step,
      strategy=config.get('distribute', 'default'),
      strategy_class=type(subject.strategy).__name__,
      replicas=replicas,
      devices=strategy_devices(subject.strategy),
      precision=precision,
      precision_in_effect=getattr(getattr(subject.model, 'dtype_policy', None), 'name',
                                  keras.mixed_precision.global_policy().name),
      jit_compile=bool(config.get('jit_compile', False)),
      jit_compile_in_effect=profiling.uses_xla(
          subject.step.get_concrete_function(*subject.args).graph),
      peak_rss_mb=peak,
      peak_rss_mb_per_replica=round(peak / replicas, 1),
      rss_before_build_mb=rss_start,
      device_peak_mb=devices or None,
      device_peak_mb_total=round(sum(devices.values()), 1) if devices else None,
      **counted,
      **subject.describe,
      compare={name: round(float(np.median(t)), 4) for (name, _), t in zip(others, times[1:])},
      tensorflow=tf.__version__, cpus=os.cpu_count(), machine=platform.machine(),
      steps_per_call=subject.steps_per_call,
      cpu_kernels=kernels.record(),
      load_average_start=[round(x, 2) for x in load_start],
      load_average_end=[round(x, 2) for x in load_end])
  if counts:
    result['gflops_per_second'] = round(counted['flops_per_step'] / seconds / 1e9, 2)
  if peak:
    result['machine_peak_gflops_fp32'] = measure_peak_gflops()
    result['machine_stream_gbytes_per_second'] = measure_peak_gbytes_per_second()
    if counts:
      result['fraction_of_peak'] = round(
          result['gflops_per_second'] / result['machine_peak_gflops_fp32'], 3)
      # Unfused bytes over the step's time against streaming bandwidth: near or
      # above 1 means the step is bandwidth-bound (kernels re-read what L2 holds).
      result['gbytes_per_second'] = round(counted['bytes_accessed_per_step'] / seconds / 1e9, 1)
      result['fraction_of_stream_bandwidth'] = round(
          result['gbytes_per_second'] / result['machine_stream_gbytes_per_second'], 3)
  if subject.kind == 'search':
    result.update(seconds_per_pair=result['seconds_per_step'], pairs_per_s=round(1 / seconds, 4),
                  mean_seconds_per_pair=result['mean_seconds_per_step'], pairs=len(times[0]))
  return result
