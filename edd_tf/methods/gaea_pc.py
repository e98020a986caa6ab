"""GAEA PC-DARTS: GAEA's EG steps on theta and on PC-DARTS-style edge weights b.

GAEA's DARTS-space method (../shared/docs/baselines.md part 1, sect. 2,
"Edge weights (GAEA PC-DARTS only)"; G cnn/architect/architect_edarts.py
49-72, 121-134; cnn/search_spaces/pc_darts/model_search.py:88-102):

  theta_e  per edge on the op simplex, as methods/gaea.py (init 1/|O|, EG
           with eta, floor 1e-5, row-normalised);
  b_e      per edge, each node's incoming edges on their own simplex,
           init 1 / (inputs to the node) = 1/2, 1/3, 1/4, 1/5;
           step  b <- b * exp(-edge_eta * grad_b), then divided by the
           per-node sum;
  node     sum_j b_e(j) * MixedOp_j,  MixedOp_j = sum_o theta_{j,o} o(x_j)
           (PC-DARTS partial channels K, config.model.partial_channels).

The public code has no clamp on b (its clamp lines are commented out); we
floor b at EDGE_FLOOR = 1e-12 before the per-node division, which leaves any
realistic step unchanged and only keeps a node whose weights all underflow
from dividing 0 by 0. One backward pass gives both gradients (b is folded into
the mixing weights, theta * b, as PC-DARTS folds beta_hat), then both EG steps.

Read-out: scores theta * b (architect.py:77-83), then the DARTS rule (per
node the top-2 edges by their largest non-'none' score, each with that op).
This is PC-DARTS' mixing and read-out with the `edge_weights` seam set to b
itself, and GAEA's arch step with `simplex_step` per node for b.
Config: configs/darts_cifar10_gaea_pc.py (config.gaea: eta, edge_eta).
"""

import numpy as np
import tensorflow as tf

from edd_tf.methods import gaea
from edd_tf.methods import pc_darts

EDGE_FLOOR = 1e-12   # our clamp of b (none in the public code; see the docstring)


def eg_update_per_node(b, grad, eta, groups):
  """One EG step of edge weights b[edges]: floor(b * exp(-eta * g)), then / the sum per node.

  Args:
    b: float32[edges], each group's entries summing to 1.
    grad: float32[edges], d loss / d b.
    eta: step size.
    groups: [(start, end)] rows of the edges entering each node.
  """
  b = tf.maximum(b * tf.exp(-eta * grad), EDGE_FLOOR)
  return tf.concat([b[s:e] / tf.reduce_sum(b[s:e]) for s, e in groups], 0)


class GaeaPC(pc_darts.PCDarts, gaea.Gaea):
  """theta (GAEA) and per-node simplex edge weights b, both by EG steps; PC-DARTS supernet."""

  name = 'gaea_pc'
  config_section = 'gaea'   # eta (theta) and edge_eta (b)

  @classmethod
  def check_config(cls, config):
    super().check_config(config)
    eta = config.gaea.get('edge_eta')
    if not isinstance(eta, (int, float)) or isinstance(eta, bool) or not eta > 0:
      raise ValueError(f'config.method=gaea_pc needs config.gaea.edge_eta, a number > 0 (the '
                       f'EG step of the edge weights; 0.1 in GAEA), got {eta!r}')

  def init_arch(self, rng):
    """theta = 1 / |O| per row; b = 1 / (inputs to the node) on each node's edges."""
    del rng
    out = {}
    for key, shape in self.arch_shapes().items():
      if len(shape) == 2:
        out[key] = np.full(shape, 1.0 / shape[-1], np.float32)
    for key in self.space.arch_shapes():
      b = np.zeros(out[key].shape[0], np.float32)
      for s, e in self.space.edge_groups(key):
        b[s:e] = 1.0 / (e - s)
      out[pc_darts.edge_key(key)] = b
    return {k: out[k] for k in self.arch_shapes()}

  def edge_weights(self, key, betas, softmax, concat):
    """b itself: it is on each node's simplex already (no softmax)."""
    del key, softmax, concat
    return betas

  def simplex_step(self, name, value, grad):
    for key in self.space.arch_shapes():
      if name == pc_darts.edge_key(key):
        return eg_update_per_node(value, grad, float(self.config.gaea.edge_eta),
                                  self.space.edge_groups(key))
    return super().simplex_step(name, value, grad)
