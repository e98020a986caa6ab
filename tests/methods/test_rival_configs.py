"""Every rival method's config, through the binaries as a user runs it (issue 17).

For each config in configs/ whose method is one of the rivals, at tiny sizes on the embedded
sample: `binaries.search` runs; a second run SIGTERM'd after its first step and then rerun
reaches the same architecture variables; the genotype trains with `binaries.train`. Each
config costs four subprocesses (about a minute on 2 cores), so one NB201 config runs by
default and the rest under `-m slow`.
"""

import importlib
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from edd_tf import methods
from tests import helpers

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
# The methods the toolkit had before the rivals (their configs are tested elsewhere).
OWN_METHODS = ('darts', 'darts_2nd', 'pc_darts', 'gdas')
DEFAULT_CASE = 'nb201_cifar10_sdarts_rs'


def _rival_configs():
  found = {}
  for path in sorted((ROOT / 'configs').glob('*.py')):
    if path.stem == '__init__' or path.stem.startswith('train_'):
      continue
    try:
      config = importlib.import_module(f'configs.{path.stem}').get_config()
    except TypeError:  # a config that needs an argument (robust_darts.py:SPACE,DATASET)
      continue
    if config.get('method') in methods.METHODS and config.method not in OWN_METHODS:
      found[path.stem] = config
  return found


RIVALS = _rival_configs()
# Search procedures (issue 18) and R-DARTS(DP) / (L2) (second-order DARTS with
# config.search regularisers, no method of their own) on a small space, as `file:argument`.
PROCEDURE_CONFIGS = {'darts_es:s2,cifar10': None, 'darts_es:s2,cifar10,ada': None,
                     'rdarts:dp0.6,s2,cifar10': None, 'rdarts:l2=2.43e-2,s2,cifar10': None,
                     'sgas:nb201': None, 'sgas:darts,cri2': None,
                     'darts_pt:nb201,sdarts_rs': None, 'darts_pt:s2,fix_alpha': None,
                     # each procedure with a second method: EDD-DARTS' search
                     'darts_es:s2,cifar10,edd': None, 'darts_es:s2,cifar10,ada,edd': None,
                     'sgas:nb201,edd': None}
for _name in PROCEDURE_CONFIGS:
  _file, _, _arg = _name.partition(':')
  RIVALS[_name] = importlib.import_module(f'configs.{_file}').get_config(_arg)


def tiny_flags(config):
  flags = ['--config.data.source=sample', '--config.data.train_examples=128',
           '--config.data.image_size=16', '--config.model.channels=8',
           '--config.model.cells_per_stage=1', '--config.model.layers=3',
           '--config.search.epochs=2', '--config.search.batch_size=16',
           '--config.search.eval_examples=16', '--config.search.eval_batch_size=16',
           '--config.search.metrics_every_steps=1', '--config.search.arch_warmup_epochs=0',
           '--config.benchmark.nb201_table=none']
  drnas = config.get('drnas')
  if drnas is not None and drnas.get('progressive', False):
    # DrNAS' two stages, one epoch each (4 steps, cut at the first of stage 1), with
    # K 6 -> 4 on 12 channels: the ops widen from 2 to 3 channels.
    flags[flags.index('--config.model.channels=8')] = '--config.model.channels=12'
    flags += ['--config.model.partial_channels=6', '--config.drnas.stage_epochs=(1, 1)']
  elif config.model.partial_channels > 1:
    flags.append('--config.model.partial_channels=2')
  if 'fair_darts' in config:
    # Two tiny epochs do not move a gate from 0.5 to 0.85: keep every top-2 edge's best op.
    flags.append('--config.fair_darts.op_threshold=0.01')
  if config.procedure.name == 'sgas':   # a decision after every epoch: all fit in 7 / 9
    epochs = 7 if config.space.startswith('nb201') else 9
    flags[flags.index('--config.search.epochs=2')] = f'--config.search.epochs={epochs}'
    flags += ['--config.procedure.warmup_epochs=0', '--config.procedure.decision_freq=1',
              '--config.procedure.batch_increase=0']
  if config.procedure.name == 'darts_pt':   # 1 search epoch, then a projection per tune epoch
    tune = 6 if config.space.startswith('nb201') else 17
    flags[flags.index('--config.search.epochs=2')] = '--config.search.epochs=1'
    flags += [f'--config.procedure.tune_epochs={tune}', '--config.procedure.proj_every=1']
  if config.search.get('data_mode', 'bilevel') == 'erm':   # both steps on all 64: 4 steps too
    flags[1] = '--config.data.train_examples=64'
  return flags


def search_args(name, workdir):
  file, _, arg = name.partition(':')
  return [sys.executable, '-m', 'binaries.search',
          f'--config=configs/{file}.py' + (f':{arg}' if arg else ''),
          f'--workdir={workdir}', *tiny_flags(RIVALS[name])]


def arch_values(workdir):
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(workdir / 'checkpoints')))
  names = [n for n in reader.get_variable_to_shape_map()
           if n.endswith('VARIABLE_VALUE') and 'OPTIMIZER_SLOT' not in n
           and n.split('/')[0].startswith(('alphas', 'betas', 'theta', 'arch'))]
  return {n: reader.get_tensor(n) for n in names}


def test_every_rival_method_has_a_config():
  assert ({c.method for c in RIVALS.values()} - set(OWN_METHODS)
          == set(methods.METHODS) - set(OWN_METHODS))
  # R-DARTS is darts_2nd + config.search regularisers: both of its configs are here.
  dp, l2 = RIVALS['rdarts:dp0.6,s2,cifar10'], RIVALS['rdarts:l2=2.43e-2,s2,cifar10']
  assert dp.method == l2.method == 'darts_2nd'
  assert (dp.search.drop_path_max, dp.search.cutout) == (0.6, 16)
  assert (l2.search.drop_path_max, l2.optim.weights.weight_decay) == (0.0, 2.43e-2)


@pytest.mark.parametrize('name', [n if n == DEFAULT_CASE else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(RIVALS)])
def test_config_searches_resumes_and_its_genotype_trains(tmp_path, name):
  ref = subprocess.run(search_args(name, tmp_path / 'ref'), cwd=ROOT, env=ENV,
                       capture_output=True, text=True, timeout=900)
  assert ref.returncode == 0, ref.stderr[-3000:]
  found = json.loads((tmp_path / 'ref' / 'genotype.json').read_text())
  assert found['finished'] and found['method'] == RIVALS[name].method

  # The progress bar shows the first of 4 steps.
  code, stderr = helpers.sigterm_when_printed(search_args(name, tmp_path / 'cut'), '1/4',
                                             timeout=600)
  assert code == 143, stderr[-3000:]
  again = subprocess.run(search_args(name, tmp_path / 'cut'), cwd=ROOT, env=ENV,
                         capture_output=True, text=True, timeout=900)
  assert again.returncode == 0, again.stderr[-3000:]
  resumed = json.loads((tmp_path / 'cut' / 'genotype.json').read_text())
  assert resumed['genotype'] == found['genotype']
  want, got = arch_values(tmp_path / 'ref'), arch_values(tmp_path / 'cut')
  assert want and sorted(want) == sorted(got)
  for key in want:
    np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-6, err_msg=key)

  nb201 = RIVALS[name].space.startswith('nb201')
  size = (['--config.network=nb201', '--config.model.channels=8', '--config.model.layers=0',
           '--config.model.cells_per_stage=1'] if nb201 else
          ['--config.network=darts_cifar', '--config.model.channels=16',
           '--config.model.layers=3'])
  train = subprocess.run(
      [sys.executable, '-m', 'binaries.train', '--config=configs/train_quick.py',
       f'--workdir={tmp_path / "train"}', f'--config.genotype={tmp_path / "ref"}',
       *size, '--config.data.source=sample',
       '--config.data.train_examples=64', '--config.data.test_examples=32',
       '--config.train.epochs=1', '--config.train.batch_size=32', '--config.train.cutout=0',
       '--config.model.auxiliary_weight=0', '--config.model.drop_path_prob=0'],
      cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)
  assert train.returncode == 0, train.stderr[-3000:]
  trained = json.loads((tmp_path / 'train' / 'results.json').read_text())
  assert trained['genotype'] == found['genotype']
