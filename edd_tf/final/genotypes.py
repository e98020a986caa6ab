"""Which cell a training run trains: config.genotype resolved to an arch string or a Genotype.

`config.genotype` may name a search workdir or its genotype.json (as
search.py writes it), a published cell in `genotype.GENOTYPES` (DARTS_V1,
DARTS_V2, ... verbatim from the references), an NB201 arch string
(`|op~0|+|op~0|op~1|+...`, NB201's `Structure.tostr`) or a DARTS
`Genotype(...)` literal or its JSON. `resolve_genotype` checks the result
against the genotype family of `config.network` (`finalnet.NETWORK_FAMILY`).
"""

import json
import os
import pathlib

import ml_collections

from edd_tf import spaces
from edd_tf.arch import genotype as genotype_lib
from edd_tf.nets import finalnet


def _from_genotype_json(path, allow_unfinished=False):
  """(family, genotype) from a search workdir's genotype.json."""
  try:
    with open(path) as f:
      blob = json.load(f)
  except json.JSONDecodeError as e:
    raise ValueError(f'{path} is not a genotype.json (invalid JSON: {e})') from None
  space, genotype = spaces.space_of_genotype_json(blob, path)
  if blob.get('finished') is False and not allow_unfinished:
    raise ValueError(f'{path} is from a search that stopped after epoch {blob.get("epochs")}, '
                     f'before it finished; finish the search (rerun it) or set '
                     f'--config.allow_unfinished_search=True to train this cell anyway')
  return space.family, genotype


def parse_genotype_spec(spec, allow_unfinished=False):
  """Resolves `config.genotype` into (family, genotype).

  Args:
    spec: a search workdir or the path of its genotype.json; a name in
      `genotype.GENOTYPES`; an NB201 arch string; a DARTS `Genotype(...)`
      literal or JSON; a genotype_to_dict dict; or a `Genotype`.

  Returns:
    ('nb201', arch string) or ('darts', Genotype).

  Raises:
    ValueError: for an unknown name (listing the known ones), a missing path or
      a malformed literal.
  """
  if isinstance(spec, genotype_lib.Genotype):
    return 'darts', spec
  if isinstance(spec, (dict, ml_collections.ConfigDict)):
    spec = spec.to_dict() if isinstance(spec, ml_collections.ConfigDict) else spec
    return 'darts', genotype_lib.genotype_from_dict(spec)
  if not isinstance(spec, str) or not spec.strip():
    raise ValueError(
        f'config.genotype is {spec!r}; set it to a search workdir (or its genotype.json), a '
        f'name in {sorted(genotype_lib.GENOTYPES)}, an NB201 arch string or a DARTS '
        f'Genotype(...) literal, e.g. --config.genotype=/tmp/edd/search')
  spec = spec.strip()
  if spec.startswith('|'):
    genotype_lib.parse_nb201(spec)
    return 'nb201', spec
  if spec.startswith('Genotype(') or spec.startswith('{'):
    return 'darts', genotype_lib.parse_darts(spec)
  if spec in genotype_lib.GENOTYPES:
    return 'darts', genotype_lib.GENOTYPES[spec]
  path = pathlib.Path(spec)
  if path.is_dir():
    path = path / 'genotype.json'
    if not path.is_file():
      raise ValueError(f'config.genotype={spec!r} is a directory without genotype.json '
                       f'(expected a search workdir)')
  if path.is_file():
    return _from_genotype_json(path, allow_unfinished)
  if os.sep in spec or spec.endswith('.json'):
    raise ValueError(f'config.genotype={spec!r}: no such file or search workdir')
  raise ValueError(
      f'unknown genotype name config.genotype={spec!r}; known names: '
      f'{sorted(genotype_lib.GENOTYPES)}; or give a search workdir / genotype.json path, '
      f'an NB201 arch string (|op~0|+|op~0|op~1|+...) or a DARTS Genotype(...) literal')


def resolve_genotype(spec, network, allow_unfinished=False):
  """`parse_genotype_spec`, checked against the genotype family of `network`.

  Returns:
    The NB201 arch string for network 'nb201', else a DARTS `Genotype`.

  Raises:
    ValueError: for an unknown network or a genotype of the other space.
  """
  if network not in finalnet.NETWORKS:
    raise ValueError(f'unknown config.network {network!r}; allowed: {list(finalnet.NETWORKS)}')
  space, genotype = parse_genotype_spec(spec, allow_unfinished)
  want = finalnet.NETWORK_FAMILY[network]
  if space != want:
    what = {'nb201': 'an NB201 cell (arch string)', 'darts': 'a DARTS-space Genotype'}
    raise ValueError(f'config.genotype={spec!r} is {what[space]}, but config.network='
                     f'{network!r} needs {what[want]}')
  return genotype


def genotype_to_json(genotype):
  """JSON value of a resolved genotype (arch string, or genotype_to_dict)."""
  if isinstance(genotype, str):
    return genotype
  return genotype_lib.genotype_to_dict(genotype)


def genotype_text(genotype):
  return genotype if isinstance(genotype, str) else str(genotype)
