"""The found network as a model: built from a training config, or rebuilt from a workdir.

`build_model` builds `finalnet.build_final_network` of config.network and
config.genotype under the config's numerics; `load_workdir_model` rebuilds
the model a training run (train.py) left in its workdir and restores its
latest checkpoint, as export and prediction need it. The workdir keeps, next
to core/loop.py's config.json and checkpoints/, the DatasetInfo the model was
trained for (DATASET_FILE) and, once training finished, RESULTS_FILE.
"""

import json
import pathlib

import ml_collections
import tensorflow as tf

from edd_tf.core import checkpointing
from edd_tf.core import experiment_dir
from edd_tf.core import precision as precision_lib
from edd_tf.data import pipeline as data
from edd_tf.final import genotypes
from edd_tf.nets import finalnet
from edd_tf.nets import batch_norm as batch_norm_lib

DATASET_FILE = 'dataset.json'
RESULTS_FILE = 'results.json'


def dataset_info_to_dict(info):
  """A `DatasetInfo` as the JSON of DATASET_FILE."""
  return dict(name=info.name, num_classes=int(info.num_classes),
              image_size=int(info.image_size), mean=[float(m) for m in info.mean],
              std=[float(s) for s in info.std], class_names=list(info.class_names))


def dataset_info_from_dict(d):
  """The `DatasetInfo` of a DATASET_FILE's JSON."""
  return data.DatasetInfo(name=d['name'], num_classes=int(d['num_classes']),
                          image_size=int(d['image_size']), mean=tuple(d['mean']),
                          std=tuple(d['std']), class_names=tuple(d['class_names']))


def build_model(config, genotype, info):
  """The final network of `config` for `info`, built on a dummy batch.

  Its layers take the config.precision policy; config.sync_batch_norm makes
  its BatchNorms synchronise across replicas.
  """
  m = config.model
  with precision_lib.policy_scope(config.get('precision', 'float32')):
    model = finalnet.build_final_network(
        config.network, genotype, info.num_classes, channels=m.channels, layers=m.layers,
        cells_per_stage=m.cells_per_stage, auxiliary=bool(m.auxiliary_weight))
  batch_norm_lib.synchronize_batch_norm(model, config.get('sync_batch_norm', False))
  dummy = tf.zeros([1, info.image_size, info.image_size, 3], tf.float32)
  model(dummy, training=False)
  if m.auxiliary_weight:
    model.call_with_aux(dummy, training=False)
  return model


def load_workdir_model(workdir):
  """Rebuilds the model of a training workdir and restores its latest checkpoint.

  Returns:
    (model, info: DatasetInfo, config: ConfigDict, checkpoint path).

  Raises:
    ValueError: if the workdir has no config.json / dataset.json or no checkpoint.
  """
  workdir = pathlib.Path(workdir)
  for name in (experiment_dir.CONFIG_FILE, DATASET_FILE):
    if not (workdir / name).is_file():
      raise ValueError(f'{workdir} is not a training workdir: {name} is missing '
                       f'(run binaries.train with --workdir={workdir} first)')
  with open(workdir / experiment_dir.CONFIG_FILE) as f:
    config = ml_collections.ConfigDict(json.load(f))
  with open(workdir / DATASET_FILE) as f:
    info = dataset_info_from_dict(json.load(f))
  path = tf.train.latest_checkpoint(str(workdir / checkpointing.CHECKPOINT_DIR))
  if path is None:
    raise ValueError(f'no checkpoint in {workdir / checkpointing.CHECKPOINT_DIR}: training has not '
                     f'completed an epoch yet')
  genotype = genotypes.resolve_genotype(config.genotype, config.network, allow_unfinished=True)
  model = build_model(config, genotype, info)
  status = tf.train.Checkpoint(**checkpointing.model_checkpoint_items(model)).restore(path)
  status.assert_existing_objects_matched()
  status.expect_partial()  # The optimizer and epoch counter are not needed.
  return model, info, config, path
