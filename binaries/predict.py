r"""Classifies image files with an exported SavedModel alone (no edd_tf code).

  python -m binaries.predict --export_dir=/tmp/edd/quickstart/export cat.jpg photos/
  python -m binaries.predict --export_dir=DIR --top_k=5 --batch_size=16 a.png b.jpg

Each argument is an image file or a folder, whose .jpg/.jpeg/.png files (not
its subfolders) are taken in sorted order. The raw file bytes go, in batches,
to the export's `serving_bytes` signature, which decodes and resizes them in
the graph; the class names come from labels.txt beside saved_model.pb. Prints
one line per image, in argument order:

  cat.jpg: cat 0.712, dog 0.150, frog 0.040

Bad input (a missing path, a folder without images, no images at all, a file
that does not decode, a directory that is not a binaries.export SavedModel,
a bad flag) ends the run with one `error: ...` line on stderr and exit status
1 (binaries/cli.py, which imports no model code); lines of the batches before
an undecodable file have been printed by then.
"""

from binaries import cli  # First: quiets TensorFlow's import-time notices.

import pathlib

from absl import flags
import numpy as np

SIGNATURE = 'serving_bytes'
INPUT_NAME = 'image_bytes'
LABELS_FILE = 'labels.txt'
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')

_EXPORT_DIR = flags.DEFINE_string(
    'export_dir', None, 'A SavedModel written by binaries.export (holds saved_model.pb and '
    'labels.txt).')
_TOP_K = flags.DEFINE_integer('top_k', 3, 'Classes printed per image (at most all of them).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 64, 'Images per call of the signature.')


class PredictError(ValueError):
  """A bad input, reported as one `error: ...` line (by `cli.run`)."""


def import_tensorflow():
  """Imports TensorFlow (its start-up quieted by binaries.cli unless --verbosity).

  The import is deferred until the arguments have been checked, so that bad
  arguments are answered at once.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf


def check_export_dir(export_dir):
  """Checks that `export_dir` looks like a binaries.export SavedModel.

  Args:
    export_dir: the --export_dir value.

  Returns:
    (export_dir as a pathlib.Path, the class names from labels.txt).

  Raises:
    PredictError: if the flag is unset, or the directory, its saved_model.pb
      or its labels.txt is missing or empty.
  """
  if not export_dir:
    raise PredictError('--export_dir is required: the SavedModel directory written by '
                       'binaries.export')
  path = pathlib.Path(export_dir)
  if not path.is_dir():
    raise PredictError(f'--export_dir={export_dir} does not exist or is not a directory')
  if not (path / 'saved_model.pb').is_file():
    raise PredictError(f'--export_dir={export_dir} has no saved_model.pb: not a SavedModel '
                       f'directory (write one with binaries.export)')
  labels_path = path / LABELS_FILE
  if not labels_path.is_file():
    raise PredictError(f'--export_dir={export_dir} has no {LABELS_FILE} beside saved_model.pb: '
                       f'not a binaries.export SavedModel (re-export it with binaries.export)')
  labels = [line.strip() for line in labels_path.read_text().splitlines() if line.strip()]
  if not labels:
    raise PredictError(f'{labels_path} holds no class names')
  return path, labels


def list_images(args):
  """The image files named by the command-line arguments.

  Args:
    args: file and folder paths; a folder stands for its .jpg/.jpeg/.png files,
      sorted by name.

  Returns:
    A list of pathlib.Path, in argument order.

  Raises:
    PredictError: if there are no arguments, a path does not exist, or a folder
      holds no images.
  """
  if not args:
    raise PredictError('no images given: pass image files or folders after the flags, e.g. '
                       'python -m binaries.predict --export_dir=DIR cat.jpg photos/')
  files = []
  for arg in args:
    path = pathlib.Path(arg)
    if path.is_dir():
      found = sorted(p for p in path.iterdir()
                     if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
      if not found:
        raise PredictError(f'folder {arg} holds no images ({", ".join(IMAGE_EXTENSIONS)})')
      files.extend(found)
    elif path.is_file():
      files.append(path)
    else:
      raise PredictError(f'{arg} does not exist')
  return files


def load_signature(tf, export_dir):
  """Loads the SavedModel's `serving_bytes` signature.

  Args:
    tf: the tensorflow module.
    export_dir: a directory that passed check_export_dir.

  Returns:
    The signature's concrete function.

  Raises:
    PredictError: if the SavedModel does not load or has no such signature.
  """
  try:
    loaded = tf.saved_model.load(str(export_dir))
  except Exception as e:  # pylint: disable=broad-except
    raise PredictError(f'cannot load the SavedModel in --export_dir={export_dir}: '
                       f'{_first_line(e)}') from e
  if SIGNATURE not in loaded.signatures:
    have = ', '.join(sorted(loaded.signatures)) or 'none'
    raise PredictError(f'the SavedModel in --export_dir={export_dir} has no {SIGNATURE!r} '
                       f'signature (it has: {have}); re-export it with binaries.export')
  return loaded.signatures[SIGNATURE]


def _first_line(error):
  """The informative line of a TF error message (no node names or stack notes)."""
  message = getattr(error, 'message', None) or str(error)
  for line in message.splitlines():
    line = line.strip()
    if line and not line.startswith(('Graph execution error', 'Detected at node',
                                     '<stack traces', '[[')):
      return line.split(' [Op:')[0]
  return message.strip()


def _read(path):
  try:
    return path.read_bytes()
  except OSError as e:
    raise PredictError(f'cannot read {path}: {e.strerror or e}') from e


def predict(tf, signature, files, batch_size):
  """Yields (path, probabilities float32[num_classes]) for every file, in order.

  Args:
    tf: the tensorflow module.
    signature: the `serving_bytes` signature.
    files: image file paths.
    batch_size: files per call of the signature.

  Raises:
    PredictError: naming the first file of a batch that does not decode.
  """
  for start in range(0, len(files), batch_size):
    batch = files[start:start + batch_size]
    encoded = [_read(path) for path in batch]
    try:
      probabilities = signature(**{INPUT_NAME: tf.constant(encoded, tf.string)})['probabilities']
    except tf.errors.InvalidArgumentError as batch_error:
      # Find the culprit, one file at a time.
      for path, data in zip(batch, encoded):
        try:
          signature(**{INPUT_NAME: tf.constant([data], tf.string)})
        except tf.errors.InvalidArgumentError as e:
          raise PredictError(f'cannot decode image {path}: {_first_line(e)}') from e
      raise PredictError(f'the model rejected the batch of {batch[0]} .. {batch[-1]}: '
                         f'{_first_line(batch_error)}') from batch_error
    yield from zip(batch, probabilities.numpy())


def format_line(path, probabilities, labels, top_k):
  """`path: name p, name p, ...` with the top_k classes, most probable first."""
  top = np.argsort(-probabilities, kind='stable')[:top_k]
  return f'{path}: ' + ', '.join(f'{labels[i]} {probabilities[i]:.3f}' for i in top)


def run(export_dir, args, top_k, batch_size):
  """Prints the top_k classes of every image named by `args`.

  Args:
    export_dir: the --export_dir value.
    args: the image file and folder arguments.
    top_k: classes printed per image.
    batch_size: images per call of the signature.

  Raises:
    PredictError: for any bad input (see the module docstring).
  """
  if top_k < 1:
    raise PredictError(f'--top_k must be at least 1, got {top_k}')
  if batch_size < 1:
    raise PredictError(f'--batch_size must be at least 1, got {batch_size}')
  export_dir, labels = check_export_dir(export_dir)
  files = list_images(args)
  tf = import_tensorflow()
  signature = load_signature(tf, export_dir)
  for path, probabilities in predict(tf, signature, files, batch_size):
    if len(probabilities) != len(labels):
      raise PredictError(f'{export_dir / LABELS_FILE} has {len(labels)} class names but the '
                         f'model outputs {len(probabilities)} classes')
    print(format_line(path, probabilities, labels, top_k), flush=True)


def main(argv):
  run(_EXPORT_DIR.value, argv[1:], _TOP_K.value, _BATCH_SIZE.value)


if __name__ == '__main__':
  cli.run(main)
