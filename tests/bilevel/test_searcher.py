"""edd_tf/bilevel/searcher.py: the Searcher's variable groups.

Its step pair runs in every search test (tests/test_search.py, tests/methods/,
tests/core/test_precision.py, tests/core/distributed_search_check.py).
"""

import numpy as np

from edd_tf.bilevel import searcher as searcher_lib
from tests.helpers import tiny_search_config as tiny_config


def test_variable_groups_are_disjoint_and_cover_everything():
  c = tiny_config()
  searcher = searcher_lib.Searcher(c, num_classes=10, image_size=32)
  weights = {id(v) for v in searcher.weight_variables}
  arch = {id(v) for v in searcher.arch_variables}
  assert not weights & arch
  every = {id(v) for v in searcher.model.trainable_variables} | {id(searcher.alphas)}
  assert weights | arch == every
  assert searcher.alphas.shape == (6, 5)
  assert np.abs(searcher.alphas.numpy()).max() < 1e-2  # 1e-3 * N(0, 1)
