"""What a search procedure is: a plug-in that watches the epochs and may end the search.

The search (`search.SearchTask`) asks its procedure, once per finished epoch,
what to add to the epoch's history record (`end_epoch`), whether the search
is over before its last epoch (`stopped`), whether to return to an earlier
epoch's state (`decide_rollback`), and which epoch's
genotype is the result (`result_epoch`); at each epoch's start it may scale
the weight decay (`weight_decay_factor`). What a procedure decides is a
function of the history records and of its `state_dict` (both checkpointed
with every epoch, and its state carried across a rollback), so an
interrupted search resumed at any step reaches the same decisions.

The default ('none') runs every epoch and returns the last genotype.
"""


class Procedure:
  """The fixed-length search (today's behaviour); subclasses override what differs."""

  name = 'none'

  def __init__(self, config):
    self.config = config

  @classmethod
  def check_config(cls, config):
    """Raises ValueError naming a config field this procedure cannot use."""
    del config

  def end_epoch(self, epoch, record, history):
    """Fields to add to epoch `epoch`'s record (0-based; `history` holds the earlier ones)."""
    del epoch, record, history
    return {}

  def stopped(self, history):
    """True when the search must end after the last record of `history`."""
    del history
    return False

  def result_epoch(self, history):
    """Index into `history` of the record whose genotype the search returns."""
    return len(history) - 1

  def result_fields(self, history):
    """Extra fields of the search's result (genotype.json)."""
    del history
    return {}

  # ---- rollbacks (DARTS-ADA) ----------------------------------------------

  # How many recent epoch-end checkpoints the loop keeps for `decide_rollback`.
  epoch_checkpoints = 0

  def decide_rollback(self, history):
    """None, or the 0-based epoch to return to after the last record of `history`.

    Records the decision in the procedure's state (which the loop carries
    across the rollback, so the next epochs see it).
    """
    del history
    return None

  def weight_decay_factor(self):
    """The factor on config.optim.weights.weight_decay from the next epoch on."""
    return 1.0

  def state_dict(self):
    """JSON-serialisable decisions (checkpointed; carried across rollbacks)."""
    return {}

  def load_state_dict(self, state):
    del state
