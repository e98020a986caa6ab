"""Console output of the binaries: a per-epoch progress bar, quiet logs."""

from binaries import cli  # First: quiets TensorFlow's import-time notices (keras imports it).

import keras

# WARNING-level Python logs unless --verbosity was given; `cli.run` calls it,
# binaries still on app.run call it at the top of main.
quiet_logs = cli.quiet_logs


class ProgressBar:
  """One keras Progbar per epoch.

  Pass an instance as `progress=` to `search.run` / `train.run`; they call it
  with (epoch, step, steps, metrics) after every step, and once more at the
  end of the epoch with the end-of-epoch metrics (which contain `final_key`).
  """

  def __init__(self, epochs, metrics, final_key):
    self.epochs = epochs
    self.metrics = tuple(metrics)
    self.final_key = final_key
    self.epoch = None
    self.bar = None

  def __call__(self, epoch, step, steps, metrics):
    if epoch != self.epoch:
      self.epoch = epoch
      print(f'Epoch {epoch + 1}/{self.epochs}', flush=True)
      self.bar = keras.utils.Progbar(steps, stateful_metrics=self.metrics)
    final = self.final_key in metrics
    self.bar.update(min(step, steps - 1) if not final else steps,
                    [(k, metrics[k]) for k in self.metrics if k in metrics], finalize=final)
