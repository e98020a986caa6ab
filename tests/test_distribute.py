"""The search step under tf.distribute.MirroredStrategy (2 logical CPUs, subprocess)."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_mirrored_search_step_equals_single_device_and_runs():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=str(ROOT))
  proc = subprocess.run([sys.executable, '-m', 'tests.distributed_search_check'], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert proc.stdout.strip().endswith('OK')
