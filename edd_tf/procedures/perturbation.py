"""DARTS+PT (Wang et al. 2021): perturbation-based architecture selection.

Facts: ../shared/docs/baselines.md part 3, sect. 1 (ruocwang/darts-pt,
sota/cnn/projection.py 107-246, nasbench201/projection.py 76-88). After the
config.search.epochs search epochs the supernet is fine-tuned for T more
epochs (`tune_epochs`; 0: 25 on NB201, 81 in the DARTS family), the weights at
lr 0.0025 (constant on NB201, cosine to 0.001 over T elsewhere) with fresh
momenta, the alphas as the method trains them (or never: `fix_alpha`). At
the start of tune epoch t with t % proj_every == 0 or t == T - 1 one
projection event runs, per space key (normal, then reduce cell):

  * op step, while the key has undecided edges: a random undecided edge
    (seeded by (seed, event, key)); each op o in turn is masked (its mixing
    weight set to 0, the others not renormalised) and the accuracy on the
    validation split measured (training augmentation, BatchNorm on batch
    statistics, the same batches for every mask; search.SearchContext);
    the op whose masking costs most is fixed (argmin accuracy, strict <, so
    ties go to the lowest index; or argmax loss with criterion='loss');
  * topology step (DARTS family, once every edge is fixed): a random node
    with more than 2 inputs; each of its edges removed in turn; the edges
    whose removal leaves the highest accuracy are pruned until 2 remain.
    The public loop re-measures after each drop without applying it, so up
    to noise it ranks once: we rank once (n passes, not n + (n-1) + ...).

The decisions go to the supernet's mixing edit (bilevel/mixing_edit.py): a
fixed edge runs only its op with weight 1 and its alphas stop moving. They
and the events done are the procedure's state, so a resumed run repeats no
measurement and reaches the same decisions.
"""

from absl import logging
import numpy as np

from edd_tf import spaces
from edd_tf.core import optim
from edd_tf.procedures import base

CRITERIA = ('acc', 'loss')
LR_SCHEDULES = ('', 'constant', 'cosine')   # '': constant on NB201, cosine elsewhere
DEFAULTS = dict(tune_epochs=0, proj_every=5, criterion='acc', fix_alpha=False, lr=0.0025,
                lr_min=0.001, lr_schedule='', eval_examples=0)
PUBLIC_TUNE_EPOCHS = {'nb201': 25, 'darts': 81}


def event_epochs(total, every):
  """The 0-based tune epochs that start with a projection event."""
  return [t for t in range(total) if t % every == 0 or t == total - 1]


def choose_op(scores, criterion='acc'):
  """The op to fix from [(loss, acc)] after masking each op: argmin acc / argmax loss, ties first."""
  best = 0
  for i, (loss, acc) in enumerate(scores):
    if (acc < scores[best][1]) if criterion == 'acc' else (loss > scores[best][0]):
      best = i
  return best


def edges_to_prune(accuracies):
  """Positions to prune among a node's edges: the highest accuracy after removal, all but 2.

  Ties: the earlier edge is pruned first (the public loop's strict >).
  """
  order = sorted(range(len(accuracies)), key=lambda i: (-accuracies[i], i))
  return sorted(order[:max(len(accuracies) - 2, 0)])


def events_needed(space):
  """Projection events until every edge is fixed (and, DARTS family, every node has 2 inputs)."""
  keys = space.arch_shapes()
  ops = max(shape[0] for shape in keys.values())
  if space.family != 'darts':
    return ops
  key = next(iter(keys))
  return ops + sum(1 for start, end in space.edge_groups(key) if end - start > 2)


class DartsPT(base.Procedure):
  """Fine-tune the supernet and project one edge per key per event."""

  name = 'darts_pt'
  edits_mixing = True

  def __init__(self, config):
    super().__init__(config)
    self.space = spaces.get_space(config.space)
    p = {**DEFAULTS, **config.procedure.to_dict()}
    self.total = p['tune_epochs'] or PUBLIC_TUNE_EPOCHS[self.space.family]
    self.every, self.criterion = p['proj_every'], p['criterion']
    self.fix_alpha, self.examples = p['fix_alpha'], p['eval_examples']
    self.lr, self.lr_min = p['lr'], p['lr_min']
    self.lr_schedule = p['lr_schedule'] or (
        'constant' if self.space.family == 'nb201' else 'cosine')
    self._decisions, self.events_done, self.momentum_reset = [], [], False

  @classmethod
  def check_config(cls, config):
    p = config.procedure
    unknown = sorted(set(p.keys()) - set(DEFAULTS) - {'name'})
    if unknown:
      raise ValueError(f'unknown config.procedure field(s) {unknown} for darts_pt; allowed: '
                       f'{sorted(DEFAULTS)}')
    v = {**DEFAULTS, **p.to_dict()}
    if v['criterion'] not in CRITERIA:
      raise ValueError(f'config.procedure.criterion={v["criterion"]!r}; allowed: {list(CRITERIA)}')
    if v['lr_schedule'] not in LR_SCHEDULES:
      raise ValueError(f'config.procedure.lr_schedule={v["lr_schedule"]!r}; allowed: '
                       f'{list(LR_SCHEDULES)}')
    for field, low in (('tune_epochs', 0), ('proj_every', 1), ('eval_examples', 0)):
      if not isinstance(v[field], int) or isinstance(v[field], bool) or v[field] < low:
        raise ValueError(f'config.procedure.{field} must be an integer >= {low}, got '
                         f'{v[field]!r}')
    for field in ('lr', 'lr_min'):
      if not isinstance(v[field], (int, float)) or v[field] < 0:
        raise ValueError(f'config.procedure.{field} must be a number >= 0, got {v[field]!r}')
    if not isinstance(v['fix_alpha'], bool):
      raise ValueError(f'config.procedure.fix_alpha must be True or False, got '
                       f'{v["fix_alpha"]!r}')
    base.check_decidable_method(config, 'darts_pt')
    space = spaces.get_space(config.space)
    total = v['tune_epochs'] or PUBLIC_TUNE_EPOCHS[space.family]
    have, need = len(event_epochs(total, v['proj_every'])), events_needed(space)
    if have < need:
      shortest = next(t for t in range(1, 10 ** 6)
                      if len(event_epochs(t, v['proj_every'])) >= need)
      raise ValueError(f'config.procedure.tune_epochs={total} gives {have} projection events '
                       f'(tune epochs t with t % proj_every == 0 or t == tune_epochs - 1, '
                       f'proj_every={v["proj_every"]}); space {space.name!r} needs {need}: '
                       f'tune_epochs >= {shortest}')

  # ---- the search's hooks --------------------------------------------------

  def extra_epochs(self):
    return self.total

  def decisions(self):
    return list(self._decisions)

  def learning_rate(self, epoch, default):
    t = epoch - self.config.search.epochs
    if t < 0:
      return default
    return optim.learning_rate(t, lr=self.lr, epochs=self.total, schedule=self.lr_schedule,
                               lr_min=self.lr_min)

  def updates_arch(self, epoch, default):
    return False if self.fix_alpha else default

  def begin_epoch(self, epoch, ctx):
    t = epoch - self.config.search.epochs
    if t < 0:
      return {}
    if not self.momentum_reset:   # a new SGD for the fine-tuning (projection.py 134-136)
      ctx.reset_weight_momentum()
      self.momentum_reset = True
    events = event_epochs(self.total, self.every)
    if t in events and t not in self.events_done:
      event = events.index(t)
      for k_index, key in enumerate(sorted(self.space.arch_shapes())):
        if self._open_edges(key):
          self._op_step(event, k_index, key, ctx)
        elif self.space.family == 'darts':
          self._topology_step(event, k_index, key, ctx)
      self.events_done.append(t)
    return {'pt_decisions': float(len(self._decisions))}

  # ---- the two steps ---------------------------------------------------------

  def _open_edges(self, key):
    decided = {d['edge'] for d in self._decisions if d['key'] == key}
    return [e for e in range(self.space.arch_shapes()[key][0]) if e not in decided]

  def _rng(self, event, k_index):
    return np.random.default_rng([int(self.config.seed), event, k_index])

  def _op_step(self, event, k_index, key, ctx):
    edge = int(self._rng(event, k_index).choice(self._open_edges(key)))
    weights = ctx.mixing_weights()
    scores = []
    for o in range(self.space.arch_shapes()[key][1]):
      masked = dict(weights)
      masked[key] = np.array(weights[key], copy=True)
      masked[key][edge, o] = 0.0
      scores.append(ctx.validation_score(masked, examples=self.examples, seed=event))
    op = choose_op(scores, self.criterion)
    logging.info('DARTS+PT event %d: %s edge %s -> %s (accuracy with each op masked: %s)', event,
                 key, self.space.edge_names(key)[edge], self.space.op_names(key)[edge][op],
                 ' '.join(f'{acc:.4f}' for _, acc in scores))
    self._decisions.append({'kind': 'fix', 'key': key, 'edge': edge, 'op': int(op)})

  def _topology_step(self, event, k_index, key, ctx):
    nodes = [(s, e) for s, e in self.space.edge_groups(key) if e - s > 2]
    pruned = {d['edge'] for d in self._decisions if d['key'] == key and d['kind'] == 'prune'}
    open_nodes = [n for n in nodes if not pruned.intersection(range(*n))]
    if not open_nodes:
      return
    start, end = open_nodes[int(self._rng(event, k_index).choice(len(open_nodes)))]
    weights, accuracies = ctx.mixing_weights(), []
    for edge in range(start, end):
      removed = self._without(key, edge) + [{'kind': 'prune', 'key': key, 'edge': edge}]
      accuracies.append(ctx.validation_score(weights, examples=self.examples, seed=event,
                                             decisions=removed)[1])
    for i in edges_to_prune(accuracies):
      logging.info('DARTS+PT event %d: %s prune edge %s', event, key,
                   self.space.edge_names(key)[start + i])
      self._decisions = self._without(key, start + i) + [
          {'kind': 'prune', 'key': key, 'edge': start + i}]

  def _without(self, key, edge):
    return [d for d in self._decisions if (d['key'], d['edge']) != (key, edge)]

  # ---- results and state -----------------------------------------------------

  def result_fields(self, history):
    del history
    return {'pt_decisions': self.decisions()}

  def state_dict(self):
    return {'decisions': self.decisions(), 'events_done': list(self.events_done),
            'momentum_reset': self.momentum_reset}

  def load_state_dict(self, state):
    self._decisions = [dict(d) for d in state.get('decisions', [])]
    self.events_done = [int(t) for t in state.get('events_done', [])]
    self.momentum_reset = bool(state.get('momentum_reset', False))
