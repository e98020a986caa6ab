r"""DARTS- in the DARTS space on CIFAR-10 (first order, as the DARTS- scripts run it).

Meituan-AutoML/DARTS- scripts/run_darts_minus.sh (../shared/docs/baselines.md
part 2, sect. 0 and 2): the RobustDARTS protocol (50 epochs, 8 cells, C = 16,
batch 64, SGD 0.025 -> 0.001, wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), decay
1e-3; alpha step first; plain softmax, first order, no drop-path, no cutout)
with the auxiliary skip beta(e) * aux(x) on every edge, beta linear from 1 at
epoch 0 to 0.02 at epoch 49 (--decay linear --skip_beta 1). For S1-S4:
--config.space=s1 ... s4.

  python -m binaries.search --config=configs/darts_cifar10_darts_minus.py \
      --config.data.source=tfds --workdir=/tmp/edd/darts_minus

Expected (DARTS- paper, quoted second hand by DARTS-PT Table 2, not checked
against the paper [unverified]): 2.59 +- 0.08 % test error (average of 4
searches), 3.5M parameters, after the 600-epoch evaluation
(configs/train_darts_cifar10.py).
"""

import ml_collections

from configs import darts_cifar10_darts


def get_config():
  config = darts_cifar10_darts.get_config('first')
  config.method = 'darts_minus'
  config.model.aux_skip = True
  config.darts_minus = ml_collections.ConfigDict(dict(
      beta0=1.0, decay='linear', t_start=0, t_stop=50, t_max=50))
  return config
