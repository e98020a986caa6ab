r"""DARTS-V1 on NAS-Bench-201 / CIFAR-10: plain softmax, t = 1 (the baseline).

  python -m binaries.search --config=configs/nb201_cifar10_darts.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_darts

Expected (NB201 paper, Table 1 here): collapse to the all-skip cell
(CIFAR-10 valid 39.77).
"""

from edd_tf import search


def get_config():
  config = search.default_config()
  config.softmax.kind = 'plain'
  config.softmax.st = 0.0
  config.schedule.name = 'constant'
  config.schedule.t0 = 1.0
  config.search.epochs = 50
  # Discretized accuracy (Fig. 4B) on 10,000 of the 25,000 alpha-split images:
  # ~7% of an epoch's time instead of ~18% for all of them.
  config.search.eval_examples = 10000
  return config
