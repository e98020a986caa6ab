r"""NAS-Bench-201 training recipe (reference.md sect. 2.7: AutoDL 200E/CIFAR configs).

TinyNetwork C=16, N=5; SGD nesterov, momentum 0.9, lr 0.1 cosine to 0 over 200
epochs, weight decay 5e-4, batch 256; no cutout, auxiliary head or drop path.

  # A searched cell (the search writes <workdir>/genotype.json):
  python -m binaries.train --config=configs/train_nb201_cifar10.py \
      --config.genotype=/tmp/edd/search --workdir=/tmp/edd/nb201_eval
  # Offline, on the shared ImageFolder copy instead of a prepared tfds dir:
  ... --config.data.source=folder --config.data.path=../shared/data/cifar10

Default genotype: NB201's best cifar10-valid cell (index 6111). Expected on the
full CIFAR-10 (tfds, 50k/10k): about 94.4% test accuracy (NB201's 94.37 for this
cell), roughly 1 GPU-hour; on CPU expect days.
"""

from edd_tf import train

NB201_BEST = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|'
              '+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|')


def get_config():
  config = train.default_config()
  config.genotype = NB201_BEST
  config.network = 'nb201'
  config.model.update(channels=16, layers=0, cells_per_stage=5, auxiliary_weight=0.0,
                      drop_path_prob=0.0)
  config.train.update(epochs=200, batch_size=256, lr=0.1, lr_min=0.0, lr_schedule='cosine',
                      momentum=0.9, nesterov=True, weight_decay=5e-4, grad_clip=5.0,
                      label_smoothing=0.0, cutout=0)
  config.data.update(source='tfds', name='cifar10')
  return config
