"""The mixing edit: fixed, pruned and untouched edges; idempotent; decided alphas held."""

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.bilevel import mixing_edit

SHAPES = {'alphas': (3, 4)}
DECISIONS = [{'kind': 'fix', 'key': 'alphas', 'edge': 0, 'op': 2},
             {'kind': 'prune', 'key': 'alphas', 'edge': 2}]


def test_apply_fixes_prunes_and_is_idempotent():
  edit = mixing_edit.MixingEdit(SHAPES)
  assert edit.set_decisions(DECISIONS) and not edit.set_decisions(DECISIONS)
  w = np.full((3, 4), 0.25, np.float32)
  got = edit.apply({'alphas': w, 'beta': 1.0})
  np.testing.assert_array_equal(got['alphas'].numpy(),
                                [[0, 0, 1, 0], [.25, .25, .25, .25], [0, 0, 0, 0]])
  assert got['beta'] == 1.0
  np.testing.assert_array_equal(edit.apply(got)['alphas'].numpy(), got['alphas'].numpy())
  np.testing.assert_array_equal(edit.apply_numpy({'alphas': w})['alphas'], got['alphas'].numpy())
  np.testing.assert_array_equal(edit.active_ops()['alphas'],
                                [[0, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]])


def test_hold_keeps_decided_rows():
  edit = mixing_edit.MixingEdit(SHAPES)
  edit.set_decisions(DECISIONS)
  arch = {'alphas': tf.Variable(np.zeros((3, 4), np.float32))}
  before = {'alphas': tf.identity(arch['alphas'])}
  arch['alphas'].assign_add(tf.ones((3, 4)))
  edit.hold(arch, before)
  np.testing.assert_array_equal(arch['alphas'].numpy()[:, 0], [0, 1, 0])


def test_bad_decisions_name_the_problem():
  with pytest.raises(ValueError, match='decided twice'):
    mixing_edit.edit_arrays(SHAPES, DECISIONS + DECISIONS[:1])
  with pytest.raises(ValueError, match='unknown edge decision'):
    mixing_edit.edit_arrays(SHAPES, [{'kind': 'drop', 'key': 'alphas', 'edge': 0}])
  with pytest.raises(ValueError, match='not an edge'):
    mixing_edit.edit_arrays(SHAPES, [{'kind': 'prune', 'key': 'alphas', 'edge': 5}])
