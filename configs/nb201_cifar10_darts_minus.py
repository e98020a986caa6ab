r"""DARTS- on NAS-Bench-201 / CIFAR-10: the DARTS-V1 NB201 search with DARTS-' auxiliary skip.

UNVERIFIED RECIPE. The official DARTS- code (Meituan-AutoML/DARTS-) has no
NB201 search; its issue #3 asking how the paper ran it is unanswered
(../shared/docs/baselines.md part 2, sect. 2). The recipe here comes from an
unidentified third-party NB201 port found in that note's index: 100 epochs
with beta decaying linearly over all 100 (decay_max = decay_stop = 100), so
beta runs 1.00, 0.99, ..., 0.01 at epoch 99 (never 0 during search). Every
other setting is our NB201 DARTS-V1 baseline (configs/nb201_cifar10_darts.py,
AutoDL's recipe: C = 16, N = 5, batch 64, SGD nesterov 0.025 -> 0.001, wd 5e-4,
clip 5, Adam 3e-4 (0.5, 0.999) decay 1e-3, weight step first, plain softmax,
first order), which the port is assumed, not known, to share. The aux skip is
the identity on every edge (NB201 cells have no stride-2 edge) and is dropped
at read-out (the genotype uses the alphas alone).

  python -m binaries.search --config=configs/nb201_cifar10_darts_minus.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_darts_minus

Reported: no verified NB201 figure for DARTS- (the paper's NB201 protocol and
numbers are [UNVERIFIED]; baselines.md).
"""

import ml_collections

from configs import nb201_cifar10_darts


def get_config():
  config = nb201_cifar10_darts.get_config()
  config.method = 'darts_minus'
  config.model.aux_skip = True
  config.search.epochs = 100
  config.darts_minus = ml_collections.ConfigDict(dict(
      beta0=1.0, decay='linear', t_start=0, t_stop=100, t_max=100))
  return config
