"""The official NATS-Bench topology file as an NB201 results table (optional).

The shipped table (`nb201_bench`) has NAS-Bench-201's `cifar10-valid` dataset
only: networks trained on 25k CIFAR-10 images. The papers' CIFAR-10 *test*
column (Table 1: 93.80, the optimum 94.37) is NB201's `cifar10` dataset,
trained on all 50k images, which cannot be shipped. A user who has the
NATS-Bench topology file (`NATS-tss-v1_0-3ffb9-simple/`) and the `nats_bench`
package gets it with `NatsBenchTable(path)`:

  row = NatsBenchTable('~/.torch/NATS-tss-v1_0-3ffb9-simple').lookup(arch)

Rows have the keys of `nb201_bench.NB201Table.lookup` with the same meaning,
plus `cifar10_full_test`; COLUMNS names each key's dataset and split. All
values are 200-epoch accuracies (hp='200') averaged over the trial seeds
(is_random=False), in percent.
"""

import math
import pathlib

from edd_tf.arch import genotype

# key -> (NATS-Bench dataset, split, what it is).
COLUMNS = {
    'cifar10_valid': ('cifar10-valid', 'x-valid',
                      'trained on 25k CIFAR-10 train images, evaluated on the other 25k'),
    'cifar10_test': ('cifar10-valid', 'ori-test',
                     'trained on 25k CIFAR-10 train images, evaluated on the CIFAR-10 test set'),
    'cifar10_full_test': ('cifar10', 'ori-test',
                          "trained on all 50k CIFAR-10 train images, evaluated on the CIFAR-10 "
                          "test set (the papers' CIFAR-10 test column)"),
    'cifar100_valid': ('cifar100', 'x-valid', 'first half of the CIFAR-100 test set'),
    'cifar100_test': ('cifar100', 'x-test', 'second half of the CIFAR-100 test set'),
    'imagenet16_valid': ('ImageNet16-120', 'x-valid', 'first half of the ImageNet16-120 test set'),
    'imagenet16_test': ('ImageNet16-120', 'x-test', 'second half of the ImageNet16-120 test set'),
}
# get_more_info key of each split (NATS-Bench api_topology.get_more_info).
_INFO_KEYS = {'x-valid': 'valid-accuracy', 'ori-test': 'test-accuracy', 'x-test': 'test-accuracy'}
HP = '200'


class NatsBenchUnavailable(ValueError):
  """The nats_bench package or the benchmark file is missing (a ValueError, as bad config)."""


def create_api(path):
  """nats_bench.create(path, 'tss', fast_mode=True, verbose=False), with clear errors."""
  try:
    import nats_bench  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise NatsBenchUnavailable(
        'the NATS-Bench table needs the optional package nats_bench: pip install nats_bench '
        '(and the topology file NATS-tss-v1_0-3ffb9-simple from the NATS-Bench README)') from None
  path = pathlib.Path(path).expanduser()
  if not path.exists():
    raise NatsBenchUnavailable(f'NATS-Bench topology path {str(path)!r} does not exist; '
                               f'expected the NATS-tss-v1_0-3ffb9-simple directory')
  return nats_bench.create(str(path), 'tss', fast_mode=True, verbose=False)


class NatsBenchTable:
  """NB201 look-ups answered by a NATS-Bench topology API object.

  Same interface as nb201_bench.NB201Table: lookup(arch), archs(), len(),
  best(column).
  """

  def __init__(self, path=None, api=None):
    """Opens the benchmark at `path`, or wraps an existing `api` object.

    Args:
      path: the NATS-tss-v1_0-3ffb9-simple directory.
      api: an object with query_index_by_arch(arch), get_more_info(index,
        dataset, hp=, is_random=), len() and arch(index) (nats_bench's API or
        a stand-in); overrides `path`.
    """
    if api is None and path is None:
      raise ValueError('NatsBenchTable needs a path or an api object')
    self.path = None if path is None else str(path)
    self._api = api if api is not None else create_api(path)
    self._rows = {}

  def __len__(self):
    return len(self._api)

  def archs(self):
    """All arch strings in index order."""
    return [self._api.arch(i) for i in range(len(self))]

  def lookup(self, arch):
    """The row of an arch string: {'index', 'arch', <COLUMNS keys>: float}.

    Raises:
      ValueError: for a malformed arch string or one not in the benchmark.
    """
    genotype.parse_nb201(arch)
    if arch not in self._rows:
      index = self._api.query_index_by_arch(arch)
      if index is None or index < 0:
        raise ValueError(f'NB201 arch {arch!r} is not in the NATS-Bench topology table')
      row = {'index': int(index), 'arch': arch}
      infos = {}
      for key, (dataset, split, _) in COLUMNS.items():
        if dataset not in infos:
          infos[dataset] = self._api.get_more_info(index, dataset, hp=HP, is_random=False)
        value = infos[dataset].get(_INFO_KEYS[split])
        row[key] = math.nan if value is None else float(value)
      self._rows[arch] = row
    return dict(self._rows[arch])

  def best(self, column):
    """The row with the highest value of a column (queries every cell: slow)."""
    if column not in COLUMNS:
      raise ValueError(f'unknown NATS-Bench column {column!r}; allowed: {list(COLUMNS)}')
    rows = [self.lookup(a) for a in self.archs()]
    return max(rows, key=lambda r: -math.inf if math.isnan(r[column]) else r[column])


def describe(key):
  """'<dataset> <split>: <what it is>' for a COLUMNS key."""
  dataset, split, text = COLUMNS[key]
  return f'NATS-Bench {dataset} {split}: {text}'


def load_benchmark(path_or_empty):
  """A NatsBenchTable for a path, None for '' / None (config.benchmark.nats_bench)."""
  if not path_or_empty:
    return None
  return NatsBenchTable(path_or_empty)
