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
`configs/nb201_cifar10_drnas.py` is the NB201 recipe.

Progressive learning (`config.drnas.progressive=True`, DARTS family only;
DrNAS DARTS-space/train_search.py:118-159, baselines.md part 1 sect. 1,
`configs/darts_cifar10_drnas.py`): the search runs in stages of
`stage_epochs` epochs, stage s with partial channels `stage_partial_channels[s]`
and `stage_keep_ops[s]` ops per edge. Entering stage s > 0 keeps the top
`stage_keep_ops[s]` ops of every edge by raw alpha (`prune`), sets the pruned
alphas to 0 and masks them: the Dirichlet sample is renormalised over the kept
ops (= Dir(beta_kept)), the read-out is softmax(alpha) masked and renormalised.
The searcher widens the supernet into the next stage's (nets/widening.py).
`config.search.arch_warmup_epochs` counts from each stage's start. The masks
are tf.Variables in the checkpoint; the stage follows from the epoch.
"""

import ml_collections
import numpy as np
import tensorflow as tf

from edd_tf.methods import base

REGULARISERS = ('l2', 'kl')
_GAMMA_FLOOR = 1e-30  # a Gamma sample can underflow to 0 at small concentrations


def concentration(alpha):
  """beta = ELU(alpha) + 1 (DrNAS utils.py), elementwise."""
  return tf.nn.elu(alpha) + 1.0


def dirichlet_sample(beta, seed, mask=None):
  """theta ~ Dir(beta) per row of beta (float32[edges, ops]), pathwise, from a stateless seed.

  With `mask` (float32[edges, ops] of 0/1), theta is 0 on the masked-out ops
  and renormalised over the kept ones: by the aggregation property a sample of
  Dir(beta_kept) (DrNAS utils.py:176-183).
  """
  g = tf.random.stateless_gamma(tf.shape(beta), seed=seed, alpha=beta)
  g = tf.maximum(g, _GAMMA_FLOOR)
  if mask is not None:
    g = g * mask
  return g / tf.reduce_sum(g, axis=-1, keepdims=True)


def prune(alpha, keep, mask):
  """float32[edges, ops] 0/1: per edge the `keep` kept ops (mask 1) with the largest raw alpha.

  Ties go to the lower column (a stable sort), DrNAS utils.py:197-207.
  """
  alpha, mask = np.asarray(alpha, np.float64), np.asarray(mask)
  out = np.zeros(alpha.shape, np.float32)
  for row in range(alpha.shape[0]):
    kept = [c for c in np.argsort(-alpha[row], kind='stable') if mask[row, c]]
    out[row, kept[:keep]] = 1.0
  return out


def masked_softmax(alpha, mask):
  """softmax(alpha) per row, 0 where mask is 0, renormalised (the progressive read-out)."""
  p = base.np_softmax(alpha) * np.asarray(mask, np.float64)
  return p / p.sum(axis=-1, keepdims=True)


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
    if d.get('progressive', False) not in (True, False):
      raise ValueError(f'config.drnas.progressive must be True or False, got {d.progressive!r}')
    if d.get('progressive', False):
      _check_stages(config)

  @classmethod
  def check_space(cls, space, config):
    d = config.get('drnas')
    if d is None or not d.get('progressive', False):
      return
    if space.family != 'darts':
      raise ValueError(f'config.drnas.progressive=True (partial channels K = '
                       f'{list(d.stage_partial_channels)}) needs a DARTS-family space (allowed '
                       f'config.space: darts_no_none, darts, s1-s4), got config.space='
                       f'{space.name!r}; on NB201 set config.drnas.progressive=False')
    ops = {n for _, n in space.arch_shapes().values()}
    if ops != {d.stage_keep_ops[0]}:
      raise ValueError(f'config.drnas.stage_keep_ops[0] must be the ops per edge of space '
                       f'{space.name!r} (allowed: {sorted(ops)}), got {d.stage_keep_ops[0]}')

  @property
  def progressive(self):
    return bool(self.config.drnas.get('progressive', False))

  # ---- stages (progressive learning) ---------------------------------------

  def build_state(self):
    if self.progressive:
      self.masks = {k: tf.Variable(np.ones(shape, np.float32), trainable=False,
                                   name=f'drnas_mask_{k}')
                    for k, shape in self.space.arch_shapes().items()}

  def checkpoint_items(self):
    if not self.progressive:
      return {}
    return {f'drnas_mask_{k}': v for k, v in self.masks.items()}

  def stage_model_configs(self, model_config):
    if not self.progressive:
      return [model_config]
    configs = []
    for k in self.config.drnas.stage_partial_channels:
      c = ml_collections.ConfigDict(model_config.to_dict())
      c.partial_channels = int(k)
      configs.append(c)
    return configs

  def _stage_starts(self):
    return np.cumsum([0] + list(self.config.drnas.stage_epochs))[:-1]

  def stage_of_epoch(self, epoch):
    if not self.progressive:
      return 0
    return int(np.searchsorted(self._stage_starts(), epoch, side='right')) - 1

  def epoch_in_stage(self, epoch):
    if not self.progressive:
      return epoch
    return epoch - int(self._stage_starts()[self.stage_of_epoch(epoch)])

  def active_ops(self):
    """The kept ops (mask 1): the pruned ones have mixing weight 0 and are not run."""
    if not self.progressive:
      return None
    return {k: v.numpy() > 0 for k, v in self.masks.items()}

  def enter_stage(self, stage, ctx):
    """Keeps the top stage_keep_ops[stage] ops per edge by raw alpha; pruned alphas -> 0."""
    keep = int(self.config.drnas.stage_keep_ops[stage])
    for key, mask in self.masks.items():
      alpha = ctx.arch[key]
      new_mask = prune(alpha.numpy(), keep, mask.numpy())
      mask.assign(new_mask)
      alpha.assign(alpha.numpy() * new_mask)

  # ---- mixing and read-out ---------------------------------------------------

  def mixing(self, arch, temperature, seed):
    del temperature
    keys = list(self.space.arch_shapes())
    return {k: dirichlet_sample(concentration(arch[k]),
                                tf.random.experimental.stateless_fold_in(seed, i),
                                tf.convert_to_tensor(self.masks[k]) if self.progressive else None)
            for i, k in enumerate(keys)}, None

  def entropies(self, arch, temperature):
    """E(H) of the masked softmax(A) and softmax(A / t) (progressive: over the kept ops)."""
    if not self.progressive:
      return super().entropies(arch, temperature)
    keys = list(self.space.arch_shapes())
    masks = {k: self.masks[k].numpy() for k in keys}
    plain = np.mean([base.entropy(masked_softmax(arch[k], masks[k])) for k in keys])
    tempered = np.mean([base.entropy(masked_softmax(np.asarray(arch[k], np.float64) / temperature,
                                                    masks[k])) for k in keys])
    return float(plain), float(tempered)

  def readout_weights(self, arch):
    """softmax(alpha) per edge, masked and renormalised over the kept ops (progressive)."""
    if not self.progressive:
      return super().readout_weights(arch)
    return {k: masked_softmax(arch[k], self.masks[k].numpy()) for k in self.space.arch_shapes()}

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


def _check_stages(config):
  """The progressive fields of config.drnas (ValueError naming the field)."""
  d = config.drnas
  fields = ('stage_epochs', 'stage_partial_channels', 'stage_keep_ops')
  for field in fields:
    if field not in d:
      raise ValueError(f'config.drnas.progressive=True needs config.drnas.{field} (one value '
                       f'per stage); see configs/darts_cifar10_drnas.py')
  lengths = {len(d[f]) for f in fields}
  if len(lengths) != 1 or 0 in lengths:
    raise ValueError('config.drnas.stage_epochs, stage_partial_channels and stage_keep_ops need '
                     f'one value per stage each, got {[list(d[f]) for f in fields]}')
  if any(not isinstance(e, int) or e < 1 for e in d.stage_epochs):
    raise ValueError(f'config.drnas.stage_epochs must be integers >= 1, got {list(d.stage_epochs)}')
  if sum(d.stage_epochs) != config.search.epochs:
    raise ValueError(f'config.search.epochs={config.search.epochs} must equal the sum of '
                     f'config.drnas.stage_epochs {list(d.stage_epochs)} ({sum(d.stage_epochs)}): '
                     'the learning rate decays over all stages')
  ks = list(d.stage_partial_channels)
  if ks[0] != config.model.get('partial_channels', 1):
    raise ValueError(f'config.model.partial_channels={config.model.get("partial_channels", 1)} '
                     f'must be config.drnas.stage_partial_channels[0]={ks[0]} (the first stage)')
  if any(not isinstance(k, int) or k < 1 for k in ks) or ks != sorted(ks, reverse=True):
    raise ValueError(f'config.drnas.stage_partial_channels must be integers >= 1, non-increasing '
                     f'(the ops widen from C/K to C/K\'), got {ks}')
  for k in ks:
    if config.model.channels % k:
      raise ValueError(f'config.drnas.stage_partial_channels={ks}: every K must divide '
                       f'config.model.channels={config.model.channels}, {k} does not')
  keep = list(d.stage_keep_ops)
  if any(not isinstance(n, int) or n < 1 for n in keep) or keep != sorted(keep, reverse=True):
    raise ValueError(f'config.drnas.stage_keep_ops must be integers >= 1, non-increasing, got '
                     f'{keep}')
