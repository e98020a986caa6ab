"""tf.distribute.MirroredStrategy on 2 logical CPUs (each test runs a subprocess).

The checks live in distributed_search_check.py: logical devices must be
configured before TensorFlow initialises, which pytest's process has done.
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_checks(*names):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=str(ROOT))
  proc = subprocess.run([sys.executable, '-m', 'tests.core.distributed_search_check', *names],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert proc.stdout.strip().endswith('OK')


def test_mirrored_search_step_equals_single_device_and_runs():
  run_checks('exact', 'run')


def test_loss_scale_skips_on_every_replica_when_one_overflows():
  run_checks('loss_scale')


def test_gradients_cross_the_replicas_once():
  run_checks('reduce_once')


@pytest.mark.slow
def test_sync_batch_norm_equals_one_device_on_global_batch():
  """Search and training steps; without sync the same comparison fails."""
  run_checks('sync_search', 'sync_train')
