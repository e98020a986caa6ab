"""What several test modules share: paths, the shipped sample, tiny configs.

Functional tests use only what the repository ships (`edd_tf/assets/`) or what
they generate from it. Tests that cross-check the shipped assets against
`../shared/data` (which only the developers' machines have) carry
`requires_shared`: marked `shared_data` (CI's in-place pass runs just those)
and skipped, saying why, when ../shared is absent.

Pytest fixtures built on these live in `conftest.py`.
"""

import os
import pathlib
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from edd_tf import search
from edd_tf import train

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / 'shared' / 'data'
SAMPLE_ASSET = ROOT / 'edd_tf' / 'assets' / 'cifar10_sample.npz'
# A valid NB201 cell with every op family (used by training and export tests).
NB201_CELL = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|'
              '+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|')

_SKIP_WITHOUT_SHARED = pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason=f'cross-check against the developers\' ../shared/data ({SHARED_DATA}), which a clone '
           f'of the repository does not have')


class Interrupt(Exception):
  """What `interrupt_at` raises: a run cut at a step, as a crash would cut it."""


def interrupt_at(epoch, step):
  """A `progress` callback that raises `Interrupt` at `step` (1-based) of `epoch` (0-based)."""
  def progress(e, s, steps, metrics):
    del steps, metrics
    if (e, s) == (epoch, step):
      raise Interrupt()
  return progress


def requires_shared(test):
  """Marks a cross-check against ../shared/data: `shared_data`, skipped without it."""
  return pytest.mark.shared_data(_SKIP_WITHOUT_SHARED(test))


def sigterm_when_printed(args, marker, timeout=300):
  """Runs `args` in ROOT, sends SIGTERM once its stdout shows `marker`; (returncode, stderr).

  What a cloud scheduler does before preempting a binary (the progress bar
  prints the marker, e.g. '1/8' for the first of 8 steps).
  """
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  seen = []
  reader = threading.Thread(target=lambda: seen.extend(iter(lambda: proc.stdout.read(1), '')))
  reader.start()
  deadline = time.time() + timeout
  while marker not in ''.join(seen):
    assert proc.poll() is None and time.time() < deadline, proc.stderr.read()[-2000:]
    time.sleep(0.01)
  proc.send_signal(signal.SIGTERM)
  stderr = proc.stderr.read()
  proc.wait(timeout=120)
  reader.join()
  return proc.returncode, stderr


def set_fields(config, overrides):
  """Sets dotted fields: set_fields(c, {'search.epochs': 2}); returns `config`."""
  for key, value in overrides.items():
    node = config
    *path, last = key.split('.')
    for p in path:
      node = node[p]
    node[last] = value
  return config


def tiny_search_config(**overrides):
  """A seconds-long NB201 search on 256 real CIFAR-10 images from the embedded sample."""
  c = search.default_config()
  c.data.train_examples = 256
  c.model.channels = 4
  c.model.cells_per_stage = 1
  c.search.epochs = 3
  c.search.batch_size = 32
  c.search.eval_examples = 64
  c.search.eval_batch_size = 64
  c.optim.arch.lr = 3e-2  # move the alphas visibly within a few steps
  c.search.log_every_steps = 2
  c.search.metrics_every_steps = 1  # progress after every step (tests interrupt there)
  return set_fields(c, overrides)


def tiny_train_config(epochs=1):
  """A 4-channel, 1-cell-per-stage NB201 net on 256 sample images (4 steps/epoch)."""
  config = train.default_config()
  config.genotype = NB201_CELL
  config.network = 'nb201'
  config.model.update(channels=4, layers=0, cells_per_stage=1, auxiliary_weight=0.0,
                      drop_path_prob=0.0)
  config.train.update(epochs=epochs, batch_size=64, lr=0.05, nesterov=True, weight_decay=5e-4,
                      cutout=0)
  config.data.update(source='sample', train_examples=256, test_examples=64)
  config.train.log_every_steps = 2
  config.train.metrics_every_steps = 1  # progress after every step (tests count the calls)
  return config


def tiny_darts_train_config(epochs=2):
  """DARTS_V2 in a 3-cell, C=16 CIFAR network with the auxiliary head and drop path.

  C stays at 16: with fewer input channels the oneDNN filter gradient of a
  1x1 stride-2 conv (FactorizedReduce) corrupts the heap on AVX-512 CPUs
  (oneDNN issue #6035, IC < ic_block); TF_ENABLE_ONEDNN_OPTS=0 avoids it.
  """
  config = train.default_config()
  config.model.update(channels=16, layers=3, auxiliary_weight=0.4, drop_path_prob=0.2)
  config.train.update(epochs=epochs, batch_size=32, cutout=16)
  config.data.update(source='sample', train_examples=64, test_examples=32)
  return config


class Recorder:
  """A progress callback that records its calls."""

  def __init__(self):
    self.calls = []

  def __call__(self, epoch, step, steps, metrics):
    self.calls.append((epoch, step, steps, dict(metrics)))

  @property
  def epochs(self):
    return sorted({c[0] for c in self.calls})


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


def sample_jpegs(count):
  """The first `count` test JPEG files of the shipped sample: [(bytes, label)]."""
  with np.load(SAMPLE_ASSET, allow_pickle=False) as f:
    blob, offsets, labels = f['test_jpeg'].tobytes(), f['test_offsets'], f['test_labels']
  return [(blob[offsets[i]:offsets[i + 1]], int(labels[i])) for i in range(count)]


def png_bytes(image):
  """uint8[H, W, 3] as PNG file bytes."""
  return tf.io.encode_png(tf.constant(image, tf.uint8)).numpy()
