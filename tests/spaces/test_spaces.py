"""Search spaces as plug-ins (edd_tf/spaces): op lists, read-out, genotypes, checks."""

import ml_collections
import numpy as np
import pytest

from edd_tf.arch import genotype as genotype_lib
from edd_tf import spaces
from edd_tf.spaces import darts as darts_space

NB201_CELL = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|'
              '+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|')


def test_registry_lists_known_spaces():
  assert set(spaces.SPACES) == {'nb201', 'nb201_no_none', 'darts', 'darts_no_none', 's1', 's2',
                                's3', 's4'}
  with pytest.raises(ValueError, match=r"unknown search space 'dartz'.*'darts'.*'nb201'"):
    spaces.get_space('dartz')


def test_arch_shapes():
  assert spaces.get_space('nb201').arch_shapes() == {'alphas': (6, 5)}
  assert spaces.get_space('darts').arch_shapes() == {'alphas_normal': (14, 8),
                                                     'alphas_reduce': (14, 8)}
  for name, ops in (('s1', 2), ('s2', 2), ('s3', 3), ('s4', 2)):
    assert spaces.get_space(name).arch_shapes() == {'alphas_normal': (14, ops),
                                                    'alphas_reduce': (14, ops)}


def test_nb201_without_none_reads_out_nb201_strings():
  space = spaces.get_space('nb201_no_none')
  assert space.ops == ('skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3')
  assert space.arch_shapes() == {'alphas': (6, 4)} and space.family == 'nb201'
  theta = np.full((6, 4), 0.1)
  theta[np.arange(6), [2, 2, 3, 0, 2, 0]] = 0.7   # column 0 is skip_connect here, not none
  assert space.derive({'alphas': theta}) == NB201_CELL
  np.testing.assert_array_equal(space.discretize(NB201_CELL)['alphas'],
                                (theta == 0.7).astype(np.float32))
  with pytest.raises(ValueError):
    space.discretize('|none~0|+|none~0|none~1|+|none~0|none~1|none~2|')


def test_s1_op_lists_are_robust_darts_verbatim():
  s1 = spaces.get_space('s1')
  normal, reduce = s1.op_names('alphas_normal'), s1.op_names('alphas_reduce')
  assert normal[0] == ('skip_connect', 'dil_conv_3x3')
  assert normal[5] == ('max_pool_3x3', 'skip_connect')
  assert normal[12] == normal[13] == ('dil_conv_3x3', 'dil_conv_5x5')
  assert reduce[1] == ('max_pool_3x3', 'dil_conv_3x3')
  assert reduce[6] == ('max_pool_3x3', 'sep_conv_3x3')
  assert reduce[13] == ('skip_connect', 'dil_conv_5x5')
  assert spaces.get_space('s3').op_names('alphas_normal')[7] == (
      'none', 'skip_connect', 'sep_conv_3x3')
  assert spaces.get_space('s4').op_names('alphas_reduce')[0] == ('noise', 'sep_conv_3x3')
  assert spaces.get_space('darts').op_names('alphas_normal')[3] == genotype_lib.DARTS_OPS


def test_darts_edge_groups_and_names():
  space = spaces.get_space('darts')
  assert space.edge_groups('alphas_normal') == [(0, 2), (2, 5), (5, 9), (9, 14)]
  names = space.edge_names('alphas_normal')
  assert names[0] == '0<-c_{k-2}' and names[1] == '0<-c_{k-1}' and names[4] == '1<-0'
  assert spaces.get_space('nb201').edge_names('alphas') == ['1<-0', '2<-0', '2<-1', '3<-0',
                                                             '3<-1', '3<-2']


def _weights(rows):
  return np.asarray(rows, np.float64)


def test_darts_readout_skips_none_and_keeps_top_two_edges():
  space = spaces.get_space('darts')
  ops = genotype_lib.DARTS_OPS
  w = np.full((14, 8), 0.01)
  w[:, ops.index('none')] = 0.9          # 'none' is the largest weight everywhere
  # node 0 (edges 0, 1): sep_conv_3x3 from input 1 beats max_pool from input 0.
  w[0, ops.index('max_pool_3x3')] = 0.3
  w[1, ops.index('sep_conv_3x3')] = 0.5
  # node 1 (edges 2, 3, 4): edge 4 (from node 0 = state 2) and edge 2 (input 0) win.
  w[2, ops.index('dil_conv_5x5')] = 0.4
  w[3, ops.index('skip_connect')] = 0.2
  w[4, ops.index('avg_pool_3x3')] = 0.6
  g = space.derive({'alphas_normal': w, 'alphas_reduce': w})
  assert g.normal[:4] == [('sep_conv_3x3', 1), ('max_pool_3x3', 0),
                          ('avg_pool_3x3', 2), ('dil_conv_5x5', 0)]
  assert g.normal_concat == [2, 3, 4, 5] and len(g.reduce) == 8
  assert all(op != 'none' for op, _ in g.normal + g.reduce)


def test_readout_without_none_is_plain_argmax_so_noise_can_win():
  space = spaces.get_space('s4')     # ops ('noise', 'sep_conv_3x3') on every edge
  w = np.tile([0.8, 0.2], (14, 1))
  g = space.derive({'alphas_normal': w, 'alphas_reduce': w})
  assert {op for op, _ in g.normal} == {'noise'}


def test_readout_of_s1_uses_each_edges_own_ops():
  space = spaces.get_space('s1')
  w = np.tile([0.1, 0.9], (14, 1))   # the second op of every edge
  g = space.derive({'alphas_normal': w, 'alphas_reduce': w})
  normal_ops = space.op_names('alphas_normal')
  for k, (op, src) in enumerate(g.normal):
    start, _ = darts_space.GROUPS[k // 2]
    assert op == normal_ops[start + src][1]


def test_discretize_inverts_derive():
  space = spaces.get_space('darts')
  rng = np.random.default_rng(0)
  w = {k: rng.random(s) for k, s in space.arch_shapes().items()}
  genotype = space.derive(w)
  one_hot = space.discretize(genotype)
  for key in space.arch_shapes():
    assert one_hot[key].sum() == 8                       # 2 edges per node, one op each
    assert set(one_hot[key].sum(1).tolist()) <= {0.0, 1.0}
  again = space.derive(one_hot)   # same cell; ties keep edge order within a node

  def nodes(pairs):
    return [sorted(pairs[i:i + 2], key=lambda p: p[1]) for i in range(0, 8, 2)]

  assert nodes(again.normal) == nodes(genotype.normal)
  assert nodes(again.reduce) == nodes(genotype.reduce)


def test_nb201_discretize_and_json_round_trip():
  space = spaces.get_space('nb201')
  one_hot = space.discretize(NB201_CELL)
  assert space.derive(one_hot) == NB201_CELL
  assert space.parse_genotype(space.genotype_to_json(NB201_CELL)) == NB201_CELL


def test_darts_genotype_json_round_trip():
  space = spaces.get_space('darts')
  g = genotype_lib.GENOTYPES['DARTS_V2']
  assert space.parse_genotype(space.genotype_to_json(g)) == g
  assert space.parse_genotype(str(g)) == g


@pytest.mark.parametrize('space_name, value, match', [
    ('darts', NB201_CELL, 'Genotype|genotype'),
    ('nb201', str(genotype_lib.GENOTYPES['DARTS_V2']), 'NB201'),
    ('s2', genotype_lib.GENOTYPES['DARTS_V2'], r"not an edge of space 's2'.*skip_connect"),
    ('darts', 'Genotype(normal=[(', 'invalid|genotype|syntax|never closed'),
    ('darts', {'normal': [['sep_conv_3x3', 0]]}, 'needs normal, normal_concat'),
])
def test_genotype_of_another_space_or_malformed_is_refused(space_name, value, match):
  with pytest.raises((ValueError, SyntaxError), match=match):
    spaces.get_space(space_name).parse_genotype(value)


def test_genotype_json_names_its_space():
  space, g = spaces.space_of_genotype_json({'space': 's3', 'genotype': genotype_lib.genotype_to_dict(
      genotype_lib.Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)] * 4,
                            normal_concat=[2, 3, 4, 5],
                            reduce=[('sep_conv_3x3', 0), ('skip_connect', 1)] * 4,
                            reduce_concat=[2, 3, 4, 5]))})
  assert space.name == 's3' and space.family == 'darts' and g.normal[0] == ('sep_conv_3x3', 0)
  with pytest.raises(ValueError, match=r'"space" must be one of'):
    spaces.space_of_genotype_json({'genotype': NB201_CELL})


def _model_config(**kw):
  c = dict(channels=16, layers=8, cells_per_stage=5, partial_channels=1, fused=True)
  c.update(kw)
  return ml_collections.ConfigDict(c)


def test_partial_channels_must_divide_channels():
  with pytest.raises(ValueError, match=r'partial_channels=3 must divide config.model.channels=16'):
    spaces.get_space('darts').check_model_config(_model_config(partial_channels=3))
  with pytest.raises(ValueError, match='partial_channels must be 1 for space nb201'):
    spaces.get_space('nb201').check_model_config(_model_config(partial_channels=4))
  with pytest.raises(ValueError, match='config.model.layers must be >= 3'):
    spaces.get_space('darts').check_model_config(_model_config(layers=2))


def test_nb201_benchmark_from_nats_bench_file(monkeypatch):
  """config.benchmark.nats_bench switches the look-up to the official file's API."""
  from edd_tf.lookup import nats_bench  # pylint: disable=g-import-not-at-top
  calls = []
  monkeypatch.setattr(nats_bench, 'load_benchmark', lambda path: calls.append(path) or 'TABLE')
  config = ml_collections.ConfigDict(dict(nb201_table='', nats_bench='/data/NATS-tss.pickle'))
  assert spaces.get_space('nb201').load_benchmark(config) == 'TABLE'
  assert calls == ['/data/NATS-tss.pickle']
  config.nats_bench = ''
  assert len(spaces.get_space('nb201').load_benchmark(config)) == 15625
