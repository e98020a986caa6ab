r"""SGAS (Li et al. 2020): first-order DARTS with greedy edge decisions (edd_tf/procedures/sgas.py).

`--config=configs/sgas.py:SPACE[,cri2][,edd]` with SPACE in darts, s3 (the
spaces with 'none' on every edge; SGAS' edge importance 1 - p_none is
constant without it, so S1, S2 and S4 are refused) or nb201. The public
recipe (lightaime/sgas cnn/train_search.py; ../shared/docs/baselines.md part 3,
sect. 2): the DARTS search (8 cells, C = 16, batch 64, 50 epochs, SGD 0.025 ->
0.001 cosine, momentum 0.9, decay 3e-4; Adam 3e-4 (0.5, 0.999), decay 1e-3,
first order); after epoch 10 (warmup_epochs = 9, 0-based) and then every 5th,
one edge per cell type decided by criterion 1 (importance x certainty) or 2
(x stability over the last 4 epochs); the batch grows by 8 per decision.
NB201 has no SGAS code: there the 6 edges are decided one per decision epoch,
nothing pruned (our extension). `,edd` swaps the first-order DARTS mixing
for the EDD recipe (sn-softmax and the EDD temperature schedule; a
softmax-based method, so the decisions apply unchanged).

  python -m binaries.search --config=configs/sgas.py:darts \
      --config.data.source=tfds --workdir=/tmp/edd/sgas_cri1
  python -m binaries.train --config=configs/train_darts_cifar10.py \
      --config.genotype=/tmp/edd/sgas_cri1 --workdir=/tmp/edd/sgas_cri1_eval

genotype.json's 'sgas_decisions' lists the decisions in order. Expected
(public genotypes.py comments, 10 searches, CIFAR-10 test error after the
600-epoch evaluation): criterion 1 2.66 +- 0.24 %, criterion 2 2.67 +- 0.21 %.
"""

import importlib

SPACES = {'darts': ('darts_cifar10_darts', 'darts'), 's3': ('darts_cifar10_darts', 's3'),
          'nb201': ('nb201_cifar10_darts', 'nb201')}
EDD = {'darts': 'darts_cifar10_edd', 's3': 'darts_cifar10_edd', 'nb201': 'nb201_cifar10_edd'}
VARIANTS = ('cri2', 'edd')


def get_config(arg='darts'):
  space, *variants = arg.split(',')
  if space not in SPACES or any(v not in VARIANTS for v in variants):
    raise ValueError(f'configs/sgas.py:{arg}: expected SPACE[,cri2][,edd] with SPACE in '
                     f'{sorted(SPACES)}')
  module = EDD[space] if 'edd' in variants else SPACES[space][0]
  config = importlib.import_module(f'configs.{module}').get_config()
  config.space = SPACES[space][1]
  config.search.epochs = 50
  config.procedure.update(name='sgas', criterion=2 if 'cri2' in variants else 1,
                          warmup_epochs=9, decision_freq=5, history=4, batch_increase=8)
  return config
