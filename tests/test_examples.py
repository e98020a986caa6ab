"""Every script in examples/ runs, at tiny sizes (EDD_EXAMPLES_TINY=1), so that none can rot."""

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

EXAMPLES = sorted((ROOT / 'examples').glob('*.py'))
# What each example must leave behind, beside finishing without an error.
OUTPUTS = {
    'search_on_arrays.py': ('search_on_arrays/history.png', 'search_on_arrays/search/genotype.json'),
    'export_and_predict.py': ('export_and_predict/export/model.tflite',
                              'export_and_predict/export/saved_model.pb'),
    'finetune_on_folder.py': ('finetune_on_folder/finetuned.keras',
                              'finetune_on_folder/finetuned.tflite'),
}


def test_there_are_examples():
  assert {'search_on_arrays.py', 'export_and_predict.py', 'finetune_on_folder.py'} <= {p.name for p in EXAMPLES}


@pytest.mark.parametrize('path', EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, tmp_path):
  text = path.read_text()
  assert text.startswith('# %% [markdown]') and text.count('# %%') >= 3, (
      f'{path.name}: notebook cells (# %%) with a markdown cell first')
  env = dict(os.environ, EDD_EXAMPLES_TINY='1', EDD_EXAMPLES_OUT=str(tmp_path),
             PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT), os.environ.get('PYTHONPATH')))),
             TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True,
                        text=True, timeout=600)
  assert proc.returncode == 0, f'{path.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}'
  for output in OUTPUTS.get(path.name, ()):
    assert (tmp_path / output).exists(), f'{path.name} did not write {output}'
