"""Search spaces as data: op lists, edges and the genotype read-out.

A space says which candidate ops each edge has and how alphas map to a
genotype; the supernet and the search loop traverse it generically. The
DARTS space and RobustDARTS S1-S4 (reference sect. 3 and 5) will be added here
as further ``Space`` entries with per-edge op lists.
"""

import dataclasses

import numpy as np

from edd_tf import genotype as genotype_lib


@dataclasses.dataclass(frozen=True)
class Space:
  """A cell search space.

  Attributes:
    name: registry key.
    ops: candidate op names shared by every edge (column order of alphas).
    edges: (to_node, from_node) per alpha row.
    num_nodes: nodes of the cell, input included.
  """
  name: str
  ops: tuple
  edges: tuple
  num_nodes: int

  @property
  def alpha_shape(self):
    return (len(self.edges), len(self.ops))

  def init_alphas(self, rng):
    """DARTS/NB201 initialisation 1e-3 * N(0, 1) (reference sect. 2.3)."""
    return (1e-3 * rng.standard_normal(self.alpha_shape)).astype(np.float32)

  def derive(self, alphas):
    """Genotype (as a string) of alphas: float[num_edges, num_ops]."""
    if self.name == 'nb201':
      return genotype_lib.derive_nb201(alphas, self.ops)
    raise ValueError(f'no genotype read-out for space {self.name!r}')

  def one_hot(self, alphas):
    """float32 one-hot of the argmax op per edge (the discretized cell)."""
    alphas = np.asarray(alphas)
    out = np.zeros(alphas.shape, np.float32)
    out[np.arange(alphas.shape[0]), np.argmax(alphas, axis=-1)] = 1.0
    return out


SPACES = {
    'nb201': Space('nb201', genotype_lib.NB201_OPS, genotype_lib.NB201_EDGES,
                   genotype_lib.NB201_NODES),
}


def get_space(name):
  if name not in SPACES:
    raise ValueError(f'unknown search space {name!r} (config.space); known spaces: {sorted(SPACES)}')
  return SPACES[name]
