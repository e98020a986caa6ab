"""Console output of the binaries: a per-epoch progress bar, quiet logs."""

from absl import flags
from absl import logging
import keras


def quiet_logs():
  """WARNING-level logs unless --verbosity was given (the bars show progress).

  TensorFlow's checkpoint and export code log several INFO lines per save;
  pass --verbosity=0 to see them and the library's per-epoch INFO lines.
  """
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)


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
