r"""SDARTS-ADV on NAS-Bench-201 / CIFAR-10: SDARTS-RS's recipe with the PGD attack.

The recipe of configs/nb201_cifar10_sdarts_rs.py (SmoothDARTS
nasbench201/train_search.py 35-56; ../shared/docs/baselines.md part 2,
sect. 3); the weight step mixes with the 7-step PGD perturbation of
softmax(alpha) within eps (0.03 -> 0.3), found with BN in inference mode and
reverted when it did not raise the loss (edd_tf/methods/sdarts_adv.py).

  python -m binaries.search --config=configs/nb201_cifar10_sdarts_adv.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_sdarts_adv

No paper number is given here: whether SDARTS reports NB201 results was not
confirmed (baselines.md part 2, sect. 8).
"""

from configs import nb201_cifar10_sdarts_rs


def get_config():
  config = nb201_cifar10_sdarts_rs.get_config()
  config.method = 'sdarts_adv'
  with config.sdarts_rs.unlocked():
    config.sdarts_rs.pgd_steps = 7
  return config
