r"""The grid language of sweeps, and config overrides from its text.

A grid is a list of axes; a sweep runs their product. Grid text (``--grid``
or a grid file) has one axis per line or per ';', '#' starts a comment, and a
line starting with '|' continues the bundle axis above:

  seed = 0, 1, 2                      # a field axis: a config field and its values
  schedule.lam = 0.06, 0.12, 0.24
  softmax = plain{kind=plain, s=0, st=0} | sn_s100{kind=sn, s=100, st=0}
  method = darts{config=configs/nb201_cifar10_darts.py}
         | edd_tempered{schedule.entropy=tempered}

A **bundle axis** (values written ``label{field=value, ...}`` and separated by
'|') sets several fields together, for settings that are only valid jointly
(sn-softmax needs exactly one of s and st). On an axis named after a config
section (``softmax``) the fields are relative to that section; on any other
axis name they are full dotted paths, and ``config=PATH[:ARG]`` picks the run's
config file (a sweep over methods that each have a config). ``label{}`` leaves
the config as it is.

Every run is named from its settings, sorted by axis (``schedule.lam=0.06,
seed=0,softmax=sn_s100``; a bundle axis contributes its label): `run_name`.
Overrides are {dotted field: value text}; `apply_overrides` checks every field
against a loaded config (naming the closest known field of a misspelt one) and
converts the text to the field's type. Planning and running a sweep:
`edd_tf.experiments.sweep`.
"""

import dataclasses
import difflib
import hashlib
import importlib.util
import pathlib
import re

_KEY = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$')
_LABEL = re.compile(r'^[A-Za-z0-9_.+-]+$')
_BUNDLE = re.compile(r'^([^{}\s]+)\s*\{([^{}]*)\}$', re.S)
_UNSAFE = re.compile(r'[^A-Za-z0-9._=,+-]')
SYNTAX = ('an axis reads "field=v1,v2,..." or "name=label{field=value, ...} | label{...}"')


class SweepError(ValueError):
  """A bad grid, config, root or run; the message names what is wrong."""


@dataclasses.dataclass(frozen=True)
class Axis:
  """One grid axis.

  Attributes:
    key: a config field (field axis) or a name (bundle axis).
    choices: (label, ((field, value text), ...)) per value; a field axis has
      one (key, value) assignment per choice, labelled by the value.
    bundle: whether the values were written as bundles.
  """
  key: str
  choices: tuple
  bundle: bool = False

  def labels(self):
    return [label for label, _ in self.choices]

  def to_json(self):
    if not self.bundle:
      return {'key': self.key, 'values': self.labels()}
    return {'key': self.key, 'bundles': {label: dict(a) for label, a in self.choices}}

  def to_text(self):
    if not self.bundle:
      return f'{self.key}={",".join(self.labels())}'
    parts = [f'{label}{{{", ".join(f"{k}={v}" for k, v in a)}}}' for label, a in self.choices]
    return f'{self.key}={" | ".join(parts)}'


# ---------------------------------------------------------------------------
# Grid text
# ---------------------------------------------------------------------------


def _assignment(text, where):
  key, sep, value = text.partition('=')
  key = key.strip()
  if not sep or not _KEY.match(key):
    raise SweepError(f'malformed assignment {text.strip()!r} in {where}: expected field=value')
  return key, value.strip()


def _parse_axis(text):
  key, sep, rest = text.partition('=')
  key, rest = key.strip(), rest.strip()
  if not sep or not _KEY.match(key):
    raise SweepError(f'malformed grid axis {text!r}: {SYNTAX}')
  if not rest:
    raise SweepError(f'grid axis {key!r} has an empty value list')
  if '{' in rest or '}' in rest:
    choices = []
    for part in rest.split('|'):
      match = _BUNDLE.match(part.strip())
      if not match or not _LABEL.match(match.group(1)):
        raise SweepError(f'malformed bundle {part.strip()!r} in grid axis {key!r}: each value '
                         f'reads label{{field=value, ...}} (label: letters, digits, ._+-), '
                         f"values separated by '|'")
      body = match.group(2).strip()
      items = [s for s in body.split(',')] if body else []
      if any(not s.strip() for s in items):
        raise SweepError(f'empty assignment in bundle {part.strip()!r} of grid axis {key!r}')
      assignments = tuple(_assignment(s, f'bundle {match.group(1)!r} of axis {key!r}')
                          for s in items)
      fields = [k for k, _ in assignments]
      if len(set(fields)) != len(fields):
        raise SweepError(f'bundle {match.group(1)!r} of grid axis {key!r} sets a field twice')
      choices.append((match.group(1), assignments))
    axis = Axis(key, tuple(choices), bundle=True)
  else:
    values = [v.strip() for v in rest.split(',')]
    if any(not v for v in values):
      raise SweepError(f'grid axis {key!r} has an empty value in {rest!r}')
    axis = Axis(key, tuple((v, ((key, v),)) for v in values))
  labels = axis.labels()
  if len(set(labels)) != len(labels):
    raise SweepError(f'grid axis {key!r} lists a value twice: {labels}')
  return axis


def parse_grid(text):
  """Parses grid text (see the module docstring) into a list of Axis.

  Raises:
    SweepError: a malformed axis, an empty value list or a repeated axis.
  """
  lines = []
  for line in text.splitlines():
    line = line.split('#', 1)[0].strip()
    if line.startswith('|') and lines:  # a bundle axis continued on the next line
      lines[-1] += ' ' + line
    elif line:
      lines.append(line)
  axes = [_parse_axis(part.strip()) for line in lines for part in line.split(';')
          if part.strip()]
  if not axes:
    raise SweepError(f'the grid has no axes: {SYNTAX}')
  keys = [a.key for a in axes]
  repeated = sorted({k for k in keys if keys.count(k) > 1})
  if repeated:
    raise SweepError(f'grid axis {repeated[0]!r} is given twice')
  return axes


def read_grid_file(path):
  path = pathlib.Path(path)
  if not path.is_file():
    raise SweepError(f'grid file {str(path)!r} does not exist')
  return parse_grid(path.read_text())


def parse_assignments(items):
  """{field: value} from 'field=value' strings (the binary's --set flags)."""
  out = {}
  for item in items:
    key, value = _assignment(item, '--config.FIELD / --set')
    if key in out:
      raise SweepError(f'{key!r} is set twice (--config.FIELD / --set)')
    out[key] = value
  return out


def run_name(settings):
  """Deterministic, filesystem-safe workdir name of a run's {axis: label} settings."""
  name = ','.join(f'{k}={settings[k]}' for k in sorted(settings))
  name = _UNSAFE.sub('_', name) or 'run'
  if len(name) > 150:  # keep well under NAME_MAX (255)
    name = name[:140] + '-' + hashlib.sha1(name.encode()).hexdigest()[:8]
  return name


# ---------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------


def resolve_spec(spec):
  """An absolute PATH[:ARG] config spec (so the runs do not depend on the cwd)."""
  path, sep, arg = spec.partition(':')
  return str(pathlib.Path(path).resolve()) + sep + arg


def load_config(spec):
  """Calls get_config() (or get_config(ARG)) of a config file spec PATH[:ARG]."""
  path, sep, arg = spec.partition(':')
  path = pathlib.Path(path)
  if not path.is_file():
    raise SweepError(f'config file {str(path)!r} does not exist')
  name = '_sweep_config_' + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
  module_spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if sep else module.get_config()


def leaves(config, prefix=''):
  """{dotted field: value} of every leaf of a (nested) config."""
  out = {}
  for key, value in config.items():
    if hasattr(value, 'items'):
      out.update(leaves(value, f'{prefix}{key}.'))
    else:
      out[f'{prefix}{key}'] = value
  return out


def section_names(config, prefix=''):
  """The dotted names of the config's sections (fields holding fields), nested ones too."""
  out = set()
  for key, value in config.items():
    if hasattr(value, 'items'):
      out.add(f'{prefix}{key}')
      out |= section_names(value, f'{prefix}{key}.')
  return out


def _unknown_field(key, config, where):
  known = sorted(leaves(config)) + sorted(section_names(config))
  close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
  hint = f'; did you mean {close[0]!r}?' if close else f'; known fields: {sorted(leaves(config))}'
  return SweepError(f'unknown config field {key!r} in {where}{hint}')


def coerce(text, current, key):
  """The value of an override text for a field whose current value is `current`."""
  try:
    if isinstance(current, bool):
      lowered = text.lower()
      if lowered not in ('true', 'false', '1', '0'):
        raise ValueError
      return lowered in ('true', '1')
    if isinstance(current, int):
      return int(text)
    if isinstance(current, float):
      return float(text)
  except ValueError:
    raise SweepError(f'value {text!r} for {key} is not a {type(current).__name__}') from None
  return text


def apply_overrides(config, overrides, where='the sweep'):
  """A copy of `config` with {field: value text} applied; unknown fields raise."""
  config = config.copy_and_resolve_references()
  fields = leaves(config)
  for key, text in overrides.items():
    if key not in fields:
      if key in section_names(config):
        raise SweepError(
            f'{key!r} in {where} is a config section, not a field: set its fields together '
            f'with a bundle axis, e.g. {key}=a{{field=value, ...}} | b{{field=value, ...}}')
      raise _unknown_field(key, config, where)
    *path, last = key.split('.')
    node = config
    for part in path:
      node = node[part]
    try:
      node[last] = coerce(text, fields[key], key)
    except TypeError as e:
      raise SweepError(f'value {text!r} for {key}: {e}') from None
  return config

