"""edd_tf.perf.step_benchmark: the benchmark JSON of tiny search and training configs (no timings)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from configs import quickstart
from configs import train_quick
from edd_tf.nets import finalnet
from edd_tf.perf import step_benchmark

ROOT = pathlib.Path(__file__).resolve().parents[2]
B, SIZE, C = 4, 16, 8


def tiny_search_config():
  config = quickstart.get_config()  # NB201 supernet, N = 1 cell per stage
  config.model.channels = C
  config.search.batch_size = B
  config.data.image_size = SIZE
  return config


def tiny_train_config():
  config = train_quick.get_config()  # NB201 final network, N = 1
  config.model.channels = C
  config.train.batch_size = B
  config.data.image_size = SIZE
  return config


def nb201_supernet_conv_macs(c, s, n):
  """Multiply-adds of the convs of one NB201 supernet forward pass, per image, by hand.

  Stem 3x3 (3 -> C); per cell 6 edges, each a 3x3 and a 1x1 conv (C -> C);
  two ResNet blocks (3x3 stride 2, 3x3, 1x1 shortcut after a 2x2 pool).
  """
  stem = 9 * 3 * c * s * s
  cells = sum(n * 6 * (9 + 1) * (c * 2**k)**2 * (s // 2**k)**2 for k in range(3))
  blocks = sum((9 * c_in * 2 * c_in + 9 * (2 * c_in)**2 + c_in * 2 * c_in) * (s // 2**k)**2
               for k, c_in in ((1, c), (2, 2 * c)))
  return stem, stem + cells + blocks


def _check_common(result, config, batch):
  assert result['images_per_second'] == pytest.approx(batch / result['seconds_per_step'],
                                                      rel=1e-3)
  assert result['images_per_second_per_replica'] == pytest.approx(
      result['images_per_second'] / result['replicas'], rel=1e-3)
  assert result['batch_size'] == batch and result['replicas'] == 1
  assert result['strategy'] == config.get('distribute', 'default')
  assert result['precision'] == config.get('precision', 'float32')
  assert result['jit_compile'] == config.get('jit_compile', False)
  assert result['jit_compile_in_effect'] == config.get('jit_compile', False)
  assert result['peak_rss_mb'] >= result['rss_before_build_mb'] > 0
  assert result['peak_rss_mb_per_replica'] == result['peak_rss_mb']
  assert result['device_peak_mb'] is None  # No GPU here.
  assert 0 < result['kernels_per_step'] < result['graph_nodes_per_step']
  assert result['flops_per_step'] == sum(result['flops_by_op'].values())
  assert result['bytes_accessed_per_step'] > 0
  # Every gradient is all-reduced once (plus a few metric scalars), not twice.
  assert 4 * result['trainable_params'] == result['gradient_bytes'] <= \
      result['allreduce_bytes_per_step'] < 1.1 * result['gradient_bytes']
  json.dumps(result)  # JSON-ready


def test_search_json_fields_and_flops_equal_the_hand_count():
  config = tiny_search_config()
  result = step_benchmark.measure(config, steps=2, warmup=0)
  _check_common(result, config, B)
  assert result['kind'] == 'search' and result['images_per_step'] == 2 * B
  assert result['seconds_per_pair'] == result['seconds_per_step'] and result['pairs'] == 2
  assert result['space'] == 'nb201' and result['channels'] == C and result['image_size'] == SIZE
  stem, macs = nb201_supernet_conv_macs(C, SIZE, 1)
  first_cell_node0 = 3 * (9 + 1) * C * C * SIZE * SIZE
  fc = 4 * C * 10
  flops = result['flops_by_op']
  # Two forward passes (weight step, alpha step); filter gradients in the
  # weight step only; input gradients of every conv but the stem's in the
  # weight step, and in the alpha step only where an alpha lies upstream (not
  # the first cell's edges out of its input node).
  assert flops['Conv2D'] == 2 * 2 * B * macs
  assert flops['Conv2DBackpropFilter'] == 2 * B * macs
  assert flops['Conv2DBackpropInput'] == 2 * B * (2 * (macs - stem) - first_cell_node0)
  assert flops['MatMul'] == 5 * 2 * B * fc  # 2 forward, weight grad, 2 input grads
  assert result['arch_params'] == 6 * 5 and result['weight_params'] > 0


def test_train_json_fields_and_flops_match_finalnet_count():
  config = tiny_train_config()
  result = step_benchmark.measure(config, steps=2, warmup=0)
  _check_common(result, config, B)
  assert result['kind'] == 'train' and result['network'] == 'nb201'
  assert result['arch_params'] == 0 and 'seconds_per_pair' not in result
  # finalnet.count_flops: multiply-adds of one inference pass at batch 1,
  # plus one add per classifier bias (10 classes).
  macs = result['inference_macs_per_image'] - 10
  flops = result['flops_by_op']
  forward = flops['Conv2D'] + flops['MatMul'] // 3  # MatMul: forward, weight and input grads
  assert forward == 2 * B * macs
  assert flops['Conv2DBackpropFilter'] == flops['Conv2D']
  assert result['flops_per_step'] == pytest.approx(3 * 2 * B * macs, rel=0.05)
  model = finalnet.build_final_network('nb201', config.genotype, 10, channels=C,
                                       cells_per_stage=1)
  assert finalnet.count_flops(model, (SIZE, SIZE, 3)) == result['inference_macs_per_image']


def test_compare_variants_and_no_counts():
  config = tiny_train_config()
  other = tiny_train_config()
  other.train.batch_size = 2 * B
  result = step_benchmark.measure(config, steps=1, warmup=0, compare=[('double', other)],
                                  counts=False)
  assert set(result['compare']) == {'double'} and result['compare']['double'] > 0
  assert 'flops_per_step' not in result and 'gflops_per_second' not in result


def test_config_kind():
  assert step_benchmark.config_kind(tiny_search_config()) == 'search'
  assert step_benchmark.config_kind(tiny_train_config()) == 'train'
  with pytest.raises(ValueError, match='neither a search config'):
    step_benchmark.config_kind(tiny_train_config().train)


_TWO_REPLICAS = """
import json, tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tests import test_step_benchmark as t
from edd_tf.perf import step_benchmark
strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
print(json.dumps(step_benchmark.measure(t.tiny_train_config(), steps=1, warmup=0,
                                        strategy=strategy)))
"""


@pytest.mark.slow  # A subprocess with two logical CPUs: ~30-60 s.
def test_two_replicas_report_per_replica_figures():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=str(ROOT))
  proc = subprocess.run([sys.executable, '-c', _TWO_REPLICAS], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-4000:]
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  assert result['replicas'] == 2 and result['strategy_class'] == 'MirroredStrategy'
  assert result['batch_size_per_replica'] == B // 2
  assert result['images_per_second_per_replica'] == pytest.approx(
      result['images_per_second'] / 2, rel=1e-3)
  assert result['flops_per_step_per_replica'] * 2 == result['flops_per_step']
  assert result['kernels_per_step_per_replica'] == result['kernels_per_step'] // 2
  assert result['gradient_bytes'] <= result['allreduce_bytes_per_step'] < \
      1.1 * result['gradient_bytes']
  # Same model and global batch as one device: the same FLOPs in total.
  single = step_benchmark.measure(tiny_train_config(), steps=1, warmup=0)
  assert result['flops_per_step'] == single['flops_per_step']


def test_jit_compile_in_effect_reads_the_compiled_passes_inside_the_step():
  config = tiny_train_config()
  config.jit_compile = True
  result = step_benchmark.measure(config, steps=1, warmup=0, counts=False)
  assert result['jit_compile'] and result['jit_compile_in_effect']


@pytest.mark.parametrize('kind', ['search', 'train'])
def test_steps_per_call_runs_k_steps_per_timed_call(kind):
  config = tiny_search_config() if kind == 'search' else tiny_train_config()
  (config.search if kind == 'search' else config.train).steps_per_call = 3
  subject = step_benchmark.build(config)
  assert subject.steps_per_call == 3
  rows = subject.call()
  assert len(rows) == 3 and all(set(r) for r in rows)
  result = step_benchmark.measure(config, steps=1, warmup=0, counts=False)
  assert result['steps_per_call'] == 3 and result['seconds_per_step'] > 0


def test_peak_and_cpu_kernels_are_reported():
  result = step_benchmark.measure(tiny_train_config(), steps=1, warmup=0, peak=True)
  assert result['machine_peak_gflops_fp32'] > 0
  assert result['fraction_of_peak'] == pytest.approx(
      result['gflops_per_second'] / result['machine_peak_gflops_fp32'], rel=1e-2, abs=1e-3)
  assert result['machine_stream_gbytes_per_second'] > 0
  assert result['fraction_of_stream_bandwidth'] == pytest.approx(
      result['gbytes_per_second'] / result['machine_stream_gbytes_per_second'], rel=2e-2, abs=1e-3)
  assert set(result['cpu_kernels']) == {'TF_ENABLE_ONEDNN_OPTS', 'set_by', 'onednn_enabled',
                                        'tensorflow_default'}
