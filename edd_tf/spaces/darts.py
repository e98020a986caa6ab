"""The DARTS space (reference sect. 3) and RobustDARTS S1-S4 (sect. 5).

Two cell types with separate logits, `alphas_normal` and `alphas_reduce`
(14 edges each, DARTS edge order: edges 0-1 enter node 2 from the inputs 0
and 1, edges 2-4 node 3, 5-8 node 4, 9-13 node 5). The spaces differ only in
the op list of each edge: DARTS has all 8 PRIMITIVES everywhere; S1 has two
ops per edge that differ per edge; S2-S4 repeat one short list.

Read-out (sect. 3.4, 5.3): per node, the two incoming edges whose best
non-'none' weight is largest, each with that op; where an edge has no 'none'
(S1, S2, S4) the plain argmax is used, so S4 can select 'noise'.
"""

import numpy as np

from edd_tf.spaces import darts_supernet
from edd_tf.arch import genotype as genotype_lib
from edd_tf.spaces import base

STEPS = 4
MULTIPLIER = 4
NUM_EDGES = sum(2 + i for i in range(STEPS))  # 14
KEYS = ('alphas_normal', 'alphas_reduce')

# name -> (normal op lists, reduce op lists), one tuple of op names per edge;
# RobustDARTS' lists are data in darts_supernet.py (reference sect. 5.1).
OP_LISTS = {'darts': darts_supernet.DARTS_SPACE, **darts_supernet.ROBUST_DARTS_SPACES}
# The 7 DARTS ops without 'none' (FairDARTS fairdarts/genotypes.py:L8-16).
_NO_NONE = tuple(op for op in genotype_lib.DARTS_OPS if op != 'none')
OP_LISTS['darts_no_none'] = ((_NO_NONE,) * NUM_EDGES, (_NO_NONE,) * NUM_EDGES)

EDGES = tuple((node, j) for node in range(2, 2 + STEPS) for j in range(node))
GROUPS = []
_start = 0
for _i in range(STEPS):
  GROUPS.append((_start, _start + 2 + _i))
  _start += 2 + _i
GROUPS = tuple(GROUPS)


class DartsSpace(base.Space):
  """A DARTS-family space given its per-edge op lists."""

  family = 'darts'

  def __init__(self, name):
    if name not in OP_LISTS:
      raise ValueError(f'unknown DARTS-family space {name!r}; known: {sorted(OP_LISTS)}')
    self.name = name
    normal, reduce = OP_LISTS[name]
    self._ops = {'alphas_normal': tuple(normal), 'alphas_reduce': tuple(reduce)}

  def arch_shapes(self):
    return {k: (NUM_EDGES, len(v[0])) for k, v in self._ops.items()}

  def op_names(self, key):
    return list(self._ops[key])

  def edge_names(self, key):
    del key
    names = {0: 'c_{k-2}', 1: 'c_{k-1}'}
    return [f'{i - 2}<-{names.get(j, j - 2)}' for i, j in EDGES]

  def edge_groups(self, key):
    del key
    return list(GROUPS)

  def check_model_config(self, model_config):
    for field in ('channels', 'layers'):
      if model_config[field] < 1:
        raise ValueError(f'config.model.{field} must be >= 1 for space {self.name!r}, got '
                         f'{model_config[field]}')
    k = model_config.get('partial_channels', 1)
    if not isinstance(k, int) or k < 1:
      raise ValueError(f'config.model.partial_channels must be an integer >= 1, got {k!r}')
    # Channels of the first stage; they double at each reduction.
    if model_config.channels % k:
      raise ValueError(f'config.model.partial_channels={k} must divide config.model.channels='
                       f'{model_config.channels} (PC-DARTS runs the ops on channels / K)')
    if model_config.get('aux_skip', False) and k != 1:
      raise ValueError(f'config.model.aux_skip=True (DARTS-) needs config.model.partial_channels=1, '
                       f'got {k}')
    if model_config.layers < 3:
      raise ValueError(f'config.model.layers must be >= 3 (reductions at layers//3 and '
                       f'2*layers//3), got {model_config.layers}')

  def build_supernet(self, num_classes, model_config):
    return darts_supernet.DartsSupernet(
        num_classes, normal_ops=self._ops['alphas_normal'], reduce_ops=self._ops['alphas_reduce'],
        channels=model_config.channels, layers=model_config.layers, steps=STEPS,
        multiplier=MULTIPLIER, partial_channels=model_config.get('partial_channels', 1),
        aux_skip=bool(model_config.get('aux_skip', False)))

  def derive(self, weights):
    return genotype_lib.derive_darts(
        weights['alphas_normal'], weights['alphas_reduce'],
        op_names=self._ops['alphas_normal'], reduce_op_names=self._ops['alphas_reduce'],
        steps=STEPS, multiplier=MULTIPLIER)

  def derive_thresholded(self, weights, op_threshold):
    """FairDARTS' thresholded read-out (nodes with 0-2 inputs; genotype.derive_thresholded)."""
    cells = {}
    for key, kind in zip(KEYS, ('normal', 'reduce')):
      cells[kind], cells[kind + '_concat'] = genotype_lib.derive_thresholded(
          weights[key], self._ops[key], steps=STEPS, op_threshold=op_threshold)
    return genotype_lib.Genotype(**cells)

  def discretize(self, genotype):
    out = {}
    for key, kind in zip(KEYS, ('normal', 'reduce')):
      matrix = np.zeros((NUM_EDGES, len(self._ops[key][0])), np.float32)
      entries = getattr(genotype, kind)
      for k, (node, op, src) in enumerate(genotype_lib.cell_edges(entries)):
        if not 2 <= node < 2 + STEPS or not 0 <= src < node:
          raise ValueError(f'genotype.{kind}[{k}] = {tuple(entries[k])!r} is not an edge of '
                           f'space {self.name!r} (node {node} takes inputs 0..{node - 1})')
        start, _ = GROUPS[node - 2]
        edge = start + src
        if op not in self._ops[key][edge]:
          raise ValueError(f'genotype.{kind}[{k}] = {tuple(entries[k])!r} is not an edge of '
                           f'space {self.name!r} (edge {edge} ops: {list(self._ops[key][edge])})')
        # A later entry on the same edge replaces an earlier one (as before).
        matrix[edge] = 0.0
        matrix[edge, self._ops[key][edge].index(op)] = 1.0
      out[key] = matrix
    return out

  def genotype_to_json(self, genotype):
    return genotype_lib.genotype_to_dict(genotype)

  def parse_genotype(self, value):
    if isinstance(value, genotype_lib.Genotype):
      genotype = value
    elif isinstance(value, str):
      genotype = genotype_lib.parse_darts(value)
    elif isinstance(value, dict):
      genotype = genotype_lib.genotype_from_dict(value)
    else:
      raise ValueError(f'a {self.name!r} genotype must be a Genotype, its dict or its text, '
                       f'got {type(value).__name__}')
    self.discretize(genotype)  # every (op, input) must be an edge of this space
    return genotype
