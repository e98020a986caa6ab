r"""EDD-PC-DARTS in the DARTS space on CIFAR-10 (Table 3 and 4, "EDD-PC-DARTS").

PC-DARTS (reference sect. 4): partial channels K = 4 with channel shuffle and
edge normalisation, batch 256, SGD 0.1 -> 0 cosine, Adam 6e-4, alphas frozen
for the first 15 epochs; with sn-softmax (st = 1) and EDD (lambda = 0.06).

  python -m binaries.search --config=configs/darts_cifar10_edd_pc.py \
      --config.data.source=tfds --workdir=/tmp/edd/darts_edd_pc

Expected (paper, Table 3): 2.47 +- 0.06 % test error on CIFAR-10 (4.2 M
parameters, 0.1 GPU-days); transferred to ImageNet (Table 4) 24.0 / 7.2 %
top-1 / top-5 error (configs/train_darts_imagenet.py).
"""

from edd_tf import search


def get_config():
  config = search.default_config()
  config.space = 'darts'
  config.method = 'pc_darts'
  config.model.update(channels=16, layers=8, partial_channels=4)
  config.softmax.update(kind='sn', s=0.0, st=1.0)
  config.schedule.update(name='edd', lam=0.06, rho=0.5, t0=1.0)
  config.search.update(epochs=50, batch_size=256, order='a_then_w', arch_warmup_epochs=15,
                       eval_examples=10000, eval_batch_size=256)
  config.optim.weights.update(lr=0.1, lr_min=0.0, momentum=0.9, nesterov=False,
                              weight_decay=3e-4, grad_clip=5.0)
  config.optim.arch.update(lr=6e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3, grad_clip=0.0)
  return config
