"""DrNAS: Dirichlet mixing weights with a pathwise (reparameterised) sample per edge and step.

  beta_e = ELU(alpha_e) + 1            (concentration, > 0; ~1 at alpha ~ 0)
  theta_e ~ Dir(beta_e):  g_k ~ Gamma(beta_k, 1),  theta = g / sum g

(xiangning-chen/DrNAS utils.py:170-172, 201-space/search_model.py:122;
../shared/docs/baselines.md part 1, sect. 1). Each forward draws its own
sample (the weight step and the alpha step each one), shared by every cell of
a type; here it is a stateless draw seeded by the step seed, so a resumed run
draws the same samples. TF's Gamma sampler has implicit reparameterisation
gradients (Figurnov et al. 2018), so grad_alpha of the validation loss flows
through the sample; tests/methods/test_drnas.py checks them against the
analytic gradient of E[theta].

Regulariser (`config.drnas.reg`): 'l2' (default) is the coupled L2 of 1e-3 on
alpha that Adam's weight decay already applies (config.optim.arch
.weight_decay); 'kl' adds reg_scale * sum_e KL(Dir(beta_e) || Dir(1)) to the
alpha loss (closed form, `kl_to_uniform`) and needs the Adam decay at 0.

Read-out: argmax of softmax(alpha) per edge (not the Dirichlet mean; the
base method's rule). Not combinable with a temperature: the mixing is a
Dirichlet sample, so `check_config` asks for the constant schedule at t = 1.
The DARTS-space progressive recipe (K = 6 -> 4, top-4 ops, widening) is not
built yet; `configs/nb201_cifar10_drnas.py` is the NB201 recipe.
"""

import tensorflow as tf

from edd_tf.methods import base

REGULARISERS = ('l2', 'kl')
_GAMMA_FLOOR = 1e-30  # a Gamma sample can underflow to 0 at small concentrations


def concentration(alpha):
  """beta = ELU(alpha) + 1 (DrNAS utils.py), elementwise."""
  return tf.nn.elu(alpha) + 1.0


def dirichlet_sample(beta, seed):
  """theta ~ Dir(beta) per row of beta (float32[edges, ops]), pathwise, from a stateless seed."""
  g = tf.random.stateless_gamma(tf.shape(beta), seed=seed, alpha=beta)
  g = tf.maximum(g, _GAMMA_FLOOR)
  return g / tf.reduce_sum(g, axis=-1, keepdims=True)


def kl_to_uniform(beta):
  """sum over rows of KL(Dir(beta_e) || Dir(1)) in closed form.

  KL = lnG(b0) - sum lnG(b_k) - ln((K-1)!) + sum (b_k - 1)(psi(b_k) - psi(b0)),
  b0 = sum_k b_k, K = ops (DrNAS 201-space/search_model.py:57-72).
  """
  k = tf.cast(tf.shape(beta)[-1], beta.dtype)
  b0 = tf.reduce_sum(beta, axis=-1)
  kl = (tf.math.lgamma(b0) - tf.reduce_sum(tf.math.lgamma(beta), axis=-1) - tf.math.lgamma(k)
        + tf.reduce_sum((beta - 1.0) * (tf.math.digamma(beta) - tf.math.digamma(b0)[..., None]),
                        axis=-1))
  return tf.reduce_sum(kl)


class DrNAS(base.Method):
  """First-order bilevel search on Dirichlet-sampled mixing weights."""

  name = 'drnas'

  @classmethod
  def check_config(cls, config):
    super().check_config(config)
    if config.schedule.name != 'constant' or config.schedule.t0 != 1.0:
      raise ValueError(f'config.method=drnas mixes with a Dirichlet sample, not a tempered '
                       f'softmax: set config.schedule.name=constant and config.schedule.t0=1 '
                       f'(got {config.schedule.name!r}, t0={config.schedule.t0})')
    d = config.get('drnas')
    if d is None:
      raise ValueError('config.method=drnas needs config.drnas (reg, reg_scale); see '
                       'configs/nb201_cifar10_drnas.py')
    if d.reg not in REGULARISERS:
      raise ValueError(f'unknown config.drnas.reg {d.reg!r}; allowed: {list(REGULARISERS)}')
    if not d.reg_scale >= 0:
      raise ValueError(f'config.drnas.reg_scale must be >= 0, got {d.reg_scale!r}')
    if d.reg == 'kl' and config.optim.arch.weight_decay:
      raise ValueError('config.drnas.reg=kl replaces the L2 on alpha: set '
                       f'config.optim.arch.weight_decay=0 (got {config.optim.arch.weight_decay})')

  def mixing(self, arch, temperature, seed):
    del temperature
    keys = list(self.space.arch_shapes())
    return {k: dirichlet_sample(concentration(arch[k]),
                                tf.random.experimental.stateless_fold_in(seed, i))
            for i, k in enumerate(keys)}, None

  def arch_gradients(self, ctx, train_batch, val_batch, seed):
    """grad_alpha of E_theta[L_val] (one pathwise sample) [+ reg_scale * KL]."""
    del train_batch
    d = self.config.drnas
    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    with tf.GradientTape() as tape:
      loss, correct = self.arch_loss(ctx, *val_batch, seed)
      total = loss
      if d.reg == 'kl':
        arch = ctx.arch_tensors()
        kl = tf.add_n([kl_to_uniform(concentration(arch[k])) for k in self.space.arch_shapes()])
        total = loss + tf.cast(d.reg_scale * kl / replicas, loss.dtype)
    return ctx.gradients(tape, total, ctx.arch_sources()), loss, correct
