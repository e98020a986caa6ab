r"""Classifies image files with an exported SavedModel or TFLite file alone (no edd_tf code).

  python -m binaries.predict --export_dir=/tmp/edd/quickstart/export cat.jpg photos/
  python -m binaries.predict --export_dir=DIR --top_k=5 --batch_size=16 a.png b.jpg
  python -m binaries.predict --tflite=DIR/model.tflite cat.jpg

With --tflite (a model.tflite written by `binaries.export --tflite=...`, with
labels.txt beside it) the files are decoded and resized here, the same way
the SavedModel's `serving_bytes` signature does it in its graph (keep
`_to_image_size` equal to edd_tf/serving/export.py `to_image_size`; a test
compares the two paths), and run in the TFLite interpreter.

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
_TFLITE = flags.DEFINE_string(
    'tflite', None, 'A model.tflite written by binaries.export --tflite (labels.txt beside it); '
    'instead of --export_dir.')
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


def check_tflite(tflite):
  """(the .tflite path, the class names from labels.txt beside it)."""
  path = pathlib.Path(tflite)
  if not path.is_file():
    raise PredictError(f'--tflite={tflite} does not exist or is not a file')
  labels_path = path.parent / LABELS_FILE
  if not labels_path.is_file():
    raise PredictError(f'--tflite={tflite} has no {LABELS_FILE} beside it (binaries.export '
                       'writes both into the export directory)')
  labels = [line.strip() for line in labels_path.read_text().splitlines() if line.strip()]
  if not labels:
    raise PredictError(f'{labels_path} holds no class names')
  return path, labels


def _to_image_size(tf, image, size):
  """uint8[size, size, 3]: unchanged at the size, else antialiased bilinear, rounded, clipped."""
  if image.shape[0] == size and image.shape[1] == size:
    return image
  resized = tf.image.resize(image, [size, size], method='bilinear', antialias=True)
  return tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 255.0)), tf.uint8)


def load_tflite(tf, path):
  """A callable like the `serving_bytes` signature, running the TFLite file."""
  try:
    interpreter = tf.lite.Interpreter(model_path=str(path))
  except Exception as e:  # pylint: disable=broad-except
    raise PredictError(f'cannot load --tflite={path}: {_first_line(e)}') from e
  inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
  size = int(inp['shape'][1])

  def signature(**inputs):
    images = tf.stack([_to_image_size(tf, tf.io.decode_image(x, channels=3,
                                                             expand_animations=False), size)
                       for x in tf.unstack(inputs[INPUT_NAME])]).numpy()
    interpreter.resize_tensor_input(inp['index'], list(images.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp['index'], images)
    interpreter.invoke()
    return {'probabilities': tf.constant(interpreter.get_tensor(out['index']))}

  return signature


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


def run(export_dir, args, top_k, batch_size, tflite=None):
  """Prints the top_k classes of every image named by `args`.

  Args:
    export_dir: the --export_dir value.
    tflite: the --tflite value (instead of export_dir).
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
  if tflite and export_dir:
    raise PredictError('give --export_dir or --tflite, not both')
  export_dir, labels = check_tflite(tflite) if tflite else check_export_dir(export_dir)
  files = list_images(args)
  tf = import_tensorflow()
  signature = load_tflite(tf, export_dir) if tflite else load_signature(tf, export_dir)
  labels_file = (export_dir.parent if tflite else export_dir) / LABELS_FILE
  for path, probabilities in predict(tf, signature, files, batch_size):
    if len(probabilities) != len(labels):
      raise PredictError(f'{labels_file} has {len(labels)} class names but the '
                         f'model outputs {len(probabilities)} classes')
    print(format_line(path, probabilities, labels, top_k), flush=True)


def main(argv):
  run(_EXPORT_DIR.value, argv[1:], _TOP_K.value, _BATCH_SIZE.value, _TFLITE.value)


if __name__ == '__main__':
  cli.run(main)
