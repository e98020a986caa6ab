"""DARTS+PT: the op choice, the topology step, the event schedule, a search that resumes exactly."""

import json

import numpy as np
import pytest

from configs import darts_pt as darts_pt_config
from edd_tf import search
from edd_tf import spaces
from edd_tf.bilevel import mixing_edit
from edd_tf.procedures import perturbation as pt
from tests import helpers
from tests.methods.test_search_methods import tiny_config


def test_choose_op_masks_the_op_whose_removal_costs_most_ties_lowest():
  scores = [(1.0, 0.50), (2.0, 0.30), (1.5, 0.30), (0.9, 0.60)]   # (loss, acc) per masked op
  assert pt.choose_op(scores, 'acc') == 1          # argmin acc, the tie 1 / 2 to 1
  assert pt.choose_op(scores, 'loss') == 1         # argmax loss
  assert pt.choose_op([(1.0, 0.5)] * 3, 'acc') == 0
  # A node's 4 edges: the accuracy after removing each; the 2 whose removal hurts
  # least (highest accuracy after it) go, the 2 that hurt most stay.
  assert pt.edges_to_prune([0.7, 0.2, 0.9, 0.4]) == [0, 2]
  assert pt.edges_to_prune([0.5, 0.5, 0.5]) == [0]
  assert pt.edges_to_prune([0.1, 0.2]) == []


def test_event_schedule_of_the_public_code():
  assert pt.event_epochs(25, 5) == [0, 5, 10, 15, 20, 24]   # NB201: 6 op decisions
  darts = pt.event_epochs(81, 5)
  assert len(darts) == 17 and darts[-1] == 80 and darts[13] == 65   # 14 op + 3 topology
  assert pt.events_needed(spaces.get_space('nb201')) == 6
  assert pt.events_needed(spaces.get_space('darts_no_none')) == 17   # nodes 3, 4, 5


class _Ctx:
  """A hand-made supernet: accuracy = sum of contribution x edited mixing weight."""

  def __init__(self, proc, contributions):
    self.proc, self.c, self.resets, self.passes = proc, contributions, 0, 0
    self.shapes = {k: v.shape for k, v in contributions.items()}

  def _edit(self, weights, decisions):
    arrays = mixing_edit.edit_arrays(self.shapes, decisions)
    return {k: weights[k] * arrays[k][0] + arrays[k][1] for k in self.shapes}

  def mixing_weights(self):
    uniform = {k: np.full(s, 1.0 / s[1]) for k, s in self.shapes.items()}
    return self._edit(uniform, self.proc.decisions())

  def validation_score(self, weights, *, examples=0, seed=0, decisions=None):
    del examples, seed
    self.passes += 1
    w = self._edit(weights, self.proc.decisions() if decisions is None else decisions)
    acc = float(sum((self.c[k] * w[k]).sum() for k in self.shapes))
    return -acc, acc

  def reset_weight_momentum(self):
    self.resets += 1


def _procedure(space='darts', seed=0, **fields):
  config = darts_pt_config.get_config(space)
  config.seed = seed
  config.procedure.update(**fields)
  pt.DartsPT.check_config(config)
  return pt.DartsPT(config)


def _contributions(seed=3):
  rng = np.random.default_rng(seed)
  c = {k: rng.uniform(0.0, 1.0, (14, 7)) for k in ('alphas_normal', 'alphas_reduce')}
  c['alphas_normal'][3, 2] = c['alphas_normal'][3, 5] = 2.0   # a tie: op 2 wins
  return c


def _tune(proc, ctx, epochs):
  start = proc.config.search.epochs
  for t in epochs:
    proc.begin_epoch(start + t, ctx)
    proc.begin_epoch(start + t, ctx)   # called again on a resume inside the epoch: no new work


def test_hand_made_supernet_fixes_the_costliest_op_and_keeps_two_best_inputs():
  proc = _procedure('darts')
  c = _contributions()
  ctx = _Ctx(proc, c)
  proc.begin_epoch(proc.config.search.epochs - 1, ctx)   # a search epoch: nothing
  assert proc.decisions() == [] and ctx.resets == 0
  _tune(proc, ctx, range(81))
  assert ctx.resets == 1   # one fresh SGD for the fine-tuning
  fixed = {(d['key'], d['edge']): d['op'] for d in proc.decisions() if d['kind'] == 'fix'}
  pruned = {(d['key'], d['edge']) for d in proc.decisions() if d['kind'] == 'prune'}
  kept_best = {}
  for key in c:
    for edge in range(14):
      op = fixed.get((key, edge))
      if (key, edge) not in pruned:
        assert op == int(np.argmax(c[key][edge])), (key, edge)   # first of the tie: 2
    for start, end in spaces.get_space('darts_no_none').edge_groups(key):
      alive = [e for e in range(start, end) if (key, e) not in pruned]
      strength = [c[key][e].max() for e in range(start, end)]
      kept_best[key, start] = sorted(alive) == sorted(start + i for i in np.argsort(strength)[-2:])
      assert len(alive) == 2, (key, start, alive)
  assert all(kept_best.values()), kept_best
  assert fixed[('alphas_normal', 3)] == 2
  # 14 op events x 7 masks x 2 cells, then nodes 3, 4, 5 (3 + 4 + 5 removals) x 2.
  assert ctx.passes == 14 * 7 * 2 + 12 * 2
  # The genotype of the decisions: every node keeps its 2 kept edges' ops.
  weights = ctx.mixing_weights()
  cell = spaces.get_space('darts_no_none').derive(weights)
  names = spaces.get_space('darts_no_none').op_names('alphas_normal')
  chosen = {names[e][fixed[('alphas_normal', e)]] for e in range(14)
            if ('alphas_normal', e) not in pruned}
  assert {op for op, _ in cell.normal} <= chosen


def test_interrupted_projection_resumes_with_the_same_ops_in_the_same_order():
  c = _contributions(seed=5)
  whole = _procedure('darts', seed=7)
  _tune(whole, _Ctx(whole, c), range(81))
  first = _procedure('darts', seed=7)
  _tune(first, _Ctx(first, c), range(37))
  state = json.loads(json.dumps(first.state_dict()))   # as the checkpoint keeps it
  second = _procedure('darts', seed=7)
  second.load_state_dict(state)
  ctx = _Ctx(second, c)
  _tune(second, ctx, range(36, 81))   # epoch 36 again: resumed inside it
  assert second.decisions() == whole.decisions()
  assert ctx.resets == 0   # the fine-tuning's SGD was reset before the cut
  # The edge order is the seed's: another seed visits the edges in another order.
  other = _procedure('darts', seed=8)
  _tune(other, _Ctx(other, c), range(5))
  assert ([d['edge'] for d in other.decisions()]
          != [d['edge'] for d in whole.decisions()[:len(other.decisions())]])


def test_learning_rate_alpha_updates_and_config_errors():
  nb201 = _procedure('nb201')
  e = nb201.config.search.epochs
  assert nb201.total == 25 and nb201.extra_epochs() == 25
  assert nb201.learning_rate(e - 1, 0.0011) == 0.0011   # the search's own
  assert nb201.learning_rate(e + 12, 0.0011) == 0.0025   # constant during the tuning
  darts = _procedure('darts')
  e = darts.config.search.epochs
  want = 0.001 + 0.0015 * (1 + np.cos(np.pi * 40 / 81)) / 2
  np.testing.assert_allclose(darts.learning_rate(e + 40, 0.0), want)
  assert darts.updates_arch(e + 3, True) and not darts.updates_arch(3, False)
  fixed = _procedure('nb201', fix_alpha=True)
  assert not fixed.updates_arch(0, True) and not fixed.updates_arch(120, True)

  config = darts_pt_config.get_config('darts')
  config.procedure.tune_epochs = 60
  with pytest.raises(ValueError, match=r'tune_epochs=60 gives 13 .* needs 17: tune_epochs >= 77'):
    search.check_config(config)
  config = darts_pt_config.get_config('nb201')
  config.procedure.criterion = 'entropy'
  with pytest.raises(ValueError, match=r"criterion='entropy'; allowed: \['acc', 'loss'\]"):
    search.check_config(config)
  config = darts_pt_config.get_config('nb201')
  config.procedure.proj_every = 0
  with pytest.raises(ValueError, match='proj_every must be an integer >= 1'):
    search.check_config(config)
  with config.procedure.unlocked():
    config.procedure.warmup = 3
  with pytest.raises(ValueError, match=r"unknown config.procedure field\(s\) \['warmup'\]"):
    search.check_config(config)
  config = darts_pt_config.get_config('nb201')
  config.method = 'gdas'
  with pytest.raises(ValueError, match="config.method='gdas'"):
    search.check_config(config)
  with pytest.raises(ValueError, match='expected SPACE'):
    darts_pt_config.get_config('nb201,cifar100')


def test_configs_follow_the_public_recipe():
  nb201 = darts_pt_config.get_config('nb201')
  assert (nb201.space, nb201.method, nb201.search.epochs) == ('nb201', 'darts', 100)
  darts = darts_pt_config.get_config('darts')
  assert darts.space == 'darts_no_none' and darts.search.epochs == 50   # the public s5
  assert darts_pt_config.get_config('s3,cifar100').data.name == 'cifar100'
  assert darts_pt_config.get_config('s2,sdarts_rs').method == 'sdarts_rs'
  edd = darts_pt_config.get_config('nb201,edd')
  assert (edd.softmax.kind, edd.schedule.name) == ('sn', 'edd')
  assert darts_pt_config.get_config('s4,fix_alpha').procedure.fix_alpha


def test_validation_score_restores_batchnorm_and_the_edit(tmp_path):
  config = tiny_config('darts', 'nb201', **{'search.epochs': 1})
  config.procedure.update(name='darts_pt', tune_epochs=6, proj_every=1)
  task = search.SearchTask(config, tmp_path)
  fix = [{'kind': 'fix', 'key': 'alphas', 'edge': 0, 'op': 3}]
  task.searcher.set_decisions(fix)
  ctx = search.SearchContext(task, 1)
  weights = ctx.mixing_weights()
  np.testing.assert_array_equal(weights['alphas'][0], [0, 0, 0, 1, 0])
  before = [v.numpy() for v in task.searcher.model.non_trainable_variables]
  plain = ctx.validation_score(weights, seed=0)
  assert plain == ctx.validation_score(weights, seed=0)   # the same batches per seed
  removed = ctx.validation_score(weights, seed=0,
                                 decisions=[{'kind': 'prune', 'key': 'alphas', 'edge': 0}])
  assert removed != plain
  assert task.searcher.edit.decisions == fix
  for v, value in zip(task.searcher.model.non_trainable_variables, before):
    np.testing.assert_array_equal(v.numpy(), value)


def test_nb201_search_projects_every_edge_and_resumes_exactly(tmp_path):
  # 1 search epoch, then 6 tune epochs with an event at each: 6 decisions.
  config = tiny_config('darts', 'nb201', **{'search.epochs': 1})
  config.procedure.update(name='darts_pt', tune_epochs=6, proj_every=1)
  ref = search.run(config, tmp_path / 'ref')
  assert len(ref['history']) == 7 and ref['finished']
  decisions = ref['pt_decisions']
  assert [d['kind'] for d in decisions] == ['fix'] * 6
  assert sorted(d['edge'] for d in decisions) == list(range(6))
  ops = spaces.get_space('nb201').op_names('alphas')
  by_edge = [ops[e][next(d['op'] for d in decisions if d['edge'] == e)] for e in range(6)]
  assert ref['genotype'] == spaces.get_space('nb201').derive(
      {'alphas': np.eye(5)[[ops[e].index(by_edge[e]) for e in range(6)]]})

  interrupt = helpers.interrupt_at(3, 1)   # inside the tuning, after 3 projections

  with pytest.raises(helpers.Interrupt):
    search.run(config, tmp_path / 'cut', progress=interrupt)
  resumed = search.run(config, tmp_path / 'cut')
  assert resumed['pt_decisions'] == decisions and resumed['genotype'] == ref['genotype']
  np.testing.assert_allclose(np.asarray(resumed['arch']['alphas']),
                             np.asarray(ref['arch']['alphas']), atol=1e-6)
