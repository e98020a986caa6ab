r"""RobustDARTS S1-S4 evaluation recipe (automl/RobustDARTS src/evaluation, reference 5.5).

NetworkCIFAR C=16, 8 cells, auxiliary head (weight 0.4), cutout 16, drop path
ramp to 0.2; SGD momentum 0.9, lr 0.025 cosine over 600 epochs, weight decay
3e-4, grad clip 5, batch 96; seed 1 (DARTS_eval.sh). The argument after the
colon picks the dataset: cifar10 (default), cifar100 or svhn_cropped.

  python -m binaries.train --config=configs/train_robust_darts.py:cifar100 \
      --config.genotype=/tmp/edd/search_s3_c100 --workdir=/tmp/edd/eval_s3_c100

config.genotype has no default: give the S1-S4 search workdir (or a genotype
literal). Expected: compare with the S1-S4 tables of the RobustDARTS paper (the
accuracy depends on the searched cell); about 1 GPU-day per run.
"""

from edd_tf import train

DATASETS = ('cifar10', 'cifar100', 'svhn_cropped')


def get_config(dataset='cifar10'):
  if dataset not in DATASETS:
    raise ValueError(f'unknown dataset {dataset!r} for train_robust_darts.py; allowed: '
                     f'{list(DATASETS)}')
  config = train.default_config()
  config.genotype = ''  # Required: the search workdir of an S1-S4 search.
  config.network = 'darts_cifar'
  config.seed = 1
  config.model.update(channels=16, layers=8, cells_per_stage=0, auxiliary_weight=0.4,
                      drop_path_prob=0.2)
  config.train.update(epochs=600, batch_size=96, lr=0.025, lr_min=0.0, lr_schedule='cosine',
                      momentum=0.9, nesterov=False, weight_decay=3e-4, grad_clip=5.0,
                      label_smoothing=0.0, cutout=16)
  config.data.update(source='tfds', name=dataset)
  return config
