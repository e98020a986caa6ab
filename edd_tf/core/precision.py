"""Numerics of search and training: `config.precision`, `jit_compile`, `sync_batch_norm`.

The checks of the three fields, and the dtype policies of `config.precision`:

  'float32'         everything in float32 (the default);
  'mixed_bfloat16'  layers compute in bfloat16 with float32 variables; no loss
                    scaling (bfloat16 has float32's exponent range);
  'mixed_float16'   layers compute in float16 with float32 variables, with
                    dynamic loss scaling (`optim.LossScale`).

What stays float32 under every policy: the architecture variables (outside
the model, `autocast=False`), (sn-)softmax and the temperature (computed
before the model, softmax.py), the logits (the classifiers are float32
layers and the supernets cast their output), the losses (`optim.cross_entropy`
casts), BatchNorm's statistics and parameters (`batch_norm.BatchNorm`), gradients of
the float32 variables, and the optimizers. Keras casts every floating argument
of a layer call to the compute dtype, so the mixing weights are rounded to it
where they enter the supernet (their gradients come back in float32).
At t = 1e-3, alphas / t overflows float16 (paper-notes), which is why the
softmax must stay outside the low-precision layers.
"""

import contextlib

import keras

PRECISIONS = ('float32', 'mixed_bfloat16', 'mixed_float16')


def check_precision(name):
  """Raises ValueError naming config.precision and the allowed values."""
  if name not in PRECISIONS:
    raise ValueError(f'unknown config.precision {name!r}; allowed: {list(PRECISIONS)}')


def check_numerics_config(config):
  """Raises ValueError naming config.precision / jit_compile / sync_batch_norm.

  The numerics fields search and training configs share (checked before any
  work starts).
  """
  check_precision(config.get('precision', 'float32'))
  for field in ('jit_compile', 'sync_batch_norm'):
    value = config.get(field, False)
    if not isinstance(value, bool):
      raise ValueError(f'config.{field} must be True or False, got {value!r}')


def check_compiled_pass(jit_compile, num_replicas, collectives):
  """Raises ValueError if an XLA-compiled per-replica pass would all-reduce.

  MirroredStrategy does not allow a cross-replica all-reduce (a `merge_call`)
  inside a nested tf.function, which the compiled forward/backward pass is
  (RuntimeError "merge_call called while defining a new graph"). With one
  replica nothing is all-reduced, so everything compiles.

  Args:
    jit_compile: config.jit_compile.
    num_replicas: replicas of the strategy.
    collectives: the config settings (e.g. 'config.sync_batch_norm=True')
      that all-reduce inside the forward/backward pass.
  """
  if jit_compile and num_replicas > 1 and collectives:
    raise ValueError(
        f'config.jit_compile=True cannot compile the forward/backward pass on {num_replicas} '
        f'replicas with {" and ".join(collectives)}: it all-reduces inside the pass, which '
        f'tf.distribute does not allow in a compiled function; set config.jit_compile=False '
        f'(or run on one replica)')


def uses_loss_scaling(name):
  """float16's narrow exponent range needs loss scaling; bfloat16's does not."""
  check_precision(name)
  return name == 'mixed_float16'


@contextlib.contextmanager
def policy_scope(name):
  """Layers constructed inside take the dtype policy `name` (and keep it).

  A Keras 3 layer fixes its policy when it is constructed, from its `dtype=`
  argument or else the global policy. Passing `dtype=` explicitly would thread
  a policy through every op builder, cell and network constructor (~40 layer
  constructions and the OPS registry signature); instead the global policy is
  set for the construction only and restored afterwards, also on error.
  Keras keeps the global policy per thread. Layers built with an explicit
  dtype (the float32 classifiers) keep theirs.

  Args:
    name: one of PRECISIONS.
  """
  check_precision(name)
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(name)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)
