r"""DrNAS on NAS-Bench-201 / CIFAR-10 (the plain, non-progressive recipe the paper's table used).

DrNAS 201-space/train_search.py:34-55 (../shared/docs/baselines.md part 1,
sect. 1): 100 epochs, batch 64, SGD 0.025 -> 0.001 cosine, momentum 0.9,
weight decay 3e-4, clip 5; Adam 3e-4 (0.5, 0.999) with the L2 of 1e-3 on
alpha as the regulariser; alpha step first; Dirichlet(ELU(alpha) + 1)
mixing, one pathwise sample per edge and step. No temperature.

  python -m binaries.search --config=configs/nb201_cifar10_drnas.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_drnas
  # the KL regulariser instead of L2:
  ... --config.drnas.reg=kl --config.optim.arch.weight_decay=0

Reported (DrNAS README): NB201 CIFAR-10 test 94.36 +- 0.00, CIFAR-100
73.51 +- 0.00, ImageNet16-120 46.34 +- 0.00.
"""

import ml_collections

from edd_tf import search


def get_config():
  config = search.default_config()
  config.method = 'drnas'
  config.softmax.update(kind='plain', s=0.0, st=0.0)   # unused by the Dirichlet mixing
  config.schedule.update(name='constant', t0=1.0)
  config.search.update(epochs=100, batch_size=64, order='a_then_w', eval_examples=10000)
  config.optim.weights.update(lr=0.025, lr_min=0.001, momentum=0.9, nesterov=False,
                              weight_decay=3e-4, grad_clip=5.0)
  config.optim.arch.update(lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3, grad_clip=0.0)
  config.drnas = ml_collections.ConfigDict(dict(reg='l2', reg_scale=1e-3))
  return config
