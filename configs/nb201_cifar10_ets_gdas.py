r"""ETS-GDAS on NAS-Bench-201 / CIFAR-10 (Table 1): GDAS with tau by ETS 10 -> 0.1.

  python -m binaries.search --config=configs/nb201_cifar10_ets_gdas.py \
      --config.data.source=tfds --workdir=/tmp/edd/ets_gdas

Expected (paper, Table 1): CIFAR-10 test 93.75 +- 0.22. Same as
configs/nb201_cifar10_gdas.py:ets.
"""

from configs import nb201_cifar10_gdas


def get_config():
  return nb201_cifar10_gdas.get_config('ets')
