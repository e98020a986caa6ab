r"""beta-DARTS on NAS-Bench-201 / CIFAR-10 (first order, plain softmax, t = 1).

Beta-DARTS nasbench201/train_search.py (../shared/docs/baselines.md part 1,
sect. 3): 100 epochs, batch 64, SGD 0.025 -> 0.001 cosine, momentum 0.9
(no nesterov), weight decay 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), decay 1e-3;
alpha step first; lambda(e) = 50 * e / 100 on the mean logsumexp of alpha.

  python -m binaries.search --config=configs/nb201_cifar10_beta_darts.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_beta_darts
  # with sn-softmax and the EDD schedule instead of t = 1 (a valid combination):
  ... --config.softmax.kind=sn --config.softmax.st=1 --config.schedule.name=edd

Reported (beta-DARTS paper, [unverified] in the facts sheet): CIFAR-10 test
94.36 +- 0.00, CIFAR-100 73.51, ImageNet16-120 46.34 (NB201 '200-epoch' table).
"""

import ml_collections

from edd_tf import search


def get_config():
  config = search.default_config()
  config.method = 'beta_darts'
  config.softmax.update(kind='plain', s=0.0, st=0.0)
  config.schedule.update(name='constant', t0=1.0)
  config.search.update(epochs=100, batch_size=64, order='a_then_w', eval_examples=10000)
  config.optim.weights.update(lr=0.025, lr_min=0.001, momentum=0.9, nesterov=False,
                              weight_decay=3e-4, grad_clip=5.0)
  config.optim.arch.update(lr=3e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3, grad_clip=0.0)
  # lambda(e) = lam_max * e / lam_epochs (the public code divides by 100 whatever the epochs).
  config.beta_darts = ml_collections.ConfigDict(dict(lam_max=50.0, lam_epochs=100))
  return config
