"""The house rules of edd_tf/: imports run only downward, no cycles, short modules.

Rooms (packages, or the two entry-point modules) sit on floors; a module may
import its own room and rooms on lower floors only (WORKSPACE.md "Module
layout"). data, nets and arch import nothing above them.
"""

import ast

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / 'edd_tf'
FLOORS = {
    'core': 0,                      # loop, optim, precision, distribute, workdir, ...
    'arch': 1, 'data': 1,           # sn-softmax, schedules, genotypes; the input pipeline
    'nets': 2, 'lookup': 2,         # ops, mixed ops, final networks; benchmark tables
    'spaces': 3, 'methods': 3,      # plug-ins: spaces with their supernets; methods
    'bilevel': 4, 'final': 4,       # the search's step pair; the found network's stage
    'procedures': 4,                # what a search does over time (early stop, ...)
    'search': 5, 'train': 5,        # the two entry points
    'serving': 6, 'perf': 6, 'experiments': 6,
    'api': 7,                       # the Python API over all of it
}
MAX_LINES = 450


def _modules():
  return sorted(p for p in PACKAGE.rglob('*.py') if '__pycache__' not in p.parts)


def _name(path):
  rel = path.relative_to(ROOT).with_suffix('')
  parts = rel.parts[:-1] if rel.name == '__init__' else rel.parts
  return '.'.join(parts)


def _room(module):
  parts = module.split('.')
  return parts[1] if len(parts) > 1 else None   # None: edd_tf/__init__.py


def _imports(path):
  """edd_tf modules imported by `path` (module level and inside functions)."""
  tree = ast.parse(path.read_text())
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found.update(a.name for a in node.names if a.name.startswith('edd_tf'))
    elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith('edd_tf'):
      for a in node.names:
        sub = f'{node.module}.{a.name}'
        found.add(sub if (ROOT / (sub.replace('.', '/') + '.py')).exists()
                  or (ROOT / sub.replace('.', '/') / '__init__.py').exists() else node.module)
  return found


GRAPH = {_name(p): _imports(p) for p in _modules()}


def test_every_room_has_a_floor():
  rooms = {_room(m) for m in GRAPH} - {None}
  assert rooms <= set(FLOORS), f'rooms without a floor: {sorted(rooms - set(FLOORS))}'


@pytest.mark.parametrize('module', sorted(GRAPH))
def test_imports_run_downward(module):
  room = _room(module)
  if room is None:  # edd_tf/__init__.py: only the kernel choice, before TF loads
    assert GRAPH[module] <= {'edd_tf.core.kernels'}, GRAPH[module]
    return
  for target in GRAPH[module]:
    other = _room(target)
    assert other is not None, f'{module} imports the package root'
    assert other == room or FLOORS[other] < FLOORS[room], (
        f'{module} (floor {FLOORS[room]}) imports {target} (floor {FLOORS[other]})')


def test_no_import_cycles():
  state = {}

  def visit(module, stack):
    state[module] = 'open'
    for target in sorted(GRAPH.get(module, ())):
      if target not in GRAPH:
        continue
      if state.get(target) == 'open':
        raise AssertionError('import cycle: ' + ' -> '.join(stack + [module, target]))
      if target not in state:
        visit(target, stack + [module])
    state[module] = 'done'

  for module in sorted(GRAPH):
    if module not in state:
      visit(module, [])


@pytest.mark.parametrize('path', _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_are_short(path):
  lines = len(path.read_text().splitlines())
  assert lines <= MAX_LINES, f'{path.relative_to(ROOT)} has {lines} lines; split it (max {MAX_LINES})'
