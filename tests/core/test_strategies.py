"""config.distribute: each bad request fails with one clear message before any work."""

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.core import distribute
from edd_tf.core import errors

GOOD = {'cluster': {'worker': ['localhost:2222', 'localhost:2223']},
        'task': {'type': 'worker', 'index': 1}}


def test_good_tf_config_parses():
  cluster, kind, index = distribute.parse_tf_config(json.dumps(GOOD))
  assert cluster == GOOD['cluster'] and (kind, index) == ('worker', 1)


@pytest.mark.parametrize('text, match', [
    ('', 'needs TF_CONFIG'),
    ('{"cluster": ', 'TF_CONFIG environment variable is not JSON'),
    ('[1, 2]', 'must be a JSON object'),
    ('{"task": {"type": "worker", "index": 0}}', 'no "cluster"'),
    (json.dumps({**GOOD, 'cluster': {'worker': []}}), 'cluster.worker must be a non-empty list'),
    (json.dumps({**GOOD, 'cluster': {'worker': ['localhost']}}), '"host:port"'),
    (json.dumps({**GOOD, 'cluster': {'ps': ['h:1']}, 'task': {'type': 'ps', 'index': 0}}),
     'no "worker"'),
    (json.dumps({'cluster': GOOD['cluster']}), 'needs "task"'),
    (json.dumps({**GOOD, 'task': {'type': 'chief', 'index': 0}}), "task.type 'chief' is not in"),
    (json.dumps({**GOOD, 'task': {'type': 'worker', 'index': 2}}), r'task.index 2 is not in \[0, 2\)'),
])
def test_malformed_tf_config_is_named(text, match):
  with pytest.raises(errors.ConfigError, match=match):
    distribute.parse_tf_config(text)


def test_unknown_strategy_lists_the_allowed_ones():
  with pytest.raises(errors.ConfigError, match=r"unknown config.distribute 'gpus'.*multi_worker"):
    distribute.make_strategy('gpus')


def test_multi_worker_without_tf_config():
  with pytest.raises(errors.ConfigError, match='needs TF_CONFIG'):
    distribute.make_strategy('multi_worker', environ={})


@pytest.mark.skipif(bool(tf.config.list_physical_devices('GPU')), reason='a GPU is present')
def test_mirrored_without_gpus_is_refused():
  assert len(tf.config.list_logical_devices('CPU')) == 1
  with pytest.raises(errors.ConfigError, match="'mirrored' needs GPUs.*use 'default'"):
    distribute.make_strategy('mirrored')


def test_tpu_where_there_is_none():
  with pytest.raises(errors.ConfigError, match="'tpu': no TPU found"):
    distribute.make_strategy('tpu')


def test_default_strategy_is_the_chief_of_one_worker():
  strategy = distribute.make_strategy('default')
  assert distribute.is_chief(strategy)
  assert distribute.num_workers(strategy) == 1 and distribute.worker_index(strategy) == 0


def test_default_on_a_gpu_machine_is_one_device_and_searches_alike(tmp_path, monkeypatch):
  """'default' with a GPU is OneDeviceStrategy (its datasets prefetch to the device).

  No GPU here: the CPU plays the GPU (list_logical_devices is patched), so the
  OneDeviceStrategy code path (distributed datasets, run, reduce, checkpoints)
  runs for real and must search exactly like the plain default strategy.
  """
  from tests import test_search  # pylint: disable=import-outside-toplevel
  from edd_tf import search  # pylint: disable=import-outside-toplevel
  config = test_search.tiny_config(**{'search.epochs': 1})
  plain = search.run(config, tmp_path / 'plain')
  cpu = tf.config.list_logical_devices('CPU')[0]
  fake_gpu = lambda kind=None: [cpu] if kind == 'GPU' else tf.config.list_logical_devices(kind)
  with monkeypatch.context() as patch:
    patch.setattr(distribute.tf.config, 'list_logical_devices', fake_gpu)
    strategy = distribute.make_strategy('default')
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert distribute.is_chief(strategy)
    one_device = search.run(config, tmp_path / 'one_device')
  arch = [json.loads(pathlib.Path(r['genotype_path']).read_text())['arch']
          for r in (plain, one_device)]
  assert arch[0] and sorted(arch[1]) == sorted(arch[0])
  for name in arch[0]:
    np.testing.assert_allclose(np.asarray(arch[1][name]), np.asarray(arch[0][name]), atol=1e-6)
  assert one_device['genotype'] == plain['genotype']
  assert [h['train_loss'] for h in one_device['history']] == pytest.approx(
      [h['train_loss'] for h in plain['history']], rel=1e-5)
