"""Console progress of a run: one Keras progress bar per epoch and the run's time left.

Pass an instance as `progress=` to `search.run` / `train.run` (the binaries and
`edd_tf.api` do). The bar of an epoch counts its steps; its ETA leaves out the
end-of-epoch work (evaluation, read-out, checkpoint), so after each epoch one
line gives the epoch's whole time (from the end of the previous one; the first
also holds start-up and tracing) and an estimate for the rest of the run from
the mean of the epochs timed so far (without the first once there are more):

  epoch 3/25: 41 s; about 15 min left
"""

import time

import keras


def format_seconds(seconds):
  """'41 s', '15 min', '2.3 h'."""
  if seconds < 90:
    return f'{seconds:.0f} s'
  if seconds < 90 * 60:
    return f'{seconds / 60:.0f} min'
  return f'{seconds / 3600:.1f} h'


class ProgressBar:
  """One keras Progbar per epoch, then the epoch's time and the run's time left.

  `search.run` / `train.run` call it with (epoch, step, steps, metrics) after
  every step, and once more at the end of the epoch with the end-of-epoch
  metrics (which contain `final_key`).
  """

  def __init__(self, epochs, metrics, final_key, clock=time.monotonic, write=print):
    self.epochs = epochs
    self.metrics = tuple(metrics)
    self.final_key = final_key
    self.clock = clock
    self.write = write
    self.epoch = None
    self.bar = None
    self.last_end = clock()
    self.durations = []

  def __call__(self, epoch, step, steps, metrics):
    if epoch != self.epoch:
      self.epoch = epoch
      self.write(f'Epoch {epoch + 1}/{self.epochs}', flush=True)
      self.bar = keras.utils.Progbar(steps, stateful_metrics=self.metrics)
    final = self.final_key in metrics
    self.bar.update(min(step, steps - 1) if not final else steps,
                    [(k, metrics[k]) for k in self.metrics if k in metrics], finalize=final)
    if final:
      now = self.clock()
      self.durations.append(now - self.last_end)
      self.last_end = now
      timed = self.durations[1:] or self.durations
      left = (self.epochs - epoch - 1) * sum(timed) / len(timed)
      tail = f'; about {format_seconds(left)} left' if epoch + 1 < self.epochs else '; done'
      self.write(f'epoch {epoch + 1}/{self.epochs}: {format_seconds(self.durations[-1])}{tail}',
                 flush=True)
