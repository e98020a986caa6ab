r"""Times search step pairs (one weight step + one alpha step) on synthetic data.

  python -m binaries.benchmark --config=configs/nb201_cifar10_edd.py
  python -m binaries.benchmark --config=configs/nb201_cifar10_edd.py --config.model.fused=False
  python -m binaries.benchmark --config=configs/darts_cifar10_darts.py --pairs=3
  python -m binaries.benchmark --config=configs/darts_cifar10_edd_pc.py --pairs=3

Builds the config's supernet at its full size (the paper's C=16, N=5 for the
NB201 configs), runs --warmup pairs (tracing), then times --pairs pairs with the
config's batch size. The last line printed is one JSON object with
seconds_per_pair, pairs_per_s, peak_rss_mb (the process's peak resident memory,
so time one config per process to read its own peak) and the settings, for
scripts to parse.
"""

from binaries import cli  # First: quiets TensorFlow's import-time notices.

import ast
import json
import os
import platform
import resource
import time

from absl import flags
import numpy as np
import tensorflow as tf

from edd_tf import data as data_lib
from edd_tf import search

_CONFIG = cli.define_config_file('config', None, 'Search config file.', kind='search')
_PAIRS = flags.DEFINE_integer('pairs', 10, 'Timed step pairs (per variant).')
_COMPARE = flags.DEFINE_multi_string(
    'compare', [], 'Extra variants timed side by side with the config, interleaved in the same '
    'process, each a comma-separated list of overrides, e.g. --compare=model.fused=False.')
_WARMUP = flags.DEFINE_integer('warmup', 2, 'Untimed step pairs (tracing, caches).')
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


def _variant(config):
  """(searcher, train batch, val batch) for one config."""
  search.check_config(config)
  info = data_lib.DATASETS[config.data.name]
  size, batch = info.image_size, config.search.batch_size
  searcher = search.Searcher(config, info.num_classes, size)
  searcher.temperature.assign(1e-3)  # a small-temperature epoch, as in EDD's search
  rng = np.random.default_rng(0)

  def batch_of_data():
    return (tf.constant(rng.standard_normal((batch, size, size, 3)), tf.float32),
            tf.constant(rng.integers(0, info.num_classes, batch), tf.int32))

  return searcher, batch_of_data(), batch_of_data()


def _time_pair(searcher, train, val):
  start = time.perf_counter()
  [float(v) for v in searcher.pair_step(train, val, True)]
  return time.perf_counter() - start


def main(argv):
  del argv
  base = _CONFIG.value
  names = ['config'] + list(_COMPARE.value)
  variants = [_variant(base)] + [_variant(_override(base, spec)) for spec in _COMPARE.value]
  for v in variants:
    for _ in range(_WARMUP.value):
      _time_pair(*v)
  times = [[] for _ in variants]
  for _ in range(_PAIRS.value):  # interleaved, so load changes hit every variant alike
    for i, v in enumerate(variants):
      times[i].append(_time_pair(*v))
  medians = [float(np.median(t)) for t in times]
  for name, median in zip(names, medians):
    print(f'{name}: {median:.3f} s per step pair, {medians[0] / median:.2f}x the config\'s speed '
          f'(median of {len(times[0])})')
  config = base
  searcher = variants[0][0]
  seconds = medians[0]
  result = dict(
      seconds_per_pair=round(seconds, 4), pairs_per_s=round(1.0 / seconds, 4),
      mean_seconds_per_pair=round(float(np.mean(times[0])), 4), pairs=len(times[0]),
      peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
      batch_size=config.search.batch_size, space=config.space, method=config.method,
      channels=config.model.channels, cells_per_stage=config.model.cells_per_stage,
      layers=config.model.layers, partial_channels=config.model.partial_channels,
      fused=bool(config.model.get('fused', False)), softmax=config.softmax.kind,
      weight_params=int(sum(np.prod(v.shape) for v in searcher.weight_variables)),
      compare={spec: round(m, 4) for spec, m in zip(_COMPARE.value, medians[1:])},
      tensorflow=tf.__version__, cpus=os.cpu_count(), machine=platform.machine())
  print(json.dumps(result))


if __name__ == '__main__':
  cli.run(main)
