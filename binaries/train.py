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
import keras
from ml_collections import config_flags

from edd_tf import train

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Training config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Checkpoints, TensorBoard events, results.json.')
flags.mark_flags_as_required(['config', 'workdir'])

_METRICS = ('loss', 'accuracy', 'test_loss', 'test_accuracy', 'lr')


class ProgressBar:
  """One keras Progbar per epoch, fed by `train.run`'s progress callback."""

  def __init__(self, epochs):
    self.epochs = epochs
    self.epoch = None
    self.bar = None

  def __call__(self, epoch, step, steps, metrics):
    if epoch != self.epoch:
      self.epoch = epoch
      print(f'Epoch {epoch + 1}/{self.epochs}', flush=True)
      self.bar = keras.utils.Progbar(steps, stateful_metrics=_METRICS)
    # The last call of an epoch carries the learning rate (and test metrics).
    self.bar.update(step, [(k, metrics[k]) for k in _METRICS if k in metrics],
                    finalize=True if 'lr' in metrics else None)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  try:
    results = train.run(config, _WORKDIR.value, progress=ProgressBar(config.train.epochs))
  except (ValueError, FloatingPointError) as e:
    logging.error('%s', e)
    sys.exit(f'error: {e}')
  print(f"test accuracy {results['test_accuracy']:.4f} after {results['epochs']} epochs, "
        f"{results['params']:,} params, {results['flops']:,} FLOPs; results in "
        f"{_WORKDIR.value}/results.json")


if __name__ == '__main__':
  app.run(main)
