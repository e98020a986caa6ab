r"""Times a config's compiled step on synthetic data and counts it: one JSON line.

  python -m binaries.benchmark --config=configs/nb201_cifar10_edd.py
  python -m binaries.benchmark --config=configs/nb201_cifar10_edd.py --compare=model.fused=False
  python -m binaries.benchmark --config=configs/darts_cifar10_darts.py --pairs=3
  python -m binaries.benchmark --config=configs/darts_cifar10_edd_pc.py --pairs=3
  python -m binaries.benchmark --config=configs/train_nb201_cifar10.py --pairs=5
  python -m binaries.benchmark --config=configs/train_darts_cifar10.py --pairs=3 \
      --config.train.batch_size=32

A search config times search step pairs (one weight step + one alpha step) of
its supernet at its full size (the paper's C=16, N=5 for the NB201 configs); a
training config times SGD steps of its final network. Both under the strategy
of config.distribute, with the config's batch size. It first counts the step
(FLOPs, bytes moved, kernels, all-reduce bytes: edd_tf/perf/profiling.py; one extra
step; --nocounts skips it; --xla_counts adds the kernels of the step compiled
with XLA for this machine's device), runs --warmup steps (tracing), then times --pairs
steps. The last line printed is one JSON object (edd_tf.perf.step_benchmark.measure)
with, among others: seconds_per_step, images_per_second (and per replica),
peak_rss_mb (the process's peak resident memory, so time one config per
process to read its own peak; per replica = total / replicas), device_peak_mb
(GPUs), strategy, replicas, precision, jit_compile (configured and in
effect), flops_per_step, bytes_accessed_per_step, kernels_per_step,
trainable_params, allreduce_bytes_per_step, the load averages, and for a
search the older seconds_per_pair, pairs_per_s, mean_seconds_per_pair, pairs.
"""

from binaries import cli  # First: quiets TensorFlow's import-time notices.

import ast
import json

from absl import flags

from edd_tf.perf import step_benchmark

_CONFIG = cli.define_config_file('config', None, 'Search or training config file.')
_PAIRS = flags.DEFINE_integer('pairs', 10, 'Timed step pairs of a search, or steps of a '
                              'training config (per variant).')
_COMPARE = flags.DEFINE_multi_string(
    'compare', [], 'Extra variants timed side by side with the config, interleaved in the same '
    'process, each a comma-separated list of overrides, e.g. --compare=model.fused=False.')
_WARMUP = flags.DEFINE_integer('warmup', 2, 'Untimed steps (tracing, caches).')
_COUNTS = flags.DEFINE_boolean('counts', True, 'Count FLOPs, bytes, kernels and all-reduce '
                               'bytes of the step (one extra step first).')
_XLA_COUNTS = flags.DEFINE_boolean(
    'xla_counts', False, 'Also compile the step with XLA (jit_compile) for this machine\'s device '
    'and count the kernels of its optimized HLO (takes minutes at the paper\'s size).')
_PEAK = flags.DEFINE_boolean(
    'peak', True, 'Measure this machine\'s fp32 matmul peak in the same process (a few seconds) '
    'and report the step\'s achieved GFLOP/s as a fraction of it.')
flags.mark_flags_as_required(['config'])


def _override(config, spec):
  """A copy of `config` with 'a.b=v,c=w' overrides (values parsed as Python literals)."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    for item in filter(None, spec.split(',')):
      key, _, text = item.partition('=')
      try:
        value = ast.literal_eval(text)
      except (ValueError, SyntaxError):
        value = text
      node = config
      *path, last = key.strip().split('.')
      for p in path:
        node = node[p]
      if last not in node:
        raise ValueError(f'--compare: unknown config field {key!r}')
      node[last] = type(node[last])(value) if node[last] is not None else value
  return config


def main(argv):
  del argv
  base = _CONFIG.value
  step_benchmark.config_kind(base)  # A clear error for a config of neither kind.
  compare = [(spec, _override(base, spec)) for spec in _COMPARE.value]
  result = step_benchmark.measure(base, steps=_PAIRS.value, warmup=_WARMUP.value,
                                  compare=compare, counts=_COUNTS.value,
                                  xla_counts=_XLA_COUNTS.value, peak=_PEAK.value)
  unit = 'step pair' if result['kind'] == 'search' else 'training step'
  seconds = result['seconds_per_step']
  print(f'config: {seconds:.3f} s per {unit}, {result["images_per_second"]:.1f} images/s '
        f'(median of {result["steps"]}; load average {result["load_average_end"][0]:.2f})')
  for spec, median in result['compare'].items():
    print(f'{spec}: {median:.3f} s per {unit}, {seconds / median:.2f}x the config\'s speed')
  if _COUNTS.value:
    print(f'counts: {result["flops_per_step"] / 1e9:.2f} GFLOP, '
          f'{result["bytes_accessed_per_step"] / 2**20:.0f} MiB moved (unfused), '
          f'{result["kernels_per_step"]} kernels, {result["trainable_params"]:,} trainable '
          f'parameters, {result["allreduce_bytes_per_step"] / 2**20:.1f} MiB all-reduced per '
          f'{unit}')
  if 'fraction_of_peak' in result:
    print(f'speed: {result["gflops_per_second"]:.1f} GFLOP/s achieved of a '
          f'{result["machine_peak_gflops_fp32"]:.1f} GFLOP/s fp32 matmul peak '
          f'({100 * result["fraction_of_peak"]:.1f}%); {result["gbytes_per_second"]:.1f} GB/s '
          f'moved (unfused) against {result["machine_stream_gbytes_per_second"]:.1f} GB/s '
          f'streaming; {result["cpu_kernels"]["set_by"]}: '
          f'oneDNN {"on" if result["cpu_kernels"]["onednn_enabled"] else "off"}')
  if _XLA_COUNTS.value:
    print(f'XLA: {result["xla_kernels_per_step"]} kernels per {unit} in the optimized HLO')
  print(json.dumps(result))


if __name__ == '__main__':
  cli.run(main)
