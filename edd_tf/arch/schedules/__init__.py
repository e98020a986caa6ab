"""Temperature schedules: constant, LTS, ETS (Sect. 2.2), PCD (Sect. 4), EDD (Sect. 2.3).

One module per family:

* base.py: the `Schedule` interface and its epoch convention, E(a)
  (`expectation_of_alphas`, Sect. 2.2) and the argument checks;
* simple.py: `Constant` and `Linear` (LTS);
* ets.py: `ets_exp_points`, `ets_decay_points` (Eq. 10-12), `ETS` and `PCD`;
* edd.py: `EDD` (Eq. 13-15, Alg. 2).

This package holds the registry `SCHEDULES` (name -> builder from a config)
and `build_schedule`, and re-exports the public names, so callers use
``from edd_tf.arch import schedules; schedules.ETS(...)``.
"""

import math
import numbers

from edd_tf.arch.schedules import base
from edd_tf.arch.schedules.base import Schedule
from edd_tf.arch.schedules.base import expectation_of_alphas
from edd_tf.arch.schedules.edd import EDD
from edd_tf.arch.schedules.ets import ETS
from edd_tf.arch.schedules.ets import PCD
from edd_tf.arch.schedules.ets import ets_decay_points
from edd_tf.arch.schedules.ets import ets_exp_points
from edd_tf.arch.schedules.simple import Constant
from edd_tf.arch.schedules.simple import Linear
from edd_tf.arch.schedules.simple import constant
from edd_tf.arch.schedules.simple import linear

__all__ = ['Constant', 'EDD', 'ETS', 'Linear', 'PCD', 'SCHEDULES', 'Schedule', 'build_schedule',
           'constant', 'ets_decay_points', 'ets_exp_points', 'expectation_of_alphas', 'linear']


def _get(config, field, default):
  value = config.get(field, default)
  return default if value is None else value


def _config_positive(config, field, default):
  value = _get(config, field, default)
  if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value > 0:
    raise ValueError(f'schedule field {field!r} must be > 0, got {value!r}')
  return float(value)


def _config_expectation(expectation, name):
  value = None if expectation is None else float(expectation)  # also numpy / tf scalars
  if value is None or not math.isfinite(value) or value <= 0:
    raise ValueError(f'schedule {name!r} needs expectation E(a) > 0, got {expectation!r}')
  return value


def _build_constant(config, expectation, num_epochs):
  del expectation, num_epochs
  return Constant(_config_positive(config, 't0', 1.0))


def _build_linear(config, expectation, num_epochs):
  del expectation
  return Linear(_config_positive(config, 't0', 1.0), _config_positive(config, 't_target', 1e-3),
                num_epochs)


def _build_ets(config, expectation, num_epochs):
  return ETS(_config_expectation(expectation, 'ets'), _config_positive(config, 't0', 1.0),
             _config_positive(config, 't_target', 1e-3), num_epochs)


def _build_pcd(config, expectation, num_epochs):
  return PCD(_config_expectation(expectation, 'pcd'), _config_positive(config, 't0', 1.0),
             _config_positive(config, 't_target', 1e-3), _get(config, 'warmup_epochs', 0),
             _get(config, 'cycle_epochs', 10), num_epochs)


def _build_edd(config, expectation, num_epochs):
  del num_epochs
  rho = _get(config, 'rho', 0.5)
  if not isinstance(rho, numbers.Real) or not 0.0 <= rho < 1.0:
    raise ValueError(f"schedule field 'rho' must be in [0, 1), got {rho!r}")
  if expectation is not None:
    expectation = _config_expectation(expectation, 'edd')
  return EDD(_config_positive(config, 'lam', 0.06), rho, _config_positive(config, 't0', 1.0),
             expectation)


# name -> builder(config, expectation, num_epochs).
SCHEDULES = {
    'constant': _build_constant,
    'linear': _build_linear,
    'ets': _build_ets,
    'pcd': _build_pcd,
    'edd': _build_edd,
}


def build_schedule(config, *, expectation, num_epochs):
  """Builds the schedule named by `config.name`.

  Args:
    config: dict or ml_collections.ConfigDict with `name` (one of SCHEDULES)
      and optional t0 (1.0), t_target (1e-3), lam (0.06), rho (0.5),
      warmup_epochs (0), cycle_epochs (10). 'constant' uses t0.
    expectation: E(a) (see `expectation_of_alphas`); required by 'ets' and
      'pcd', optional for 'edd' (then call `set_expectation` before the first
      update), ignored otherwise.
    num_epochs: number of search epochs (>= 1).

  Returns:
    A `Schedule`.

  Raises:
    ValueError: unknown name (listing the known ones) or a bad field, named.
  """
  name = _get(config, 'name', None)
  if name not in SCHEDULES:
    raise ValueError(f'unknown schedule {name!r}; known schedules: {sorted(SCHEDULES)}')
  base.check_int(num_epochs, 'num_epochs', 1)
  return SCHEDULES[name](config, expectation, num_epochs)
