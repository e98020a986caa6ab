"""What a search procedure is: a plug-in that watches the epochs and may end the search.

The search (`search.SearchTask`) asks its procedure, once per finished epoch,
what to add to the epoch's history record (`end_epoch`), whether the search
is over before its last epoch (`stopped`), whether to return to an earlier
epoch's state (`decide_rollback`), and which epoch's
genotype is the result (`result_epoch`); at each epoch's start it may scale
the weight decay (`weight_decay_factor`), set the learning rate, the alpha
update and the batch size (`learning_rate`, `updates_arch`, `batch_size`),
and decide edges (`begin_epoch` with a `SearchContext`; the decisions, a
list in its state, become the supernet's mixing edit, bilevel/mixing_edit.py).
A procedure may add epochs after config.search.epochs (`extra_epochs`:
DARTS+PT's fine-tuning between projections). What a procedure decides is a
function of the history records and of its `state_dict` (both checkpointed
with every epoch, and its state carried across a rollback), so an
interrupted search resumed at any step reaches the same decisions.

The default ('none') runs every epoch and returns the last genotype.
"""

from edd_tf import methods as methods_lib


class Procedure:
  """The fixed-length search (today's behaviour); subclasses override what differs."""

  name = 'none'

  def __init__(self, config):
    self.config = config

  @classmethod
  def check_config(cls, config):
    """Raises ValueError naming a config field this procedure cannot use."""
    del config

  # ---- epochs and edge decisions (DARTS+PT, SGAS) ---------------------------

  # True when the procedure decides edges (`decisions`): the searcher installs
  # the mixing edit before the first step.
  edits_mixing = False

  def extra_epochs(self):
    """Epochs the search runs after config.search.epochs (0: none)."""
    return 0

  def begin_epoch(self, epoch, ctx):
    """Decisions at the start of epoch `epoch` (ctx: a `SearchContext`); returns logs.

    Called again when a run resumes inside the epoch: decide only what the
    state does not hold yet.
    """
    del epoch, ctx
    return {}

  def decisions(self):
    """The edge decisions so far (bilevel/mixing_edit.py's list)."""
    return []

  def learning_rate(self, epoch, default):
    """The weight learning rate of `epoch` (`default`: the search's cosine)."""
    del epoch
    return default

  def updates_arch(self, epoch, default):
    """Whether the alpha step updates the alphas in `epoch` (`default`: after the warm-up)."""
    del epoch
    return default

  def batch_size(self, epoch, default):
    """The search batch of `epoch` (`default`: config.search.batch_size)."""
    del epoch
    return default

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


def check_decidable_method(config, procedure):
  """Refuses methods whose supernet or read-out an edge decision cannot edit."""
  cls = methods_lib.get_method_class(config.method)
  if cls.hard_sampling or cls.genotype is not methods_lib.base.Method.genotype:
    raise ValueError(f'config.procedure.name={procedure!r} decides edges through the mixing '
                     f'weights and the read-out, which config.method={config.method!r} does not '
                     f'use (it samples one op, or reads out its own way); use a softmax-mixing '
                     f'method (darts, pc_darts, sdarts_rs, drnas, gaea, beta_darts ...)')
