"""TFLite for devices: the found network as `model.tflite`, float32 or quantized, built-in ops only.

The SavedModel's signatures check shapes with `tf.EnsureShape`, which TFLite
has no built-in kernel for, so the TFLite graph is its own: uint8 images
[batch, S, S, 3] -> cast, the dataset's normalisation, the network in
inference mode, softmax -> float32 probabilities [batch, K]. Variables are
frozen into constants first (converting the Keras model directly keeps its
resource variables, which the interpreter reads uninitialised).

Modes (`MODES`): 'float32'; 'dynamic' (dynamic-range: int8 weights, float
activations); 'int8' (full integer: every op int8, calibrated on
representative batches from the training data; input uint8 and output
float32 stay as they are). Only `TFLITE_BUILTINS[_INT8]` ops are allowed
(no Flex delegate): a graph needing others fails to convert, naming the op.

Every converted file is run once in a fresh process on the representative
images before it is written: the interpreter aborts the whole process on
some quantized graphs (seen: full int8 of a DARTS cell network, TF 2.21), and
a file that kills the caller's process must not reach a device. The result
names the size and the agreement with the Keras network on those images.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import convert_to_constants  # pylint: disable=g-direct-tensorflow-import

from edd_tf.data import pipeline as data

MODES = ('float32', 'dynamic', 'int8')
# The directory holding the edd_tf package (the child process imports it from there).
_PACKAGE_ROOT = str(pathlib.Path(__file__).resolve().parents[2])
FILE = 'model.tflite'

# The child process of `run_in_fresh_process`: interpret(argv[1], load(argv[2])) -> argv[3].
_CHECK = r'''
import sys
import numpy as np
from edd_tf.serving import tflite
np.save(sys.argv[3], tflite.interpret(sys.argv[1], np.load(sys.argv[2])))
'''


def interpret(path, images):
  """Probabilities float32[N, K] of the .tflite file at `path` on uint8[N, S, S, 3] `images`.

  Runs in this process: a file `export` wrote has passed `run_in_fresh_process`.
  """
  images = np.asarray(images)
  interpreter = tf.lite.Interpreter(model_path=str(path))
  inp = interpreter.get_input_details()[0]
  if images.dtype != np.uint8 or images.ndim != 4 or tuple(inp['shape'][1:]) != images.shape[1:]:
    raise ValueError(f'{path} takes uint8 images of shape [N, {", ".join(map(str, inp["shape"][1:]))}]'
                     f', got {images.dtype}{list(images.shape)}')
  interpreter.resize_tensor_input(inp['index'], list(images.shape))
  interpreter.allocate_tensors()
  interpreter.set_tensor(inp['index'], images)
  interpreter.invoke()
  out = interpreter.get_output_details()[0]
  return interpreter.get_tensor(out['index']).astype(np.float32)


class TFLiteError(ValueError):
  """A network that cannot become a working TFLite file in this mode."""


def check_mode(mode):
  if mode not in MODES:
    raise ValueError(f'unknown TFLite mode {mode!r}; allowed: {list(MODES)}')


def _model_inputs(images, info):
  """The network's input: normalised with `info`, or the pixels as floats (info None)."""
  return data.normalize(images, info) if info is not None else tf.cast(images, tf.float32)


def probabilities_function(model, info, image_size=None):
  """The frozen concrete function uint8[batch, S, S, 3] -> probabilities float32[batch, K].

  info: the DatasetInfo whose normalisation the network expects, or None for a
  model that takes pixels in [0, 255] (final/keras_parts.with_preprocessing);
  then `image_size` gives S.
  """
  s = info.image_size if info is not None else image_size

  @tf.function(input_signature=[tf.TensorSpec([None, s, s, 3], tf.uint8, name='images')])
  def probabilities(images):
    logits = model(_model_inputs(images, info), training=False)
    return {'probabilities': tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)}

  return convert_to_constants.convert_variables_to_constants_v2(
      probabilities.get_concrete_function())


def convert(model, info, mode, representative_images):
  """The .tflite bytes of `model` (float32 / dynamic / int8); uint8 images in."""
  check_mode(mode)
  function = probabilities_function(model, info, np.shape(representative_images)[1])
  converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
  converter.target_spec.supported_ops = [
      tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if mode == 'int8' else tf.lite.OpsSet.TFLITE_BUILTINS]
  if mode != 'float32':
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if mode == 'int8':
    images = np.asarray(representative_images, np.uint8)
    converter.representative_dataset = lambda: ([images[i:i + 1]] for i in range(len(images)))
  try:
    return converter.convert()
  except Exception as e:  # the converter's own errors name the op
    raise TFLiteError(f'TFLite conversion ({mode}) failed: {str(e).splitlines()[0][:300]}') from e


def run_in_fresh_process(path, images, timeout=300):
  """Probabilities of the .tflite file at `path` on uint8 `images`, run in a child process."""
  with tempfile.TemporaryDirectory() as tmp:
    inputs, outputs = pathlib.Path(tmp) / 'in.npy', pathlib.Path(tmp) / 'out.npy'
    np.save(inputs, np.asarray(images, np.uint8))
    proc = subprocess.run([sys.executable, '-c', _CHECK, str(path), str(inputs), str(outputs)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2',
                               'PYTHONPATH': os.pathsep.join(filter(None, (
                                   _PACKAGE_ROOT, os.environ.get('PYTHONPATH'))))})
    if proc.returncode != 0 or not outputs.exists():
      tail = (proc.stderr.strip().splitlines() or ['(no output)'])[-1][:300]
      raise TFLiteError(f'the TFLite interpreter failed on {path} (exit code {proc.returncode}): '
                        f'{tail}')
    return np.load(outputs)


def prepare(model, info, mode, representative_images):
  """(bytes, summary): converted and checked in a fresh process; nothing written.

  Raises:
    TFLiteError: conversion failed or the interpreter failed on the file.
  """
  images = np.asarray(representative_images, np.uint8)
  blob = convert(model, info, mode, images)
  with tempfile.TemporaryDirectory() as tmp:
    candidate = pathlib.Path(tmp) / FILE
    candidate.write_bytes(blob)
    got = run_in_fresh_process(candidate, images)
  want = tf.nn.softmax(tf.cast(model(_model_inputs(images, info), training=False),
                               tf.float32)).numpy()
  summary = dict(file=FILE, mode=mode, bytes=len(blob), images_checked=int(len(images)),
                 max_abs_diff=float(np.abs(got - want).max()),
                 top1_agreement=float(np.mean(got.argmax(1) == want.argmax(1))))
  return blob, json.loads(json.dumps(summary))
