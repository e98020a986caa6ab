"""beta-DARTS: first-order DARTS plus a logsumexp ("beta-decay") regulariser on the alphas.

  L_arch = L_val + lambda(e) * R(alpha),   R = (1/E) sum_e logsumexp_o alpha_{e,o}

on the architecture loss only (Sunshine-Ye/Beta-DARTS optimizers/darts/
architect.py:55-59, 80-85; ../shared/docs/baselines.md part 1, sect. 3). Its
gradient is lambda * softmax(alpha_e) / E: a decay proportional to each op's
activated weight. lambda(e) = lambda_max * e / lambda_epochs for the 0-based
epoch e, constant within an epoch; the public code hard-codes
lambda_max = 50, lambda_epochs = 100 (so a 50-epoch run ends at 24.5, not 50),
which are the defaults here. Adam's coupled L2 of 1e-3 on alpha stays on.

DARTS family: R is the per-cell-type mean, summed over the normal and the
reduce cell (mean over the 14 normal edges + mean over the 14 reduce edges).
The public DARTS-space code does not run (TypeError on the alpha list), so
this is our reading: each cell type gets the per-edge pressure the NB201 cell
gets (WORKSPACE.md "Decisions").

Mixing is the base method's: softmax(alpha / t), so beta-DARTS combines with
sn-softmax and the ETS / EDD temperature schedules (a valid config; the
regulariser then acts on the logits, not on the tempered weights). Read-out:
argmax of softmax(alpha) ('none' allowed on NB201), top-2 in the DARTS family.

Configs: configs/nb201_cifar10_beta_darts.py, configs/darts_cifar10_beta_darts.py.
"""

import tensorflow as tf

from edd_tf.methods import base


def logsumexp_regulariser(arch, keys):
  """R(alpha): the mean over edges of logsumexp over ops, summed over `keys` (cell types)."""
  return tf.add_n([tf.reduce_mean(tf.reduce_logsumexp(arch[k], axis=-1)) for k in keys])


def lambda_at(epoch, lam_max, lam_epochs):
  """lambda(e) = lam_max * e / lam_epochs, e the 0-based epoch (Beta-DARTS train_search.py)."""
  return lam_max * epoch / lam_epochs


class BetaDarts(base.Method):
  """First-order DARTS with the beta-decay regulariser on the alpha step's loss."""

  name = 'beta_darts'

  @classmethod
  def check_config(cls, config):
    super().check_config(config)
    if 'beta_darts' not in config:
      raise ValueError('config.method=beta_darts needs config.beta_darts (lam_max, lam_epochs); '
                       'see configs/nb201_cifar10_beta_darts.py')
    b = config.beta_darts
    if not b.lam_max >= 0:
      raise ValueError(f'config.beta_darts.lam_max must be >= 0, got {b.lam_max!r}')
    if not b.lam_epochs > 0:
      raise ValueError(f'config.beta_darts.lam_epochs must be > 0, got {b.lam_epochs!r}')

  def build_state(self):
    self.lam = tf.Variable(0.0, trainable=False, name='beta_darts_lambda')

  def begin_epoch(self, epoch, epochs):
    del epochs  # lambda_epochs is its own setting (the public code divides by 100)
    b = self.config.beta_darts
    value = lambda_at(epoch, b.lam_max, b.lam_epochs)
    self.lam.assign(value)
    return {'beta_lambda': value}

  def arch_gradients(self, ctx, train_batch, val_batch, seed):
    """grad_alpha [L_val + lambda R(alpha)]; reports L_val alone as the val loss."""
    del train_batch
    replicas = tf.distribute.get_replica_context().num_replicas_in_sync
    with tf.GradientTape() as tape:
      loss, correct = self.arch_loss(ctx, *val_batch, seed)
      # Each replica adds its share: the all-reduced gradient has R's once.
      reg = logsumexp_regulariser(ctx.arch_tensors(), list(self.space.arch_shapes()))
      total = loss + tf.cast(self.lam, loss.dtype) * tf.cast(reg, loss.dtype) / replicas
    return ctx.gradients(tape, total, ctx.arch_sources()), loss, correct
