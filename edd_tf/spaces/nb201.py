"""NAS-Bench-201 (reference sect. 2): one 6 x 5 alpha matrix shared by every cell.

The read-out keeps every edge and takes the argmax op, 'none' included
(reference 2.4); the genotype is the NB201 arch string; the benchmark is the
shipped NAS-Bench-201 table.

'nb201_no_none' is the same cell with 'none' removed from the candidates
(6 x 4 matrix; GAEA's `exclude_zero`, AutoDL cell_operations.py:26): its
genotypes are NB201 arch strings without 'none' and look up in the same table.

config.model.aux_skip=True builds DARTS-' identity aux skip on every edge
(nb201_supernet.py); its coefficient is not an architecture variable, so the
read-out is unchanged.
"""

from edd_tf.arch import genotype as genotype_lib
from edd_tf.lookup import nb201_bench
from edd_tf.spaces import base


class NB201Space(base.Space):
  """The NB201 cell: 4 nodes, 6 edges, 5 ops (AutoDL's edge order)."""

  name = 'nb201'
  family = 'nb201'
  KEY = 'alphas'
  ops = genotype_lib.NB201_OPS
  edges = genotype_lib.NB201_EDGES
  num_nodes = genotype_lib.NB201_NODES

  @property
  def alpha_shape(self):
    return (len(self.edges), len(self.ops))

  def arch_shapes(self):
    return {self.KEY: self.alpha_shape}

  def op_names(self, key):
    del key
    return [self.ops] * len(self.edges)

  def edge_names(self, key):
    del key
    return [f'{i}<-{j}' for i, j in self.edges]

  def edge_groups(self, key):
    del key
    groups, start = [], 0
    for node in range(1, self.num_nodes):
      groups.append((start, start + node))
      start += node
    return groups

  def check_model_config(self, model_config):
    for field in ('channels', 'cells_per_stage'):
      if model_config[field] < 1:
        raise ValueError(f'config.model.{field} must be >= 1, got {model_config[field]}')
    if model_config.get('partial_channels', 1) != 1:
      raise ValueError('config.model.partial_channels must be 1 for space nb201 (partial '
                       'channels are a DARTS-space supernet feature)')

  def build_supernet(self, num_classes, model_config):
    from edd_tf.spaces import nb201_supernet as supernet  # pylint: disable=g-import-not-at-top
    return supernet.NB201Supernet(num_classes, channels=model_config.channels,
                                  cells_per_stage=model_config.cells_per_stage, space=self,
                                  fused=model_config.get('fused', True),
                                  aux_skip=bool(model_config.get('aux_skip', False)))

  def derive(self, weights):
    return genotype_lib.derive_nb201(weights[self.KEY], self.ops)

  def discretize(self, genotype):
    return {self.KEY: genotype_lib.nb201_one_hot(genotype, self.ops)}

  def genotype_to_json(self, genotype):
    return genotype

  def parse_genotype(self, value):
    genotype_lib.parse_nb201(value)
    return value

  def load_benchmark(self, benchmark_config):
    """The official NATS-Bench file when `nats_bench` is set, else the shipped table."""
    if benchmark_config.get('nats_bench', ''):
      from edd_tf.lookup import nats_bench  # pylint: disable=g-import-not-at-top
      return nats_bench.load_benchmark(benchmark_config.nats_bench)
    path = benchmark_config.get('nb201_table', '')
    if path == 'none':
      return None
    return nb201_bench.NB201Table.load(path or None)


class NB201NoNoneSpace(NB201Space):
  """The NB201 cell searched over the 4 ops other than 'none' (GAEA on NB201)."""

  name = 'nb201_no_none'
  ops = tuple(op for op in genotype_lib.NB201_OPS if op != 'none')
