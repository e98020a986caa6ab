r"""DARTS ImageNet (mobile setting) recipe (quark0/darts train_imagenet.py, reference 3.8).

NetworkImageNet C=48, 14 cells, auxiliary head (weight 0.4), no drop path;
SGD momentum 0.9, lr 0.1 decayed by 0.97 every epoch for 250 epochs, weight
decay 3e-5 (coupled), label smoothing 0.1, grad clip 5, batch 128. Data: tfds
'imagenet2012' prepared by hand in --config.data.data_dir (never downloaded).

  python -m binaries.train --config=configs/train_darts_imagenet.py \
      --config.data.data_dir=/data/tensorflow_datasets --workdir=/tmp/edd/darts_imagenet

Expected with DARTS_V2: 73.3% top-1 (26.7% error), 4.7M params, 574M multiply-adds;
several GPU-days.
"""

from edd_tf import train


def get_config():
  config = train.default_config()
  config.genotype = 'DARTS_V2'
  config.network = 'darts_imagenet'
  config.model.update(channels=48, layers=14, cells_per_stage=0, auxiliary_weight=0.4,
                      drop_path_prob=0.0)
  config.train.update(epochs=250, batch_size=128, lr=0.1, lr_min=0.0, lr_schedule='step',
                      lr_gamma=0.97, momentum=0.9, nesterov=False, weight_decay=3e-5,
                      grad_clip=5.0, label_smoothing=0.1, cutout=0)
  config.data.update(source='tfds', name='imagenet2012')
  return config
