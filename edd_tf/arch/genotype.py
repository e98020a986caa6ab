"""Architectures as plain data: derive, parse and format genotypes.

Two families:
  * NAS-Bench-201 cells: one op per edge of a 4-node DAG, written in the NB201
    string format ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (AutoDL
    ``Structure.tostr``; reference sect. 2.5).
  * DARTS cells: ``Genotype(normal, normal_concat, reduce, reduce_concat)`` with
    two (op, input) pairs per intermediate node (quark0/darts genotypes.py),
    or, from Fair DARTS' thresholded read-out, (op, node, input) triples with
    0-2 inputs per node (FairDARTS' (op, to, from); `cell_edges` reads both).
    genotype.json keeps the pair form byte for byte; triples are 3-lists.

Everything here is pure Python/numpy so that it can be tested by hand.
"""

import collections
import json

import numpy as np

# --------------------------------------------------------------------------
# NAS-Bench-201
# --------------------------------------------------------------------------

NB201_OPS = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3',
             'avg_pool_3x3')
NB201_NODES = 4
# Row order of the 6x5 alpha matrix: AutoDL sorts the edge keys "i<-j",
# giving 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2 (reference sect. 2.2).
NB201_EDGES = tuple((i, j) for i in range(1, NB201_NODES) for j in range(i))


def format_nb201(ops):
  """Formats six op names (in NB201_EDGES order) as an NB201 arch string."""
  if len(ops) != len(NB201_EDGES):
    raise ValueError(f'an NB201 cell has {len(NB201_EDGES)} edges, got {len(ops)} ops')
  nodes = []
  for node in range(1, NB201_NODES):
    parts = [f'{ops[k]}~{j}' for k, (i, j) in enumerate(NB201_EDGES) if i == node]
    nodes.append('|' + '|'.join(parts) + '|')
  return '+'.join(nodes)


def parse_nb201(arch):
  """Parses an NB201 arch string into a tuple of six op names (NB201_EDGES order).

  Raises:
    ValueError: naming the bad part and the allowed op names.
  """
  if not isinstance(arch, str):
    raise ValueError(f'NB201 arch must be a string, got {type(arch).__name__}')
  node_strs = arch.split('+')
  if len(node_strs) != NB201_NODES - 1:
    raise ValueError(f'NB201 arch {arch!r} must have {NB201_NODES - 1} nodes joined by "+"')
  ops = []
  for node, node_str in enumerate(node_strs, start=1):
    if not (node_str.startswith('|') and node_str.endswith('|')):
      raise ValueError(f'NB201 node {node_str!r} in {arch!r} must be wrapped in "|"')
    parts = node_str[1:-1].split('|')
    if len(parts) != node:
      raise ValueError(f'NB201 node {node} in {arch!r} needs {node} inputs, got {len(parts)}')
    for j, part in enumerate(parts):
      op, sep, src = part.partition('~')
      if not sep or src != str(j):
        raise ValueError(f'NB201 edge {part!r} in {arch!r} must read "<op>~{j}"')
      if op not in NB201_OPS:
        raise ValueError(f'unknown NB201 op {op!r} in {arch!r}; known ops: {list(NB201_OPS)}')
      ops.append(op)
  return tuple(ops)


def derive_nb201(alphas, op_names=NB201_OPS):
  """Argmax genotype of an NB201 alpha matrix, 'none' included (reference 2.4).

  Args:
    alphas: float[6, num_ops] architecture parameters (or their softmax; argmax
      is the same).
    op_names: the op name of each column.

  Returns:
    The NB201 arch string.
  """
  alphas = np.asarray(alphas)
  if alphas.shape != (len(NB201_EDGES), len(op_names)):
    raise ValueError(f'NB201 alphas must have shape {(len(NB201_EDGES), len(op_names))}, '
                     f'got {alphas.shape}')
  return format_nb201([op_names[k] for k in np.argmax(alphas, axis=-1)])


def nb201_one_hot(arch, op_names=NB201_OPS):
  """float32[6, num_ops] one-hot matrix of an NB201 arch string."""
  ops = parse_nb201(arch)
  out = np.zeros((len(NB201_EDGES), len(op_names)), np.float32)
  for k, op in enumerate(ops):
    out[k, op_names.index(op)] = 1.0
  return out


# --------------------------------------------------------------------------
# DARTS space
# --------------------------------------------------------------------------

DARTS_OPS = ('none', 'max_pool_3x3', 'avg_pool_3x3', 'skip_connect',
             'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5')

Genotype = collections.namedtuple('Genotype', 'normal normal_concat reduce reduce_concat')

_C = [2, 3, 4, 5]
# Verbatim from the public references (reference.md sect. 3.6).
GENOTYPES = {
    'DARTS_V1': Genotype(
        normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1),
                ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)],
        normal_concat=_C,
        reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0),
                ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)],
        reduce_concat=_C),
    'DARTS_V2': Genotype(
        normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1),
                ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)],
        normal_concat=_C,
        reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1),
                ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)],
        reduce_concat=_C),
    'PC_DARTS_cifar': Genotype(
        normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1),
                ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)],
        normal_concat=_C,
        reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2),
                ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)],
        reduce_concat=_C),
    'PC_DARTS_image': Genotype(
        normal=[('skip_connect', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 0), ('skip_connect', 1),
                ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('dil_conv_5x5', 4)],
        normal_concat=_C,
        reduce=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_5x5', 2), ('max_pool_3x3', 1),
                ('sep_conv_3x3', 2), ('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 3)],
        reduce_concat=_C),
    'DrNAS_cifar10': Genotype(
        normal=[('sep_conv_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2),
                ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2), ('dil_conv_5x5', 3)],
        normal_concat=_C,
        reduce=[('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('dil_conv_5x5', 2), ('sep_conv_5x5', 1),
                ('sep_conv_5x5', 1), ('dil_conv_5x5', 3), ('skip_connect', 4), ('sep_conv_5x5', 1)],
        reduce_concat=_C),
    'DrNAS_imagenet': Genotype(
        normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1),
                ('sep_conv_3x3', 0), ('dil_conv_3x3', 3), ('skip_connect', 0), ('sep_conv_3x3', 1)],
        normal_concat=_C,
        reduce=[('max_pool_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2),
                ('sep_conv_3x3', 0), ('sep_conv_3x3', 2), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1)],
        reduce_concat=_C),
}
GENOTYPES['DARTS'] = GENOTYPES['DARTS_V2']
GENOTYPES['PCDARTS'] = GENOTYPES['PC_DARTS_cifar']


def is_sparse_cell(entries):
  """True for the thresholded form: (op, node, input) triples, any number per node.

  The dense form (every DARTS read-out but Fair DARTS') is two (op, input)
  pairs per node, node k of pair i being 2 + i // 2; the sparse form names the
  node of each entry (FairDARTS' (op, to, from)), so a node may take 0, 1 or 2
  inputs.
  """
  return bool(entries) and all(len(e) == 3 for e in entries)


def cell_edges(entries):
  """[(node, op, input)] of a cell in either form (see `is_sparse_cell`)."""
  if is_sparse_cell(entries):
    return [(int(node), str(op), int(src)) for op, node, src in entries]
  return [(2 + k // 2, str(op), int(src)) for k, (op, src) in enumerate(entries)]


def derive_thresholded(weights, op_names, steps=4, op_threshold=0.85):
  """FairDARTS' `threshold_sparse` read-out of one cell (fairdarts/utils.py:L143-189).

  Per node, rank the incoming edges by their best weight (non-'none' ops),
  keep the top two; on each kept edge keep the best op only if its weight is
  >= op_threshold. Then drop the nodes left without an input from a live
  state (and the edges leaving them), recursively.

  Args:
    weights: float[num_edges, num_ops] gate values (sigmoid of the alphas).
    op_names: per-edge sequences of op names (or one shared sequence).
    steps: intermediate nodes.
    op_threshold: the minimum gate an op needs.

  Returns:
    (entries, concat): sparse entries [(op, node, input)] and the live nodes.
  """
  weights = [np.asarray(w, np.float64) for w in weights]
  if op_names and not isinstance(op_names[0], (list, tuple)):
    op_names = [tuple(op_names)] * len(weights)
  entries, live, start = [], {0, 1}, 0
  for i in range(steps):
    node, end = 2 + i, start + 2 + i
    scored = []
    for j in range(start, end):
      names = op_names[j]
      ks = [k for k, n in enumerate(names) if n != 'none'] or list(range(len(names)))
      k_best = max(ks, key=lambda k: weights[j][k])
      scored.append((weights[j][k_best], j - start, names[k_best]))
    for value, src, name in sorted(scored, key=lambda s: -s[0])[:2]:
      if value >= op_threshold and src in live:
        entries.append((name, node, src))
    if any(n == node for _, n, _ in entries):
      live.add(node)
    start = end
  return entries, sorted(live - {0, 1})


def genotype_to_dict(genotype):
  """JSON-friendly dict of a DARTS Genotype (pairs or, sparse form, triples as lists)."""
  return {'normal': [list(p) for p in genotype.normal],
          'normal_concat': list(genotype.normal_concat),
          'reduce': [list(p) for p in genotype.reduce],
          'reduce_concat': list(genotype.reduce_concat)}


def genotype_from_dict(d):
  """Inverse of genotype_to_dict."""
  def entries(cell):
    if any(len(e) == 3 for e in cell):
      return [(str(o), int(n), int(i)) for o, n, i in cell]
    return [(str(o), int(i)) for o, i in cell]

  try:
    return Genotype(normal=entries(d['normal']),
                    normal_concat=[int(c) for c in d['normal_concat']],
                    reduce=entries(d['reduce']),
                    reduce_concat=[int(c) for c in d['reduce_concat']])
  except (KeyError, TypeError, ValueError) as e:
    raise ValueError(f'not a DARTS genotype dict (needs normal, normal_concat, reduce, '
                     f'reduce_concat): {d!r}') from e


def parse_darts(text):
  """Parses a DARTS genotype from JSON, or a ``Genotype(normal=[...], ...)`` literal.

  Raises:
    ValueError: naming what was expected, for anything else.
  """
  text = text.strip()
  expected = ("a DARTS genotype: a Genotype(normal=[('op', input), ...], normal_concat=[...], "
              "reduce=[...], reduce_concat=[...]) literal or its JSON")
  if text.startswith('Genotype('):
    import ast  # pylint: disable=g-import-not-at-top
    try:
      call = ast.parse(text, mode='eval').body
    except SyntaxError as e:
      raise ValueError(f'{text[:60]!r} is not {expected} (syntax error: {e.msg})') from None
    fields = {kw.arg: kw.value for kw in call.keywords}
    d = {}
    for key in Genotype._fields:
      if key not in fields:
        raise ValueError(f'DARTS genotype literal misses field {key!r}: {text!r}')
      node = fields[key]
      try:
        if isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'range':
          d[key] = list(range(*[ast.literal_eval(a) for a in node.args]))
        else:
          d[key] = ast.literal_eval(node)
      except ValueError:
        raise ValueError(f'field {key!r} of {text[:60]!r} is not a literal; expected '
                         f'{expected}') from None
    return genotype_from_dict(d)
  try:
    blob = json.loads(text)
  except json.JSONDecodeError:
    raise ValueError(f'{text[:60]!r} is not {expected}') from None
  return genotype_from_dict(blob)


def derive_darts(weights_normal, weights_reduce, op_names=DARTS_OPS, steps=4, multiplier=4,
                 reduce_op_names=None):
  """The DARTS read-out rule (reference sect. 3.4) on mixing weights.

  For each intermediate node, rank its incoming edges by the largest weight of
  any op other than 'none', keep the top two, and give each the best non-'none'
  op. When an edge has no 'none' (RobustDARTS S1/S2/S4) the plain max is used.

  Args:
    weights_normal: float[14, num_ops] mixing weights (softmax of alphas) or a
      per-edge list of per-op weights whose op names come from `op_names`.
    weights_reduce: same for the reduction cell.
    op_names: column names; either one sequence shared by every edge, or a
      list with one sequence per edge (spaces such as S1 differ per edge).
    reduce_op_names: the reduction cell's column names when they differ from
      `op_names` (S1); same forms.
  """
  def per_edge_names(names, num_edges):
    if names and isinstance(names[0], (list, tuple)):
      return [tuple(n) for n in names]
    return [tuple(names)] * num_edges

  def parse(weights, op_names):
    weights = [np.asarray(w, np.float64) for w in weights]
    names = per_edge_names(op_names, len(weights))
    gene, start, n = [], 0, 2
    for _ in range(steps):
      end = start + n
      scored = []
      for j in range(start, end):
        ks = [k for k, name in enumerate(names[j]) if name != 'none'] or list(range(len(names[j])))
        k_best = max(ks, key=lambda k: weights[j][k])
        scored.append((weights[j][k_best], j - start, names[j][k_best]))
      top = sorted(scored, key=lambda s: -s[0])[:2]
      gene.extend((name, src) for _, src, name in top)
      start, n = end, n + 1
    return gene

  concat = list(range(2 + steps - multiplier, steps + 2))
  return Genotype(normal=parse(weights_normal, op_names), normal_concat=concat,
                  reduce=parse(weights_reduce, reduce_op_names or op_names), reduce_concat=concat)
