"""The grid language: field and bundle axes, continued lines, run names, malformed grids.

No TensorFlow: grid text is parsed without loading a config.
"""

import pytest

from edd_tf.experiments import grid


def test_field_and_bundle_axes():
  axes = grid.parse_grid('seed=0,1,2; softmax = plain{kind=plain, s=0, st=0} | '
                         'sn{kind=sn, s=100, st=0}\n# a comment\nschedule.lam=0.06')
  assert [a.key for a in axes] == ['seed', 'softmax', 'schedule.lam']
  assert axes[0].labels() == ['0', '1', '2'] and not axes[0].bundle
  assert axes[1].bundle and axes[1].labels() == ['plain', 'sn']
  assert dict(axes[1].choices)['sn'] == (('kind', 'sn'), ('s', '100'), ('st', '0'))


def test_a_line_starting_with_a_bar_continues_the_bundle_axis():
  axes = grid.parse_grid('method = a{seed=1}\n       | b{seed=2}  # comment\nseed=0')
  assert [a.labels() for a in axes] == [['a', 'b'], ['0']]


def test_run_names_are_sorted_by_axis_and_filesystem_safe():
  assert grid.run_name({'softmax.s': '100', 'seed': '0', 'schedule.lam': '0.06'}) == (
      'schedule.lam=0.06,seed=0,softmax.s=100')
  assert grid.run_name({'data.path': '/a b/c'}) == 'data.path=_a_b_c'
  assert len(grid.run_name({'x': 'y' * 400})) <= 150


@pytest.mark.parametrize('text, words', [
    ('seed=', ['seed', 'empty value list']),
    ('seed=0,,1', ['seed', 'empty value']),
    ('seed', ['malformed']),
    ('seed=0;seed=1', ['seed', 'twice']),
    ('seed=0,0', ['twice']),
    ('softmax=a{kind=sn|b{kind=plain}', ['malformed bundle']),
    ('# only a comment', ['no axes']),
])
def test_malformed_grids_are_refused(text, words):
  with pytest.raises(grid.SweepError) as e:
    grid.parse_grid(text)
  for word in words:
    assert word in str(e.value)
