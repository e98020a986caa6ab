r"""LTS-DARTS on NAS-Bench-201 / CIFAR-10: the linear temperature schedule baseline.

The EDD recipe (sn-softmax st = 1, 50 epochs, configs/nb201_cifar10_edd.py) with
the temperature decayed linearly from t0 = 1 to 1e-3 over the 50 epochs (Sect.
2.2's "LTS": 1, 0.75, 0.5, 0.25, 0.001 for N = 4) instead of by EDD.

  python -m binaries.search --config=configs/nb201_cifar10_lts.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_lts

Runtime: as the EDD recipe (390 step pairs per epoch). Expected: the paper has
no table row for LTS-DARTS; it should reproduce the LTS curve of Fig. 2B (and
LPCD in Fig. 4A): the entropy of beta = softmax(A/t) stays near ln 5 = 1.609
for most of the search, since t >= 0.02 barely sharpens alphas of ~1e-3, and
collapses only in the last epochs, when t approaches 1e-3.
"""

from configs import nb201_cifar10_edd


def get_config():
  config = nb201_cifar10_edd.get_config()
  config.schedule.name = 'linear'
  config.schedule.t0 = 1.0
  config.schedule.t_target = 1e-3
  return config
