"""The TensorBoard HParams dashboard of finished runs: swept keys against final metrics.

`write_hparams(logdir, groups, keys, columns)` writes the dashboard's
hparams_config (the swept keys and seed as discrete hyperparameters, the final
metrics) at `logdir` and one run directory per search, `logdir/<run slug>`,
holding its hyperparameter values, its final metrics (`final/<metric>`) and its
per-epoch temperature, entropies and discretized accuracy (`epoch/<field>`).
See https://www.tensorflow.org/tensorboard/hyperparameter_tuning_with_hparams.

  tensorboard --logdir REPORT_DIR/tb
"""

import json
import math

from edd_tf.experiments import finished_runs


def _hp_value(value):
  return value if isinstance(value, (bool, int, float, str)) else json.dumps(value)


def write_hparams(logdir, groups, keys, columns):
  """HParams dashboard: hparams_config at `logdir`, one run dir per search.

  Args:
    logdir: the TensorBoard logdir (a pathlib.Path).
    groups: [(key values, [finished_runs.SearchRun])] (`finished_runs.group_runs`).
    keys: the swept keys, hyperparameters with seed.
    columns: the report's benchmark columns (key, header, split, description).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top  (slow; only here)
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
  runs = [r for _, g in groups for r in g]
  params = {}
  for k in list(keys) + ['seed']:
    values = sorted({_hp_value(r.value(k)) for r in runs}, key=str)
    if len({type(v) for v in values}) > 1:
      values = [str(v) for v in values]
    params[k] = hp.HParam(k, hp.Discrete(values))
  metric_keys = ([(c[0], f'{c[1]} [{c[2]}]') for c in columns] +
                 [(m[0], m[1]) for m in finished_runs.RUN_METRICS])
  with tf.summary.create_file_writer(str(logdir)).as_default():
    hp.hparams_config(hparams=list(params.values()),
                      metrics=[hp.Metric(f'final/{k}', display_name=d) for k, d in metric_keys])
  for r in runs:
    writer = tf.summary.create_file_writer(str(logdir / finished_runs.slug(r.name)))
    with writer.as_default():
      values = {}
      for k, param in params.items():
        v = _hp_value(r.value(k))
        values[param] = str(v) if all(isinstance(x, str) for x in param.domain.values) else v
      hp.hparams(values, trial_id=r.name)
      step = len(r.history)
      for k, v in r.metrics(columns).items():
        if not math.isnan(v):
          tf.summary.scalar(f'final/{k}', v, step=step)
      for h in r.history:
        for field in ('temperature', 'entropy', 'entropy_tempered', 'discrete_acc'):
          if field in h:
            tf.summary.scalar(f'epoch/{field}', h[field], step=h['epoch'])
    writer.close()
