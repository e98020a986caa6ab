"""Tests for edd_tf.core.errors: the typed errors the binaries print as one line."""

import pytest

from edd_tf.core import errors


@pytest.mark.parametrize('cls', [errors.ConfigError, errors.DataError, errors.WorkdirError,
                                 errors.WorkdirLockedError, errors.CheckpointError])
def test_every_error_is_an_edd_error_and_a_value_error(cls):
  with pytest.raises(ValueError):  # Existing `except ValueError` code still catches them.
    raise cls('x')
  assert issubclass(cls, errors.EddError)


def test_a_locked_workdir_is_a_workdir_error():
  assert issubclass(errors.WorkdirLockedError, errors.WorkdirError)


def test_str_is_one_line():
  error = errors.DataError('cannot decode /d/train/cat/1.png:\n  Invalid JPEG data\n\n')
  assert str(error) == 'cannot decode /d/train/cat/1.png:; Invalid JPEG data'


def test_one_line_keeps_a_single_line():
  assert errors.one_line('unknown field a.b; did you mean a.c?') == (
      'unknown field a.b; did you mean a.c?')
