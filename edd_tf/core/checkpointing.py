"""What a tf.train.Checkpoint needs to hold a Keras 3 model completely."""


def model_checkpoint_items(model):
  """The objects that checkpoint a model's state: {'model', 'model_weights'}.

  Keras 3.15.1's TF tracking drops layers held in Python lists (TrackedList)
  from tf.train.Checkpoint (they only reach SavedModels): a supernet's cells
  would be silently missing from the checkpoint (only 11 of 141 variables of a
  tiny NB201 supernet were saved; the keras#18398 symptom). `model_weights`
  lists every variable by its index in `model.weights`, which is fixed by the
  architecture, so restores are complete and `assert_existing_objects_matched`
  catches a different network.
  """
  return {'model': model, 'model_weights': list(model.weights)}


def seed_states(model):
  """{'seed_states': [...]}: the states of the model's keras.random.SeedGenerators, or {}.

  Keras 3 checkpoints neither tracks them (they are not in `model.weights`):
  without them a resumed run draws other drop-path masks or noise than an
  uninterrupted one. They are saved with the checkpoint but restored only
  when present, so checkpoints written before they were saved still restore.
  """
  states = [generator.state for layer in model._flatten_layers()  # pylint: disable=protected-access
            for generator in getattr(layer, '_seed_generators', [])]
  return {'seed_states': states} if states else {}
