"""Shared test set-up: quiet TF logs, the repo root on sys.path, test data.

Functional tests use only what the repository ships (`edd_tf/assets/`) or what
they generate from it: `sample_folder` writes the shipped CIFAR-10 sample back
out as an ImageFolder tree. Tests that cross-check the shipped assets against
`../shared/data` (which only the developers' machines have) carry
`requires_shared` and skip, saying why, when it is absent.
"""

import os
import pathlib
import sys

import numpy as np
import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / 'shared' / 'data'
SAMPLE_ASSET = ROOT / 'edd_tf' / 'assets' / 'cifar10_sample.npz'

requires_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason=f'cross-check against the developers\' ../shared/data ({SHARED_DATA}), which a clone '
           f'of the repository does not have')


def write_sample_folder(root, per_class=None):
  """Writes the shipped CIFAR-10 sample as ImageFolder root/{train,test}/<class>/NNNN.jpg.

  The JPEG bytes are the original files the sample was made from, so the tree
  is a byte-identical subset of ../shared/data/cifar10.

  Args:
    root: the directory to create.
    per_class: optional {'train': n, 'test': m} limit of files per class.

  Returns:
    root as a pathlib.Path.
  """
  root = pathlib.Path(root)
  with np.load(SAMPLE_ASSET, allow_pickle=False) as f:
    class_names = [str(c) for c in f['class_names']]
    for split in ('train', 'test'):
      blob, offsets = f[f'{split}_jpeg'].tobytes(), f[f'{split}_offsets']
      labels, file_ids = f[f'{split}_labels'], f[f'{split}_file_ids']
      counts = {}
      for i, label in enumerate(labels):
        counts[label] = counts.get(label, 0) + 1
        if per_class and counts[label] > per_class[split]:
          continue
        path = root / split / class_names[label] / f'{file_ids[i]:04d}.jpg'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob[offsets[i]:offsets[i + 1]])
  return root


@pytest.fixture(scope='session')
def sample_folder(tmp_path_factory):
  """The shipped sample as an ImageFolder (5,000 train / 1,000 test JPEGs)."""
  return write_sample_folder(tmp_path_factory.mktemp('data') / 'cifar10')
