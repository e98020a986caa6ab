r"""beta-DARTS in the DARTS space on CIFAR-10 (first order, plain softmax, t = 1).

Beta-DARTS sota/cnn/train_search.py defaults (../shared/docs/baselines.md
part 1, sect. 3): 50 epochs, 8 cells, C = 16, batch 64, SGD 0.025 -> 0.001,
momentum 0.9, weight decay 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), decay 1e-3;
alpha step first. The released DARTS-space code does not run as shipped, so
the regulariser's reduction is ours: the mean logsumexp over the 14 normal
edges plus that over the 14 reduce edges (WORKSPACE.md "Decisions"); lambda
keeps the public NB201 rule, 50 * e / 100 (24.5 at the last of 50 epochs).
Its random perturbation default (SDARTS-RS) is off, as plain beta-DARTS.

  python -m binaries.search --config=configs/darts_cifar10_beta_darts.py \
      --config.data.source=tfds --workdir=/tmp/edd/darts_beta_darts
  # then: python -m binaries.train --config=configs/train_darts_cifar10.py \
  #   --config.genotype=/tmp/edd/darts_beta_darts --workdir=...

Reported ([unverified] in the facts sheet): 2.53 +- 0.08 % test error, about
3.75-3.8 M parameters, after the 600-epoch evaluation.
"""

import ml_collections

from configs import darts_cifar10_darts


def get_config():
  config = darts_cifar10_darts.get_config('first')
  config.method = 'beta_darts'
  config.beta_darts = ml_collections.ConfigDict(dict(lam_max=50.0, lam_epochs=100))
  return config
