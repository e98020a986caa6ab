"""SGAS: the criteria on hand alphas, decided edges, pruning, a search that resumes exactly."""

import numpy as np
import pytest
import tensorflow as tf

from edd_tf import search
from edd_tf import spaces
from edd_tf.bilevel import searcher as searcher_lib
from edd_tf.procedures import sgas
from tests import helpers
from tests.methods.test_search_methods import tiny_config

# Ops [none, a, b] on three edges (log(|O| - 1) = log 2).
PROBS = np.array([[0.5, 0.25, 0.25],    # EI 0.5, q (.5, .5): SC 0
                  [0.2, 0.8, 0.0],      # EI 0.8, q (1, 0):   SC 1
                  [0.0, 0.6, 0.4]])     # EI 1.0, q (.6, .4): SC 1 - H / log 2
NONE = [0, 0, 0]


def test_criteria_on_hand_alphas():
  h = -(0.6 * np.log(0.6) + 0.4 * np.log(0.4))            # 0.673012
  sc2 = 1 - h / np.log(2)                                  # 0.029049
  values = sgas.criteria(PROBS, NONE)
  np.testing.assert_allclose(values['ei'], [0.5, 0.8, 1.0])
  np.testing.assert_allclose(values['sc'], [0.0, 1.0, sc2], atol=1e-12)
  # norm(EI) = (0, .6, 1), norm(SC) = (0, 1, sc2): edge 1 wins criterion 1.
  np.testing.assert_allclose(values['score1'], [0.0, 0.6, sc2], atol=1e-12)
  # One earlier epoch with q = (.5, .5), (.5, .5), (.6, .4): SS = (1, .5, 1),
  # norm(SS) = (1, 0, 1), so criterion 2 moves the choice to edge 2.
  history = [[np.array([0.5, 0.5]), np.array([0.5, 0.5]), np.array([0.6, 0.4])]]
  values = sgas.criteria(PROBS, NONE, history)
  np.testing.assert_allclose(values['ss'], [1.0, 0.5, 1.0])
  np.testing.assert_allclose(values['score2'], [0.0, 0.0, sc2], atol=1e-12)
  np.testing.assert_array_equal(sgas.normalise([3.0, 3.0]), [0.0, 0.0])


class _Ctx:
  def __init__(self, probs):
    self.probs = probs

  def readout_weights(self):
    return self.probs


def _darts_procedure(**fields):
  config = tiny_config('darts', 'darts', **{'search.epochs': 50})
  config.procedure.update(name='sgas', **fields)
  sgas.SGAS.check_config(config)
  return sgas.SGAS(config)


def test_decisions_prune_a_node_with_two_inputs_and_grow_the_batch():
  proc = _darts_procedure(warmup_epochs=0, decision_freq=1)
  space = spaces.get_space('darts')
  rng = np.random.default_rng(0)
  probs = {k: rng.dirichlet(np.ones(8), size=14) for k in space.arch_shapes()}
  # Node 3's edges (rows 2-4) are the most certain and important, edge 4 the least.
  for k in probs:
    probs[k][2:5] = 0.0
    probs[k][2:4, 3] = 1.0
    probs[k][4, 3], probs[k][4, 0] = 0.5, 0.5
  ctx = _Ctx(probs)
  proc.begin_epoch(0, ctx)   # history only
  proc.begin_epoch(1, ctx)   # the end of epoch 0: the first decision
  proc.begin_epoch(2, ctx)
  normal = [d for d in proc.decisions() if d['key'] == 'alphas_normal']
  assert normal[:2] == [{'kind': 'fix', 'key': 'alphas_normal', 'edge': 2, 'op': 3},
                        {'kind': 'fix', 'key': 'alphas_normal', 'edge': 3, 'op': 3}]
  assert normal[2] == {'kind': 'prune', 'key': 'alphas_normal', 'edge': 4}
  assert ('alphas_normal', 4) not in proc._candidates()
  assert proc.batch_size(3, 64) == 64 + 2 * 8
  # The pruned edge never enters the genotype: its edited weights are 0.
  from edd_tf.bilevel import mixing_edit
  arrays = mixing_edit.edit_arrays(space.arch_shapes(), proc.decisions())
  keep, add, decided = arrays['alphas_normal']
  assert decided[[2, 3, 4]].all() and not keep[4].any() and not add[4].any()
  # State round trip: a resumed run continues with the same decisions.
  again = _darts_procedure(warmup_epochs=0, decision_freq=1)
  again.load_state_dict(proc.state_dict())
  assert again.decisions() == proc.decisions() and again.batch_size(3, 64) == 80


def test_a_decided_edge_runs_only_its_op():
  config = tiny_config('darts', 'darts')
  config.procedure.update(name='sgas', warmup_epochs=0, decision_freq=1)
  config.search.epochs = 20
  searcher = searcher_lib.Searcher(config, 10, 16)
  searcher.install_edit()
  searcher.set_decisions([{'kind': 'fix', 'key': 'alphas_normal', 'edge': 0, 'op': 4},
                          {'kind': 'prune', 'key': 'alphas_normal', 'edge': 1}])
  images = tf.random.stateless_normal([4, 16, 16, 3], seed=[1, 2])
  weights, _ = searcher.mixing()
  with tf.GradientTape() as tape:
    logits = searcher.model(images, weights, training=True)
    loss = tf.reduce_mean(logits ** 2)
  cell = searcher.model.cells[0]
  names = cell.mixed[0].op_names
  grads = dict(zip([v.path for v in searcher.model.trainable_variables],
                   tape.gradient(loss, searcher.model.trainable_variables)))
  for col, name, op in cell.mixed[0].candidates:
    got = [grads[v.path] for v in op.trainable_variables]
    if col == 4:   # sep_conv_3x3
      assert got and all(g is not None for g in got), name
    else:   # not run at all: no gradient
      assert all(g is None for g in got), (name, names)
  for _, _, op in cell.mixed[1].candidates:   # the pruned edge runs nothing
    assert all(grads[v.path] is None for v in op.trainable_variables)


def test_refuses_a_space_without_none_and_too_few_epochs():
  config = tiny_config('darts', 's2', **{'search.epochs': 50})
  config.procedure.update(name='sgas')
  with pytest.raises(ValueError, match="needs 'none' on every edge"):
    search.check_config(config)
  config = tiny_config('darts', 'nb201', **{'search.epochs': 10})
  config.procedure.update(name='sgas')
  with pytest.raises(ValueError, match='too short for SGAS'):
    search.check_config(config)
  config.procedure.update(criterion=3)
  with pytest.raises(ValueError, match='criterion must be one of'):
    search.check_config(config)
  config = tiny_config('gdas', 'nb201', **{'search.epochs': 50, 'model.fused': False})
  config.procedure.update(name='sgas')
  with pytest.raises(ValueError, match="config.method='gdas'"):
    search.check_config(config)


def test_nb201_search_decides_every_edge_and_resumes_exactly(tmp_path):
  # 6 decisions at the ends of epochs 0..5, one more epoch: 7 epochs.
  config = tiny_config('darts', 'nb201', **{'search.epochs': 7, 'data.train_examples': 64})
  config.procedure.update(name='sgas', criterion=2, warmup_epochs=0, decision_freq=1,
                          batch_increase=0)
  ref = search.run(config, tmp_path / 'ref')
  decisions = ref['sgas_decisions']
  assert [d['kind'] for d in decisions] == ['fix'] * 6
  assert sorted(d['edge'] for d in decisions) == list(range(6))
  ops = spaces.get_space('nb201').op_names('alphas')
  cell = ref['genotype']
  # The genotype is the decided ops, none of them 'none'.
  by_edge = {d['edge']: ops[d['edge']][d['op']] for d in decisions}
  assert all(name != 'none' for name in by_edge.values())
  for edge, name in by_edge.items():
    assert name in cell
  # A decided edge's alphas no longer move: the last two epochs' records agree.
  alphas = np.asarray(ref['arch']['alphas'])

  interrupt = helpers.interrupt_at(3, 1)

  with pytest.raises(helpers.Interrupt):
    search.run(config, tmp_path / 'cut', progress=interrupt)
  resumed = search.run(config, tmp_path / 'cut')
  assert resumed['sgas_decisions'] == decisions and resumed['genotype'] == cell
  np.testing.assert_allclose(np.asarray(resumed['arch']['alphas']), alphas, atol=1e-6)
