r"""DARTS-ES and DARTS-ADA (R-DARTS, Zela et al. 2020): second-order DARTS watched by the Hessian.

`--config=configs/darts_es.py:SPACE,DATASET[,ada][,edd]` with SPACE in darts,
s1..s4 and DATASET in cifar10, cifar100, svhn; `,edd` watches EDD-DARTS' search
(configs/robust_darts.py, first order, sn-softmax, EDD temperature) instead of
second-order DARTS (a procedure is orthogonal to the method); `,ada` rolls back and raises the
weight decay on the trigger instead of stopping (x10 up to 3e-2,
scripts/DARTS-ADA_search.sh; edd_tf/procedures/adaptive_decay.py). RobustDARTS' search (src/search/args.py,
scripts/DARTS-ES_search.sh; ../shared/docs/baselines.md part 2, sect. 0 and 4):
8 cells, C = 16, batch 64, 50 epochs, SGD 0.025 -> 0.001 cosine, momentum 0.9,
coupled decay 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), decay 1e-3; plain softmax;
second order (the scripts pass --unrolled). The largest eigenvalue of the
alpha Hessian of the validation loss every 2 epochs and at the last; local
averages over a window of 5; stop when the average grows by more than 1.3x
over 4 averages (8 epochs), from epoch 22 on; the genotype is the one of 12
epochs before the stop (edd_tf/procedures/early_stop.py).

  python -m binaries.search --config=configs/darts_es.py:s3,cifar10 \
      --config.data.source=tfds --workdir=/tmp/edd/s3_darts_es
  python -m binaries.train --config=configs/train_robust_darts.py:cifar10 \
      --config.genotype=/tmp/edd/s3_darts_es --workdir=/tmp/edd/s3_darts_es_eval
  python -m binaries.search --config=configs/darts_es.py:s3,cifar10,ada \
      --config.data.source=tfds --workdir=/tmp/edd/s3_darts_ada

genotype.json's 'genotype_epoch' names the epoch the genotype is from and
'stopped_early' whether the rule fired. Expected test error (R-DARTS paper,
Table 2, DARTS-ES, CIFAR-10) [unverified, from memory]: S1 3.01, S2 3.26,
S3 2.74, S4 3.71.
"""

import importlib

import ml_collections

from edd_tf import search

SPACES = ('darts', 's1', 's2', 's3', 's4')
DATASETS = {'cifar10': 'cifar10', 'cifar100': 'cifar100', 'svhn': 'svhn_cropped'}


VARIANTS = ('ada', 'edd')


def _edd_search(space, dataset):
  """EDD-DARTS' search in `space` (configs/robust_darts.py; the DARTS space: darts_cifar10_edd)."""
  if space == 'darts':
    config = importlib.import_module('configs.darts_cifar10_edd').get_config()
    config.data.name = DATASETS[dataset]
    return config
  return importlib.import_module('configs.robust_darts').get_config(f'{space},{dataset}')


def get_config(arg='s1,cifar10'):
  space, dataset, *variants = arg.split(',') + ['']
  variants = [v for v in variants if v]
  if (space not in SPACES or dataset not in DATASETS or any(v not in VARIANTS for v in variants)
      or len(set(variants)) != len(variants)):
    raise ValueError(f'configs/darts_es.py:{arg}: expected SPACE,DATASET[,ada][,edd] with SPACE '
                     f'in {list(SPACES)} and DATASET in {sorted(DATASETS)}')
  if 'edd' in variants:
    config = _edd_search(space, dataset)
    config.search.hessian_every_epochs = 2
  else:
    config = search.default_config()
    config.space = space
    config.method = 'darts_2nd'
    config.data.name = DATASETS[dataset]
    config.model.update(channels=16, layers=8, partial_channels=1)
    config.softmax.update(kind='plain', s=0.0, st=0.0)
    config.schedule.update(name='constant', t0=1.0)
    config.search.update(epochs=50, batch_size=64, order='a_then_w', eval_examples=10000,
                         hessian_every_epochs=2)
    config.optim.weights.update(lr=0.025, lr_min=0.001, momentum=0.9, nesterov=False,
                                weight_decay=3e-4, grad_clip=5.0)
    config.optim.arch.update(lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3,
                             grad_clip=0.0)
  config.procedure = ml_collections.ConfigDict(dict(
      name='darts_es', window=5, factor=1.3, start_epoch=10, delta=4))
  if 'ada' in variants:
    config.procedure.update(name='darts_ada')
    with config.procedure.unlocked():
      config.procedure.mul_factor = 10.0
      config.procedure.max_weight_decay = 3e-2
      config.procedure.extra_rollback_epochs = 0
  return config
