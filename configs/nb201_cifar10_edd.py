r"""EDD-DARTS on NAS-Bench-201 / CIFAR-10: the paper's recipe (Table 1, Table 5).

sn-softmax with st = 1, EDD with lambda = 0.06 (Table 5's best C10 row), 50
epochs of first-order DARTS with the NB201 search recipe (reference sect. 2.6).

  python -m binaries.search --config=configs/nb201_cifar10_edd.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_edd

Runtime: 390 step pairs per epoch; see WORKSPACE.md for measured seconds per
pair. Expected (paper, Table 1): CIFAR-10 test 93.80 +- 0.33 on NB201 (94.05
with --config.optim.arch.grad_clip=5, "clip").
Data: config.data.source='tfds' needs a prepared tfds cifar10 (or
source='folder' with config.data.path=<ImageFolder root>); the default is the
small embedded sample.
"""

from edd_tf import search


def get_config():
  config = search.default_config()
  config.softmax.kind = 'sn'
  config.softmax.st = 1.0
  config.schedule.name = 'edd'
  config.schedule.lam = 0.06
  config.search.epochs = 50
  # Discretized accuracy (Fig. 4B) on 10,000 of the 25,000 alpha-split images:
  # ~7% of an epoch's time instead of ~18% for all of them.
  config.search.eval_examples = 10000
  return config
