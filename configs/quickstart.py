r"""Quickstart: a small EDD-DARTS search on the embedded CIFAR-10 sample.

  python -m binaries.search --config=configs/quickstart.py --workdir=/tmp/edd/quick

Runs offline from a fresh clone, in about 2 minutes on 2 CPU cores: 4,000
real CIFAR-10 images (2,000 for the weights, 2,000 for the alphas), a supernet
with C=8 and one cell per stage, 10 epochs. Prints the found NB201 cell and its
NAS-Bench-201 accuracies. Expect the temperature to fall from 1 to ~1e-3 and
the tempered entropy E(H(beta)) to fall from ln 5 = 1.609.
"""

from edd_tf import search


def get_config():
  config = search.default_config()
  config.data.source = 'sample'
  config.data.train_examples = 4000
  config.model.channels = 8
  config.model.cells_per_stage = 1
  config.softmax.kind = 'sn'
  config.softmax.st = 1.0
  config.schedule.name = 'edd'
  config.schedule.lam = 0.06
  config.search.epochs = 10
  config.search.batch_size = 64
  # A few more alpha steps per image than the full recipe gets in 50 epochs.
  config.optim.arch.lr = 3e-3
  return config
