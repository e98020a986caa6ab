r"""Tables (Markdown, CSV) and figures (PNG) of finished searches, plus TensorBoard HParams.

  python -m binaries.report /tmp/edd/table5
  python -m binaries.report /tmp/edd/table1 --out=/tmp/edd/table1_report
  python -m binaries.report /tmp/edd/lam --keys=schedule.lam
  python -m binaries.report /tmp/edd/table1 --nats_bench=~/.torch/NATS-tss-v1_0-3ffb9-simple
  tensorboard --logdir /tmp/edd/table5/report/tb     # HParams dashboard

Finds every finished search workdir under the given directories, groups runs
by the swept keys (sweep.json axes and differing config fields, seed
excluded; or --keys) and writes report.md, summary.csv, runs.csv, the figures
and cells/ into --out (default: FIRST_DIR/report). Every accuracy column names
its benchmark split; --nats_bench re-looks-up the cells in the official
NATS-Bench file for the papers' 50k-trained CIFAR-10 test column. Runs that
cannot share a table (different data, epochs, model size, or fields beyond
--keys) are refused with one `error:` line naming the fields.
"""

from binaries import cli  # First: quiets TensorFlow's import-time notices.

import pathlib

from absl import app
from absl import flags

from edd_tf.lookup import nats_bench
from edd_tf.experiments import report

_OUT = flags.DEFINE_string('out', None, 'Output directory (default: FIRST_DIR/report).')
_KEYS = flags.DEFINE_list('keys', None, 'Swept keys (config fields or sweep axes); default: '
                          'inferred. Runs differing in other fields (but seed) are refused.')
_NATS_BENCH = flags.DEFINE_string('nats_bench', '', 'NATS-Bench topology directory '
                                  '(NATS-tss-v1_0-3ffb9-simple; needs pip install nats_bench).')
_TENSORBOARD = flags.DEFINE_boolean('tensorboard', True, 'Write the HParams logdir OUT/tb.')


def main(argv):
  dirs = argv[1:]
  if not dirs:
    raise app.UsageError('give one or more directories holding search workdirs')
  out = pathlib.Path(_OUT.value) if _OUT.value else pathlib.Path(dirs[0]) / 'report'
  table = nats_bench.load_benchmark(_NATS_BENCH.value)
  result = report.write_report(dirs, out, keys=_KEYS.value, benchmark=table,
                               tensorboard=_TENSORBOARD.value)
  for note in result['notes']:
    print(f'note: {note}')
  print(result['report'].read_text().split('\nColumns:')[0].strip())
  print(f"\nwrote {result['report']}, {result['summary'].name}, {result['runs'].name}, "
        f"{len(result['figures'])} figures and {len(result['cells'])} cells to {out}")


if __name__ == '__main__':
  cli.run(main)
