"""The dataset catalogue: static facts per dataset and the in-memory split type.

`DATASETS` holds what the models and pipelines need to know about each
dataset (classes, image size, normalisation); `Arrays` is one split loaded
into memory; `subset_order` is the fixed, class-balanced example order every
source (`data`, `image_folder`, `tfds_source`) returns its examples in.
"""

import dataclasses

import numpy as np

# The order of the examples returned by data.load_arrays (fixed for reproducibility).
_ORDER_SEED = 0


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """Static facts about a dataset.

  Attributes:
    name: the DATASETS key (also the tfds name).
    num_classes: number of labels.
    image_size: side of the square images the models see.
    mean: per-channel mean, in [0, 1] units.
    std: per-channel standard deviation, in [0, 1] units.
    class_names: label names in label order (may be empty).
  """
  name: str
  num_classes: int
  image_size: int
  mean: tuple
  std: tuple
  class_names: tuple = ()


CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse',
                   'ship', 'truck')

DATASETS = {
    # DARTS cnn/utils.py::_data_transforms_cifar10.
    'cifar10': DatasetInfo('cifar10', 10, 32, (0.49139968, 0.48215827, 0.44653124),
                           (0.24703233, 0.24348505, 0.26158768), CIFAR10_CLASSES),
    # Small-temperature reference src/utils.py (reference.md sect. 5.5).
    'cifar100': DatasetInfo('cifar100', 100, 32, (0.5071, 0.4865, 0.4409),
                            (0.2673, 0.2564, 0.2762)),
    'svhn_cropped': DatasetInfo('svhn_cropped', 10, 32, (0.4377, 0.4438, 0.4728),
                                (0.1980, 0.2010, 0.1970), tuple(str(i) for i in range(10))),
    # torchvision ImageNet statistics (DARTS cnn/train_imagenet.py).
    'imagenet2012': DatasetInfo('imagenet2012', 1000, 224, (0.485, 0.456, 0.406),
                                (0.229, 0.224, 0.225)),
}


@dataclasses.dataclass(frozen=True)
class Arrays:
  """An in-memory split.

  Attributes:
    images: uint8[N, H, W, 3].
    labels: int32[N].
    info: the dataset's DatasetInfo (image_size and classes as loaded).
  """
  images: np.ndarray
  labels: np.ndarray
  info: DatasetInfo

  def __len__(self):
    return len(self.labels)


def subset_order(labels, limit, field):
  """Indices of a class-balanced subset (`limit` 0 = all) in a fixed shuffled order.

  The subset takes the first examples of every class round-robin (the k-th of
  each class before any (k+1)-th), so it is as balanced as the classes allow.
  """
  labels = np.asarray(labels)
  n = len(labels)
  if limit > n:
    raise ValueError(f'config.data.{field}={limit} but the split has only {n} examples '
                     f'(use 0 for all)')
  rank = np.zeros(n, np.int64)
  for c in np.unique(labels):
    members = np.flatnonzero(labels == c)
    rank[members] = np.arange(len(members))
  order = np.lexsort((np.arange(n), labels, rank))  # Primary key: rank; then class.
  if limit:
    order = order[:limit]
  return order[np.random.default_rng(_ORDER_SEED).permutation(len(order))]
