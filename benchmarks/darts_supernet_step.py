r"""Times one DARTS-space search step pair of the full-size supernet on this CPU.

  TF_ENABLE_ONEDNN_OPTS=1 python -m benchmarks.darts_supernet_step   # both variants
  python -m benchmarks.darts_supernet_step --variant=darts --pairs=3
  python -m benchmarks.darts_supernet_step --variant=darts --compare_reference

TensorFlow turns its oneDNN kernels on by default only on some x86 CPUs; on
this AMD EPYC it leaves them off. With TF_ENABLE_ONEDNN_OPTS=1 a DARTS pair
takes about half the CPU time here (13.5-14.5 s instead of 33.5 s): depthwise
convs, BatchNorm and max-pool gradients are much faster, and the stride-1
dilated convs skip space-to-batch (fused_blocks.dilated_depthwise_conv).

Measured 2026-11-29 on this 2-core VM, oneDNN on, quiet machine (load < 1.1),
3 timed pairs, fused path (default):
  darts:   7.45 s / pair (CPU 14.5 s), peak RSS 4.27 GB  (PyTorch 22.5 s, 9.4 GB)
  pcdarts: 11.4 s / pair (CPU 22.2 s), peak RSS 4.96 GB  (PyTorch 35.8 s, 12.0 GB)
About 2.2 GB of the peak is the traced graph of the pair (133k nodes), 0.8 GB
the built model; warm-up (tracing + Grappler) takes 3-5 minutes. The shared
VM's speed swings with other jobs: compare cpu_seconds_per_pair too.

One pair = a weight step (forward + gradients of the supernet weights on a
train batch, SGD momentum 0.9) then an alpha step (forward + gradients of the
alphas through softmax on a val batch, Adam (0.5, 0.999)), each taking only
the gradients it needs, as first-order DARTS does (reference sect. 3.5). Random
normal 32x32 images, random labels, 10 classes.

Variants (reference sect. 3.5 and 4.3):
  * darts: C=16, 8 layers, batch 64, the 8 DARTS ops on every edge.
  * pcdarts: the same with partial channels K=4, batch 256; the edge betas
    are folded into the mixing weights (softmax(beta) per node group).

Each variant runs in its own process (peak RSS is per process): --warmup
untimed pairs (tracing), then --pairs timed ones. Prints one JSON line per
variant with seconds_per_pair (median wall clock), cpu_seconds_per_pair (the
process's CPU time, which other jobs on a shared machine disturb less),
peak_rss_gb (getrusage ru_maxrss; peak_rss_before_steps_gb is the built
model before any pair) and the settings. PyTorch reference on this machine type (from the issue): 22.5 s
and 9.4 GB per pair (darts), 35.8 s and 12.0 GB (pcdarts).
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time

from absl import app
from absl import flags

_VARIANT = flags.DEFINE_enum('variant', 'both', ['both', 'darts', 'pcdarts'], 'What to time.')
_PAIRS = flags.DEFINE_integer('pairs', 3, 'Timed step pairs.')
_WARMUP = flags.DEFINE_integer('warmup', 1, 'Untimed step pairs (tracing).')
_BATCH = flags.DEFINE_integer('batch', 0, 'Override the variant\'s batch size (0: keep it).')
_REFERENCE = flags.DEFINE_bool('compare_reference', False,
                               'Time the reference path (fused=False) instead of the fused one.')

VARIANTS = {
    'darts': dict(batch=64, partial_channels=1),
    'pcdarts': dict(batch=256, partial_channels=4),
}


def _peak_rss_gb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _run_variant(name):
  """Builds the supernet, times the pairs, returns the result dict."""
  import keras  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from edd_tf.spaces import darts_supernet  # pylint: disable=g-import-not-at-top
  from edd_tf.core import kernels  # pylint: disable=g-import-not-at-top

  settings = VARIANTS[name]
  batch, k = _BATCH.value or settings['batch'], settings['partial_channels']
  normal_ops, reduce_ops = darts_supernet.DARTS_SPACE
  model = darts_supernet.DartsSupernet(10, normal_ops=normal_ops, reduce_ops=reduce_ops,
                                       channels=16, layers=8, partial_channels=k,
                                       fused=not _REFERENCE.value)
  rng = np.random.default_rng(0)
  num_ops = len(normal_ops[0])
  alphas = {key: tf.Variable(1e-3 * rng.standard_normal((14, num_ops)), dtype=tf.float32)
            for key in ('alphas_normal', 'alphas_reduce')}
  betas = {key: tf.Variable(1e-3 * rng.standard_normal(14), dtype=tf.float32)
           for key in ('alphas_normal', 'alphas_reduce')}
  arch_vars = list(alphas.values()) + (list(betas.values()) if k > 1 else [])

  def mixing_weights():
    out = {}
    for key, alpha in alphas.items():
      w = tf.nn.softmax(alpha, axis=-1)
      if k > 1:  # PC-DARTS edge normalisation (reference sect. 4.2)
        beta = tf.concat([tf.nn.softmax(betas[key][s:e])
                          for s, e in darts_supernet.edge_groups()], axis=0)
        w = w * beta[:, None]
      out[key] = w
    return out

  def data():
    return (tf.constant(rng.standard_normal((batch, 32, 32, 3)), tf.float32),
            tf.constant(rng.integers(0, 10, batch), tf.int32))

  train, val = data(), data()
  model(train[0][:2], mixing_weights(), training=False)  # create the variables
  w_opt = keras.optimizers.SGD(0.025, momentum=0.9)
  a_opt = keras.optimizers.Adam(3e-4, beta_1=0.5, beta_2=0.999)
  w_opt.build(model.trainable_variables)
  a_opt.build(arch_vars)

  def loss_fn(images, labels):
    logits = model(images, mixing_weights(), training=True)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))

  @tf.function
  def pair(train, val):
    with tf.GradientTape() as tape:
      loss_w = loss_fn(*train)
    grads = tape.gradient(loss_w, model.trainable_variables)
    grads, _ = tf.clip_by_global_norm(grads, 5.0)
    w_opt.apply_gradients(zip(grads, model.trainable_variables))
    with tf.GradientTape() as tape:
      loss_a = loss_fn(*val)
    a_opt.apply_gradients(zip(tape.gradient(loss_a, arch_vars), arch_vars))
    return loss_w, loss_a

  peak_before_steps = _peak_rss_gb()
  start = time.perf_counter()
  for _ in range(_WARMUP.value):
    [float(v) for v in pair(train, val)]
  warmup = time.perf_counter() - start
  peak_after_warmup = _peak_rss_gb()
  times, cpu_times = [], []
  for _ in range(_PAIRS.value):
    start, cpu_start = time.perf_counter(), time.process_time()
    [float(v) for v in pair(train, val)]
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu_start)
  return dict(variant=name, fused=not _REFERENCE.value, batch=batch, partial_channels=k,
              seconds_per_pair=round(statistics.median(times), 3),
              times=[round(t, 3) for t in times],
              cpu_seconds_per_pair=round(statistics.median(cpu_times), 3),
              warmup_s=round(warmup, 1),
              peak_rss_gb=round(_peak_rss_gb(), 2),
              peak_rss_before_steps_gb=round(peak_before_steps, 2),
              peak_rss_after_warmup_gb=round(peak_after_warmup, 2),
              onednn=kernels.onednn_enabled(),
              weights=int(sum(np.prod(v.shape) for v in model.trainable_variables)),
              tensorflow=tf.__version__, cpus=os.cpu_count())


def main(argv):
  del argv
  if _VARIANT.value != 'both':
    print(json.dumps(_run_variant(_VARIANT.value)), flush=True)
    return
  for name in VARIANTS:  # one process each: ru_maxrss is a per-process peak
    args = [sys.executable, '-m', 'benchmarks.darts_supernet_step', f'--variant={name}',
            f'--pairs={_PAIRS.value}', f'--warmup={_WARMUP.value}',
            f'--compare_reference={_REFERENCE.value}', f'--batch={_BATCH.value}']
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    print(out.strip().splitlines()[-1], flush=True)


if __name__ == '__main__':
  app.run(main)
