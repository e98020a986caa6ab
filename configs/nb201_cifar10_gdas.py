r"""GDAS (or ETS-GDAS) on NAS-Bench-201 / CIFAR-10 (Table 1).

AutoDL's GDAS (reference sect. 2.6): one straight-through Gumbel sample per
edge per step, only the sampled op runs, tau linear 10 -> 0.1 over 250
epochs, the NB201 search recipe (SGD nesterov 0.025 -> 0.001, decay 5e-4,
clip 5; Adam 3e-4 (0.5, 0.999), decay 1e-3); weight step then alpha step.
`:ets` gives ETS-GDAS: tau by ETS from 10 to 0.1 (Sect. 2.2) instead.

  python -m binaries.search --config=configs/nb201_cifar10_gdas.py \
      --config.data.source=tfds --workdir=/tmp/edd/gdas
  python -m binaries.search --config=configs/nb201_cifar10_gdas.py:ets \
      --config.data.source=tfds --workdir=/tmp/edd/ets_gdas

Expected (paper, Table 1): GDAS CIFAR-10 test 93.51 +- 0.13, ETS-GDAS
93.75 +- 0.22 (NB201 cifar10 column; the shipped table is cifar10-valid, see
nb201_bench.py).
"""

from edd_tf import search

SCHEDULES = ('linear', 'ets')


def get_config(schedule='linear'):
  if schedule not in SCHEDULES:
    raise ValueError(f'configs/nb201_cifar10_gdas.py:{schedule}: allowed {list(SCHEDULES)}')
  config = search.default_config()
  config.method = 'gdas'
  config.model.fused = False  # only the sampled op runs: the per-edge cell
  config.schedule.update(name=schedule, t0=10.0, t_target=0.1)
  config.search.update(epochs=250, eval_examples=10000)
  return config
