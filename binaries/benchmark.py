r"""Times search step pairs (one weight step + one alpha step) on synthetic data.

  python -m binaries.benchmark --config=configs/nb201_cifar10_edd.py
  python -m binaries.benchmark --config=configs/nb201_cifar10_edd.py --config.model.fused=False

Builds the config's supernet at its full size (the paper's C=16, N=5 for the
NB201 configs), runs --warmup pairs (tracing), then times --pairs pairs with the
config's batch size. The last line printed is one JSON object with
seconds_per_pair and pairs_per_s (and the settings), for scripts to parse.
"""

import json
import platform
import time

from absl import app
from absl import flags
from ml_collections import config_flags
import numpy as np
import tensorflow as tf

from edd_tf import data as data_lib
from edd_tf import search

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Search config file.',
                                          lock_config=True)
_PAIRS = flags.DEFINE_integer('pairs', 10, 'Timed step pairs.')
_WARMUP = flags.DEFINE_integer('warmup', 2, 'Untimed step pairs (tracing, caches).')
flags.mark_flags_as_required(['config'])


def main(argv):
  del argv
  config = _CONFIG.value
  search.check_config(config)
  info = data_lib.DATASETS[config.data.name]
  size, batch = info.image_size, config.search.batch_size
  searcher = search.Searcher(config, info.num_classes, size)
  searcher.temperature.assign(1e-3)  # a small-temperature epoch, as in EDD's search
  rng = np.random.default_rng(0)

  def batch_of_data():
    return (tf.constant(rng.standard_normal((batch, size, size, 3)), tf.float32),
            tf.constant(rng.integers(0, info.num_classes, batch), tf.int32))

  train, val = batch_of_data(), batch_of_data()
  for _ in range(_WARMUP.value):
    [float(v) for v in searcher.pair_step(train, val, True)]
  times = []
  for _ in range(_PAIRS.value):
    start = time.perf_counter()
    [float(v) for v in searcher.pair_step(train, val, True)]
    times.append(time.perf_counter() - start)
  seconds = float(np.median(times))
  result = dict(
      seconds_per_pair=round(seconds, 4), pairs_per_s=round(1.0 / seconds, 4),
      mean_seconds_per_pair=round(float(np.mean(times)), 4), pairs=len(times),
      batch_size=batch, space=config.space, channels=config.model.channels,
      cells_per_stage=config.model.cells_per_stage, fused=bool(config.model.get('fused', False)),
      softmax=config.softmax.kind, weight_params=int(sum(np.prod(v.shape)
                                                         for v in searcher.weight_variables)),
      tensorflow=tf.__version__, cpus=tf.config.threading.get_intra_op_parallelism_threads() or
      len(tf.config.list_physical_devices('CPU')), machine=platform.processor() or platform.machine())
  print(f'{seconds:.3f} s per step pair ({1 / seconds:.3f} pairs/s), median of {len(times)}')
  print(json.dumps(result))


if __name__ == '__main__':
  app.run(main)
