r"""Runs a grid of searches, one workdir each; survives being killed and rerun.

  python -m binaries.sweep --config=configs/nb201_cifar10_edd.py \
      --grid='seed=0,1,2;schedule.lam=0.06,0.12' --root=/tmp/edd/lam
  python -m binaries.sweep --config=configs/nb201_cifar10_edd.py \
      --grid_file=configs/grids/table5.txt --config.data.source=tfds --root=/tmp/edd/table5
  python -m binaries.report /tmp/edd/table5

Each run is `python -m binaries.search --config=CONFIG --workdir=ROOT/<name>
--config.<field>=<value> ...`, its output appended to ROOT/<name>/sweep.log.
Rerun the same command after an interruption: finished runs are skipped,
interrupted ones resume from their checkpoints. --config.field=value (or
--set=field=value; repeatable) applies to every run. Grid syntax:
edd_tf/experiments/grid.py. Exits 1 if any run failed, listing them.
"""

from binaries import cli  # First: quiets TensorFlow's import-time notices.

import signal
import sys

from absl import app
from absl import flags

from edd_tf.experiments import grid
from edd_tf.experiments import sweep

_CONFIG = flags.DEFINE_string('config', None, 'Search config file (PATH[:ARG]); optional when '
                              "every run gets one from a bundle's config=.")
_GRID = flags.DEFINE_string('grid', None, "Grid axes separated by ';', e.g. "
                            "'seed=0,1,2;schedule.lam=0.06,0.12'.")
_GRID_FILE = flags.DEFINE_string('grid_file', None, 'A grid file: one axis per line, # comments.')
_ROOT = flags.DEFINE_string('root', None, 'Directory of the sweep: one workdir per run.')
_PARALLEL = flags.DEFINE_integer('parallel', 1, 'Searches run at once.')
_SET = flags.DEFINE_multi_string('set', [], 'field=value applied to every run (repeatable); '
                                 '--config.field=value is the same.')
_DRY_RUN = flags.DEFINE_boolean('dry_run', False, 'Print the runs and their commands only.')
flags.mark_flags_as_required(['root'])


def _plan():
  if bool(_GRID.value) == bool(_GRID_FILE.value):
    cli.fail('give exactly one of --grid and --grid_file')
  axes = (grid.parse_grid(_GRID.value) if _GRID.value else
          grid.read_grid_file(_GRID_FILE.value))
  fixed = grid.parse_assignments(_SET.value)
  return sweep.plan_sweep(_CONFIG.value, axes, fixed, _ROOT.value, check=_check_config)


def _check_config(config):
  """search.check_config, imported late: grid and root errors come before TensorFlow loads."""
  from edd_tf import search  # pylint: disable=g-import-not-at-top
  search.check_config(config)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  plan = _plan()
  total = len(plan.runs)
  if _DRY_RUN.value:
    for i, run in enumerate(plan.runs, 1):
      state = sweep.run_state(plan.root / run.name)
      print(f'[{i}/{total}] {state:8s} {run.name}\n    {" ".join(sweep.command(plan, run))}')
    return

  index = {run.name: i for i, run in enumerate(plan.runs, 1)}

  def on_event(event, entry):
    name = entry['name']
    text = {'skip': 'finished before, skipped',
            'start': 'resuming' if entry.get('resumed') else 'started',
            'finish': f"finished in {entry.get('seconds', 0):.0f} s",
            'fail': f"FAILED ({entry.get('error')})"}[event]
    print(f'[{index[name]}/{total}] {name}: {text}', flush=True)

  # A plain `kill` cleans up like Ctrl-C: running searches stop, sweep.json says so.
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
  manifest = sweep.execute(plan, parallel=_PARALLEL.value, on_event=on_event)
  failed = [r for r in manifest['runs'] if r['status'] == 'failed']
  done = sum(r['status'] == 'finished' for r in manifest['runs'])
  print(f'{done}/{total} runs finished in {plan.root} (sweep.json)')
  if failed:
    lines = [f"  {r['name']}: {r['error']} (log: {plan.root / r['name'] / sweep.LOG_NAME})"
             for r in failed]
    print('\n'.join(lines), file=sys.stderr)
    cli.fail(f'{len(failed)} of {total} runs failed: {", ".join(r["name"] for r in failed)}')


if __name__ == '__main__':
  cli.run(main, rewrite_argv=cli.overrides_as_set_flags)
