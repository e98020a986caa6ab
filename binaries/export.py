r"""Exports a training workdir's latest checkpoint as a SavedModel for TF Serving.

  python -m binaries.export --workdir=/tmp/edd/quick --export_dir=/tmp/edd/serving/quick/1
  saved_model_cli show --all --dir /tmp/edd/serving/quick/1

Signatures (see edd_tf/serving/export.py), both ->
{probabilities float32[batch, classes], classes int64[batch]}:
  'serving_default': images uint8[batch, S, S, 3];
  'serving_bytes': image_bytes string[batch] (encoded JPEG/PNG files, any size).
Predict local image files with the export alone:
  python -m binaries.predict --export_dir=/tmp/edd/serving/quick/1 cat.jpg photos/
"""

from binaries import cli  # First: quiets TensorFlow's import-time notices.

from absl import app
from absl import flags

from edd_tf.serving import export

_WORKDIR = flags.DEFINE_string('workdir', None, 'A binaries.train workdir.')
_EXPORT_DIR = flags.DEFINE_string('export_dir', None, 'SavedModel directory to write.')
_OVERWRITE = flags.DEFINE_bool(
    'overwrite', False, 'Replace the export already in export_dir (refused if the directory '
    'holds anything but the files of an export).')
_KERAS_MODEL = flags.DEFINE_bool(
    'keras_model', False, 'Also write model.keras (the network for keras.saving.load_model; '
    'it takes images normalised with metadata.json\'s mean/std).')
_TFLITE = flags.DEFINE_enum(
    'tflite', None, ['float32', 'dynamic', 'int8'],
    'Also write model.tflite (uint8 images in, probabilities out; built-in ops only): float32, '
    'dynamic-range int8 weights, or full int8 calibrated on training images.')
flags.mark_flags_as_required(['workdir', 'export_dir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  metadata = export.export(_WORKDIR.value, _EXPORT_DIR.value, overwrite=_OVERWRITE.value,
                           keras_model=_KERAS_MODEL.value, tflite=_TFLITE.value)
  print(f"exported {metadata['checkpoint']} to {_EXPORT_DIR.value} "
        f"(images uint8[batch, {metadata['image_size']}, {metadata['image_size']}, 3] or "
        f"image_bytes string[batch], {metadata['num_classes']} classes)")
  if metadata.get('tflite'):
    t = metadata['tflite']
    print(f"  + {t['file']} ({t['mode']}, {t['bytes'] / 1024:.0f} KiB): top-1 agrees with the "
          f"network on {t['top1_agreement']:.0%} of {t['images_checked']} training images, "
          f"max |p - p_tflite| {t['max_abs_diff']:.2g}")


if __name__ == '__main__':
  cli.run(main)
