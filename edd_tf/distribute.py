"""The tf.distribute strategy a config asks for (`config.distribute`)."""

import tensorflow as tf

STRATEGIES = ('default', 'mirrored')


def check_strategy_name(name):
  if name not in STRATEGIES:
    raise ValueError(f'unknown config.distribute {name!r}; allowed: {list(STRATEGIES)}')


def make_strategy(name):
  """'default': the current (one-device) strategy; 'mirrored': every local GPU
  (the CPU when there is none) with MirroredStrategy."""
  check_strategy_name(name)
  if name == 'mirrored':
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()
