r"""Sweeps: one search per point of a grid of config overrides, each in its own workdir.

The grid (its text, run names and overrides: `edd_tf.experiments.grid`) is a
list of axes; the sweep runs their product. `plan_sweep` validates every run
before anything is written; `execute` runs them.

Every run is named from its settings (`grid.run_name`) and lives in
``ROOT/<name>``. It is a ``python -m binaries.search`` subprocess with
``--config.<field>=<value>`` overrides, its output appended to
``ROOT/<name>/sweep.log``. A finished run is never started again (the search
would rewrite its genotype.json); an interrupted one is started again with the
same command and resumes from its checkpoint. ``ROOT/sweep.json`` records the
config, grid, fixed overrides and every run's status; a root that holds a
sweep of another config or grid is refused.
"""

import dataclasses
import fcntl
import itertools
import json
import os
import pathlib
import subprocess
import sys
import time

from absl import logging

from edd_tf.experiments import grid

MANIFEST = 'sweep.json'
LOG_NAME = 'sweep.log'
LOCK_NAME = '.sweep.lock'
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SEARCH_MODULE = 'binaries.search'


@dataclasses.dataclass
class Run:
  """One point of the grid.

  Attributes:
    name: the workdir name under the root.
    settings: {axis key: label} in grid order.
    overrides: {config field: value text}, the grid's and the fixed ones.
    config: the config file spec (PATH[:ARG]) the run uses.
  """
  name: str
  settings: dict
  overrides: dict
  config: str


@dataclasses.dataclass
class Plan:
  """A validated sweep: what to run where."""
  root: pathlib.Path
  config: str
  axes: list
  fixed: dict
  runs: list

  def identity(self):
    """What must match for a root to be resumed by this sweep."""
    return {'config': self.config, 'grid': [a.to_json() for a in self.axes],
            'set': dict(self.fixed)}


# ---------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------


def _choice_overrides(axis, assignments, sections):
  """({field: value}, config spec or None) of one axis value."""
  overrides, spec = {}, None
  for key, value in assignments:
    if axis.bundle and key == 'config' and axis.key not in sections:
      spec = value
    elif axis.bundle and axis.key in sections:
      overrides[f'{axis.key}.{key}'] = value
    else:
      overrides[key] = value
  return overrides, spec


def plan_sweep(config, axes, fixed, root, check=None):
  """Validates a sweep and lists its runs; nothing is written.

  Args:
    config: the config spec PATH[:ARG], or None when every run gets one from a
      bundle's config=.
    axes: list of grid.Axis (`grid.parse_grid`).
    fixed: {field: value text} applied to every run (--set).
    root: the sweep's root directory.
    check: optional callable(config) raising ValueError for values the search
      cannot use (search.check_config).

  Returns:
    A Plan.

  Raises:
    grid.SweepError: naming the unknown field (with a suggestion), the
      conflicting axes, the run whose config is invalid, or a root holding
      another sweep.
  """
  config = grid.resolve_spec(config) if config else None
  root = pathlib.Path(root).resolve()
  check_root(Plan(root, config, list(axes), dict(fixed), []))  # before any (slow) config import
  base = grid.load_config(config) if config else None
  sections = grid.section_names(base) if base is not None else set()
  loaded = {config: base} if base is not None else {}

  if base is not None:  # name unknown fields before anything else
    for axis in axes:
      if not axis.bundle:
        grid.apply_overrides(base, {axis.key: axis.labels()[0]}, f'grid axis {axis.key!r}')
    grid.apply_overrides(base, fixed, '--config.FIELD / --set')
  per_axis = []
  for axis in axes:
    per_axis.append([(label, *_choice_overrides(axis, a, sections)) for label, a in axis.choices])
  owners = {}
  for axis, choices in zip(axes, per_axis):
    for field in {f for _, o, _ in choices for f in o}:
      if field in owners:
        raise grid.SweepError(f'config field {field!r} is set by both grid axes {owners[field]!r} '
                              f'and {axis.key!r}')
      owners[field] = axis.key
  for field in fixed:
    if field in owners:
      raise grid.SweepError(f'config field {field!r} is set by grid axis {owners[field]!r} and '
                            f'by --config.FIELD / --set')

  runs = []
  for combo in itertools.product(*per_axis):
    settings = {axis.key: label for axis, (label, _, _) in zip(axes, combo)}
    spec = next((grid.resolve_spec(s) for _, _, s in combo if s), config)
    name = grid.run_name(settings)
    if spec is None:
      raise grid.SweepError(f'run {name} has no config: pass --config or give every bundle of '
                            f'a method axis a config=PATH')
    if spec not in loaded:
      loaded[spec] = grid.load_config(spec)
    overrides = {k: v for _, o, _ in combo for k, v in o.items()}
    overrides.update(fixed)
    resolved = grid.apply_overrides(loaded[spec], overrides, f'run {name}')
    if check is not None:
      try:
        check(resolved)
      except ValueError as e:
        raise grid.SweepError(f'run {name}: {e} (fields valid only together belong in one bundle '
                              f'axis, e.g. softmax=a{{kind=sn, s=100, st=0}} | ...)') from None
    runs.append(Run(name, settings, overrides, spec))
  names = [r.name for r in runs]
  if len(set(names)) != len(names):
    raise grid.SweepError('two runs get the same workdir name; use labels that differ in letters, '
                          'digits or ._+-')
  return Plan(root, config, list(axes), dict(fixed), runs)


def _identity_text(identity):
  """'config X, grid a=1,2; b=x{..}, set k=v' of a sweep identity (as in sweep.json)."""
  axes = []
  for axis in identity.get('grid') or []:
    if 'bundles' in axis:
      axes.append(f"{axis['key']}=" + ' | '.join(
          f"{label}{{{', '.join(f'{k}={v}' for k, v in fields.items())}}}"
          for label, fields in axis['bundles'].items()))
    else:
      axes.append(f"{axis['key']}={','.join(axis['values'])}")
  fixed = ' '.join(f'{k}={v}' for k, v in (identity.get('set') or {}).items()) or '-'
  return f"config {identity.get('config')}, grid {'; '.join(axes)}, --set {fixed}"


def check_root(plan):
  """Raises grid.SweepError if the root holds a sweep of another config, grid or --set."""
  path = plan.root / MANIFEST
  if not path.exists():
    return
  try:
    old = json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise grid.SweepError(f'{path} is not valid JSON ({e}); move it away or use another --root')
  new = plan.identity()
  if any(old.get(k) != new[k] for k in new):
    raise grid.SweepError(f'{plan.root} holds a sweep of another config/grid '
                          f'({_identity_text(old)}), not of this one '
                          f'({_identity_text(new)}); use another --root')


# ---------------------------------------------------------------------------
# State of a workdir
# ---------------------------------------------------------------------------


def _read_json(path):
  try:
    return json.loads(pathlib.Path(path).read_text())
  except (OSError, json.JSONDecodeError):
    return None


def result_finished(result, config):
  """Whether a genotype.json dict is a finished search (of the config.json dict)."""
  if 'finished' in result:
    return bool(result['finished'])
  epochs = (config or {}).get('search', {}).get('epochs')
  return epochs is not None and result.get('epochs') == epochs


def run_state(workdir):
  """'finished', 'partial' (started, resumable) or 'new'."""
  workdir = pathlib.Path(workdir)
  result = _read_json(workdir / 'genotype.json')
  if result is not None and result_finished(result, _read_json(workdir / 'config.json')):
    return 'finished'
  if result is not None or (workdir / 'checkpoints').exists():
    return 'partial'
  return 'new'


def is_finished(workdir):
  return run_state(workdir) == 'finished'


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


def command(plan, run):
  """The search command line of a run."""
  return ([sys.executable, '-m', SEARCH_MODULE, f'--config={run.config}',
           f'--workdir={plan.root / run.name}'] +
          [f'--config.{k}={v}' for k, v in run.overrides.items()])


def write_json(path, obj):
  """Writes JSON atomically (a kill never leaves a half-written file)."""
  path = pathlib.Path(path)
  tmp = path.with_name(path.name + f'.tmp{os.getpid()}')
  tmp.write_text(json.dumps(obj, indent=2) + '\n')
  os.replace(tmp, path)


def _last_error(log_path):
  try:
    lines = pathlib.Path(log_path).read_text(errors='replace').splitlines()
  except OSError:
    return ''
  errors = [l for l in lines if l.startswith('error:')]
  return errors[-1] if errors else (lines[-1].strip() if lines else '')


class _Lock:
  """An exclusive flock on the root: two sweeps never run in one root at once."""

  def __init__(self, root):
    self.path = root / LOCK_NAME
    self.file = None

  def __enter__(self):
    self.file = open(self.path, 'w')
    try:
      fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      self.file.close()
      raise grid.SweepError(f'another sweep is running in {self.path.parent}') from None
    return self

  def __exit__(self, *exc):
    fcntl.flock(self.file, fcntl.LOCK_UN)
    self.file.close()


def execute(plan, parallel=1, on_event=None, poll_seconds=0.5):
  """Runs every unfinished run of a plan, `parallel` at a time.

  Finished runs are skipped (never started again); partial ones are started
  again and resume. sweep.json is rewritten atomically at every change. On
  KeyboardInterrupt / SystemExit the running searches are terminated, marked
  'interrupted', and the exception propagates.

  Args:
    plan: a Plan from `plan_sweep`.
    parallel: number of searches at once (>= 1).
    on_event: optional callable(event, entry) with event in 'skip', 'start',
      'finish', 'fail' and entry the run's sweep.json record.
    poll_seconds: how often to poll the subprocesses.

  Returns:
    The sweep.json dict; `[r for r in d['runs'] if r['status'] == 'failed']`
    are the failures.
  """
  if parallel < 1:
    raise grid.SweepError(f'--parallel must be >= 1, got {parallel}')
  plan.root.mkdir(parents=True, exist_ok=True)
  entries = []
  for run in plan.runs:
    state = run_state(plan.root / run.name)
    entries.append(dict(name=run.name, settings=run.settings, overrides=run.overrides,
                        config=run.config,
                        status='finished' if state == 'finished' else 'pending',
                        skipped=state == 'finished', resumed=state == 'partial'))
  manifest = dict(plan.identity(), runs=entries, updated=None)

  def save():
    manifest['updated'] = time.strftime('%Y-%m-%dT%H:%M:%S')
    write_json(plan.root / MANIFEST, manifest)

  def notify(event, entry):
    logging.info('sweep %s %s', event, entry['name'])
    if on_event is not None:
      on_event(event, entry)

  env = dict(os.environ)
  env['PYTHONPATH'] = os.pathsep.join([str(REPO_ROOT)] + [p for p in [env.get('PYTHONPATH')] if p])
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  with _Lock(plan.root):
    save()
    for entry in entries:
      if entry['skipped']:
        notify('skip', entry)
    todo = [(run, e) for run, e in zip(plan.runs, entries) if not e['skipped']]
    active = []
    try:
      while todo or active:
        while todo and len(active) < parallel:
          run, entry = todo.pop(0)
          workdir = plan.root / run.name
          workdir.mkdir(parents=True, exist_ok=True)
          log = open(workdir / LOG_NAME, 'a')
          cmd = command(plan, run)
          log.write(f'\n=== sweep {time.strftime("%Y-%m-%d %H:%M:%S")}: {" ".join(cmd)}\n')
          log.flush()
          proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env)
          entry.update(status='running', started=time.time(), returncode=None, error=None)
          active.append((proc, log, entry))
          save()
          notify('start', entry)
        time.sleep(poll_seconds)
        for item in list(active):
          proc, log, entry = item
          if proc.poll() is None:
            continue
          active.remove(item)
          log.close()
          entry.update(returncode=proc.returncode,
                       seconds=round(time.time() - entry.pop('started'), 1))
          if proc.returncode == 0 and is_finished(plan.root / entry['name']):
            entry['status'] = 'finished'
            notify('finish', entry)
          else:
            entry.update(status='failed', error=_last_error(plan.root / entry['name'] / LOG_NAME)
                         or f'exit code {proc.returncode}')
            notify('fail', entry)
          save()
    except BaseException:
      for proc, log, entry in active:
        proc.terminate()
      for proc, log, entry in active:
        try:
          proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
          proc.kill()
          proc.wait()
        log.close()
        entry.pop('started', None)
        entry['status'] = 'interrupted'
      save()
      raise
  return manifest
