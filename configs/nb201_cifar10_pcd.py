r"""PCD-DARTS on NAS-Bench-201 / CIFAR-10: periodic cyclic decay (Sect. 4, Table 7).

The EDD recipe (sn-softmax st = 1, 50 epochs, configs/nb201_cifar10_edd.py) with
EDD replaced by PCD, the paper's hand-tuned baseline: warm-up epochs at t0 = 1,
then one ETS sequence t0 -> 1e-3 (Eq. 11-12, L_exp fixed before training from
the initial E(a)) repeated every `cycle_epochs` epochs. The paper gives no
warm-up or cycle length; Fig. 4A shows three decay cycles in 50 epochs, so we
take 5 warm-up epochs and 3 cycles of 15 epochs (5 + 3 x 15 = 50). The paper
finds PCD brittle to both values ("simply increase these two values can
recover the performance"): sweep them, e.g.
--grid='schedule.warmup_epochs=5,10,20;seed=0,1,2'.

  python -m binaries.search --config=configs/nb201_cifar10_pcd.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_pcd

Runtime: as the EDD recipe. Expected (paper, Table 7, NB201 C10 fine-tuned):
CIFAR-10 valid 91.06 +- 0.49, test 93.78 +- 0.43; CIFAR-100 71.61 / 72.00;
ImageNet16-120 45.17 / 45.63 (valid / test). The CIFAR-10 test figure is the
50k-trained NB201 `cifar10` split: compare with binaries.report --nats_bench.
"""

from configs import nb201_cifar10_edd


def get_config():
  config = nb201_cifar10_edd.get_config()
  config.schedule.name = 'pcd'
  config.schedule.t0 = 1.0
  config.schedule.t_target = 1e-3
  config.schedule.warmup_epochs = 5
  config.schedule.cycle_epochs = 15
  return config
