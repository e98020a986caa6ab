"""A per-epoch progress bar for the binaries, fed by a library progress callback."""

import keras


class ProgressBar:
  """One keras Progbar per epoch.

  Pass an instance as `progress=` to `search.run` / `train.run`; they call it
  with (epoch, step, steps, metrics) after every step.
  """

  def __init__(self, epochs, metrics):
    self.epochs = epochs
    self.metrics = tuple(metrics)
    self.epoch = None
    self.bar = None

  def __call__(self, epoch, step, steps, metrics):
    if epoch != self.epoch:
      self.epoch = epoch
      print(f'Epoch {epoch + 1}/{self.epochs}', flush=True)
      self.bar = keras.utils.Progbar(steps, stateful_metrics=self.metrics)
    self.bar.update(step, [(k, metrics[k]) for k in self.metrics if k in metrics],
                    finalize=True if step >= steps and 'final' in metrics else None)
