"""edd_tf/final/genotypes.py: config.genotype resolved for config.network."""

import json

import pytest

from edd_tf.arch import genotype as genotype_lib
from edd_tf.final import genotypes
from tests.helpers import NB201_CELL


def test_nb201_genotype_for_darts_network_is_rejected():
  with pytest.raises(ValueError, match="NB201 cell.*config.network='darts_cifar'"):
    genotypes.resolve_genotype(NB201_CELL, 'darts_cifar')


def test_genotype_from_search_workdir(tmp_path):
  (tmp_path / 'genotype.json').write_text(
      json.dumps({'space': 'nb201', 'genotype': NB201_CELL, 'history': []}))
  assert genotypes.resolve_genotype(str(tmp_path), 'nb201') == NB201_CELL
  assert genotypes.resolve_genotype(str(tmp_path / 'genotype.json'), 'nb201') == NB201_CELL


def test_darts_genotype_from_genotype_json_and_literal(tmp_path):
  darts_v2 = genotype_lib.GENOTYPES['DARTS_V2']
  (tmp_path / 'genotype.json').write_text(json.dumps(
      {'space': 'darts', 'genotype': genotype_lib.genotype_to_dict(darts_v2)}))
  assert genotypes.resolve_genotype(str(tmp_path), 'darts_cifar') == darts_v2
  assert genotypes.resolve_genotype(str(darts_v2), 'darts_imagenet') == darts_v2
  assert genotypes.resolve_genotype('DARTS_V2', 'darts_cifar') == darts_v2


def test_missing_genotype_path_is_an_error(tmp_path):
  with pytest.raises(ValueError, match='no such file'):
    genotypes.resolve_genotype(str(tmp_path / 'nope' / 'genotype.json'), 'nb201')


def test_empty_genotype_says_what_to_set():
  with pytest.raises(ValueError, match='--config.genotype='):
    genotypes.resolve_genotype('', 'darts_cifar')


def test_genotype_json_and_text_of_both_families():
  darts_v2 = genotype_lib.GENOTYPES['DARTS_V2']
  assert genotypes.genotype_to_json(NB201_CELL) == genotypes.genotype_text(NB201_CELL) == NB201_CELL
  assert genotypes.genotype_to_json(darts_v2) == genotype_lib.genotype_to_dict(darts_v2)
  assert genotypes.genotype_text(darts_v2) == str(darts_v2)
  assert genotypes.resolve_genotype(genotypes.genotype_to_json(darts_v2), 'darts_cifar') == darts_v2
