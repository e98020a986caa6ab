"""One worker of a 2-process MultiWorkerMirroredStrategy search (run by test_multi_worker.py).

  python -m tests.core.multi_worker_check INDEX PORT0,PORT1 WORKDIR OUT_JSON EPOCHS

Sets TF_CONFIG for worker INDEX on loopback, runs the tiny search with
config.distribute='multi_worker' and writes what it found to OUT_JSON.
"""

import json
import os
import sys


def main(argv):
  index, ports, workdir, out, epochs = argv[1:6]
  workers = [f'localhost:{p}' for p in ports.split(',')]
  os.environ['TF_CONFIG'] = json.dumps(
      {'cluster': {'worker': workers}, 'task': {'type': 'worker', 'index': int(index)}})
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(1)
  tf.config.threading.set_inter_op_parallelism_threads(1)
  from edd_tf import search  # pylint: disable=g-import-not-at-top
  from tests.helpers import tiny_search_config as tiny_config  # pylint: disable=g-import-not-at-top
  config = tiny_config(**{'distribute': 'multi_worker', 'search.epochs': int(epochs),
                          'benchmark.nb201_table': 'none'})
  result = search.run(config, workdir)
  with open(out, 'w') as f:
    json.dump({'genotype': result['genotype'], 'arch': result['arch'],
               'epochs': result['epochs'],
               'history': [{k: h[k] for k in ('train_loss', 'val_loss', 'entropy')}
                           for h in result['history']]}, f)


if __name__ == '__main__':
  main(sys.argv)
