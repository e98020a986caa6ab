r"""SDARTS-ADV on NAS-Bench-201 / CIFAR-10 (first order, plain softmax, t = 1).

SmoothDARTS nasbench201/train_search.py 35-56 (../shared/docs/baselines.md
part 2, sect. 3): 100 epochs, C = 16, N = 5, batch 64, SGD 0.025 -> 0.001,
momentum 0.9, weight decay 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), decay 1e-3;
alpha step first; the weight step on softmax(alpha) + U(-eps, eps), clipped
and renormalised, eps 0.03 -> 0.3 over the epochs.

  python -m binaries.search --config=configs/nb201_cifar10_sdarts_adv.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_sdarts_adv
"""

import ml_collections

from edd_tf import search


def get_config():
  config = search.default_config()
  config.method = 'sdarts_adv'
  config.softmax.update(kind='plain', s=0.0, st=0.0)
  config.schedule.update(name='constant', t0=1.0)
  config.search.update(epochs=100, batch_size=64, order='a_then_w', eval_examples=10000)
  config.optim.weights.update(lr=0.025, lr_min=0.001, momentum=0.9, nesterov=False,
                              weight_decay=3e-4, grad_clip=5.0)
  config.optim.arch.update(lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3, grad_clip=0.0)
  config.sdarts_rs = ml_collections.ConfigDict(dict(eps_min=0.03, eps_max=0.3, pgd_steps=7))
  return config
