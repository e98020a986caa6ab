"""Every experiment config in configs/ loads and passes validation."""

import importlib
import pathlib

import pytest

from edd_tf import methods
from edd_tf import search
from edd_tf import train

CONFIGS = sorted(p.stem for p in (pathlib.Path(__file__).resolve().parents[1] / 'configs').glob('*.py')
                 if p.stem != '__init__')


def test_there_are_configs():
  assert {'quickstart', 'nb201_cifar10_edd', 'nb201_cifar10_darts', 'train_quick'} <= set(CONFIGS)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_loads_and_validates(name):
  module = importlib.import_module(f'configs.{name}')
  config = module.get_config()
  if name.startswith('train_'):
    if not config.genotype:  # train_robust_darts asks for the search result
      config.genotype = 'DARTS_V2'
    train.check_config(config)
  else:
    search.check_config(config)
    # No stray top-level keys; a method may own a section named after it (config.drnas),
    # or the section it shares (`Method.config_section`: SDARTS-ADV reads config.sdarts_rs).
    section = methods.get_method_class(config.method).config_section or config.method
    assert set(config) - {section} == set(search.default_config())


def test_paper_recipe_values():
  edd = importlib.import_module('configs.nb201_cifar10_edd').get_config()
  assert (edd.softmax.kind, edd.softmax.st, edd.softmax.s) == ('sn', 1.0, 0.0)
  assert (edd.schedule.name, edd.schedule.lam, edd.schedule.rho) == ('edd', 0.06, 0.5)
  assert edd.search.epochs == 50 and edd.search.batch_size == 64
  w, a = edd.optim.weights, edd.optim.arch
  assert (w.lr, w.lr_min, w.momentum, w.nesterov, w.weight_decay, w.grad_clip) == (
      0.025, 0.001, 0.9, True, 5e-4, 5.0)
  assert (a.lr, a.beta1, a.beta2, a.weight_decay) == (3e-4, 0.5, 0.999, 1e-3)
  darts = importlib.import_module('configs.nb201_cifar10_darts').get_config()
  assert darts.softmax.kind == 'plain' and darts.schedule.name == 'constant'
  assert darts.schedule.t0 == 1.0


@pytest.mark.parametrize('arg', sorted(importlib.import_module('configs.cpu_protocol').METHODS))
def test_cpu_protocol_scales_each_recipe_the_same_way(arg):
  """configs/cpu_protocol.py:METHOD is METHOD's NB201 recipe at the protocol's size."""
  cpu = importlib.import_module('configs.cpu_protocol')
  config = cpu.get_config(arg)
  search.check_config(config)
  recipe = importlib.import_module(f'configs.{cpu.METHODS[arg]}').get_config()
  assert config.method == recipe.method and config.space == recipe.space
  assert (config.model.channels, config.model.cells_per_stage) == (8, 1)
  assert (config.search.epochs, config.data.train_examples, config.search.eval_examples) == (
      25, 10000, 2000)
  assert config.data.source == 'folder'
  scale = 1 if config.method == 'gaea' else 10   # EG's step size is not an Adam rate
  assert config.optim.arch.lr == pytest.approx(scale * recipe.optim.arch.lr)
  if 'beta_darts' in config:
    assert config.beta_darts.lam_epochs == 25
  if 'darts_minus' in config:
    assert (config.darts_minus.t_stop, config.darts_minus.t_max) == (25, 25)
  # The rest of the recipe is the method's own.
  assert config.optim.weights.to_dict() == recipe.optim.weights.to_dict()
  assert config.softmax.to_dict() == recipe.softmax.to_dict()


def test_cpu_protocol_default_is_the_edd_protocol_and_bad_method_is_named():
  cpu = importlib.import_module('configs.cpu_protocol')
  assert cpu.get_config().method == 'darts' and cpu.get_config().schedule.name == 'edd'
  assert cpu.get_config().optim.arch.lr == pytest.approx(3e-3)
  with pytest.raises(ValueError, match=r"cpu_protocol.py:gdas.*'drnas'"):
    cpu.get_config('gdas')


def test_cpu_protocol_rivals_grid_names_every_rival():
  from edd_tf.experiments import grid
  root = pathlib.Path(__file__).resolve().parents[1]
  text = (root / 'configs' / 'grids' / 'cpu_protocol_rivals.txt').read_text()
  axes = grid.parse_grid(text)
  method = next(a for a in axes if a.key == 'method')
  cpu = importlib.import_module('configs.cpu_protocol')
  assert set(method.labels()) == set(cpu.METHODS) - {'edd', 'darts_minus'}


@pytest.mark.parametrize('arg', sorted(importlib.import_module('configs.cpu_protocol').PROCEDURES))
def test_cpu_protocol_scales_each_procedure_and_its_grid_names_them(arg):
  from edd_tf import procedures
  from edd_tf.experiments import grid
  cpu = importlib.import_module('configs.cpu_protocol')
  config = cpu.get_config(arg)
  search.check_config(config)   # the scaled schedule fits the 25 epochs
  assert (config.search.epochs, config.model.channels, config.optim.arch.lr) == (
      25, 8, pytest.approx(3e-3))
  proc = procedures.build_procedure(config)
  if arg.startswith('darts_pt'):
    assert proc.extra_epochs() == 6 and proc.fix_alpha == (arg == 'darts_pt_fix')
  else:
    assert (proc.warmup, proc.every) == (4, 3)
  root = pathlib.Path(__file__).resolve().parents[1]
  text = (root / 'configs' / 'grids' / 'cpu_protocol_procedures.txt').read_text()
  method = next(a for a in grid.parse_grid(text) if a.key == 'method')
  assert set(method.labels()) == set(cpu.PROCEDURES)


def _readme_config_specs():
  """Every config the README names, bare (`nb201_cifar10_edd.py`) or as a path with an argument."""
  import re
  root = pathlib.Path(__file__).resolve().parents[1]
  text = (root / 'README.md').read_text()
  specs = set(re.findall(r'`(?:configs/)?([a-z0-9_]+\.py(?::[a-z0-9_,.=+-]+)?)', text))
  not_configs = {p.name for p in (root / 'examples').glob('*.py')} | {'x.py'}  # x: a placeholder
  return sorted(s for s in specs if s.split(':')[0] not in not_configs)


@pytest.mark.parametrize('spec', _readme_config_specs())
def test_every_config_the_readme_names_exists_and_loads(spec):
  name, _, arg = spec.partition(':')
  root = pathlib.Path(__file__).resolve().parents[1]
  assert (root / 'configs' / name).exists(), f'README names configs/{name}, which does not exist'
  module = importlib.import_module(f'configs.{name[:-3]}')
  config = module.get_config(arg) if arg else module.get_config()
  if not name.startswith('train_'):
    search.check_config(config)


def test_darts_es_watches_a_second_method_edd():
  es = importlib.import_module('configs.darts_es')
  edd = es.get_config('s3,cifar100,edd')
  recipe = importlib.import_module('configs.robust_darts').get_config('s3,cifar100')
  assert (edd.method, edd.softmax.kind, edd.schedule.name) == ('darts', 'sn', 'edd')
  assert edd.optim.to_dict() == recipe.optim.to_dict()
  assert (edd.procedure.name, edd.search.hessian_every_epochs) == ('darts_es', 2)
  ada = es.get_config('darts,cifar10,ada,edd')
  assert (ada.procedure.name, ada.procedure.max_weight_decay, ada.space) == (
      'darts_ada', 3e-2, 'darts')
  assert es.get_config('s2,cifar10').method == 'darts_2nd'
  with pytest.raises(ValueError, match=r'expected SPACE,DATASET\[,ada\]\[,edd\]'):
    es.get_config('s2,cifar10,edd,edd')
