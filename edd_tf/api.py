"""The Python API: what the binaries do, from Python, with the same configs.

  from edd_tf import api

  config = api.load_config('nb201_cifar10_edd', {'search.epochs': 2})
  found = api.search(config, '/tmp/edd/s', data=(images, labels))   # or data=None: config.data
  found.genotype, found.history[-1]['discrete_acc']

  config = api.load_config('train_nb201_cifar10', {'train.epochs': 2})
  trained = api.train(config, '/tmp/edd/t', genotype=found.workdir,
                      data={'train': (x, y), 'test': (x_test, y_test)})
  trained.model                       # the keras.Model (model.keras); trained.test_accuracy

  api.export(trained.workdir, '/tmp/edd/e', tflite='float32')
  api.predict('/tmp/edd/e', uint8_images)               # the SavedModel's probabilities
  api.predict('/tmp/edd/e/model.tflite', uint8_images)  # the TFLite model's
  api.to_tflite(keras_pixel_model, '/tmp/edd/tuned.tflite', uint8_images)  # a fine-tuned one

A config is a name of the installed `configs` package ('nb201_cifar10_edd',
'robust_darts:s3,cifar100'), a path ('configs/quickstart.py[:ARG]') or a
ConfigDict; overrides are {dotted field: value}, checked against the config
(an unknown field names the closest known one; a wrong type names the field).
`data` takes numpy arrays or a tf.data.Dataset (edd_tf/data/python_source.py:
uint8 [N, H, W, 3] images, integer labels, the same checks and messages as
every other source); the run records the arrays' fingerprint, and its workdir
resumes only on the same arrays. Runs print a progress bar per epoch and the
time left (verbose=False: nothing); they resume after an interruption exactly
as the binaries do, and `search` / `train` return when the run is finished.
"""

import dataclasses
import difflib
import importlib
import pathlib

import ml_collections
import numpy as np

from edd_tf import search as search_lib
from edd_tf import train as train_lib
from edd_tf.core import progress as progress_lib
from edd_tf.experiments import grid
from edd_tf.serving import export as export_lib
from edd_tf.serving import tflite as tflite_lib

SEARCH_METRICS = ('loss', 'acc', 'val_loss', 'val_acc', 'discrete_acc', 'temperature', 'entropy')
TRAIN_METRICS = ('loss', 'accuracy', 'test_loss', 'test_accuracy', 'lr')


def override(config, overrides):
  """Sets {dotted field: value} on `config` (in place) and returns it.

  Raises:
    ValueError: an unknown field (naming the closest known one) or a value of
      the wrong type for its field.
  """
  known = set(grid.leaves(config))
  for key, value in dict(overrides or {}).items():
    if key not in known:
      close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
      hint = f'; did you mean {close[0]!r}?' if close else ''
      raise ValueError(f'unknown config field {key!r}{hint}')
    *path, leaf = key.split('.')
    section = config
    for part in path:
      section = section[part]
    try:
      setattr(section, leaf, value)
    except TypeError as e:
      raise ValueError(f'config field {key!r}: {value!r} does not fit: {e}') from None
  return config


def load_config(spec, overrides=None):
  """The ConfigDict of a config name, path or ConfigDict (copied), with `overrides`.

  Args:
    spec: 'nb201_cifar10_edd' (the installed `configs` package), a file
      'configs/x.py', either with ':ARG' for configs that take one, or a
      ConfigDict (deep-copied).
    overrides: {dotted field: value}, e.g. {'search.epochs': 2}.
  """
  if isinstance(spec, ml_collections.ConfigDict):
    config = ml_collections.ConfigDict(spec.to_dict())
  else:
    path, sep, arg = str(spec).partition(':')
    if path.endswith('.py') or '/' in path:
      config = grid.load_config(str(spec))
    else:
      try:
        module = importlib.import_module(f'configs.{path}')
      except ModuleNotFoundError:
        names = sorted(p.stem for p in pathlib.Path(
            importlib.import_module('configs').__file__).parent.glob('*.py') if p.stem[0] != '_')
        raise ValueError(f'no config named {path!r}; installed configs: {names}') from None
      config = module.get_config(arg) if sep else module.get_config()
  return override(config, overrides)


def _with_data(config, data):
  if data is None:
    return config
  config = ml_collections.ConfigDict(config.to_dict())
  config.data.source = 'python'
  return config


@dataclasses.dataclass
class SearchResult:
  """A finished (or stopped) search.

  Attributes:
    workdir: the search's workdir (a `genotype=` for `train`).
    genotype: the found cell as text (NB201 string or DARTS Genotype).
    genotype_path: its genotype.json.
    history: one dict per epoch (loss, val_acc, discrete_acc, temperature,
      entropy, ...), as the report and TensorBoard show them.
    benchmark: the NB201 table's row of the cell, or None.
    finished: whether every epoch ran (False after an early stop).
    raw: everything `search.run` returned.
  """
  workdir: pathlib.Path
  genotype: str
  genotype_path: pathlib.Path
  history: list
  benchmark: object
  finished: bool
  raw: dict


def search(config, workdir, data=None, verbose=True, allow_config_change=False):
  """Runs (or resumes) a search; binaries.search from Python.

  Args:
    config: a search config (see `load_config`).
    workdir: directory of the run (resumed if it holds one).
    data: images and labels from Python (the module docstring); None reads
      config.data (the embedded sample, a folder, tfds).
    verbose: print a progress bar per epoch and the time left.
    allow_config_change: as `--allow_config_change`.
  """
  config = _with_data(load_config(config), data)
  bar = progress_lib.ProgressBar(config.search.epochs, SEARCH_METRICS, 'discrete_acc') \
      if verbose else None
  result = search_lib.run(config, workdir, progress=bar, allow_config_change=allow_config_change,
                          data=data)
  if verbose:
    print(f"genotype written to {result['genotype_path']}")
  return SearchResult(pathlib.Path(workdir), str(result['genotype']),
                      pathlib.Path(result['genotype_path']), list(result['history']),
                      result.get('benchmark'), bool(result.get('finished', True)), result)


@dataclasses.dataclass
class TrainResult:
  """A finished training run of a found cell.

  Attributes:
    workdir: the training workdir (for `export`).
    model: the trained keras.Model, loaded from workdir/model.keras (it
      takes normalised images: mean/std in `results['data']`/dataset.json).
    test_accuracy: on the test split.
    history: one dict per epoch.
    results: everything in results.json.
  """
  workdir: pathlib.Path
  model: object
  test_accuracy: float
  history: list
  results: dict


def train(config, workdir, genotype=None, data=None, verbose=True, allow_config_change=False):
  """Trains the found network from scratch; binaries.train from Python.

  Args:
    config: a training config (see `load_config`).
    workdir: directory of the run (resumed if it holds one).
    genotype: a search workdir, genotype.json, a GENOTYPES name or a cell
      string; None keeps config.genotype.
    data: {'train': ..., 'test': ...} from Python (the module docstring).
    verbose: print a progress bar per epoch and the time left.
    allow_config_change: as `--allow_config_change`.
  """
  import keras   # pylint: disable=g-import-not-at-top
  config = _with_data(load_config(config), data)
  if genotype is not None:
    config.genotype = str(genotype)
  bar = progress_lib.ProgressBar(config.train.epochs, TRAIN_METRICS, 'lr') if verbose else None
  results = train_lib.run(config, workdir, progress=bar, allow_config_change=allow_config_change,
                          data=data)
  model = keras.saving.load_model(pathlib.Path(workdir) / train_lib.KERAS_MODEL_FILE)
  if verbose:
    print(f"test accuracy {results['test_accuracy']:.4f} after {results['epochs']} epochs; "
          f"results in {pathlib.Path(workdir) / train_lib.RESULTS_FILE}")
  return TrainResult(pathlib.Path(workdir), model, float(results['test_accuracy']),
                     list(results.get('history', [])), results)


def export(train_workdir, export_dir, tflite=None, keras_model=False, overwrite=False,
           representative_images=None):
  """binaries.export from Python: the SavedModel (and model.tflite / model.keras).

  Returns the metadata written to export_dir/metadata.json. A run trained on
  data from Python needs `representative_images` (uint8) for TFLite.
  """
  return export_lib.export(train_workdir, export_dir, overwrite=overwrite,
                           keras_model=keras_model, tflite=tflite,
                           representative_images=representative_images)


def to_tflite(model, path, representative_images, mode='float32'):
  """Writes a Keras model that takes pixels (0-255) as a .tflite file; returns its summary.

  For a network fine-tuned in Keras (final/keras_parts: `from_workdir`,
  `with_preprocessing`, `fine_tune_model` of those): uint8 images in,
  probabilities out, built-in ops only, checked in a fresh interpreter
  process on `representative_images` (uint8[N, S, S, 3]; int8 is calibrated
  on them) before anything is written. The summary holds the size and the
  agreement with the Keras model on those images.
  """
  images = np.asarray(representative_images)
  if images.ndim != 4 or images.dtype != np.uint8:
    raise ValueError(f'representative_images must be uint8[N, S, S, 3], got '
                     f'{images.dtype}{list(images.shape)}')
  blob, summary = tflite_lib.prepare(model, None, mode, images)
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(blob)
  return dict(summary, file=str(path))


def predict(path, images):
  """Class probabilities float32[N, K] of uint8[N, S, S, 3] images.

  `path` is an export directory (its `serving_default` signature) or a
  model.tflite file written by `export` (run in the TFLite interpreter).
  """
  import tensorflow as tf   # pylint: disable=g-import-not-at-top
  images = np.asarray(images)
  if images.ndim != 4 or images.dtype != np.uint8:
    raise ValueError(f'images must be uint8[N, S, S, 3], got {images.dtype}{list(images.shape)}')
  path = pathlib.Path(path)
  if path.suffix == '.tflite':
    return tflite_lib.interpret(path, images)
  if not (path / 'saved_model.pb').is_file():
    raise ValueError(f'{path} is neither an export directory (saved_model.pb) nor a .tflite file')
  signature = tf.saved_model.load(str(path)).signatures[export_lib.SIGNATURE]
  outputs = signature(images=tf.constant(images))
  return outputs['probabilities'].numpy()
