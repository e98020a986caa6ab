"""NatsBenchTable against a stand-in for nats_bench's topology API (the file is not shipped)."""

import math
import sys
import types

import pytest

from edd_tf.lookup import nats_bench

ARCHS = ['|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|'
         'nor_conv_1x1~2|',
         '|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|'
         'skip_connect~2|']


class FakeApi:
  """nats_bench NATStopology's query methods, returning dicts shaped like get_more_info's."""

  def __init__(self):
    self.calls = []

  def __len__(self):
    return len(ARCHS)

  def arch(self, index):
    return ARCHS[index]

  def query_index_by_arch(self, arch):
    return ARCHS.index(arch) if arch in ARCHS else -1

  def get_more_info(self, index, dataset, iepoch=None, hp='12', is_random=True):
    self.calls.append((index, dataset, hp, is_random))
    base = 10.0 * index
    # As api_topology.get_more_info: 'cifar10-valid' has x-valid (valid-) and ori-test (test-);
    # 'cifar10' only ori-test (test-); the others x-valid, x-test and ori-test (valtest-).
    info = {'train-loss': 0.1, 'train-accuracy': 99.0}
    if dataset == 'cifar10-valid':
      info.update({'valid-accuracy': base + 1, 'test-accuracy': base + 2})
    elif dataset == 'cifar10':
      info.update({'test-accuracy': base + 3})
    else:
      offset = {'cifar100': 4, 'ImageNet16-120': 6}[dataset]
      info.update({'valid-accuracy': base + offset, 'test-accuracy': base + offset + 1,
                   'valtest-accuracy': -1.0})
    return info


def test_lookup_maps_every_split_to_its_column():
  api = FakeApi()
  row = nats_bench.NatsBenchTable(api=api).lookup(ARCHS[1])
  assert row == {'index': 1, 'arch': ARCHS[1], 'cifar10_valid': 11.0, 'cifar10_test': 12.0,
                 'cifar10_full_test': 13.0, 'cifar100_valid': 14.0, 'cifar100_test': 15.0,
                 'imagenet16_valid': 16.0, 'imagenet16_test': 17.0}
  # The 200-epoch results, averaged over trials; one query per dataset.
  assert sorted(api.calls) == sorted((1, d, '200', False) for d in
                                     ('cifar10-valid', 'cifar10', 'cifar100', 'ImageNet16-120'))


def test_lookups_are_cached():
  api = FakeApi()
  bench = nats_bench.NatsBenchTable(api=api)
  bench.lookup(ARCHS[0])
  bench.lookup(ARCHS[0])
  assert len(api.calls) == 4


def test_missing_split_is_nan():
  class NoTest(FakeApi):
    def get_more_info(self, index, dataset, iepoch=None, hp='12', is_random=True):
      info = super().get_more_info(index, dataset, iepoch, hp, is_random)
      return {k: v for k, v in info.items() if not (dataset == 'cifar10' and k == 'test-accuracy')}
  row = nats_bench.NatsBenchTable(api=NoTest()).lookup(ARCHS[0])
  assert math.isnan(row['cifar10_full_test']) and row['cifar10_test'] == 2.0


def test_unknown_and_malformed_archs_raise():
  bench = nats_bench.NatsBenchTable(api=FakeApi())
  with pytest.raises(ValueError, match='not in the NATS-Bench'):
    bench.lookup('|none~0|+|none~0|none~1|+|none~0|none~1|none~2|')
  with pytest.raises(ValueError, match='unknown NB201 op'):
    bench.lookup('|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|')


def test_table_interface_like_nb201_table():
  bench = nats_bench.NatsBenchTable(api=FakeApi())
  assert len(bench) == 2 and bench.archs() == ARCHS
  assert bench.best('cifar10_full_test')['index'] == 1
  with pytest.raises(ValueError, match='unknown NATS-Bench column'):
    bench.best('cifar10_oops')


def test_every_column_names_its_dataset_and_split():
  assert nats_bench.describe('cifar10_full_test').startswith('NATS-Bench cifar10 ori-test')
  assert nats_bench.COLUMNS['cifar10_test'][:2] == ('cifar10-valid', 'ori-test')


def test_load_benchmark_empty_is_none():
  assert nats_bench.load_benchmark('') is None
  assert nats_bench.load_benchmark(None) is None


def test_missing_package_says_how_to_install(monkeypatch, tmp_path):
  monkeypatch.setitem(sys.modules, 'nats_bench', None)  # import nats_bench -> ImportError
  with pytest.raises(ValueError, match='pip install nats_bench'):
    nats_bench.load_benchmark(str(tmp_path))


def test_create_is_called_in_fast_mode(monkeypatch, tmp_path):
  calls = []
  fake = types.ModuleType('nats_bench')
  fake.create = lambda *args, **kwargs: calls.append((args, kwargs)) or FakeApi()
  monkeypatch.setitem(sys.modules, 'nats_bench', fake)
  bench = nats_bench.load_benchmark(str(tmp_path))
  assert calls == [((str(tmp_path), 'tss'), {'fast_mode': True, 'verbose': False})]
  assert bench.lookup(ARCHS[0])['cifar10_full_test'] == 3.0
  with pytest.raises(ValueError, match='does not exist'):
    nats_bench.load_benchmark(str(tmp_path / 'missing'))
