"""Typed errors of edd_tf: one line each, naming the field / file at fault.

The binaries print `error: <str(e)>` for these and exit with status 1, so a
library user catching them and a command-line user read the same message.
Every class but the base also derives from ValueError, so existing
`except ValueError` code keeps working.
"""


def one_line(text):
  """`text` with its non-empty lines joined by '; ' (messages stay one line)."""
  return '; '.join(line.strip() for line in str(text).splitlines() if line.strip())


class EddError(Exception):
  """Base class of the errors edd_tf raises on purpose; str() is one line."""

  def __str__(self):
    return one_line(super().__str__())


class ConfigError(EddError, ValueError):
  """A config field has a value the code cannot use, or does not exist."""


class DataError(EddError, ValueError):
  """Input data is missing, unreadable or unusable (names the file / folder)."""


class WorkdirError(EddError, ValueError):
  """A workdir cannot be used: not a directory, not writable, another experiment's."""


class WorkdirLockedError(WorkdirError):
  """Another live process holds the workdir's lock file."""


class CheckpointError(EddError, ValueError):
  """No checkpoint of a workdir can be restored (damaged, or another network's)."""


class Preempted(EddError):
  """SIGTERM stopped a run at a step boundary after saving a checkpoint there.

  Not a ValueError: nothing is wrong with the inputs; rerunning the same
  command resumes at the saved step. The binaries exit with status 143.
  """
