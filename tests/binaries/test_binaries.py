"""The absl binaries, run as a user runs them (subprocesses)."""

import json
import os
import re
import pathlib
import subprocess
import sys

import pytest

from tests import helpers


ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_binary(*args, timeout=600):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  return subprocess.run([sys.executable, '-m', *args], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=timeout)


def test_misspelt_config_key_is_one_clear_error(tmp_path):
  proc = run_binary('binaries.search', '--config=configs/quickstart.py',
                    f'--workdir={tmp_path}', '--config.search.epohcs=3')
  assert proc.returncode != 0
  assert 'epohcs' in proc.stderr
  assert not (tmp_path / 'config.json').exists()


@pytest.mark.parametrize('flag, words', [
    ('--config.schedule.name=cosine', ['schedule', 'edd', 'pcd']),
    ('--config.schedule.lam=-0.1', ['lam']),
    ('--config.data.source=folder', ['config.data.path']),
])
def test_bad_values_exit_with_one_line_naming_the_field(tmp_path, flag, words):
  proc = run_binary('binaries.search', '--config=configs/quickstart.py', f'--workdir={tmp_path}',
                    flag)
  assert proc.returncode != 0
  assert 'Traceback' not in proc.stderr
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith('error:')
  for word in words:
    assert word in last


def test_quickstart_chain_on_an_image_folder(tmp_path, sample_folder):
  """search -> train -> export on real CIFAR-10 JPEGs in an ImageFolder, tiny settings."""
  data = sample_folder
  args = ('binaries.quickstart', f'--workdir={tmp_path}',
          '--config.data.source=folder', f'--config.data.path={data}',
          '--config.data.train_examples=256', '--config.search.epochs=2',
          '--config.search.batch_size=32', '--config.search.eval_examples=64',
          '--config.model.channels=4',
          '--train_config.data.source=folder', f'--train_config.data.path={data}',
          '--train_config.data.train_examples=256', '--train_config.data.test_examples=100',
          '--train_config.train.epochs=1', '--train_config.train.batch_size=32',
          '--train_config.model.channels=4')
  proc = run_binary(*args)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f'--export_dir={tmp_path / "export"}' in proc.stdout      # the predict hint
  assert f'tensorboard --logdir {tmp_path}' in proc.stdout
  assert 'discretized val accuracy' in proc.stdout and 'genotype.json' in proc.stdout
  # A rerun of the finished chain keeps the export of the same checkpoint.
  written = (tmp_path / 'export' / 'saved_model.pb').stat().st_mtime_ns
  again = run_binary(*args)
  assert again.returncode == 0, again.stderr[-3000:]
  assert 'of the last checkpoint already; kept' in again.stdout
  assert 'unrestored values' not in again.stderr, again.stderr[-2000:]   # read as a broken ckpt
  assert (tmp_path / 'export' / 'saved_model.pb').stat().st_mtime_ns == written
  found = json.loads((tmp_path / 'search' / 'genotype.json').read_text())
  assert f"found cell: {found['genotype']}" in proc.stdout
  assert 'NB201 #' in proc.stdout and 'cifar10 valid' in proc.stdout
  assert f'servable SavedModel: {tmp_path / "export"}' in proc.stdout
  trained = json.loads((tmp_path / 'train' / 'results.json').read_text())
  assert trained['genotype'] == found['genotype']
  assert (tmp_path / 'export' / 'saved_model.pb').exists()
  # The export serves real images in a fresh process that only imports TensorFlow.
  script = f'''
import pathlib, numpy as np, tensorflow as tf
model = tf.saved_model.load({str(tmp_path / "export")!r})
files = sorted(pathlib.Path({str(data / "test")!r}).glob("*/000[0-3].jpg"))
images = tf.stack([tf.io.decode_jpeg(tf.io.read_file(str(f))) for f in files])
out = model.signatures["serving_default"](images=images)
assert out["probabilities"].shape == (len(files), 10), out["probabilities"].shape
np.testing.assert_allclose(tf.reduce_sum(out["probabilities"], -1), 1.0, rtol=1e-5)
print("served", len(files))
'''
  served = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
  assert served.returncode == 0, served.stderr[-3000:]
  assert 'served 40' in served.stdout


def test_sigterm_saves_then_exits_143_and_the_rerun_resumes(tmp_path):
  """What a cloud scheduler does before preempting: SIGTERM, then the same command again."""
  args = [sys.executable, '-m', 'binaries.search', '--config=configs/quickstart.py',
          f'--workdir={tmp_path}', '--config.data.train_examples=512',
          '--config.search.epochs=3', '--config.search.batch_size=32',
          '--config.search.eval_examples=64', '--config.model.channels=4',
          '--config.model.cells_per_stage=1', '--config.search.metrics_every_steps=1']
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  # The progress bar shows epoch 1's first step.
  returncode, stderr = helpers.sigterm_when_printed(args, '1/8')
  assert returncode == 143, stderr[-2000:]
  last = stderr.strip().splitlines()[-1]
  # Mid-epoch (the last step of an epoch ends it normally; the next epoch stops at its step 1).
  assert re.match(r'preempted: SIGTERM received: saved epoch [123] at step [1-7] in ', last), last
  assert 'Traceback' not in stderr
  again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert again.returncode == 0, again.stderr[-2000:]
  saved = json.loads((tmp_path / 'genotype.json').read_text())
  assert saved['finished'] and [h['steps'] for h in saved['history']] == [8, 8, 8]
