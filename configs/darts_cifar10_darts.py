r"""DARTS (first or second order) in the DARTS space on CIFAR-10: the baseline.

quark0/darts train_search.py exactly (reference sect. 3.5): plain softmax at
t = 1, batch 64, SGD 0.025 -> 0.001 cosine, momentum 0.9, weight decay 3e-4,
clip 5; Adam 3e-4 (0.5, 0.999), decay 1e-3; alpha step then weight step.

  python -m binaries.search --config=configs/darts_cifar10_darts.py \
      --config.data.source=tfds --workdir=/tmp/edd/darts_v1
  # second order (DARTS-V2, `train_search.py --unrolled`):
  python -m binaries.search --config=configs/darts_cifar10_darts.py:second \
      --config.data.source=tfds --workdir=/tmp/edd/darts_v2

Expected (DARTS paper): 3.00 +- 0.14 % test error (first order) and
2.76 +- 0.09 % (second order) after the 600-epoch evaluation
(configs/train_darts_cifar10.py); DARTS_V2 in genotype.GENOTYPES is the cell
the authors found.
"""

from edd_tf import search

ORDERS = {'first': 'darts', 'second': 'darts_2nd'}


def get_config(order='first'):
  if order not in ORDERS:
    raise ValueError(f'configs/darts_cifar10_darts.py:{order}: allowed {sorted(ORDERS)}')
  config = search.default_config()
  config.space = 'darts'
  config.method = ORDERS[order]
  config.model.update(channels=16, layers=8, partial_channels=1)
  config.softmax.update(kind='plain', s=0.0, st=0.0)
  config.schedule.update(name='constant', t0=1.0)
  config.search.update(epochs=50, batch_size=64, order='a_then_w', eval_examples=10000)
  config.optim.weights.update(lr=0.025, lr_min=0.001, momentum=0.9, nesterov=False,
                              weight_decay=3e-4, grad_clip=5.0)
  config.optim.arch.update(lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3, grad_clip=0.0)
  return config
