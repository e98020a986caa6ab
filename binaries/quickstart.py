r"""Search -> train -> export in one go, on the embedded CIFAR-10 sample.

  python -m binaries.quickstart --workdir=/tmp/edd/quickstart

1. searches NAS-Bench-201 with EDD-DARTS (configs/quickstart.py) into
   WORKDIR/search and prints the found cell with its NAS-Bench-201 accuracies;
2. trains that cell from scratch, briefly (configs/train_quick.py), into
   WORKDIR/train;
3. exports the trained network as a SavedModel with a uint8 serving signature
   to WORKDIR/export, and prints that path and the test accuracy.

About 4-5 minutes on 2 CPU cores, offline. Both configs take overrides:
--config.search.epochs=2, --train_config.train.epochs=1. Rerunning the command
after an interruption resumes the unfinished stage.
"""

from binaries import cli  # First: quiets TensorFlow's import-time notices.

import json
import pathlib

from absl import app
from absl import flags

from binaries import progress as progress_lib
from edd_tf.serving import export
from edd_tf.lookup import nb201_bench
from edd_tf import search
from edd_tf import train
from edd_tf.core import workdir as workdir_lib

_CONFIGS = pathlib.Path(__file__).resolve().parents[1] / 'configs'
_CONFIG = cli.define_config_file('config', str(_CONFIGS / 'quickstart.py'), 'Search config file.',
                                 kind='search')
_TRAIN_CONFIG = cli.define_config_file('train_config', str(_CONFIGS / 'train_quick.py'),
                                       'Training config file.', kind='train')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Holds search/, train/ and export/.')
flags.mark_flags_as_required(['workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  workdir = workdir_lib.prepare(_WORKDIR.value)
  search_config, train_config = _CONFIG.value, _TRAIN_CONFIG.value
  with workdir_lib.Lock(workdir):
    print('== 1/3 search ==', flush=True)
    found = search.run(search_config, workdir / 'search', progress=progress_lib.ProgressBar(
        search_config.search.epochs,
        ('loss', 'acc', 'val_loss', 'val_acc', 'discrete_acc', 'temperature'), 'discrete_acc'))
    last = found['history'][-1]
    print(f"found cell: {found['genotype']}")
    print(f"discretized val accuracy {last['discrete_acc']:.3f} (two seeds measured 2026-11-28: "
          f"about 0.40; chance 0.10); genotype and history in {found['genotype_path']}")
    if found['benchmark'] is not None:
      print(nb201_bench.format_accuracies(found['benchmark']) +
            ' (measured: CIFAR-10 test 79-89 for this tiny search)')

    print('== 2/3 train the found cell from scratch ==', flush=True)
    with train_config.unlocked():
      train_config.genotype = found['genotype_path']
    results = train.run(train_config, workdir / 'train', progress=progress_lib.ProgressBar(
        train_config.train.epochs, ('loss', 'accuracy', 'test_loss', 'test_accuracy', 'lr'), 'lr'))

    print(f'trained network in {workdir / "train"} (results.json, model.keras)', flush=True)
    print('== 3/3 export ==', flush=True)
    export_dir = workdir / 'export'
    if _export_is_current(workdir / 'train', export_dir):
      print(f'the export in {export_dir} is of the last checkpoint already; kept')
    else:
      export.export(workdir / 'train', export_dir, overwrite=True)
  print(f"test accuracy of the trained cell: {results['test_accuracy']:.4f} "
        f"({results['epochs']} epochs, {results['params']:,} params)")
  print(f'servable SavedModel: {export_dir}')
  print(f'  saved_model_cli show --all --dir {export_dir}')
  print(f'  python -m binaries.predict --export_dir={export_dir} some.jpg')
  print(f'curves: tensorboard --logdir {workdir}')


def _export_is_current(train_dir, export_dir):
  """Whether export_dir holds an export of train_dir's latest checkpoint (a rerun keeps it)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  metadata = export_dir / export.METADATA_FILE
  if not metadata.is_file():
    return False
  try:
    written = json.loads(metadata.read_text()).get('checkpoint')
  except ValueError:
    return False
  return written is not None and written == tf.train.latest_checkpoint(
      str(train_dir / train.CHECKPOINT_DIR))


if __name__ == '__main__':
  cli.run(main)
