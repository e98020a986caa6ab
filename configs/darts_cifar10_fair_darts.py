r"""Fair DARTS in the DARTS space without 'none' (7 ops) on CIFAR-10, first order.

xiaomi-automl/FairDARTS fairdarts/train_search.py:L23-48 (../shared/docs/
baselines.md part 3, sect. 3): 50 epochs, 8 cells, C = 16, batch 128, SGD
0.005 -> 0.001 cosine, momentum 0.9, weight decay 3e-4; Adam 3e-3
(0.9, 0.999), decay 1e-3; first-order bilevel, alpha step first. Mixing
sigmoid(alpha) (t = 1), alpha from 0, zero-one loss weight 10 (constant),
read-out threshold_sparse at 0.85.

  python -m binaries.search --config=configs/darts_cifar10_fair_darts.py \
      --config.data.source=tfds --workdir=/tmp/edd/darts_fair_darts
  # then: python -m binaries.train --config=configs/train_darts_cifar10.py \
  #   --config.genotype=/tmp/edd/darts_fair_darts --workdir=...

Reported (README, 7 searches): CIFAR-10 test accuracy 97.46 +- 0.05 %
(2.54 % error), 2.59-3.88 M parameters (mean 3.32 M).
"""

import ml_collections

from configs import darts_cifar10_darts


def get_config():
  config = darts_cifar10_darts.get_config('first')
  config.space = 'darts_no_none'
  config.method = 'fair_darts'
  config.search.batch_size = 128
  config.optim.weights.update(lr=0.005, lr_min=0.001)
  config.optim.arch.update(lr=3e-3, beta1=0.9, beta2=0.999, weight_decay=1e-3)
  config.fair_darts = ml_collections.ConfigDict(dict(
      zero_one_weight=10.0, zero_one_loss='l2', op_threshold=0.85))
  return config
