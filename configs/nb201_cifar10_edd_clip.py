r"""EDD-DARTS (clip) on NAS-Bench-201 / CIFAR-10: Table 1's best row.

The EDD recipe (configs/nb201_cifar10_edd.py: sn-softmax st = 1, EDD lambda =
0.06, 50 epochs) with the alphas' gradient clipped to global norm 5
(optim.arch.grad_clip), which Table 1 credits with damping the noisy 'none'
operation. The paper gives no clip value; 5 is the norm DARTS clips the
weights' gradient to.

  python -m binaries.search --config=configs/nb201_cifar10_edd_clip.py \
      --config.data.source=tfds --workdir=/tmp/edd/nb201_edd_clip

Runtime: as the EDD recipe. Expected (paper, Table 1, 7,400 s search on a GPU):
CIFAR-10 valid 91.12 +- 0.19, test 94.05 +- 0.11; CIFAR-100 72.59 +- 0.62 /
72.43 +- 0.64; ImageNet16-120 45.89 +- 0.41 / 45.80 +- 0.29 (valid / test).
The CIFAR-10 test figure is the 50k-trained NB201 `cifar10` split: compare with
binaries.report --nats_bench; the shipped table's test column is cifar10-valid.
"""

from configs import nb201_cifar10_edd


def get_config():
  config = nb201_cifar10_edd.get_config()
  config.optim.arch.grad_clip = 5.0
  return config
