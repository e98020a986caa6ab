"""What a search method is: architecture variables, mixing weights, the alpha step.

A method is one module behind the registry in `edd_tf/methods/__init__.py`
(quark0/darts' `Architect` cut, reference style.md "Growing"). It

  * names and initialises its architecture variables (`init_arch`): the
    space's logits, plus anything of its own (PC-DARTS' edge betas);
  * turns them into the supernet's mixing weights for a temperature and a
    step seed (`mixing`), returning `(weights, indices)` where `indices` is
    None or asks the supernet to run only one op per edge (GDAS);
  * computes the architecture gradient from both batches (`arch_gradients`;
    `arch_step` applies it), using the `StepContext` the searcher hands it:
    the model, the loss, `gradients` (loss-scaled under mixed_float16; the
    weight step's scale: `weight_gradients`), the one gradient pipeline, the
    weight optimizer and its learning rate.

The weight step, gradient reduction and distribution are the searcher's.
"""

import numpy as np
import tensorflow as tf

from edd_tf.arch import softmax as softmax_lib

SOFTMAX_KINDS = ('plain', 'sn')


def check_softmax_config(softmax_config):
  """Raises ValueError naming the field for a bad `config.softmax`."""
  if softmax_config.kind not in SOFTMAX_KINDS:
    raise ValueError(f'unknown config.softmax.kind {softmax_config.kind!r}; '
                     f'allowed: {list(SOFTMAX_KINDS)}')
  if softmax_config.kind == 'sn':
    s, st = softmax_config.s, softmax_config.st
    if bool(s) == bool(st):
      raise ValueError('config.softmax.kind=sn needs exactly one of config.softmax.s (> 1) and '
                       f'config.softmax.st (> 0); the other 0. Got s={s}, st={st}')
    if s and s <= 1:
      raise ValueError(f'config.softmax.s must be > 1, got {s}')
    if st and st <= 0:
      raise ValueError(f'config.softmax.st must be > 0, got {st}')


def tempered_softmax(logits, temperature, softmax_config):
  """(sn-)softmax(logits / t) (Eq. 3; Alg. 1 when config.softmax.kind == 'sn')."""
  if softmax_config.kind == 'plain':
    return softmax_lib.sn_softmax(logits, temperature)
  return softmax_lib.sn_softmax(logits, temperature, s=softmax_config.s or None,
                                st=softmax_config.st or None)


def np_softmax(x, axis=-1):
  x = np.asarray(x, np.float64)
  e = np.exp(x - x.max(axis=axis, keepdims=True))
  return e / e.sum(axis=axis, keepdims=True)


def entropy(probs):
  """Mean over rows of -sum p log p (0 log 0 = 0)."""
  p = np.asarray(probs, np.float64)
  return float(np.mean(-np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), -1)))


class Method:
  """First-order bilevel DARTS (Liu et al., Eq. 1 with xi = 0) with a tempered mixing.

  Subclasses override what differs; every hook has the DARTS behaviour here.
  """

  name = 'darts'
  # True when the supernet runs only the op picked per edge (GDAS).
  hard_sampling = False
  # True when arch_gradients all-reduces inside the forward/backward pass (the
  # second-order virtual step): it cannot be XLA-compiled on several replicas.
  all_reduces_in_gradients = False
  # The config section of the method's own settings; None = its name (config.drnas).
  config_section = None
  # True when `mixing` adds the supernet's aux-skip coefficient (DARTS-); a
  # config with config.model.aux_skip=True is refused for the other methods.
  mixes_aux_skip = False

  def __init__(self, config, space):
    self.config = config
    self.space = space

  @classmethod
  def check_config(cls, config):
    """Raises ValueError naming a config field this method cannot use."""
    check_softmax_config(config.softmax)

  @classmethod
  def check_space(cls, space, config):
    """Raises ValueError when the method (under `config`) cannot search `space` (config.space)."""
    del space, config

  # ---- state of the method's own ------------------------------------------

  def build_state(self):
    """Creates the method's own tf.Variables (not architecture variables).

    Called once by the searcher inside its strategy scope, before any step.
    Values a method derives from the epoch (beta-DARTS' lambda) are set in
    `begin_epoch`, so a resumed run recomputes them and nothing needs saving.
    """

  def begin_epoch(self, epoch, epochs):
    """Sets per-epoch values (0-based epoch of `epochs`); returns {name: float} to log."""
    del epoch, epochs
    return {}

  def checkpoint_items(self):
    """{name: tf.Variable} of `build_state` that a resumed run must restore (none here)."""
    return {}

  # ---- stages (a search whose supernet changes at epoch boundaries) --------

  def stage_model_configs(self, model_config):
    """The config.model of every stage's supernet, in order: one stage here.

    A multi-stage method (DrNAS' progressive recipe) returns one per stage; the
    searcher builds them all, trains the one of `stage_of_epoch(epoch)` and,
    on entering stage s, widens stage s - 1's weights and momenta into it
    (nets/widening.py) and calls `enter_stage`.
    """
    return [model_config]

  def stage_of_epoch(self, epoch):
    """The 0-based stage of the 0-based epoch `epoch`."""
    del epoch
    return 0

  def epoch_in_stage(self, epoch):
    """`epoch` counted from the start of its stage (config.search.arch_warmup_epochs counts these)."""
    return epoch

  def active_ops(self):
    """{space key: bool[edges, ops]} of the ops the supernet must run, or None (all)."""
    return None

  def enter_stage(self, stage, ctx):
    """The method's part of the change into `stage` (once; ctx is the searcher)."""
    del stage, ctx

  # ---- variables ----------------------------------------------------------

  def arch_shapes(self):
    """{name: shape} of every architecture variable."""
    return dict(self.space.arch_shapes())

  def init_arch(self, rng):
    """1e-3 * N(0, 1) for every variable (DARTS / NB201, reference 2.3, 3.3)."""
    return {k: (1e-3 * rng.standard_normal(s)).astype(np.float32)
            for k, s in self.arch_shapes().items()}

  # ---- mixing -------------------------------------------------------------

  def mixing(self, arch, temperature, seed):
    """(weights, indices) for the supernet.

    Args:
      arch: {name: float32 tensor} architecture variables.
      temperature: scalar float32 tensor t.
      seed: int32[2] stateless seed of this step (unused by deterministic
        methods).

    Returns:
      ({space key: float32[edges, ops]}, None or {space key: int32[edges]}).
    """
    del seed
    return {k: tempered_softmax(arch[k], temperature, self.config.softmax)
            for k in self.space.arch_shapes()}, None

  def weight_mixing(self, arch, temperature, seed):
    """(weights, indices) of the weight step (no gradient flows to arch): `mixing` here.

    A method that perturbs the weight step's mixing (SDARTS) overrides this;
    the alpha step keeps `mixing`.
    """
    return self.mixing(arch, temperature, seed)

  def weight_step_mixing(self, ctx, images, labels, seed):
    """(weights, indices) the weight step trains on; ctx is the StepContext (searcher).

    Default: `weight_mixing` of the context's arch and temperature. A method whose
    perturbation needs the batch (SDARTS-ADV's attack) overrides this.
    """
    del images, labels
    return self.weight_mixing(ctx.arch_tensors(), ctx.temperature_tensor(), seed)

  def readout_weights(self, arch):
    """{space key: float[edges, ops]} the genotype is read from: softmax(alphas)."""
    return {k: np_softmax(arch[k]) for k in self.space.arch_shapes()}

  def genotype(self, arch):
    """The genotype read out of the architecture variables: `space.derive(readout_weights)`."""
    return self.space.derive(self.readout_weights(arch))

  def entropies(self, arch, temperature):
    """E(H) (Eq. 13) of softmax(A) and of the tempered softmax(A / t), over all edges."""
    keys = list(self.space.arch_shapes())
    plain = np.mean([entropy(np_softmax(arch[k])) for k in keys])
    tempered = np.mean([entropy(np_softmax(np.asarray(arch[k], np.float64) / temperature))
                        for k in keys])
    return float(plain), float(tempered)

  # ---- the architecture step ----------------------------------------------

  def arch_loss(self, ctx, images, labels, seed):
    """(loss, correct) of the supernet under this method's mixing, on one batch."""
    weights, indices = self.mixing(ctx.arch_tensors(), ctx.temperature_tensor(), seed)
    return ctx.loss(labels, ctx.model(images, weights, indices, training=True,
                                      drop_path=ctx.drop_path(seed)))

  def arch_gradients(self, ctx, train_batch, val_batch, seed):
    """First order: grad_alpha L_val(w, alpha) (Eq. 1, xi = 0).

    The forward/backward of the alpha step, in replica context, without any
    update (the searcher XLA-compiles it under config.jit_compile; all-reduce
    and apply come after, outside). Differentiate with `ctx.gradients`, which
    applies the loss scale of mixed_float16.

    Returns:
      (grads for ctx.arch_sources(), val loss, val correct).
    """
    del train_batch
    with tf.GradientTape() as tape:
      loss, correct = self.arch_loss(ctx, *val_batch, seed)
    return ctx.gradients(tape, loss, ctx.arch_sources()), loss, correct

  def arch_step(self, ctx, train_batch, val_batch, seed):
    """alphas <- Adam on `arch_gradients` (through the one gradient pipeline).

    Runs in replica context. Returns (val loss, val correct, alpha grad norm).
    """
    grads, loss, correct = ctx.arch_gradients(train_batch, val_batch, seed)
    return loss, correct, ctx.apply_arch_gradients(grads)
