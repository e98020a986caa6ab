"""edd_tf/bilevel/records.py: the per-epoch history record and its benchmark row."""

import pytest

from edd_tf import spaces
from edd_tf.bilevel import records
from tests.helpers import NB201_CELL

METRICS = dict(loss=2.0, acc=0.25, val_loss=2.1, val_acc=0.2, arch_grad_norm=0.5)


class _Table:
  """A benchmark table that knows one cell."""

  def lookup(self, arch):
    if arch != NB201_CELL:
      raise ValueError(f'{arch!r} is not in the table')
    return {'index': 7, 'arch': arch, 'cifar10_valid': 90.0}


def _record(arch_updated=True, genotype=NB201_CELL, table=None):
  return records.epoch_record(
      2, METRICS, temperature=0.5, next_temperature=0.4, d_exp=0.01, entropy=1.5,
      entropy_tempered=1.2, lr=0.02, arch_updated=arch_updated, discrete_acc=0.3,
      genotype=genotype, space=spaces.get_space('nb201'), table=table)


def test_record_fields_in_genotype_json_order():
  record = _record()
  assert list(record) == ['epoch', 'temperature', 'next_temperature', 'd_exp', 'entropy',
                          'entropy_tempered', 'lr', 'train_loss', 'train_acc', 'val_loss',
                          'val_acc', 'arch_grad_norm', 'discrete_acc', 'genotype']
  assert record['epoch'] == 3  # 1-based
  assert (record['train_loss'], record['val_acc']) == (2.0, 0.2)
  assert record['arch_grad_norm'] == 0.5 and record['genotype'] == NB201_CELL


def test_arch_grad_norm_is_none_while_the_alphas_are_frozen():
  assert _record(arch_updated=False)['arch_grad_norm'] is None


def test_benchmark_row_is_recorded_without_its_arch():
  assert _record(table=_Table())['nb201'] == {'index': 7, 'cifar10_valid': 90.0}


@pytest.mark.parametrize('table, genotype', [
    (None, NB201_CELL),  # no table
    (_Table(), '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|'),  # not in the table
])
def test_no_benchmark_row(table, genotype):
  space = spaces.get_space('nb201')
  assert records.benchmark_row(table, space, genotype) is None
  assert 'nb201' not in _record(genotype=genotype, table=table)
