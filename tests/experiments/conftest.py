"""Fixtures of the experiments tests: the shipped NB201 table and a hand-written lambda sweep."""

import json

import pytest

from edd_tf.experiments import grid
from edd_tf.experiments import sweep
from edd_tf.lookup import nb201_bench
from tests.experiments import workdirs


@pytest.fixture(scope='module')
def table():
  """The shipped NAS-Bench-201 table."""
  return nb201_bench.NB201Table.load()


@pytest.fixture(scope='module')
def lam_sweep(tmp_path_factory, table):
  """2 lambdas x 3 seeds, with a sweep.json as binaries.sweep writes it."""
  root = tmp_path_factory.mktemp('runs') / 'lam'
  runs = []
  for s, seed in enumerate((0, 1, 2)):
    for lam in (0.06, 0.12):
      name = grid.run_name({'seed': str(seed), 'schedule.lam': str(lam)})
      workdirs.make_run(root / name, table, 100 * s + int(lam * 1000), seed=seed,
                        **{'schedule.lam': lam})
      runs.append({'name': name, 'settings': {'seed': str(seed), 'schedule.lam': str(lam)},
                   'status': 'finished'})
  (root / sweep.MANIFEST).write_text(json.dumps({
      'config': 'configs/x.py', 'grid': [{'key': 'seed', 'values': ['0', '1', '2']},
                                         {'key': 'schedule.lam', 'values': ['0.06', '0.12']}],
      'set': {}, 'runs': runs}))
  return root
