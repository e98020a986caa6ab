"""`MixingEdit`: a procedure's decisions applied to every mixing the supernet sees.

A search procedure that decides edges (DARTS+PT's projections, SGAS' edge
decisions) turns them into one affine edit of the mixing weights,

  w'[e, :] = w[e, :] * keep[e, :] + add[e, :]

with, per edge e of a space key (its matrix of architecture variables):

  * undecided: keep = 1, add = 0 (unchanged);
  * fixed to op o: keep = 0, add = one-hot(o) (DARTS+PT's projected edge,
    SGAS' decided edge: only o runs, with weight 1);
  * pruned: keep = 0, add = 0 (the edge contributes nothing; SGAS' node with
    two decided inputs, DARTS+PT's topology step).

The edit is idempotent (keep is 0 wherever add is not), so weights that
already went through it (a measurement's masked copy) pass unchanged. The
supernet applies it at the top of its call (`model.mixing_edit`), so the
weight step, the alpha step of every method, the Hessian and the
evaluations all see the decisions. A decided (fixed or pruned) edge's
architecture variables are held where they were (`hold`): nothing trains
them any more (SGAS freezes the decided edge's alpha).

The decisions are a JSON list (a procedure's state): {'kind': 'fix' | 'prune',
'key': space key, 'edge': row, 'op': column (fix only)}; `set_decisions`
rebuilds the edit from it, so a resumed search recreates the same edit.
"""

import numpy as np
import tensorflow as tf

KINDS = ('fix', 'prune')


def edit_arrays(shapes, decisions):
  """{key: (keep, add, decided)} numpy arrays for `decisions` (see the module docstring)."""
  out = {k: (np.ones(s, np.float32), np.zeros(s, np.float32), np.zeros(s[0], bool))
         for k, s in shapes.items()}
  for d in decisions:
    kind, key, edge = d['kind'], d['key'], int(d['edge'])
    if kind not in KINDS:
      raise ValueError(f'unknown edge decision {kind!r}; known: {list(KINDS)}')
    if key not in out or not 0 <= edge < shapes[key][0]:
      raise ValueError(f'edge decision on {key!r} row {edge}: not an edge of {shapes}')
    keep, add, decided = out[key]
    if decided[edge]:
      raise ValueError(f'edge {edge} of {key!r} was decided twice')
    keep[edge] = 0.0
    add[edge] = 0.0
    if kind == 'fix':
      add[edge, int(d['op'])] = 1.0
    decided[edge] = True
  return out


class MixingEdit:
  """The edit's variables for the space keys `shapes` ({key: (edges, ops)})."""

  def __init__(self, shapes):
    self.shapes = {k: tuple(s) for k, s in shapes.items()}
    arrays = edit_arrays(self.shapes, [])
    self.keep = {k: tf.Variable(a[0], trainable=False, name=f'keep_{k}')
                 for k, a in arrays.items()}
    self.add = {k: tf.Variable(a[1], trainable=False, name=f'add_{k}')
                for k, a in arrays.items()}
    self.decided = {k: tf.Variable(a[2], trainable=False, name=f'decided_{k}')
                    for k, a in arrays.items()}
    self.decisions = []

  def set_decisions(self, decisions):
    """Assigns the edit of `decisions`; returns True when it changed."""
    decisions = [dict(d) for d in decisions]
    if decisions == self.decisions:
      return False
    for k, (keep, add, decided) in edit_arrays(self.shapes, decisions).items():
      self.keep[k].assign(keep)
      self.add[k].assign(add)
      self.decided[k].assign(decided)
    self.decisions = decisions
    return True

  def apply(self, weights):
    """The edited mixing weights (other entries of `weights`, e.g. DARTS-' beta, unchanged)."""
    out = dict(weights)
    for k in self.shapes:
      w = tf.convert_to_tensor(weights[k])
      out[k] = w * tf.cast(self.keep[k], w.dtype) + tf.cast(self.add[k], w.dtype)
    return out

  def apply_numpy(self, weights):
    """`apply` on numpy arrays (the read-out)."""
    out = dict(weights)
    for k in self.shapes:
      out[k] = np.asarray(weights[k]) * self.keep[k].numpy() + self.add[k].numpy()
    return out

  def active_ops(self):
    """{key: bool[edges, ops]}: the ops whose edited weight can be non-zero."""
    return {k: (self.keep[k].numpy() > 0) | (self.add[k].numpy() > 0) for k in self.shapes}

  def hold(self, arch, before):
    """Puts the decided rows of `arch` ({key: variable}) back to `before` ({key: tensor})."""
    for k in self.shapes:
      if k in arch:
        arch[k].assign(tf.where(self.decided[k][:, None], before[k], arch[k]))
