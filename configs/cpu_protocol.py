r"""A CPU-sized NAS-Bench-201 experiment on real CIFAR-10 images (docs/cpu_protocol.md).

The EDD-DARTS recipe (configs/nb201_cifar10_edd.py: sn-softmax st = 1, EDD
lambda = 0.06) scaled down to fit 9 searches (DARTS-V1 and EDD-DARTS with both
readings of Eq. 13's entropy, 3 seeds each) into about 2-3 hours on 2 CPU cores:
all 10,000 shared CIFAR-10 training images (5,000 for the weights, 5,000 for
the alphas; the paper: 25,000 each), a supernet with C = 8 and one cell per
stage (the paper: C = 16, five), 25 epochs (the paper: 50) and an alpha
learning rate of 3e-3 (10x the paper's: the run makes 1,950 alpha steps, the
paper 19,500).

  python -m binaries.sweep --config=configs/cpu_protocol.py \
      --grid_file=configs/grids/cpu_protocol.txt --root=/tmp/edd/cpu_protocol
  python -m binaries.report /tmp/edd/cpu_protocol --out=docs/cpu_protocol

Runtime: one search ~12 minutes on 2 idle cores (78 step pairs of ~0.3 s per
epoch; the timing is in docs/cpu_protocol.md), the sweep of 9 about 2 hours,
several times longer on a machine shared with other jobs.
Expected: not a reproduction of Table 1 (a 50-epoch search of the full
supernet on 50k images); what the paper predicts at any scale is Fig. 4B's
effect, EDD's discretized accuracy tracking the supernet's while DARTS-V1's
stays near chance, and lower entropy of beta under EDD (Fig. 4A). The found
cells' NB201 accuracies are a noisy read-out at this scale.
The rivals with an NB201 recipe (issue 17) run the same scaled protocol from
their own recipe: `configs/cpu_protocol.py:METHOD` with METHOD in METHODS
(configs/grids/cpu_protocol_rivals.txt); the alpha learning rate is scaled
10x for the Adam recipes, GAEA's exponentiated-gradient step (0.1) is kept,
beta-DARTS' lambda ramp and DARTS-' beta decay are compressed to the 25
epochs (the recipes' 100-epoch spans would stop them at a quarter), and each recipe's own
width (GAEA: C = 24) becomes C = 8 like the others'.
The search procedures (issue 18) run DARTS-V1's NB201 recipe the same way
(`darts_pt`, `darts_pt_fix`, `sgas`; configs/grids/cpu_protocol_procedures.txt)
with their schedules scaled as the epochs are: DARTS+PT tunes 6 epochs after the
25 (the public 25 after 100) with one projection per tune epoch (6 events, the
public 5 epochs apart), SGAS warms up 4 epochs (9 of 50) and decides every 3rd
(5 of 50; its 6 decisions then end after epoch 19).
Data: ../shared/data/cifar10 (ImageFolder) beside the checkout; run from the
repository root, or set --config.data.path.
"""

import importlib

# The methods of the protocol: argument -> the NB201 recipe it scales down.
METHODS = {
    'edd': 'nb201_cifar10_edd',
    'drnas': 'nb201_cifar10_drnas',
    'gaea_erm': 'nb201_cifar10_gaea_erm',
    'gaea_bilevel': 'nb201_cifar10_gaea_bilevel',
    'beta_darts': 'nb201_cifar10_beta_darts',
    'sdarts_rs': 'nb201_cifar10_sdarts_rs',
    'darts_minus': 'nb201_cifar10_darts_minus',   # not in cpu_protocol_rivals.txt: came later
}
# The procedures of the protocol: argument -> (config file, its argument, scaled settings).
PROCEDURES = {
    'darts_pt': ('darts_pt', 'nb201', dict(tune_epochs=6, proj_every=1)),
    'darts_pt_fix': ('darts_pt', 'nb201,fix_alpha', dict(tune_epochs=6, proj_every=1)),
    'sgas': ('sgas', 'nb201', dict(warmup_epochs=4, decision_freq=3)),
}
_EXPLICIT_STEP_METHODS = ('gaea',)   # arch step not by Adam: its step size is not scaled


def get_config(arg='edd'):
  if arg in PROCEDURES:
    file, file_arg, settings = PROCEDURES[arg]
    config = importlib.import_module(f'configs.{file}').get_config(file_arg)
    config.procedure.update(**settings)
  elif arg in METHODS:
    config = importlib.import_module(f'configs.{METHODS[arg]}').get_config()
  else:
    raise ValueError(f'configs/cpu_protocol.py:{arg}: the method must be one of {sorted(METHODS)} '
                     f'or a procedure in {sorted(PROCEDURES)}')
  config.data.source = 'folder'
  config.data.path = '../shared/data/cifar10'
  config.data.train_examples = 10000
  config.model.channels = 8
  config.model.cells_per_stage = 1
  config.search.epochs = 25
  config.search.batch_size = 64
  config.search.eval_examples = 2000
  if config.method not in _EXPLICIT_STEP_METHODS:
    config.optim.arch.lr = 10 * config.optim.arch.lr   # 3e-4 -> 3e-3 for every Adam recipe
  if 'beta_darts' in config:   # the same lambda ramp, compressed into the shorter search
    config.beta_darts.lam_epochs = config.search.epochs
  if 'darts_minus' in config:   # beta 1 -> 1/25 over the 25 epochs, as 1 -> 1/100 over 100
    config.darts_minus.update(t_stop=config.search.epochs, t_max=config.search.epochs)
  return config
