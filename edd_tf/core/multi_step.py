"""Several training steps in one `tf.function` call over the input iterator.

Keras' `steps_per_execution`, for our own loop: a call runs `n` steps in a
`tf.while_loop` whose body takes the next batch from the iterator and runs
the task's step, and returns every step's metrics as a [n, m] tensor, so the
loop still sees each step (NaN guard, progress, summaries every N steps) and
stops (preemption) at a step boundary. One trace serves every n: the number
of steps is a tensor, so the last, shorter call of an epoch does not retrace.

What it saves is the per-step cost outside the step's graph: the Python
dispatch of the call, the executor's per-call set-up, the iterator's
`get_next` round trip, and the host reading the metrics; on an accelerator
it lets the device run steps back to back (WORKSPACE.md "GPU plan").
"""

import tensorflow as tf


def check_steps_per_call(value, field):
  """Raises ValueError unless `value` is an int >= 1."""
  if not isinstance(value, int) or isinstance(value, bool) or value < 1:
    raise ValueError(f'config.{field} must be an integer >= 1 (steps run per tf.function '
                     f'call), got {value!r}')


class MultiStep:
  """`call(iterator, n)` runs `step(*next(iterator))` n times; returns float32[n, len(keys)].

  Args:
    step: the task's step: (*batch) -> {key: scalar tensor}; traceable (it
      may call tf.functions and strategy.run).
    keys: the metric names `step` returns, in the order of the columns.
  """

  def __init__(self, step, keys):
    self.step = step
    self.keys = tuple(keys)
    self._calls = {}  # one traced function per trace key (see __call__)

  def _steps(self, iterator, n):
    rows = tf.TensorArray(tf.float32, size=n, element_shape=[len(self.keys)])

    def body(i, rows):
      metrics = self.step(*next(iterator))
      missing = set(self.keys) ^ set(metrics)
      if missing:
        raise ValueError(f'the step returned {sorted(metrics)}, expected {sorted(self.keys)}')
      row = tf.stack([tf.cast(metrics[k], tf.float32) for k in self.keys])
      return i + 1, rows.write(i, row)

    _, rows = tf.while_loop(lambda i, rows: i < n, body, [tf.constant(0), rows])
    return rows.stack()

  def __call__(self, iterator, n, trace_key=None):
    """The metrics of n steps as [{key: float32 scalar tensor}] (one dict per step).

    `trace_key`: the Python values `step` branches on (e.g. whether the alphas
    update); each value gets its own trace, as a tf.function step retraces
    for a new Python argument.
    """
    if trace_key not in self._calls:
      self._calls[trace_key] = tf.function(self._steps, autograph=False)
    table = self._calls[trace_key](iterator, tf.constant(n, tf.int32))
    return [dict(zip(self.keys, tf.unstack(row))) for row in tf.unstack(table, num=n)]
