r"""GAEA-Bilevel on NAS-Bench-201 / CIFAR-10: EG steps on theta, weights and theta on split halves.

The GAEA-ERM recipe (configs/nb201_cifar10_gaea_erm.py: 25 epochs, C = 24, N = 5,
batch 64, SGD 0.025 -> 0.001, momentum 0.9, wd 3e-4, clip 5, eta = 0.1, EG step
first) with the bilevel data: weights on one half of the training set, theta
on the other (config.search.data_mode='bilevel', train_portion 0.5; GAEA uses
AutoDL's fixed 25k/25k cifar-split, ours is the DARTS-style shuffled half,
WORKSPACE "Search split"). baselines.md part 1, sect. 2.

  python -m binaries.search --config=configs/nb201_cifar10_gaea_bilevel.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_gaea_bilevel

Same decisions as the ERM config (cosine over the 25 epochs that run, not the
public code's 50-epoch period; space 'nb201_no_none', 4 ops). As the public
bilevel runs, the result is the genotype of the epoch with the best supernet
validation accuracy (procedure 'best_val'; genotype.json 'genotype_epoch').

Reported [unverified, from memory; baselines.md]: NB201 CIFAR-10 test about
91.9 +- 0.6 (GAEA-Bilevel).
"""

from configs import nb201_cifar10_gaea_erm


def get_config():
  config = nb201_cifar10_gaea_erm.get_config()
  config.search.data_mode = 'bilevel'
  config.procedure.name = 'best_val'
  return config
