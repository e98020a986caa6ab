r"""Trains a discrete network from scratch (evaluation stage) and reports its accuracy.

  python -m binaries.train --config=configs/train_quick.py --workdir=/tmp/edd/quick
  python -m binaries.train --config=configs/train_darts_cifar10.py \
      --config.genotype=/tmp/edd/search --workdir=/tmp/edd/eval

Everything but --config and --workdir is a config override
(--config.train.epochs=10). Rerunning the same command resumes after the last
completed epoch.
"""

from binaries import cli  # First: quiets TensorFlow's import-time notices.

from absl import app
from absl import flags

from binaries import progress as progress_lib
from edd_tf import train

_CONFIG = cli.define_config_file('config', None, 'Training config file.', kind='train')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Checkpoints, TensorBoard events, results.json.')
_ALLOW_CHANGE = flags.DEFINE_bool(
    'allow_config_change', False,
    'Continue this workdir\'s training under changed settings (e.g. a lower learning rate after '
    'a NaN) from its last good checkpoint; recorded in config.json. The network, genotype, model '
    'and data cannot change.')
flags.mark_flags_as_required(['config', 'workdir'])

def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  results = train.run(config, _WORKDIR.value, progress=progress_lib.ProgressBar(
      config.train.epochs, ('loss', 'accuracy', 'test_loss', 'test_accuracy', 'lr'), 'lr'),
                       allow_config_change=_ALLOW_CHANGE.value)
  print(f"test accuracy {results['test_accuracy']:.4f} after {results['epochs']} epochs, "
        f"{results['params']:,} params, {results['flops']:,} FLOPs; results in "
        f"{_WORKDIR.value}/results.json")


if __name__ == '__main__':
  cli.run(main)
