"""What a search space is: its architecture variables, supernet, read-out and networks.

A space is one module behind the registry in `edd_tf/spaces/__init__.py`. The
search loop and the methods only talk to this interface, so no code outside a
space's own module asks which space it is.

Architecture variables are named by the space (`arch_shapes()`): NB201 has one
matrix `alphas` shared by every cell, the DARTS family `alphas_normal` and
`alphas_reduce`. Mixing weights passed to the supernet use the same keys.
"""

import abc

import numpy as np


class Space(abc.ABC):
  """A cell search space.

  Attributes:
    name: the registry key (`config.space`).
    family: the genotype family ('nb201' or 'darts'); the final networks of
      `finalnet.NETWORKS` name the family they take.
  """

  name = None
  family = None

  # ---- architecture variables ---------------------------------------------

  @abc.abstractmethod
  def arch_shapes(self):
    """{variable name: (num_edges, num_ops)} of the architecture logits."""

  @abc.abstractmethod
  def op_names(self, key):
    """Per-edge tuples of op names (the columns of `key`'s matrix)."""

  @abc.abstractmethod
  def edge_names(self, key):
    """Human-readable name of every row of `key`'s matrix, e.g. '1<-0'."""

  @abc.abstractmethod
  def edge_groups(self, key):
    """[(start, end)]: the rows of the edges entering each intermediate node."""

  # ---- networks -----------------------------------------------------------

  @abc.abstractmethod
  def check_model_config(self, model_config):
    """Raises ValueError naming the `config.model` field the space cannot build."""

  @abc.abstractmethod
  def build_supernet(self, num_classes, model_config):
    """The supernet: `model(images, weights, indices=None, training=..., drop_path=None)`.

    `weights` maps every key of `arch_shapes()` to float32[edges, ops] mixing
    weights; `indices` (optional, same keys, int32[edges]) asks the supernet to
    run only that op per edge (GDAS); `drop_path` (optional, (float32 rate,
    int32[2] seed)) drops every mixed edge's output per sample in training
    mode (R-DARTS; `nets.mixed_op.drop_edge`).
    """

  def dummy_weights(self):
    """Uniform mixing weights, e.g. to build the supernet."""
    return {k: np.full(s, 1.0 / s[1], np.float32) for k, s in self.arch_shapes().items()}

  # ---- genotypes ----------------------------------------------------------

  @abc.abstractmethod
  def derive(self, weights):
    """The genotype read out of mixing weights {key: float[edges, ops]}."""

  @abc.abstractmethod
  def discretize(self, genotype):
    """{key: float32 one-hot[edges, ops]}: mixing weights of the discrete cell."""

  @abc.abstractmethod
  def genotype_to_json(self, genotype):
    """JSON value of a genotype (written to genotype.json)."""

  @abc.abstractmethod
  def parse_genotype(self, value):
    """Inverse of `genotype_to_json` (also accepts the printed form); ValueError if bad."""

  def genotype_text(self, genotype):
    """One-line text of a genotype (logs, TensorBoard)."""
    return str(genotype)

  # ---- benchmark ----------------------------------------------------------

  def load_benchmark(self, benchmark_config):
    """A results table with `lookup(genotype) -> dict` for this space, or None."""
    del benchmark_config
    return None


def one_hot_rows(indices, num_ops):
  """float32[len(indices), num_ops]; a row with index None stays all-zero."""
  out = np.zeros((len(indices), num_ops), np.float32)
  for row, k in enumerate(indices):
    if k is not None:
      out[row, k] = 1.0
  return out
