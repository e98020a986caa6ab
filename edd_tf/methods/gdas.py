"""GDAS (reference sect. 2.2, 2.6): one straight-through Gumbel sample per edge.

Every step draws hard one-hot weights per edge from
softmax((log_softmax(alpha) + g) / tau) (softmax.gumbel_softmax_sample, with a
stateless seed of the step, so a resumed run draws the same samples) and the
supernet runs only the sampled op (AutoDL forward_gdas). tau is the scheduled
temperature: linear 10 -> 0.1 for GDAS (configs/nb201_cifar10_gdas.py), ETS
for ETS-GDAS. The weight step uses its own sample (GDAS.py samples in every
forward).
"""

from edd_tf.arch import softmax as softmax_lib
from edd_tf.methods import base


class Gdas(base.Method):
  name = 'gdas'
  hard_sampling = True

  @classmethod
  def check_config(cls, config):
    # The Gumbel sample replaces the (sn-)softmax; config.softmax is unused.
    del config

  def mixing(self, arch, temperature, seed):
    weights, indices = {}, {}
    for n, key in enumerate(self.space.arch_shapes()):
      weights[key], indices[key] = softmax_lib.gumbel_softmax_sample(
          arch[key], temperature, seed + [0, 7919 * n])
    return weights, indices
