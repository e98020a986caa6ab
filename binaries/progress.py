"""Console output of the binaries: a per-epoch progress bar, quiet logs."""

from binaries import cli  # First: quiets TensorFlow's import-time notices (keras imports it).

from edd_tf.core import progress

# WARNING-level Python logs unless --verbosity was given; `cli.run` calls it,
# binaries still on app.run call it at the top of main.
quiet_logs = cli.quiet_logs


# The bar lives in the library (edd_tf.api shows it too).
ProgressBar = progress.ProgressBar
