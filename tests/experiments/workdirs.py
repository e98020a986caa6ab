"""Search workdirs written by hand for the report tests, and the checks those tests share.

A workdir is what search.run leaves (config.json + genotype.json) with
made-up but consistent curves, so the report tests take seconds;
tests/experiments/test_sweep.py reports a real sweep. The fixtures built on
these (`table`, `lam_sweep`) live in conftest.py.
"""

import json
import os
import pathlib
import subprocess
import sys

import matplotlib.image
from tests.helpers import set_fields

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')


def make_config(**overrides):
  """A search config.json dict with dotted overrides: make_config(**{'search.epochs': 4})."""
  c = {'seed': 0, 'distribute': 'default', 'space': 'nb201',
       'data': {'source': 'sample', 'name': 'cifar10', 'path': '', 'train_examples': 128},
       'model': {'channels': 4, 'cells_per_stage': 1, 'fused': True},
       'softmax': {'kind': 'sn', 's': 0.0, 'st': 1.0},
       'schedule': {'name': 'edd', 't0': 1.0, 'lam': 0.06, 'entropy': 'alphas'},
       'search': {'epochs': 3, 'batch_size': 32, 'eval_examples': 32, 'log_every_steps': 50},
       'optim': {'arch': {'lr': 3e-4, 'grad_clip': 0.0}},
       'benchmark': {'nb201_table': ''}}
  return set_fields(c, overrides)


def make_run(workdir, table, arch_index, grad_norm=True, done=None, **overrides):
  """A search workdir as search.run leaves it, with made-up but consistent curves."""
  config = make_config(**overrides)
  epochs = config['search']['epochs']
  row = table.lookup(table.archs()[arch_index])
  done = epochs if done is None else done
  history = []
  for e in range(1, done + 1):
    h = dict(epoch=e, temperature=10.0 ** -e, next_temperature=10.0 ** -(e + 1), d_exp=0.1,
             entropy=1.6 - 0.1 * e, entropy_tempered=1.6 / e, lr=0.025, train_loss=2.0,
             train_acc=0.1 * e, val_loss=2.0, val_acc=0.1 * e, discrete_acc=0.1 + 0.05 * e,
             genotype=row['arch'], seconds=10.0 + arch_index % 7,
             nb201={k: v for k, v in row.items() if k != 'arch'})
    if grad_norm:
      h['arch_grad_norm'] = 0.5 / e + 0.01 * config['seed']
    history.append(h)
  result = {'space': 'nb201', 'genotype': row['arch'], 'benchmark': row, 'epochs': done,
            'history': history}
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True)
  (workdir / 'config.json').write_text(json.dumps(config))
  (workdir / 'genotype.json').write_text(json.dumps(result))
  return workdir


def check_png(path):
  """Asserts `path` is a real image: a PNG of some size that is not one colour."""
  assert path.is_file() and path.stat().st_size > 5000, path
  image = matplotlib.image.imread(path)
  assert image.shape[0] > 100 and image.shape[1] > 100, (path, image.shape)
  assert float(image[..., :3].std()) > 0.01, f'{path} is a constant image'


def report_binary(*args):
  """Runs `python -m binaries.report ARGS` from the repository root."""
  return subprocess.run([sys.executable, '-m', 'binaries.report', *map(str, args)], cwd=ROOT,
                        env=ENV, capture_output=True, text=True, timeout=300)


def error_line(proc):
  """The one `error:` line a refused binary ends with (exit 1, no traceback)."""
  assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
  assert 'Traceback' not in proc.stderr
  line = proc.stderr.strip().splitlines()[-1]
  assert line.startswith('error:')
  return line
