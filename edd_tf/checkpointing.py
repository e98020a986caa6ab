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
