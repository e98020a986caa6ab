"""PC-DARTS' edge normalisation (reference sect. 4.2) on top of DARTS mixing.

Each cell type gets edge logits `betas_<cell>: float32[14]`; per node, a
softmax over its incoming edges gives beta_hat, and node = sum_j beta_hat_j *
MixedOp_j(h_j, alpha_hat_j). Folding beta_hat into the op weights gives the
same sum, so the supernet is unchanged: weights[j, :] = alpha_hat[j, :] *
beta_hat[j]. The read-out uses the same product (sect. 4.2: W = softmax(alpha)
* beta_hat). Partial channels (K) are the supernet's `model.partial_channels`;
the alpha warm-up (15 epochs) is `search.arch_warmup_epochs`.

The seam: `edge_weights` turns the edge variables into beta_hat (here the
per-node softmax); a method that keeps its edge weights on the per-node
simplex itself (GAEA PC-DARTS, methods/gaea_pc.py) overrides it to use them
as they are, and `mixing` / `readout_weights` call `super()` for the op
weights, so a subclass may take those from another method (GAEA's theta).
"""

import numpy as np
import tensorflow as tf

from edd_tf.methods import base


def edge_key(key):
  """'alphas_normal' -> 'betas_normal' (PyTorch's names)."""
  return 'betas' + key[len('alphas'):]


class PCDarts(base.Method):
  name = 'pc_darts'

  def arch_shapes(self):
    shapes = dict(self.space.arch_shapes())
    for key, (edges, _) in self.space.arch_shapes().items():
      shapes[edge_key(key)] = (edges,)
    return shapes

  def edge_weights(self, key, betas, softmax, concat):
    """beta_hat[edges] of cell `key` from its edge variables: per node, softmax over its edges.

    `softmax` and `concat` are TensorFlow's (mixing) or NumPy's (read-out).
    """
    return concat([softmax(betas[start:end]) for start, end in self.space.edge_groups(key)])

  def mixing(self, arch, temperature, seed):
    weights, _ = super().mixing(arch, temperature, seed)
    out = {}
    for key, w in weights.items():
      beta_hat = self.edge_weights(key, arch[edge_key(key)], tf.nn.softmax,
                                   lambda parts: tf.concat(parts, 0))
      out[key] = w * beta_hat[:, None]
    return out, None

  def readout_weights(self, arch):
    out = {}
    for key, w in super().readout_weights(arch).items():
      beta_hat = self.edge_weights(key, arch[edge_key(key)], base.np_softmax, np.concatenate)
      out[key] = w * beta_hat[:, None]
    return out
