"""Shared test set-up: quiet TF logs, the repo root on sys.path, session fixtures.

Plain helpers (paths, tiny configs, the sample as files) are in helpers.py.
"""

import os
import pathlib
import sys

import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
_ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
  sys.path.insert(0, str(_ROOT))

from tests import helpers  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope='session')
def sample_folder(tmp_path_factory):
  """The shipped sample as an ImageFolder (5,000 train / 1,000 test JPEGs)."""
  return helpers.write_sample_folder(tmp_path_factory.mktemp('data') / 'cifar10')
