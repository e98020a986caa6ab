r"""Trains a discrete network from scratch (evaluation stage) and reports its accuracy.

  python -m binaries.train --config=configs/train_quick.py --workdir=/tmp/edd/quick
  python -m binaries.train --config=configs/train_darts_cifar10.py \
      --config.genotype=/tmp/edd/search --workdir=/tmp/edd/eval

Everything but --config and --workdir is a config override
(--config.train.epochs=10). Rerunning the same command resumes after the last
completed epoch.
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from binaries import progress as progress_lib
from edd_tf import train

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Training config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Checkpoints, TensorBoard events, results.json.')
flags.mark_flags_as_required(['config', 'workdir'])

def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  progress_lib.quiet_logs()
  config = _CONFIG.value
  try:
    results = train.run(config, _WORKDIR.value, progress=progress_lib.ProgressBar(
        config.train.epochs, ('loss', 'accuracy', 'test_loss', 'test_accuracy', 'lr'), 'lr'))
  except (ValueError, FloatingPointError) as e:
    logging.error('%s', e)
    sys.exit(f'error: {e}')
  print(f"test accuracy {results['test_accuracy']:.4f} after {results['epochs']} epochs, "
        f"{results['params']:,} params, {results['flops']:,} FLOPs; results in "
        f"{_WORKDIR.value}/results.json")


if __name__ == '__main__':
  app.run(main)
