r"""Runs an architecture search and writes the found cell.

  python -m binaries.search --config=configs/quickstart.py --workdir=/tmp/edd/search
  python -m binaries.search --config=configs/nb201_cifar10_edd.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_edd

Everything but --config and --workdir is a config override
(--config.search.epochs=10, --config.schedule.lam=0.12). Writes to the workdir:
config.json, genotype.json (final cell + per-epoch history), TensorBoard events
in tb/ and checkpoints/. Rerunning the same command after an interruption
resumes after the last completed epoch.
"""

from binaries import cli  # First: quiets TensorFlow's import-time notices.

from absl import app
from absl import flags

from binaries import progress as progress_lib
from edd_tf.lookup import nb201_bench
from edd_tf import search

_CONFIG = cli.define_config_file('config', None, 'Search config file.', kind='search')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Checkpoints, TensorBoard events, genotype.json.')
_ALLOW_CHANGE = flags.DEFINE_bool(
    'allow_config_change', False,
    'Continue this workdir\'s search under changed settings (e.g. lower learning rates after a '
    'NaN) from its last good checkpoint; the change is recorded in config.json. The space, '
    'method, model, seed and data cannot change.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  config = _CONFIG.value
  bar = progress_lib.ProgressBar(
      config.search.epochs,
      ('loss', 'acc', 'val_loss', 'val_acc', 'discrete_acc', 'temperature', 'entropy'),
      'discrete_acc')
  result = search.run(config, _WORKDIR.value, progress=bar,
                      allow_config_change=_ALLOW_CHANGE.value)
  last = result['history'][-1]
  print(f"found cell: {result['genotype']}")
  print(f"temperature {last['temperature']:.4g}, E(H(beta)) {last['entropy']:.4f}, "
        f"discretized val accuracy {last['discrete_acc']:.4f}")
  if result['benchmark'] is not None:
    print(nb201_bench.format_accuracies(result['benchmark']))
  print(f"genotype written to {result['genotype_path']}")


if __name__ == '__main__':
  cli.run(main)
