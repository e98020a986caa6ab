r"""R-DARTS(DP) and R-DARTS(L2) (Zela et al. 2020): second-order DARTS with stronger regularisation.

`--config=configs/rdarts.py:REG,SPACE,DATASET`:
  REG      dp[P] : scheduled drop path on every mixed edge of the supernet,
                   p(e) = P e / (E - 1), P in {0, 0.2, 0.4, 0.6} (bare 'dp': 0.6),
                   with cutout 16 ramped the same way (none when P = 0, as
                   RobustDARTS args.py 103-105 switches it off);
           l2[=W]: the weight decay of the SGD step and of the unrolled step,
                   W in {3e-4, 9e-4, 2.7e-3, 8.1e-3, 2.43e-2} (bare 'l2': 2.43e-2),
                   no drop path, no cutout;
  SPACE    darts (S5), s1 .. s4;   DATASET cifar10, cifar100, svhn.
The values are RobustDARTS' public grids (scripts/start_search.sh); how the
paper picked one value per benchmark is not known [unverified], so the bare
forms take the strongest value of the grid (our choice) and
configs/grids/rdarts_{dp,l2}.txt sweep them all.

RobustDARTS' search recipe (src/search/args.py; ../shared/docs/baselines.md
part 2, sect. 0 and 4): 8 cells, C = 16, batch 64, 50 epochs, alpha step
first, SGD 0.025 -> 0.001 cosine, momentum 0.9, coupled decay 3e-4, clip 5;
Adam 3e-4 (0.5, 0.999), decay 1e-3; plain softmax; second order (the scripts
pass --unrolled: config.method = 'darts_2nd'). Drop path and cutout:
config.search.drop_path_max, .cutout, .cutout_schedule
(edd_tf/bilevel/regularisation.py; the public code's Cutout never reads the
ramped probability and cuts every image: --config.search.cutout_schedule=constant).

  python -m binaries.search --config=configs/rdarts.py:dp0.6,s2,cifar10 \
      --config.data.source=tfds --workdir=/tmp/edd/s2_rdarts_dp
  python -m binaries.search --config=configs/rdarts.py:l2=8.1e-3,s3,cifar100 \
      --config.data.source=tfds --workdir=/tmp/edd/s3_c100_rdarts_l2
  python -m binaries.train --config=configs/train_robust_darts.py:cifar10 \
      --config.genotype=/tmp/edd/s2_rdarts_dp --workdir=/tmp/edd/s2_rdarts_dp_eval

Expected test error (R-DARTS paper, Table 2) [unverified, from memory;
baselines.md part 2, sect. 6], S1 / S2 / S3 / S4:
  DP: C10 3.11 / 3.48 / 2.93 / 3.58, C100 25.93 / 22.30 / 22.36 / 22.18,
      SVHN 2.55 / 2.52 / 2.49 / 2.61
  L2: C10 2.78 / 3.31 / 2.51 / 3.56, C100 24.25 / 22.24 / 23.99 / 21.94,
      SVHN 4.79 / 2.51 / 2.48 / 2.50
  L2 in the DARTS space [second-hand]: C10 2.95 +- 0.21, C100 18.01 +- 0.26.
"""

import re

from edd_tf import search

SPACES = ('darts', 's1', 's2', 's3', 's4')
DATASETS = {'cifar10': 'cifar10', 'cifar100': 'cifar100', 'svhn': 'svhn_cropped'}
# RobustDARTS scripts/start_search.sh.
DROP_PATH_GRID = (0.0, 0.2, 0.4, 0.6)
L2_GRID = (3e-4, 9e-4, 2.7e-3, 8.1e-3, 2.43e-2)
DEFAULTS = {'dp': max(DROP_PATH_GRID), 'l2': max(L2_GRID)}
_REG = re.compile(r'^(dp|l2)=?([0-9.eE+-]*)$')


def parse_regulariser(text):
  """('dp' | 'l2', value) of REG ('dp', 'dp0.6', 'dp=0.6', 'l2', 'l2=8.1e-3'); ValueError otherwise."""
  match = _REG.match(text)
  grids = {'dp': DROP_PATH_GRID, 'l2': L2_GRID}
  if not match:
    raise ValueError(f'configs/rdarts.py: REG {text!r} must be dp[P] with P in '
                     f'{list(DROP_PATH_GRID)} or l2[=W] with W in {list(L2_GRID)}')
  kind, value = match.group(1), match.group(2)
  try:
    value = float(value) if value else DEFAULTS[kind]
  except ValueError:
    value = None
  close = [v for v in grids[kind] if value is not None and abs(v - value) <= 1e-9 * max(v, 1)]
  if not close:
    raise ValueError(f'configs/rdarts.py: {kind} value {match.group(2)!r} is not in the public '
                     f'grid {list(grids[kind])}')
  return kind, close[0]


def get_config(arg='dp,s1,cifar10'):
  parts = arg.split(',')
  if len(parts) != 3 or parts[1] not in SPACES or parts[2] not in DATASETS:
    raise ValueError(f'configs/rdarts.py:{arg}: expected REG,SPACE,DATASET with REG dp[P] or '
                     f'l2[=W], SPACE in {list(SPACES)} and DATASET in {sorted(DATASETS)}')
  kind, value = parse_regulariser(parts[0])
  config = search.default_config()
  config.space = parts[1]
  config.method = 'darts_2nd'
  config.data.name = DATASETS[parts[2]]
  config.model.update(channels=16, layers=8, partial_channels=1)
  config.softmax.update(kind='plain', s=0.0, st=0.0)
  config.schedule.update(name='constant', t0=1.0)
  config.search.update(epochs=50, batch_size=64, order='a_then_w', eval_examples=10000)
  config.optim.weights.update(lr=0.025, lr_min=0.001, momentum=0.9, nesterov=False,
                              weight_decay=value if kind == 'l2' else 3e-4, grad_clip=5.0)
  config.optim.arch.update(lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3, grad_clip=0.0)
  if kind == 'dp':
    config.search.update(drop_path_max=value, cutout=16 if value else 0, cutout_schedule='ramp')
  return config
