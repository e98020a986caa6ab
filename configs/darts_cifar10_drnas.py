r"""DrNAS in the DARTS space on CIFAR-10 with progressive learning (two stages).

DrNAS DARTS-space/train_search.py:25-46,118-159,182-183 (../shared/docs/
baselines.md part 1, sect. 1): the 7 DARTS ops without 'none' (darts_no_none),
a 20-cell supernet with C = 36, batch 64; SGD 0.1 cosine to 0 over all 50
epochs, momentum 0.9, weight decay 3e-4, clip 5; Adam 6e-4 (0.5, 0.999) with
the L2 of 1e-3 on alpha; alpha step first; Dirichlet(ELU(alpha) + 1) mixing,
no PC-DARTS edge normalisation.
  stage 1: epochs 1-25, partial channels K = 6, all 7 ops;
  then:    keep the top-4 ops per edge by raw alpha (the rest masked), widen
           every op from C/6 to C/4 channels by copying channels (momenta too);
  stage 2: epochs 26-50, K = 4, 4 ops per edge.
The first 10 epochs of each stage train the weights only. Read-out on
softmax(alpha), masked and renormalised.

  python -m binaries.search --config=configs/darts_cifar10_drnas.py \
      --config.data.source=tfds --workdir=/tmp/edd/darts_drnas
  # then: python -m binaries.train --config=configs/train_darts_cifar10.py \
  #   --config.genotype=/tmp/edd/darts_drnas --workdir=...

Reported (DrNAS README): 2.46 +- 0.03 % test error, 4.1 M parameters
(0.6 GPU-days), after the 600-epoch evaluation; the authors' cell is
`DrNAS_cifar10` (DrNAS DARTS-space/genotypes.py:82).
"""

import ml_collections

from edd_tf import search


def get_config():
  config = search.default_config()
  config.space = 'darts_no_none'
  config.method = 'drnas'
  config.model.update(channels=36, layers=20, partial_channels=6)
  config.softmax.update(kind='plain', s=0.0, st=0.0)   # unused by the Dirichlet mixing
  config.schedule.update(name='constant', t0=1.0)
  # arch_warmup_epochs counts from the start of each stage (DrNAS: e >= 10).
  config.search.update(epochs=50, batch_size=64, order='a_then_w', arch_warmup_epochs=10,
                       eval_examples=10000)
  config.optim.weights.update(lr=0.1, lr_min=0.0, momentum=0.9, nesterov=False,
                              weight_decay=3e-4, grad_clip=5.0)
  config.optim.arch.update(lr=6e-4, beta1=0.5, beta2=0.999, weight_decay=1e-3, grad_clip=0.0)
  config.drnas = ml_collections.ConfigDict(dict(
      reg='l2', reg_scale=1e-3, progressive=True,
      stage_epochs=(25, 25), stage_partial_channels=(6, 4), stage_keep_ops=(7, 4)))
  return config
