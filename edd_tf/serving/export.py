"""Exports a trained final network as a SavedModel for TF Serving.

Two signatures run the same network on validated input, so a served model
answers bad requests with an InvalidArgumentError instead of crashing (a plain
Keras export aborts the process on a rank-3 batch and silently accepts images
of the wrong size):

  serving_default
    inputs:  images: uint8[batch, S, S, 3]  (S = the training image size)
  serving_bytes
    inputs:  image_bytes: string[batch]  (one encoded JPEG or PNG file per
             image, any size; GIF and BMP decode too)
  both
    outputs: probabilities: float32[batch, num_classes]
             classes: int64[batch]  (top-1 class ids)

`serving_bytes` decodes each string with tf.io.decode_image(channels=3,
expand_animations=False) and brings it to S x S exactly as
`data.load_arrays` does for image files: an image that already is S x S
passes unchanged (bit-identical to sending its pixels to `serving_default`),
any other size is resized with antialiased bilinear interpolation
(tf.image.resize(antialias=True)) and rounded and clipped back to uint8.
An undecodable string, and an empty batch in either signature, is an
InvalidArgumentError.

Normalisation (`data.normalize`) happens inside the graph; the network runs
with training=False (no auxiliary head, no drop path). `labels.txt` (one class
name per line, in label order) and `metadata.json` are written beside
saved_model.pb.
"""

import json
import pathlib
import shutil

from absl import logging
import numpy as np
import tensorflow as tf

from edd_tf.data import pipeline as data
from edd_tf.core import errors
from edd_tf.core import workdir as workdir_lib
from edd_tf.final import genotypes
from edd_tf.final import models
from edd_tf.serving import tflite as tflite_lib

SIGNATURE = 'serving_default'
INPUT_NAME = 'images'
BYTES_SIGNATURE = 'serving_bytes'
BYTES_INPUT_NAME = 'image_bytes'
LABELS_FILE = 'labels.txt'
METADATA_FILE = 'metadata.json'
RESIZE_METHOD = 'bilinear, antialias=True, rounded and clipped to uint8; same-size images unchanged'
# What an export directory holds (tf.saved_model.save's files and ours):
# overwrite=True replaces a directory that holds nothing else.
KERAS_FILE = 'model.keras'  # with keras_model=True: the network as a Keras file
EXPORT_ENTRIES = ('saved_model.pb', 'fingerprint.pb', 'variables', 'assets', LABELS_FILE,
                  METADATA_FILE, KERAS_FILE, tflite_lib.FILE)


def _after(check, tensor):
  """`tensor`, computed only after the op `check` has run."""
  with tf.control_dependencies([check]):
    return tf.identity(tensor)


def check_images(images, image_size):
  """Fails in the graph unless `images` is a non-empty [batch, image_size, image_size, 3].

  Args:
    images: uint8 tensor of any rank.
    image_size: the expected height and width.

  Returns:
    `images` with the static shape [None, image_size, image_size, 3]; running
    it raises InvalidArgumentError for any other shape, and for an empty batch
    (0 images). The checks run before any op of the network can see the tensor.
  """
  expected = [image_size, image_size, 3]
  shape = tf.shape(images)
  # The signature's input has the static rank 4, so graph optimisations may
  # fold `tf.size(shape)` to 4 whatever rank is fed: the zero-padded shape keeps
  # the comparison valid for any fed rank, and ensure_shape (a runtime check)
  # catches a wrong rank that gets past it. The empty-batch check comes last,
  # so a rank-3 image is not mistaken for an empty batch.
  padded = tf.concat([tf.zeros([4], tf.int32), shape], axis=0)[-4:]
  dims_ok = tf.logical_and(tf.equal(tf.size(shape), 4),
                           tf.reduce_all(tf.equal(padded[1:], expected)))
  shape_check = tf.debugging.Assert(
      dims_ok, [f'images must be uint8[batch, {image_size}, {image_size}, 3]; got shape', shape])
  images = tf.ensure_shape(_after(shape_check, images), [None] + expected)
  empty_check = tf.debugging.Assert(
      tf.shape(images)[0] > 0, [f'empty batch: {INPUT_NAME} holds 0 images; send at least one'])
  return _after(empty_check, images)


def to_image_size(image, image_size):
  """Brings a decoded uint8[H, W, 3] image to uint8[image_size, image_size, 3].

  An image that already has the size is returned unchanged (so the bytes
  signature is exact for training-size images); any other is resized with
  antialiased bilinear interpolation and rounded and clipped back to uint8,
  the same as `data.load_arrays` does for image files.
  """
  same = tf.reduce_all(tf.equal(tf.shape(image)[:2], image_size))
  image = tf.cond(
      same,
      lambda: image,
      lambda: tf.cast(tf.round(tf.clip_by_value(
          tf.image.resize(image, [image_size, image_size], method='bilinear', antialias=True),
          0.0, 255.0)), tf.uint8))
  return tf.ensure_shape(image, [image_size, image_size, 3])


def decode_images(image_bytes, image_size):
  """Decodes a batch of encoded images into uint8[batch, image_size, image_size, 3].

  Args:
    image_bytes: string[batch], one encoded image (JPEG, PNG, GIF or BMP) each.
    image_size: the output height and width.

  Returns:
    The decoded, resized batch; running it raises InvalidArgumentError for an
    empty batch or a string that is not a decodable image.
  """
  empty_check = tf.debugging.Assert(
      tf.size(image_bytes) > 0,
      [f'empty batch: {BYTES_INPUT_NAME} holds 0 images; send at least one'])

  def decode(encoded):
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    return to_image_size(image, image_size)

  return tf.map_fn(decode, _after(empty_check, image_bytes),
                   fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.uint8))


class ServingModule(tf.Module):
  """Wraps a trained model with the uint8 and the encoded-image serving signatures.

  The module tracks exactly the variables that the serving graphs read (taken
  from the traced functions), not the Keras model: training-only parts such as
  the auxiliary head are neither in the graphs nor in the SavedModel.

  Attributes:
    serve: tf.function(images uint8[batch, S, S, 3]) ->
      {'probabilities': float32[batch, K], 'classes': int64[batch]}.
    serve_bytes: tf.function(image_bytes string[batch]) -> the same outputs.
    serving_variables: the variables the signatures use.
  """

  def __init__(self, model, info):
    super().__init__()
    image_size = info.image_size

    def predict(images):
      images = check_images(images, image_size)
      logits = model(data.normalize(images, info), training=False)
      probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
      classes = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
      return {'probabilities': probabilities, 'classes': classes}

    # The model sits in a closure, so tf.Module does not track (and save) it.
    @tf.function(input_signature=[
        tf.TensorSpec([None, None, None, None], tf.uint8, name=INPUT_NAME)])
    def serve(images):
      return predict(images)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_INPUT_NAME)])
    def serve_bytes(image_bytes):
      return predict(decode_images(image_bytes, image_size))

    variables = {}
    for function in (serve, serve_bytes):
      for v in function.get_concrete_function().variables:
        variables.setdefault(id(v), v)
    self.serving_variables = list(variables.values())
    self.serve = serve
    self.serve_bytes = serve_bytes


def _signature_metadata(info):
  """The signatures' inputs and outputs, as written to metadata.json."""
  size = info.image_size
  outputs = dict(probabilities=dict(dtype='float32', shape=[None, info.num_classes]),
                 classes=dict(dtype='int64', shape=[None]))
  return {
      SIGNATURE: dict(inputs={INPUT_NAME: dict(dtype='uint8', shape=[None, size, size, 3])},
                      outputs=outputs),
      BYTES_SIGNATURE: dict(
          inputs={BYTES_INPUT_NAME: dict(dtype='string', shape=[None],
                                         format='encoded JPEG or PNG, any size')},
          outputs=outputs, resize=RESIZE_METHOD),
  }


def _names(entries, limit=5):
  shown = ', '.join(entries[:limit])
  return shown + (f', ... ({len(entries)} in all)' if len(entries) > limit else '')


def check_export_dir(export_dir, overwrite=False):
  """Checks, without writing anything, that `export_dir` can take a new export.

  An export goes into a directory that does not exist yet or is empty. With
  `overwrite`, a directory holding an earlier export (only `EXPORT_ENTRIES`)
  is accepted too, and `export` replaces that export; a directory holding
  anything else is refused even then, so that no other file is deleted.

  Returns:
    `export_dir` as a pathlib.Path.

  Raises:
    WorkdirError: `export_dir` is a file, is not empty (and not `overwrite`),
      or holds files that are not part of an export.
  """
  path = pathlib.Path(export_dir)
  if path.exists() and not path.is_dir():
    raise errors.WorkdirError(f'--export_dir={path} is a file, not a directory; give the '
                              f'directory to write the SavedModel to')
  entries = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
  if entries and not overwrite:
    raise errors.WorkdirError(
        f'--export_dir={path} is not empty (it holds {_names(entries)}); pick a new directory '
        f'(for TF Serving, the next version number) or pass --overwrite (overwrite=True) to '
        f'replace the export in it')
  foreign = [e for e in entries if e not in EXPORT_ENTRIES]
  if foreign:
    raise errors.WorkdirError(
        f'--export_dir={path} holds files that are not part of an export ({_names(foreign)}); '
        f'--overwrite only replaces an earlier export, so that nothing else is deleted: pick a '
        f'new directory')
  return path


def export(workdir, export_dir, overwrite=False, keras_model=False, tflite=None,
           tflite_images=32, representative_images=None):
  """Writes the SavedModel of a training workdir's latest checkpoint.

  Nothing is written before `export_dir` has been checked
  (`check_export_dir`) and the workdir's model restored; an earlier export in
  `export_dir` (overwrite=True) is removed only then, just before the new one
  is written.

  Args:
    workdir: a `train.run` workdir (config.json, dataset.json, checkpoints/).
    export_dir: the SavedModel directory to create (e.g. `models/net/1` for
      TF Serving's versioned layout).
    overwrite: replace the export already in `export_dir`.
    keras_model: also write `model.keras` (the checkpoint's network for
      `keras.saving.load_model`; it takes normalised images, see metadata's
      mean/std).
    tflite: None, or a mode of `tflite.MODES` ('float32', 'dynamic',
      'int8'): also write `model.tflite` (uint8 images in, probabilities
      out), checked in a fresh interpreter process on `tflite_images`
      training images (int8 is calibrated on them); its size and agreement
      with the network go to metadata.json's 'tflite'.
    representative_images: uint8[N, S, S, 3] images for the TFLite check and
      int8 calibration instead of the workdir's training data (required for a
      run trained on data from Python, config.data.source='python').

  Returns:
    The metadata dict written to export_dir/metadata.json.

  Raises:
    WorkdirError (a ValueError): export_dir is a file, cannot be created or
      written, is not empty (without overwrite) or holds other files.
    ValueError: if the workdir has no checkpoint (or is not a training
      workdir).
  """
  if tflite is not None:
    tflite_lib.check_mode(tflite)
  export_dir = check_export_dir(export_dir, overwrite)
  model, info, config, checkpoint = models.load_workdir_model(workdir)
  tflite_blob = tflite_summary = None
  if tflite is not None:   # before anything is written: a failure leaves export_dir as it was
    if representative_images is not None:
      representative = np.asarray(representative_images)[:tflite_images]
    elif config.data.get('source') == 'python':
      raise ValueError('this run was trained on data from Python: a TFLite export needs '
                       'representative_images=uint8[N, S, S, 3] (e.g. some training images)')
    else:
      representative = data.load_arrays(config.data, 'train').images[:tflite_images]
    tflite_blob, tflite_summary = tflite_lib.prepare(model, info, tflite, representative)
  module = ServingModule(model, info)
  signatures = {SIGNATURE: module.serve.get_concrete_function(),
                BYTES_SIGNATURE: module.serve_bytes.get_concrete_function()}
  workdir_lib.prepare(export_dir, what='--export_dir')  # Creates it; checks it is writable.
  for name in EXPORT_ENTRIES:  # An earlier export (only with overwrite).
    old = export_dir / name
    if old.is_dir() and not old.is_symlink():
      shutil.rmtree(old)
    elif old.exists() or old.is_symlink():
      old.unlink()
  tf.saved_model.save(module, str(export_dir), signatures=signatures)

  if keras_model:
    model.save(export_dir / KERAS_FILE)
  if tflite_blob is not None:
    (export_dir / tflite_lib.FILE).write_bytes(tflite_blob)
  class_names = list(info.class_names) or [str(i) for i in range(info.num_classes)]
  (export_dir / LABELS_FILE).write_text('\n'.join(class_names) + '\n')
  metadata = dict(
      signatures=_signature_metadata(info),
      image_size=info.image_size, num_classes=info.num_classes, class_names=class_names,
      mean=list(info.mean), std=list(info.std), dataset=info.name,
      network=config.network, genotype=genotypes.genotype_text(
          genotypes.resolve_genotype(config.genotype, config.network)),
      checkpoint=str(checkpoint), keras_model=KERAS_FILE if keras_model else None,
      tflite=tflite_summary)
  results_path = pathlib.Path(workdir) / models.RESULTS_FILE
  if results_path.is_file():
    with open(results_path) as f:
      metadata['test_accuracy'] = json.load(f).get('test_accuracy')
  with open(export_dir / METADATA_FILE, 'w') as f:
    json.dump(metadata, f, indent=2)
  logging.info('exported %s to %s', checkpoint, export_dir)
  return metadata
