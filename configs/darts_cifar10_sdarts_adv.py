r"""SDARTS-ADV in the DARTS space on CIFAR-10 (first order, as the SmoothDARTS scripts run it).

SmoothDARTS sota/cnn/train_search.py (../shared/docs/baselines.md part 2,
sect. 0 and 3): the RobustDARTS protocol (50 epochs, 8 cells, C = 16, batch
64, SGD 0.025 -> 0.001, wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), decay 1e-3;
alpha step first), the weight step on perturbed softmax(alpha), eps 0.03 ->
0.3. For S1-S4: --config.space=s1 ... s4.

  python -m binaries.search --config=configs/darts_cifar10_sdarts_adv.py \
      --config.data.source=tfds --workdir=/tmp/edd/darts_sdarts_adv
"""

from configs import darts_cifar10_sdarts_rs


def get_config():
  config = darts_cifar10_sdarts_rs.get_config()
  config.method = 'sdarts_adv'
  with config.sdarts_rs.unlocked():
    config.sdarts_rs.pgd_steps = 7
  return config
