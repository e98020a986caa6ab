r"""DARTS+PT (Wang et al. 2021): a search, then perturbation-based selection (procedures/perturbation.py).

`--config=configs/darts_pt.py:SPACE[,DATASET][,VARIANT...]` with SPACE in
nb201, darts, s1..s4, DATASET in cifar10 (default), cifar100, svhn (not
nb201) and VARIANT in
  fix_alpha  "DARTS+PT (fix alpha)": the alphas are never updated (they stay
             at their 1e-3 N(0, 1) start), during the search and the tuning;
  sdarts_rs  SDARTS-RS+PT: the SDARTS-RS search (uniform noise on softmax(alpha),
             eps 0.03 -> 0.3, then 0.3 during the tuning);
  edd        EDD+PT: the EDD recipe's search (sn-softmax and the EDD
             temperature, a softmax-mixing method, so PT applies unchanged).
The public recipe (ruocwang/darts-pt; ../shared/docs/baselines.md part 3,
sect. 1): first-order DARTS (batch 64, SGD 0.025 -> 0.001 cosine, momentum 0.9,
decay 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), decay 1e-3), 100 search epochs on
NB201 and 50 in the DARTS family; then T tune epochs with a projection event
at every t % 5 == 0 and at t = T - 1: NB201 T = 25 (6 op decisions, lr 0.0025
constant), DARTS and S1-S4 T = 81 (14 op decisions per cell type, then 3
topology steps; lr 0.0025 cosine to 0.001). 'darts' is the public code's s5:
the DARTS space with 'none' removed (space darts_no_none). EDD keeps its own
search length (50 epochs).

  python -m binaries.search --config=configs/darts_pt.py:nb201 \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_pt
  python -m binaries.search --config=configs/darts_pt.py:s3,cifar10,fix_alpha \
      --config.data.source=tfds --workdir=/tmp/edd/s3_pt_fix
  python -m binaries.train --config=configs/train_robust_darts.py:cifar10 \
      --config.genotype=/tmp/edd/s3_pt_fix --workdir=/tmp/edd/s3_pt_fix_eval

genotype.json's 'pt_decisions' lists the decisions in order. Expected
(DARTS+PT paper; test error %): DARTS space C10 2.61 +- 0.08 (fix alpha 2.87,
SDARTS-RS+PT 2.54 +- 0.10); NB201 C10 test accuracy 88.11 (fix alpha 93.80);
S1-S4 C10 PT / fix alpha 3.50 / 2.86, 2.79 / 2.59, 2.49 / 2.52, 2.64 / 2.58.
"""

import importlib

import ml_collections

SPACES = ('nb201', 'darts', 's1', 's2', 's3', 's4')
DATASETS = {'cifar10': 'cifar10', 'cifar100': 'cifar100', 'svhn': 'svhn_cropped'}
VARIANTS = ('fix_alpha', 'sdarts_rs', 'edd')
# The search each variant starts from: (NB201 config, DARTS-family config).
BASES = {'': ('nb201_cifar10_darts', 'darts_cifar10_darts'),
         'fix_alpha': ('nb201_cifar10_darts', 'darts_cifar10_darts'),
         'sdarts_rs': ('nb201_cifar10_sdarts_rs', 'darts_cifar10_sdarts_rs'),
         'edd': ('nb201_cifar10_edd', 'darts_cifar10_edd')}


def get_config(arg='nb201'):
  space, *rest = arg.split(',')
  datasets = [r for r in rest if r in DATASETS]
  variants = [r for r in rest if r not in DATASETS]
  searches = [v for v in variants if v != 'fix_alpha']
  if (space not in SPACES or len(datasets) > 1 or any(v not in VARIANTS for v in variants)
      or len(searches) > 1 or (space == 'nb201' and datasets)):
    raise ValueError(f'configs/darts_pt.py:{arg}: expected SPACE[,DATASET][,VARIANT...] with '
                     f'SPACE in {list(SPACES)}, DATASET in {sorted(DATASETS)} (not for nb201) '
                     f'and VARIANT in {list(VARIANTS)} (at most one of sdarts_rs, edd)')
  module = BASES[searches[0] if searches else ''][0 if space == 'nb201' else 1]
  config = importlib.import_module(f'configs.{module}').get_config()
  if space == 'nb201':
    if 'edd' not in searches:
      config.search.epochs = 100
  else:
    config.space = 'darts_no_none' if space == 'darts' else space
    config.data.name = DATASETS[datasets[0] if datasets else 'cifar10']
  config.procedure = ml_collections.ConfigDict(dict(
      name='darts_pt', tune_epochs=0, proj_every=5, criterion='acc',
      fix_alpha='fix_alpha' in variants, lr=0.0025, lr_min=0.001, lr_schedule='',
      eval_examples=0))
  return config
