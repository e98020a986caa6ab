"""What a training run feeds the found network: the per-epoch training and the test pipeline.

Every dataset of config.data (the shipped sample, TFDS or an image folder) is
loaded as arrays (data/pipeline.py, with the DARTS cutout augmentation);
config.network='darts_imagenet' streams ImageNet from TFDS instead
(data/imagenet.py), with a new shuffle and augmentation seed every epoch.
"""

from edd_tf.data import imagenet as imagenet_data
from edd_tf.data import pipeline as data_lib


class TrainData:
  """Per-epoch training pipelines and the test pipeline of a training config.

  Attributes:
    info: the `DatasetInfo` the network is built for.
    fingerprint: for config.data.source='python', the hash of the arrays
      (config.json's data.fingerprint); '' for the other sources.
    steps: training steps per epoch (None for streamed ImageNet: one pass).
    batch_size, eval_batch_size: the global batch sizes of training and test.
  """

  def __init__(self, config, python_data=None):
    self.config = config
    t = config.train
    self.batch_size = t.batch_size
    self.eval_batch_size = t.eval_batch_size or t.batch_size
    self.imagenet = config.network == 'darts_imagenet'
    if self.imagenet:
      if config.data.name != 'imagenet2012':
        raise ValueError(f"config.network='darts_imagenet' trains on config.data.name="
                         f"'imagenet2012', got {config.data.name!r}")
      self.info = data_lib.DATASETS['imagenet2012']
      self.train = self.test = None
      self.steps = None
      self.fingerprint = ''
    else:
      self.train = data_lib.load_arrays(config.data, 'train', python_data)
      self.test = data_lib.load_arrays(config.data, 'test', python_data)
      self.fingerprint = data_lib.fingerprint_of(config.data, self.train, self.test)
      self.info = self.train.info
      self.steps = data_lib.steps_per_epoch(self.train, self.batch_size)
      if self.steps == 0:
        raise ValueError(f'config.train.batch_size={self.batch_size} exceeds the '
                         f'{len(self.train)} training examples')

  def train_dataset(self, epoch, start_step=0):
    """The training batches of `epoch`, from step `start_step` on (a resumed epoch)."""
    seed = self.config.seed
    if self.imagenet:
      return imagenet_data.imagenet_dataset(
          self.config.data.data_dir, 'train', self.batch_size, training=True,
          seed=seed * 100_003 + epoch).skip(start_step)
    return data_lib.make_dataset(self.train, self.batch_size, training=True, seed=seed,
                             epoch=epoch, cutout=self.config.train.cutout,
                             start_step=start_step)

  def test_dataset(self):
    """The test split, in order, unaugmented."""
    if self.imagenet:
      return imagenet_data.imagenet_dataset(self.config.data.data_dir, 'test',
                                            self.eval_batch_size, training=False)
    return data_lib.make_dataset(self.test, self.eval_batch_size, training=False)

  def describe(self):
    """The data as results.json records it."""
    d = dict(name=self.info.name, source=self.config.data.source,
             image_size=int(self.info.image_size), num_classes=int(self.info.num_classes))
    if not self.imagenet:
      d.update(train_examples=len(self.train), test_examples=len(self.test))
    return d

