"""The tf.distribute strategy a config asks for (`config.distribute`), and who writes.

  default       one device: OneDeviceStrategy on the first GPU if there is one
                (its distributed datasets prefetch the next batch to the GPU),
                else TensorFlow's default strategy (CPU).
  mirrored      MirroredStrategy over every local GPU; without GPUs, over the
                logical CPU devices if there are several (tests), else refused.
  multi_worker  MultiWorkerMirroredStrategy over the machines of TF_CONFIG
                (ring all-reduce; NCCL is picked by TF on GPUs).
  tpu           TPUStrategy on the TPU the cluster resolver finds.

Every bad request fails here, before any data is read: an unknown name, a
GPU or TPU strategy where there is none, a missing or malformed TF_CONFIG.

MultiWorkerMirroredStrategy must be created before TensorFlow runs its first
op in the process (collective ops are configured at start-up), so callers
create the strategy first (search.SearchTask and train.TrainTask do).

Only the chief writes summaries and result files; `is_chief` says which
worker that is (core.loop asks it).
"""

import json
import os

import tensorflow as tf

from edd_tf.core import errors

STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')


def check_strategy_name(name):
  if name not in STRATEGIES:
    raise errors.ConfigError(f'unknown config.distribute {name!r}; allowed: {list(STRATEGIES)}')


def parse_tf_config(text):
  """The cluster spec of a TF_CONFIG value, checked; raises ConfigError naming the fault.

  Returns:
    (cluster: {task type: [host:port, ...]}, task type, task index).
  """
  where = 'the TF_CONFIG environment variable'
  if not text:
    raise errors.ConfigError(
        "config.distribute='multi_worker' needs TF_CONFIG, e.g. "
        '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}} on each machine')
  try:
    spec = json.loads(text)
  except ValueError as e:
    raise errors.ConfigError(f'{where} is not JSON ({e})') from e
  if not isinstance(spec, dict):
    raise errors.ConfigError(f'{where} must be a JSON object with "cluster" and "task"')
  cluster, task = spec.get('cluster'), spec.get('task')
  if not isinstance(cluster, dict) or not cluster:
    raise errors.ConfigError(f'{where} has no "cluster" object of task type -> addresses')
  for kind, addresses in cluster.items():
    if (not isinstance(addresses, list) or not addresses
        or not all(isinstance(a, str) and a.rpartition(':')[2].isdigit() for a in addresses)):
      raise errors.ConfigError(f'{where}: cluster.{kind} must be a non-empty list of '
                               f'"host:port" strings, got {addresses!r}')
  if 'worker' not in cluster and 'chief' not in cluster:
    raise errors.ConfigError(f'{where}: the cluster has no "worker" (or "chief") list')
  if not isinstance(task, dict) or 'type' not in task or 'index' not in task:
    raise errors.ConfigError(f'{where} needs "task": {{"type": ..., "index": ...}}')
  kind, index = task['type'], task['index']
  if kind not in cluster:
    raise errors.ConfigError(f'{where}: task.type {kind!r} is not in the cluster '
                             f'({sorted(cluster)})')
  if not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
    raise errors.ConfigError(f'{where}: task.index {index!r} is not in [0, '
                             f'{len(cluster[kind])}) for the {len(cluster[kind])} {kind}(s)')
  return cluster, kind, index


def make_strategy(name, environ=None):
  """The strategy `name` (one of STRATEGIES); raises ConfigError when it cannot run here."""
  check_strategy_name(name)
  environ = os.environ if environ is None else environ
  if name == 'mirrored':
    gpus = tf.config.list_logical_devices('GPU')
    if gpus:
      return tf.distribute.MirroredStrategy([d.name for d in gpus])
    cpus = tf.config.list_logical_devices('CPU')
    if len(cpus) > 1:
      return tf.distribute.MirroredStrategy([d.name for d in cpus])
    raise errors.ConfigError("config.distribute='mirrored' needs GPUs (or several logical "
                             "devices) and this machine has none; use 'default'")
  if name == 'multi_worker':
    parse_tf_config(environ.get('TF_CONFIG', ''))
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=(tf.distribute.experimental.CommunicationImplementation.NCCL
                        if tf.config.list_physical_devices('GPU') else
                        tf.distribute.experimental.CommunicationImplementation.RING))
    try:
      return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except RuntimeError as e:
      raise errors.ConfigError(
          "config.distribute='multi_worker' must create its strategy before TensorFlow "
          f'runs anything in the process ({errors.one_line(e)})') from e
  if name == 'tpu':
    try:
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
      raise errors.ConfigError(f"config.distribute='tpu': no TPU found here "
                               f'({errors.one_line(e)[:200]})') from e
    return tf.distribute.TPUStrategy(resolver)
  gpus = tf.config.list_logical_devices('GPU')
  if gpus:
    return tf.distribute.OneDeviceStrategy(gpus[0].name)
  return tf.distribute.get_strategy()


def is_chief(strategy):
  """Whether this worker writes summaries, results and the real checkpoints."""
  return bool(strategy.extended.should_checkpoint)


def num_workers(strategy):
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return 1
  spec = resolver.cluster_spec().as_dict()
  return sum(len(spec.get(kind, [])) for kind in ('chief', 'worker'))


def worker_index(strategy):
  resolver = getattr(strategy, 'cluster_resolver', None)
  return int(resolver.task_id or 0) if resolver is not None else 0


def any_worker(strategy, flag):
  """True on every worker if `flag` is True on any (a collective: all must call it)."""
  value = strategy.run(lambda: tf.constant(1.0 if flag else 0.0))
  return float(strategy.reduce('SUM', value, axis=None)) > 0
