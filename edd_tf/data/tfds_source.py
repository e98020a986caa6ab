"""tfds datasets loaded into memory, with an offline check before any download.

`load_tfds` loads a prepared CIFAR/SVHN-sized tfds dataset whole. With
config.data.download=True it first checks (`network_problem`, at most 3 s)
that tfds could reach its servers, so an offline machine fails at once with
what to do instead of hanging in a retry loop.
"""

import dataclasses
import socket
import threading

import numpy as np
import tensorflow_datasets as tfds

from edd_tf.data import datasets
from edd_tf.core import errors

# config.data.download=True first checks that this (host, port) answers (tfds
# fetches dataset metadata from Google Cloud Storage), for at most this long.
NETWORK_CHECK_ADDRESS = ('storage.googleapis.com', 443)
NETWORK_CHECK_SECONDS = 3.0


def tfds_error(name, data_dir, error):
  where = data_dir or 'the tfds default data_dir (~/tensorflow_datasets or $TFDS_DATA_DIR)'
  return ValueError(
      f'no prepared tfds dataset {name!r} in config.data.data_dir={where!r} ({error}). '
      f'Prepare it on a machine with internet (`tfds build {name} --data_dir=...`, or set '
      f'config.data.download=True) and copy it there, or use config.data.source='
      f"'folder' (an ImageFolder tree) or 'sample' (the embedded CIFAR-10 sample).")


def network_problem(address=NETWORK_CHECK_ADDRESS, timeout=NETWORK_CHECK_SECONDS):
  """Why a TCP connection to `address` does not open within `timeout` s; None if it does.

  Name resolution counts towards the timeout (it runs in a helper thread,
  since socket timeouts do not cover it). `load_tfds` calls this before a
  download; tests replace it to simulate being on- or offline.
  """
  outcome = []

  def connect():
    try:
      socket.create_connection(address, timeout=timeout).close()
      outcome.append(None)
    except OSError as e:
      outcome.append(errors.one_line(e) or type(e).__name__)

  thread = threading.Thread(target=connect, name='network-check', daemon=True)
  thread.start()
  thread.join(timeout)
  if not outcome:
    return f'no answer within {timeout:g} s'
  return outcome[0]


def _is_prepared(name, data_dir):
  """Whether tfds has `name` prepared in `data_dir` (None = tfds default); offline."""
  try:
    return tfds.builder(name, data_dir=data_dir).is_prepared()
  except Exception:  # pylint: disable=broad-except  # Unknown = let tfds.load decide.
    return False


def _check_download(name, data_dir):
  """Raises DataError at once if tfds would have to download `name` without a network."""
  if _is_prepared(name, data_dir):
    return
  host, port = NETWORK_CHECK_ADDRESS
  problem = network_problem()
  if problem is None:
    return
  where = data_dir or 'the tfds default data_dir'
  raise errors.DataError(
      f'config.data.download=True but there is no network: cannot reach {host}:{port} '
      f'({problem}), and {name!r} is not prepared in {where}. Prepare it on a machine with '
      f'internet (`tfds build {name} --data_dir=DIR`), copy DIR here and set '
      f"config.data.data_dir=DIR, or use config.data.source='folder' with config.data.path "
      f'(an ImageFolder tree)')


def load_tfds(data_config, name, split, limit, field):
  """A tfds dataset loaded whole into memory (CIFAR/SVHN sized)."""
  if name == 'imagenet2012':
    raise ValueError("config.data.name='imagenet2012' is too large to load into memory with "
                     "config.data.source='tfds'; stream it with imagenet_data.imagenet_dataset()")
  data_dir = data_config.get('data_dir', '') or None
  if data_config.get('download', False):
    _check_download(name, data_dir)
  try:
    (images, labels), info = tfds.load(
        name, split=split, data_dir=data_dir, download=bool(data_config.get('download', False)),
        batch_size=-1, as_supervised=True, with_info=True)
  except (AssertionError, ConnectionError, OSError) as e:
    # tfds raises a bare AssertionError when the data is missing and a
    # requests ConnectionError (an OSError) when a download fails.
    raise tfds_error(name, data_config.get('data_dir', ''), e) from e
  labels = np.asarray(labels, np.int32)
  order = datasets.subset_order(labels, limit, field)
  class_names = tuple(info.features['label'].names)
  ds_info = dataclasses.replace(datasets.DATASETS[name], class_names=class_names)
  return datasets.Arrays(np.asarray(images)[order], labels[order], ds_info)
