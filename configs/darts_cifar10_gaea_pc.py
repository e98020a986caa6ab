r"""GAEA PC-DARTS in the DARTS space on CIFAR-10: EG steps on theta and on the edge weights b.

GAEA's DARTS-space recipe (../shared/docs/baselines.md part 1, sect. 2,
"DARTS-space configuration (GAEA PC-DARTS)"; G configs/cnn/mode/search_pcdarts.yaml:5-16,
method_eedarts_space_pcdarts.yaml): bilevel (weights and theta on the two
halves of the training set), 50 epochs, 8 cells, C = 16, the PC-DARTS supernet
with K = 4 partial channels and the 8 DARTS ops ('none' kept); weights: batch
256, SGD 0.1 -> 0 cosine over the 50 epochs, momentum 0.9, weight decay 3e-4,
clip 5; arch: exponentiated gradient on theta (eta = 0.1, per edge on the op
simplex) and on the edge weights b (edge_eta = 0.1, per node on its edges'
simplex, init 1 / inputs), no softmax, no temperature, no warm-up (GAEA drops
PC-DARTS' 15 epochs); each step the EG step first, then SGD
(train_search.py:232-284). Read-out: theta * b, per node the top-2 edges by
the largest non-'none' score (methods/gaea_pc.py).

  python -m binaries.search --config=configs/darts_cifar10_gaea_pc.py \
      --config.data.source=tfds --workdir=/tmp/edd/darts_gaea_pc

As the public bilevel runs, the result is the genotype of the epoch with the
best supernet validation accuracy (procedure 'best_val'). The edge weights get a floor of 1e-12 before their per-node division (none in
the public code).

Reported [unverified, from memory; baselines.md]: about 2.50 +- 0.06 % test
error on CIFAR-10 (3.7 M parameters, 0.1 GPU-days) after the 600-epoch
evaluation (configs/train_darts_cifar10.py).
"""

import ml_collections

from edd_tf import search


def get_config():
  config = search.default_config()
  config.method = 'gaea_pc'
  config.space = 'darts'
  config.softmax.update(kind='plain', s=0.0, st=0.0)   # theta and b mix directly; no softmax
  config.schedule.update(name='constant', t0=1.0)
  config.model.update(channels=16, layers=8, partial_channels=4)
  config.search.update(epochs=50, batch_size=256, order='a_then_w', data_mode='bilevel',
                       arch_warmup_epochs=0, eval_examples=10000, eval_batch_size=256)
  config.optim.weights.update(lr=0.1, lr_min=0.0, momentum=0.9, nesterov=False,
                              weight_decay=3e-4, grad_clip=5.0)
  config.optim.arch.update(weight_decay=0.0, grad_clip=0.0)   # Adam is not used by EG
  config.gaea = ml_collections.ConfigDict(dict(eta=0.1, edge_eta=0.1))
  config.procedure.name = 'best_val'
  return config
