"""NAS-Bench-201 results lookup (200-epoch accuracies, mean over seeds).

The shipped table `assets/nb201_results.csv.gz` holds all 15,625 NB201 cells
(made by `python -m binaries.make_assets` from the NASGraph-Public CSVs, see
assets/README.md). Accuracies are in percent:
  * cifar10_*: NB201 'cifar10-valid' (trained on 25k train images; valid = the
    other 25k train images, test = the CIFAR-10 test set);
  * cifar100_*, imagenet16_*: the two halves (x-valid, x-test) of the test set.
"""

import csv
import gzip
import io
import math
import pathlib

from edd_tf.arch import genotype

ASSET = pathlib.Path(__file__).resolve().parents[1] / 'assets' / 'nb201_results.csv.gz'
DATASET_COLUMNS = ('cifar10', 'cifar100', 'imagenet16')
ACCURACY_COLUMNS = tuple(f'{d}_{s}' for d in DATASET_COLUMNS for s in ('valid', 'test'))
COLUMNS = ('index', 'arch') + ACCURACY_COLUMNS
# NASGraph-Public file name suffix of each dataset prefix.
NASGRAPH_FILES = {'cifar10': 'NASGraph_nasbench201_cifar10.csv',
                  'cifar100': 'NASGraph_nasbench201_cifar100.csv',
                  'imagenet16': 'NASGraph_nasbench201_ImageNet16-120.csv'}
_NASGRAPH_HEADER = ('file id', 'arch str', 'validation accuracy', 'test accuracy')


def _read_text(path):
  data = path.read_bytes()
  if data[:2] == b'\x1f\x8b':
    data = gzip.decompress(data)
  return data.decode('utf-8')


def _read_csv(path):
  """Rows of one table file as {column: str}, in either known format."""
  rows = list(csv.DictReader(io.StringIO(_read_text(path))))
  if not rows:
    raise ValueError(f'NB201 table {path} has no rows')
  fields = set(rows[0])
  if set(COLUMNS) <= fields:
    return {int(r['index']): {c: r[c] for c in COLUMNS[1:]} for r in rows}
  if set(_NASGRAPH_HEADER) <= fields:
    prefix = next((p for p, name in NASGRAPH_FILES.items() if path.name == name), None)
    if prefix is None:
      raise ValueError(f'cannot tell the dataset of {path}; expected one of '
                       f'{sorted(NASGRAPH_FILES.values())}')
    return {int(r['file id']): {'arch': r['arch str'],
                                f'{prefix}_valid': r['validation accuracy'],
                                f'{prefix}_test': r['test accuracy']} for r in rows}
  raise ValueError(f'{path} is neither an NB201 table with columns {list(COLUMNS)} nor a '
                   f'NASGraph CSV with columns {list(_NASGRAPH_HEADER)}')


class NB201Table:
  """All NAS-Bench-201 cells and their accuracies, keyed by arch string."""

  def __init__(self, rows):
    """Builds a table from a list of row dicts with the keys COLUMNS."""
    self._rows = sorted(rows, key=lambda r: r['index'])
    self._by_arch = {r['arch']: r for r in self._rows}
    if len(self._by_arch) != len(self._rows):
      raise ValueError('NB201 table has duplicate arch strings')

  @classmethod
  def load(cls, path=None):
    """Loads the table.

    Args:
      path: None for the shipped asset; a CSV (optionally gzipped) with the
        columns COLUMNS; one NASGraph_nasbench201_*.csv (the other datasets'
        accuracies are then NaN); or a directory holding the three NASGraph CSVs.

    Returns:
      An NB201Table.
    """
    path = ASSET if path is None else pathlib.Path(path)
    if path.is_dir():
      files = [path / name for name in NASGRAPH_FILES.values()]
      missing = [f.name for f in files if not f.is_file()]
      if missing:
        raise ValueError(f'NB201 directory {path} lacks {missing}')
    elif path.is_file():
      files = [path]
    else:
      raise ValueError(f'NB201 table path {str(path)!r} does not exist')
    merged = {}
    for f in files:
      for index, row in _read_csv(f).items():
        out = merged.setdefault(index, {'index': index, 'arch': row['arch']})
        if out['arch'] != row['arch']:
          raise ValueError(f'{f}: arch of index {index} is {row["arch"]!r}, '
                           f'another file has {out["arch"]!r}')
        out.update({c: float(v) for c, v in row.items() if c != 'arch'})
    rows = [{c: r.get(c, math.nan) for c in COLUMNS} for r in merged.values()]
    return cls(rows)

  def __len__(self):
    return len(self._rows)

  def archs(self):
    """All arch strings in index order."""
    return [r['arch'] for r in self._rows]

  def lookup(self, arch):
    """The row of an arch string: {'index': int, 'arch': str, <ACCURACY_COLUMNS>: float}.

    Raises:
      ValueError: for a malformed arch string or one that is not in the table.
    """
    genotype.parse_nb201(arch)
    if arch not in self._by_arch:
      raise ValueError(f'NB201 arch {arch!r} is not in the table ({len(self)} cells)')
    return dict(self._by_arch[arch])

  def best(self, column):
    """The row with the highest value of an accuracy column."""
    if column not in ACCURACY_COLUMNS:
      raise ValueError(f'unknown NB201 column {column!r}; allowed: {list(ACCURACY_COLUMNS)}')
    return dict(max(self._rows, key=lambda r: -math.inf if math.isnan(r[column]) else r[column]))


def format_accuracies(row):
  """One human-readable line of a `lookup` row, e.g.

  'NB201 #1835: cifar10 valid 39.77 test 54.30 | cifar100 valid 15.03 test 15.61 |
  ImageNet16-120 valid 16.43 test 16.32'
  """
  names = {'cifar10': 'cifar10', 'cifar100': 'cifar100', 'imagenet16': 'ImageNet16-120'}

  def fmt(value):
    return 'n/a' if value is None or math.isnan(value) else f'{value:.2f}'

  parts = [f'{names[d]} valid {fmt(row.get(f"{d}_valid"))} test {fmt(row.get(f"{d}_test"))}'
           for d in DATASET_COLUMNS]
  return f'NB201 #{row["index"]}: ' + ' | '.join(parts)
