"""Tests for edd_tf.lookup.nb201_bench."""

import csv
import math
import pathlib

import pytest

from binaries import make_assets
from edd_tf.arch import genotype
from edd_tf.lookup import nb201_bench
from tests.helpers import requires_shared

SHARED_NB201 = pathlib.Path(__file__).resolve().parents[2].parent / 'shared' / 'data' / 'nb201'
ALL_SKIP = ('|skip_connect~0|+|skip_connect~0|skip_connect~1|'
            '+|skip_connect~0|skip_connect~1|skip_connect~2|')


@pytest.fixture(scope='module')
def table():
  return nb201_bench.NB201Table.load()


def test_shipped_table_has_every_cell(table):
  assert len(table) == 15625
  assert len(set(table.archs())) == 15625


def test_all_skip_cell_known_values(table):
  row = table.lookup(ALL_SKIP)
  assert row['index'] == 1835
  assert row['arch'] == ALL_SKIP
  assert round(row['cifar10_valid'], 2) == 39.77
  assert (round(row['cifar100_valid'], 2), round(row['cifar100_test'], 2)) == (15.03, 15.61)
  assert (round(row['imagenet16_valid'], 2), round(row['imagenet16_test'], 2)) == (16.43, 16.32)


def test_best_cifar10_validation(table):
  best = max(table.archs(), key=lambda a: table.lookup(a)['cifar10_valid'])
  row = table.lookup(best)
  assert (row['index'], round(row['cifar10_valid'], 2)) == (6111, 91.61)
  assert table.best('cifar10_valid') == row


def test_best_cifar100_test(table):
  row = table.best('cifar100_test')
  assert (row['index'], round(row['cifar100_test'], 2)) == (9930, 73.51)


def test_best_rejects_unknown_column(table):
  with pytest.raises(ValueError, match=r"unknown NB201 column 'cifar10_train'.*cifar10_valid"):
    table.best('cifar10_train')


@requires_shared
def test_shipped_table_equals_the_shared_csvs(table):
  for prefix, file_name in nb201_bench.NASGRAPH_FILES.items():
    with open(SHARED_NB201 / file_name, newline='') as f:
      rows = list(csv.DictReader(f))
    assert len(rows) == 15625
    for r in rows:
      row = table.lookup(r['arch str'])
      assert row['index'] == int(r['file id'])
      assert row[f'{prefix}_valid'] == float(r['validation accuracy'])
      assert row[f'{prefix}_test'] == float(r['test accuracy'])


@requires_shared
def test_make_assets_regenerates_the_shipped_table_byte_for_byte(tmp_path):
  out = tmp_path / 'nb201_results.csv.gz'
  make_assets.make_nb201_table(SHARED_NB201, out)
  assert out.read_bytes() == nb201_bench.ASSET.read_bytes()


@requires_shared
def test_license_ships_beside_the_table():
  shipped = nb201_bench.ASSET.parent / 'LICENSE.NASGraph-Public'
  assert shipped.read_bytes() == (SHARED_NB201 / 'LICENSE.NASGraph-Public').read_bytes()


@requires_shared
def test_load_from_shared_directory_equals_shipped(table):
  shared = nb201_bench.NB201Table.load(str(SHARED_NB201))
  assert shared.archs() == table.archs()
  assert shared.lookup(ALL_SKIP) == table.lookup(ALL_SKIP)
  assert shared.best('imagenet16_test') == table.best('imagenet16_test')


def _write_nasgraph_csv(path, table, prefix):
  """A NASGraph-format CSV (its header and columns) of one dataset of the shipped table."""
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['file id', 'arch str', 'cfg name', 'C', 'N', 'train accuracy',
                     'validation accuracy', 'test accuracy'])
    for arch in table.archs():
      row = table.lookup(arch)
      writer.writerow([row['index'], arch, 'infer.tiny', 16, 5, 0.0, row[f'{prefix}_valid'],
                       row[f'{prefix}_test']])


def test_load_one_nasgraph_csv_fills_only_its_dataset(table, tmp_path):
  path = tmp_path / 'NASGraph_nasbench201_cifar100.csv'
  _write_nasgraph_csv(path, table, 'cifar100')
  one = nb201_bench.NB201Table.load(path)
  row = one.lookup(ALL_SKIP)
  assert (round(row['cifar100_valid'], 2), round(row['cifar100_test'], 2)) == (15.03, 15.61)
  assert math.isnan(row['cifar10_valid']) and math.isnan(row['imagenet16_test'])
  assert 'cifar10 valid n/a' in nb201_bench.format_accuracies(row)


def test_every_arch_round_trips_through_genotype(table):
  for arch in table.archs():
    assert genotype.format_nb201(genotype.parse_nb201(arch)) == arch


def test_lookup_malformed_arch_raises(table):
  with pytest.raises(ValueError, match='unknown NB201 op'):
    table.lookup('|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|')


def test_lookup_arch_missing_from_a_partial_table(tmp_path):
  path = tmp_path / 'two.csv'
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(nb201_bench.COLUMNS)
    writer.writerow([1835, ALL_SKIP] + [10.0] * 6)
  partial = nb201_bench.NB201Table.load(str(path))
  assert len(partial) == 1 and partial.lookup(ALL_SKIP)['cifar100_test'] == 10.0
  missing = genotype.format_nb201(['none'] * 6)
  with pytest.raises(ValueError, match=r'NB201 arch .*none~0.* is not in the table'):
    partial.lookup(missing)


def test_lookup_returns_a_copy(table):
  table.lookup(ALL_SKIP)['cifar10_valid'] = -1.0
  assert table.lookup(ALL_SKIP)['cifar10_valid'] > 0


def test_load_missing_path_raises(tmp_path):
  with pytest.raises(ValueError, match='does not exist'):
    nb201_bench.NB201Table.load(str(tmp_path / 'nope.csv'))


def test_load_directory_without_the_csvs_raises(tmp_path):
  with pytest.raises(ValueError, match='lacks'):
    nb201_bench.NB201Table.load(str(tmp_path))


def test_format_accuracies(table):
  assert nb201_bench.format_accuracies(table.lookup(ALL_SKIP)) == (
      'NB201 #1835: cifar10 valid 39.77 test 39.99 | cifar100 valid 15.03 test 15.61 | '
      'ImageNet16-120 valid 16.43 test 16.32')
