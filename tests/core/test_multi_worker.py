"""MultiWorkerMirroredStrategy: two local worker processes on loopback ports run one search."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _free_ports(n):
  socks = [socket.socket() for _ in range(n)]
  for s in socks:
    s.bind(('localhost', 0))
  ports = [s.getsockname()[1] for s in socks]
  for s in socks:
    s.close()
  return ports


def _start(workdir, out_dir, epochs, ports):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=str(ROOT))
  return [subprocess.Popen(
      [sys.executable, '-m', 'tests.core.multi_worker_check', str(i), ','.join(map(str, ports)),
       str(workdir), str(out_dir / f'worker{i}.json'), str(epochs)],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
          for i in range(2)]


def _wait(procs, timeout):
  outputs = []
  for p in procs:
    try:
      outputs.append(p.communicate(timeout=timeout)[0])
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      raise
  for p, text in zip(procs, outputs):
    assert p.returncode == 0, text[-3000:]


@pytest.mark.slow
def test_two_workers_agree_write_once_and_resume_after_kill(tmp_path):
  workdir = tmp_path / 'search'
  # Run 1: killed (SIGKILL, both workers) once the chief saved epoch 1.
  procs = _start(workdir, tmp_path, epochs=3, ports=_free_ports(2))
  deadline = time.time() + 600
  while not (workdir / 'genotype.json').exists():
    assert time.time() < deadline and all(p.poll() is None for p in procs), \
        [p.communicate()[0][-2000:] for p in procs if p.poll() is not None]
    time.sleep(0.5)
  for p in procs:
    p.kill()
    p.wait()
  assert json.loads((workdir / 'genotype.json').read_text())['epochs'] < 3
  # Run 2: both restarted (new ports) resume from the chief's checkpoint and finish.
  _wait(_start(workdir, tmp_path, epochs=3, ports=_free_ports(2)), timeout=600)
  chief, other = (json.loads((tmp_path / f'worker{i}.json').read_text()) for i in range(2))
  assert chief['epochs'] == other['epochs'] == 3
  assert chief['genotype'] == other['genotype']
  assert chief['arch'].keys() == other['arch'].keys()
  for key in chief['arch']:
    np.testing.assert_allclose(other['arch'][key], chief['arch'][key], rtol=1e-6, atol=1e-7)
  for a, b in zip(chief['history'], other['history']):
    np.testing.assert_allclose(list(a.values()), list(b.values()), rtol=1e-6)
  # Only the chief wrote: no scratch checkpoints or other files of worker 1 remain.
  names = sorted(p.name for p in workdir.iterdir())
  assert not [n for n in names if n.startswith('.worker-')], names
  assert {'config.json', 'genotype.json', 'checkpoints', 'tb'} <= set(names)
  saved = json.loads((workdir / 'genotype.json').read_text())
  assert saved['epochs'] == 3 and saved['finished']
