"""SDARTS-RS: the weight step on randomly perturbed mixing weights; the alpha step unchanged.

Per step (SmoothDARTS sota/cnn/train_search.py 201-234, attacker/perturb.py
47-50, model_search.py 160-177; ../shared/docs/baselines.md part 2, sect. 3):
the alpha step is plain first-order DARTS on the validation batch; the weight
step mixes with

  A' = normalise(clip(A + U(-eps, eps), 0, 1)),   A = softmax(alpha / t)

drawn per entry and step (stateless, from the step seed: a resumed run draws
the same noise), used directly as the mixing weights. The perturbation is on
A, not on the logits. A row that clips to all zeros gets a one at the argmax
of A + U (the code's "set its argmax entry to 1"). eps(e) = eps_min +
(eps_max - eps_min) e / E for the 0-based epoch e of E (eps_min 0.03, eps_max
0.3, every space).

Combines with sn-softmax and the temperature schedules (A is the method's
tempered mixing). SDARTS-ADV (the 7-step PGD attack): edd_tf/methods/sdarts_adv.py.
Configs: configs/nb201_cifar10_sdarts_rs.py, configs/darts_cifar10_sdarts_rs.py.
"""

import tensorflow as tf

from edd_tf.methods import base


def epsilon_at(epoch, epochs, eps_min, eps_max):
  """eps(e) = eps_min + (eps_max - eps_min) * e / E (SmoothDARTS train_search.py 169-171)."""
  return eps_min + (eps_max - eps_min) * epoch / epochs


def perturb(weights, epsilon, seed):
  """normalise(clip(weights + U(-eps, eps), 0, 1)) per row; float32[edges, ops]."""
  noisy = weights + tf.random.stateless_uniform(tf.shape(weights), seed, -epsilon, epsilon)
  clipped = tf.clip_by_value(noisy, 0.0, 1.0)
  dead = tf.reduce_sum(clipped, axis=-1, keepdims=True) <= 0.0
  one_hot = tf.one_hot(tf.argmax(noisy, axis=-1), tf.shape(weights)[-1], dtype=weights.dtype)
  clipped = tf.where(dead, one_hot, clipped)
  return clipped / tf.reduce_sum(clipped, axis=-1, keepdims=True)


class SDartsRS(base.Method):
  """First-order DARTS whose weight step sees randomly smoothed mixing weights."""

  name = 'sdarts_rs'

  @classmethod
  def check_config(cls, config):
    super().check_config(config)
    s = config.get('sdarts_rs')
    if s is None:
      raise ValueError('config.method=sdarts_rs needs config.sdarts_rs (eps_min, eps_max); see '
                       'configs/nb201_cifar10_sdarts_rs.py')
    if not 0 <= s.eps_min <= s.eps_max:
      raise ValueError(f'config.sdarts_rs needs 0 <= eps_min <= eps_max, got eps_min='
                       f'{s.eps_min!r}, eps_max={s.eps_max!r}')

  def build_state(self):
    self.epsilon = tf.Variable(0.0, trainable=False, name='sdarts_epsilon')

  def begin_epoch(self, epoch, epochs):
    s = self.config.sdarts_rs
    value = epsilon_at(epoch, epochs, s.eps_min, s.eps_max)
    self.epsilon.assign(value)
    return {'sdarts_epsilon': value}

  def weight_mixing(self, arch, temperature, seed):
    weights, indices = self.mixing(arch, temperature, seed)
    epsilon = tf.convert_to_tensor(self.epsilon)
    return {k: perturb(w, epsilon, tf.random.experimental.stateless_fold_in(seed, 1000 + i))
            for i, (k, w) in enumerate(sorted(weights.items()))}, indices
