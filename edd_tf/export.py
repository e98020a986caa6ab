"""Exports a trained final network as a SavedModel for TF Serving.

The `serving_default` signature takes raw images and validates them in the
graph, so a served model answers bad requests with an InvalidArgumentError
instead of crashing (a plain Keras export aborts the process on a rank-3 batch
and silently accepts images of the wrong size):

  inputs:  images: uint8[batch, S, S, 3]  (S = the training image size)
  outputs: probabilities: float32[batch, num_classes]
           classes: int64[batch]  (top-1 class ids)

Normalisation (`data.normalize`) happens inside the graph; the network runs
with training=False (no auxiliary head, no drop path). `labels.txt` (one class
name per line, in label order) and `metadata.json` are written beside
saved_model.pb.
"""

import json
import pathlib

from absl import logging
import tensorflow as tf

from edd_tf import data
from edd_tf import train

SIGNATURE = 'serving_default'
INPUT_NAME = 'images'
LABELS_FILE = 'labels.txt'
METADATA_FILE = 'metadata.json'


def check_images(images, image_size):
  """Fails in the graph unless `images` is [batch, image_size, image_size, 3].

  Args:
    images: uint8 tensor of any rank.
    image_size: the expected height and width.

  Returns:
    `images` with the static shape [None, image_size, image_size, 3]; running
    it raises InvalidArgumentError for any other shape. The check runs before
    any op of the network can see the tensor.
  """
  expected = [image_size, image_size, 3]
  shape = tf.shape(images)
  rank_ok = tf.equal(tf.size(shape), 4)
  # The dims are only compared when the rank is right (tf.cond runs one branch).
  dims_ok = tf.cond(rank_ok,
                    lambda: tf.reduce_all(tf.equal(shape[-3:], expected)),
                    lambda: tf.constant(False))
  check = tf.debugging.Assert(
      dims_ok, [f'images must be uint8[batch, {image_size}, {image_size}, 3]; got shape', shape])
  with tf.control_dependencies([check]):
    images = tf.identity(images)
  return tf.ensure_shape(images, [None] + expected)


class ServingModule(tf.Module):
  """Wraps a trained model with the uint8 serving signature.

  The module tracks exactly the variables that the serving graph reads (taken
  from the traced function), not the Keras model: training-only parts such as
  the auxiliary head are neither in the graph nor in the SavedModel.

  Attributes:
    serve: tf.function(images uint8[batch, S, S, 3]) ->
      {'probabilities': float32[batch, K], 'classes': int64[batch]}.
    serving_variables: the variables the signature uses.
  """

  def __init__(self, model, info):
    super().__init__()
    image_size = info.image_size

    # The model sits in a closure, so tf.Module does not track (and save) it.
    @tf.function(input_signature=[
        tf.TensorSpec([None, None, None, None], tf.uint8, name=INPUT_NAME)])
    def serve(images):
      images = check_images(images, image_size)
      logits = model(data.normalize(images, info), training=False)
      probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
      classes = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
      return {'probabilities': probabilities, 'classes': classes}

    self.serving_variables = list(serve.get_concrete_function().variables)
    self.serve = serve


def export(workdir, export_dir, overwrite=False):
  """Writes the SavedModel of a training workdir's latest checkpoint.

  Args:
    workdir: a `train.run` workdir (config.json, dataset.json, checkpoints/).
    export_dir: the SavedModel directory to create (e.g. `models/net/1` for
      TF Serving's versioned layout).
    overwrite: allow writing into an existing non-empty export_dir.

  Returns:
    The metadata dict written to export_dir/metadata.json.

  Raises:
    ValueError: if the workdir has no checkpoint (or is not a training
      workdir), or export_dir is not empty and overwrite is False.
  """
  export_dir = pathlib.Path(export_dir)
  if export_dir.exists() and any(export_dir.iterdir()) and not overwrite:
    raise ValueError(f'export_dir {export_dir} exists and is not empty; pick a new directory '
                     f'(or pass overwrite=True / --overwrite)')
  model, info, config, checkpoint = train.load_workdir_model(workdir)
  module = ServingModule(model, info)
  signature = module.serve.get_concrete_function()
  tf.saved_model.save(module, str(export_dir), signatures={SIGNATURE: signature})

  class_names = list(info.class_names) or [str(i) for i in range(info.num_classes)]
  (export_dir / LABELS_FILE).write_text('\n'.join(class_names) + '\n')
  metadata = dict(
      signature=SIGNATURE,
      inputs={INPUT_NAME: dict(dtype='uint8', shape=[None, info.image_size, info.image_size, 3])},
      outputs=dict(probabilities=dict(dtype='float32', shape=[None, info.num_classes]),
                   classes=dict(dtype='int64', shape=[None])),
      image_size=info.image_size, num_classes=info.num_classes, class_names=class_names,
      mean=list(info.mean), std=list(info.std), dataset=info.name,
      network=config.network, genotype=train.genotype_text(
          train.resolve_genotype(config.genotype, config.network)),
      checkpoint=str(checkpoint))
  results_path = pathlib.Path(workdir) / train.RESULTS_FILE
  if results_path.is_file():
    with open(results_path) as f:
      metadata['test_accuracy'] = json.load(f).get('test_accuracy')
  with open(export_dir / METADATA_FILE, 'w') as f:
    json.dump(metadata, f, indent=2)
  logging.info('exported %s to %s', checkpoint, export_dir)
  return metadata
