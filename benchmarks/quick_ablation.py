r"""Small-scale ablation on the embedded sample: EDD's two entropy readings vs DARTS.

  python -m benchmarks.quick_ablation --workdir=/tmp/edd/ablation --seeds=0,1

Runs configs/quickstart.py (C=8, one cell per stage, 4,000 sample images, 10
epochs) for each variant and seed and prints one row per run: final
temperature, tempered entropy, discretized accuracy, supernet val accuracy and
the found cell's NAS-Bench-201 CIFAR-10 test accuracy. A directional check of
Eq. 13's two readings (WORKSPACE.md), far from the paper's 50-epoch recipe.
"""

import importlib
import json

from absl import app
from absl import flags

from edd_tf import search

_WORKDIR = flags.DEFINE_string('workdir', '/tmp/edd/ablation', 'Root of the runs.')
_SEEDS = flags.DEFINE_list('seeds', ['0', '1'], 'Seeds.')

VARIANTS = {
    'edd_alphas': {'schedule.entropy': 'alphas'},
    'edd_tempered': {'schedule.entropy': 'tempered'},
    'darts_t1': {'softmax.kind': 'plain', 'softmax.st': 0.0, 'schedule.name': 'constant'},
}


def _config(overrides, seed):
  config = importlib.import_module('configs.quickstart').get_config()
  config.seed = seed
  for key, value in overrides.items():
    node = config
    *path, last = key.split('.')
    for p in path:
      node = node[p]
    node[last] = value
  return config


def main(argv):
  del argv
  rows = []
  for name, overrides in VARIANTS.items():
    for seed in map(int, _SEEDS.value):
      result = search.run(_config(overrides, seed), f'{_WORKDIR.value}/{name}_s{seed}')
      last = result['history'][-1]
      bench = result['benchmark'] or {}
      rows.append(dict(variant=name, seed=seed, t=last['temperature'],
                       h_tempered=last['entropy_tempered'], h_alphas=last['entropy'],
                       discrete_acc=last['discrete_acc'], val_acc=last['val_acc'],
                       nb201_c10_test=bench.get('cifar10_test'), genotype=result['genotype']))
  print('variant        seed  t         H(tempered) H(alphas) discrete  val    NB201-C10-test')
  for r in rows:
    print(f"{r['variant']:<14} {r['seed']:<5} {r['t']:<9.3g} {r['h_tempered']:<11.4f} "
          f"{r['h_alphas']:<9.4f} {r['discrete_acc']:<9.3f} {r['val_acc']:<6.3f} "
          f"{r['nb201_c10_test']}")
  print(json.dumps(rows))


if __name__ == '__main__':
  app.run(main)
