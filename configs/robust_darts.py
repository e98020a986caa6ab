r"""EDD-DARTS in RobustDARTS' spaces S1-S4 on CIFAR-10, CIFAR-100 or SVHN (Tables 2, 7).

One file for the 12 searches: `--config=configs/robust_darts.py:SPACE,DATASET`
with SPACE in s1..s4 and DATASET in cifar10, cifar100, svhn. The NB201 EDD
settings (sn-softmax st = 1, lambda = 0.06) with RobustDARTS' search recipe
(reference sect. 5.4: 8 cells, C = 16, batch 64, SGD 0.025 -> 0.001,
decay 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), decay 1e-3; 50 epochs).

  python -m binaries.search --config=configs/robust_darts.py:s3,cifar100 \
      --config.data.source=tfds --workdir=/tmp/edd/s3_c100
  python -m binaries.train --config=configs/train_robust_darts.py:cifar100 \
      --config.genotype=/tmp/edd/s3_c100 --workdir=/tmp/edd/s3_c100_eval

Expected test error (paper, Tables 2 and 7, EDD-DARTS):
  C10:  S1 2.77, S2 2.54, S3 2.49, S4 (Table 7)
  C100: S1 22.27, S2 21.73, S3 21.08, S4 20.66
  SVHN: S1 2.23, S2 2.30, S3 2.32, S4 (Table 7)
"""

from edd_tf import search

SPACES = ('s1', 's2', 's3', 's4')
DATASETS = {'cifar10': 'cifar10', 'cifar100': 'cifar100', 'svhn': 'svhn_cropped'}


def get_config(arg='s1,cifar10'):
  space, _, dataset = arg.partition(',')
  if space not in SPACES or dataset not in DATASETS:
    raise ValueError(f'configs/robust_darts.py:{arg}: expected SPACE,DATASET with SPACE in '
                     f'{list(SPACES)} and DATASET in {sorted(DATASETS)}')
  config = search.default_config()
  config.space = space
  config.method = 'darts'
  config.data.name = DATASETS[dataset]
  config.model.update(channels=16, layers=8, partial_channels=1)
  config.softmax.update(kind='sn', s=0.0, st=1.0)
  config.schedule.update(name='edd', lam=0.06, rho=0.5, t0=1.0)
  config.search.update(epochs=50, batch_size=64, order='a_then_w', eval_examples=10000)
  config.optim.weights.update(lr=0.025, lr_min=0.001, momentum=0.9, nesterov=False,
                              weight_decay=3e-4, grad_clip=5.0)
  config.optim.arch.update(lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3, grad_clip=0.0)
  return config
