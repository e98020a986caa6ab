"""Genotype read-out, parsing and formatting (edd_tf/arch/genotype.py)."""

import csv

import numpy as np
import pytest

from edd_tf.arch import genotype
from edd_tf.lookup import nb201_bench
from tests.helpers import SHARED_DATA
from tests.helpers import requires_shared


def test_nb201_round_trip_all_shipped_cells():
  archs = nb201_bench.NB201Table.load().archs()
  assert len(archs) == 15625
  for arch in archs:
    assert genotype.format_nb201(genotype.parse_nb201(arch)) == arch
  assert len({genotype.parse_nb201(a) for a in archs}) == 5 ** 6


@requires_shared
def test_nb201_round_trip_shared_csv():
  path = SHARED_DATA / 'nb201' / 'NASGraph_nasbench201_cifar10.csv'
  with open(path) as f:
    archs = [row['arch str'] for row in csv.DictReader(f)]
  assert len(archs) == 15625
  assert all(genotype.format_nb201(genotype.parse_nb201(a)) == a for a in archs)


def test_nb201_argmax_keeps_none():
  alphas = np.zeros((6, 5))
  alphas[:, 0] = 1.0  # 'none' wins everywhere (reference sect. 2.4)
  assert genotype.derive_nb201(alphas) == '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|'


def test_nb201_edge_order_is_autodl_sorted_keys():
  alphas = np.zeros((6, 5))
  for k, col in enumerate([1, 2, 3, 4, 1, 2]):
    alphas[k, col] = 1.0
  assert genotype.derive_nb201(alphas) == (
      '|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+'
      '|avg_pool_3x3~0|skip_connect~1|nor_conv_1x1~2|')


def test_nb201_one_hot_inverts_derive():
  arch = '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'
  assert genotype.derive_nb201(genotype.nb201_one_hot(arch)) == arch


@pytest.mark.parametrize('bad, match', [
    ('|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|', 'unknown NB201 op'),
    ('|none~0|+|none~0|none~1|', 'nodes'),
    ('|none~1|+|none~0|none~1|+|none~0|none~1|none~2|', 'must read'),
    ('|none~0|+|none~0|+|none~0|none~1|none~2|', 'needs 2 inputs'),
])
def test_nb201_parse_errors(bad, match):
  with pytest.raises(ValueError, match=match):
    genotype.parse_nb201(bad)


def test_darts_derive_top2_edges_without_none():
  weights = np.full((14, 8), 0.01)
  # Node 2 (edges 0, 1): 'none' dominates edge 0 but is ignored for ranking.
  weights[0, 0] = 0.9
  weights[0, 4] = 0.05   # sep_conv_3x3 from input 0
  weights[1, 3] = 0.5    # skip_connect from input 1
  # Node 3 (edges 2-4): edges from inputs 1 and 2 are strongest.
  weights[3, 6] = 0.7
  weights[4, 1] = 0.6
  g = genotype.derive_darts(weights, weights)
  assert g.normal[:2] == [('skip_connect', 1), ('sep_conv_3x3', 0)]
  assert g.normal[2:4] == [('dil_conv_3x3', 1), ('max_pool_3x3', 2)]
  assert g.normal_concat == [2, 3, 4, 5]


def test_darts_literal_and_dict_round_trip():
  for name, g in genotype.GENOTYPES.items():
    assert genotype.genotype_from_dict(genotype.genotype_to_dict(g)) == g, name
  text = ("Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0)] * 4, normal_concat=range(2, 6), "
          "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)] * 4, reduce_concat=range(2, 6))")
  with pytest.raises(ValueError):
    genotype.parse_darts(text)  # '* 4' is not a literal
  text = str(genotype.GENOTYPES['DARTS_V2'])
  assert genotype.parse_darts(text) == genotype.GENOTYPES['DARTS_V2']
