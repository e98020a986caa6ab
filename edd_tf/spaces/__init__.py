"""The search-space registry: `get_space(config.space)`.

Each space is one module (nb201.py, darts.py) implementing `base.Space`. To
add a space, write its module and add one line to SPACES.
"""

from edd_tf.spaces import base
from edd_tf.spaces import darts
from edd_tf.spaces import nb201

Space = base.Space

SPACES = {
    'nb201': nb201.NB201Space(),
    'nb201_no_none': nb201.NB201NoNoneSpace(),
    'darts': darts.DartsSpace('darts'),
    'darts_no_none': darts.DartsSpace('darts_no_none'),
    's1': darts.DartsSpace('s1'),
    's2': darts.DartsSpace('s2'),
    's3': darts.DartsSpace('s3'),
    's4': darts.DartsSpace('s4'),
}


def get_space(name):
  """The space registered as `name` (ValueError listing the known names)."""
  if name not in SPACES:
    raise ValueError(f'unknown search space {name!r} (config.space); known spaces: '
                     f'{sorted(SPACES)}')
  return SPACES[name]


def space_of_genotype_json(blob, path='genotype.json'):
  """(space, genotype) from the content of a search's genotype.json."""
  name = blob.get('space') if isinstance(blob, dict) else None
  if name not in SPACES:
    raise ValueError(f'{path} is not a search genotype: "space" must be one of {sorted(SPACES)}, '
                     f'got {name!r}')
  space = SPACES[name]
  return space, space.parse_genotype(blob.get('genotype'))
