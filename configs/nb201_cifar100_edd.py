r"""EDD-DARTS on NAS-Bench-201, searched on CIFAR-100 (Table 7, "NB201 / C100").

The NB201 C10 recipe (configs/nb201_cifar10_edd.py) transferred unchanged to
CIFAR-100 with its normalisation (reference sect. 5.5). The weights and
alphas split the CIFAR-100 training set in halves (AutoDL instead pairs the
full training set with 5,000 test images; WORKSPACE.md).

  python -m binaries.search --config=configs/nb201_cifar100_edd.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_c100_edd

Expected (paper, Table 7): the found cells evaluate to CIFAR-10 test
93.44 +- 0.49, CIFAR-100 test 70.57 +- 1.40, ImageNet16-120 test 42.88 +- 1.81.
"""

from configs import nb201_cifar10_edd


def get_config():
  config = nb201_cifar10_edd.get_config()
  config.data.name = 'cifar100'
  config.data.source = 'tfds'
  return config
