r"""EDD-DARTS in the DARTS space on CIFAR-10 (Table 3, "EDD-DARTS").

sn-softmax (st = 1) and EDD (lambda = 0.06), the settings tuned on NB201
("we employ the same search recipe as on NB201", Sect. 3), with first-order
DARTS in the 8-cell, C = 16 DARTS supernet and quark0/darts' search recipe
(reference sect. 3.5): batch 64, SGD 0.025 -> 0.001 cosine, momentum 0.9,
weight decay 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), decay 1e-3; alpha step
first, then the weight step; 50 epochs.

  python -m binaries.search --config=configs/darts_cifar10_edd.py \
      --config.data.source=tfds --workdir=/tmp/edd/darts_edd
  python -m binaries.train --config=configs/train_darts_cifar10.py \
      --config.genotype=/tmp/edd/darts_edd --workdir=/tmp/edd/darts_edd_eval

Expected (paper, Table 3): 2.52 +- 0.10 % test error after the 600-epoch
evaluation, 3.6 M parameters, 0.4 GPU-days of search. Table 6 ablates lambda
(0.06 / 0.12 / 0.24) and the softmax: --config.schedule.lam, --config.softmax.*.
"""

from edd_tf import search


def get_config():
  config = search.default_config()
  config.space = 'darts'
  config.method = 'darts'
  config.model.update(channels=16, layers=8, partial_channels=1)
  config.softmax.update(kind='sn', s=0.0, st=1.0)
  config.schedule.update(name='edd', lam=0.06, rho=0.5, t0=1.0)
  config.search.update(epochs=50, batch_size=64, order='a_then_w', eval_examples=10000,
                       eval_batch_size=256)
  config.optim.weights.update(lr=0.025, lr_min=0.001, momentum=0.9, nesterov=False,
                              weight_decay=3e-4, grad_clip=5.0)
  config.optim.arch.update(lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3, grad_clip=0.0)
  return config
