r"""DARTS CIFAR-10 evaluation recipe (quark0/darts cnn/train.py, reference.md sect. 3.7).

NetworkCIFAR C=36, 20 cells, auxiliary head (weight 0.4), cutout 16, drop path
ramp to 0.2; SGD momentum 0.9, lr 0.025 cosine to 0 over 600 epochs, weight
decay 3e-4 (coupled), grad clip 5, batch 96.

  python -m binaries.train --config=configs/train_darts_cifar10.py --workdir=/tmp/edd/darts_v2
  # A searched DARTS-space genotype:
  ... --config.genotype=/tmp/edd/search_darts
  # Offline, on the shared ImageFolder copy: --config.data.source=folder \
  #     --config.data.path=../shared/data/cifar10

Expected with DARTS_V2 on the full CIFAR-10: 97.24-97.37% test accuracy
(2.76 +/- 0.09% error), 3.3M params; about 1.5 GPU-days on a 1080Ti.
"""

from edd_tf import train


def get_config():
  config = train.default_config()
  config.genotype = 'DARTS_V2'
  config.network = 'darts_cifar'
  config.model.update(channels=36, layers=20, cells_per_stage=0, auxiliary_weight=0.4,
                      drop_path_prob=0.2)
  config.train.update(epochs=600, batch_size=96, lr=0.025, lr_min=0.0, lr_schedule='cosine',
                      momentum=0.9, nesterov=False, weight_decay=3e-4, grad_clip=5.0,
                      label_smoothing=0.0, cutout=16)
  config.data.update(source='tfds', name='cifar10')
  return config
