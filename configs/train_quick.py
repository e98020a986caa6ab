r"""Quick smoke test: a tiny NB201 network on the embedded CIFAR-10 sample.

  python -m binaries.train --config=configs/train_quick.py --workdir=/tmp/edd/quick
  python -m binaries.export --workdir=/tmp/edd/quick --export_dir=/tmp/edd/serving/quick/1

Runtime: about 1-2 minutes on 2 CPU cores. Expected: test accuracy around
0.35-0.45 on the 1,000 sample test images (chance is 0.10).
"""

from edd_tf import train

# NAS-Bench-201's best cifar10-valid cell (index 6111).
NB201_BEST = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|'
              '+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|')


def get_config():
  config = train.default_config()
  config.genotype = NB201_BEST
  config.network = 'nb201'
  config.model.update(channels=8, layers=0, cells_per_stage=1, auxiliary_weight=0.0,
                      drop_path_prob=0.0)
  config.train.update(epochs=5, batch_size=64, lr=0.1, lr_min=0.0, lr_schedule='cosine',
                      nesterov=True, weight_decay=5e-4, cutout=0)
  config.data.update(source='sample', name='cifar10', train_examples=2500, test_examples=1000)
  return config
