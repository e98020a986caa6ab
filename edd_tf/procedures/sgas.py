"""SGAS (Li et al. 2020): greedy edge decisions during the search.

Facts: ../shared/docs/baselines.md part 3, sect. 2 (lightaime/sgas cnn/).
From the method's op probabilities p of an edge (softmax(alpha) for DARTS;
the method's `readout_weights`, so GAEA's theta or DrNAS' softmax too):

  EI = 1 - p_none                                     edge importance
  q_o = p_o / EI (o != none)
  SC = 1 - H(q) / log(|O| - 1)                        selection certainty
  SS = mean over the last <= 4 epochs' q^h of sum_o min(q^h_o, q_o)   (criterion 2)
  score = norm(EI) * norm(SC) [* norm(SS)],  norm(v) = (v - min) / (max - min)

normalised over all edges of the cell, decided ones included (zeros when the
range is 0; train_search.py 86-110, utils.py 123-137). At the end of epoch t
with t >= warmup_epochs and (t - warmup_epochs) % decision_freq == 0 (the
start of epoch t + 1 here), per cell type: the undecided edge of the
highest score (ties: the first) is fixed to argmax_{o != none} q (only that op
runs, weight 1, and its alphas stop moving: bilevel/mixing_edit.py); in the
DARTS family a node with 2 decided inputs has its other edges pruned
(model_search.py check_edges). The batch grows by batch_increase after each
decision epoch (64 -> 128 after 8 decisions).

The NB201 cell keeps every edge: there the 6 edges are decided one per
decision epoch and nothing is pruned (SGAS has no NB201 code; our extension,
WORKSPACE "Decisions"). In a space without 'none' EI is constant and the
public code silently decides the first edge: refused (check_config).
"""

from absl import logging
import numpy as np

from edd_tf import spaces
from edd_tf.procedures import base

CRITERIA = (1, 2)


def normalise(values):
  """(v - min) / (max - min), zeros when the range is 0 (SGAS utils.py normalize)."""
  v = np.asarray(values, np.float64)
  span = v.max() - v.min()
  return np.zeros_like(v) if span == 0 else (v - v.min()) / span


def selection_q(probs, none_columns):
  """Per edge: (EI, q over the ops other than 'none', the columns of q)."""
  ei, qs, cols = [], [], []
  for row, none in zip(np.asarray(probs, np.float64), none_columns):
    keep = [c for c in range(len(row)) if c != none]
    importance = 1.0 - row[none]
    ei.append(importance)
    qs.append(row[keep] / importance)
    cols.append(keep)
  return np.array(ei), qs, cols


def criteria(probs, none_columns, history=()):
  """{'ei', 'sc', 'ss', 'score1', 'score2'} of every edge (see the module docstring).

  history: earlier epochs' q lists (each as `selection_q` returns); empty: SS = 1.
  """
  ei, qs, _ = selection_q(probs, none_columns)
  sc = []
  for q in qs:
    nz = q[q > 0]
    sc.append(1.0 - float(-(nz * np.log(nz)).sum()) / np.log(len(q)))
  sc = np.array(sc)
  if history:
    ss = np.array([np.mean([np.minimum(np.asarray(h[e]), q).sum() for h in history])
                   for e, q in enumerate(qs)])
  else:
    ss = np.ones(len(qs))
  score1 = normalise(ei) * normalise(sc)
  return {'ei': ei, 'sc': sc, 'ss': ss, 'score1': score1, 'score2': score1 * normalise(ss)}


def none_columns(space, key):
  """The column of 'none' on every edge of `key`; ValueError when an edge has none."""
  cols = []
  for edge, names in enumerate(space.op_names(key)):
    if 'none' not in names:
      raise ValueError(f"SGAS (config.procedure.name='sgas') needs 'none' on every edge: its "
                       f'edge importance is 1 - p_none, constant without it (the public code '
                       f'then decides the first edge); space {space.name!r} has none on '
                       f'{key} edge {edge}. Use a space with it (nb201, darts, s3)')
    cols.append(list(names).index('none'))
  return cols


def keeps_two_inputs(space):
  """Whether a node of `space` keeps 2 of its inputs (the DARTS family) or all (NB201)."""
  return space.family == 'darts'


def decision_count(space):
  """Decision events until every edge is decided."""
  per_key = [len(g) for g in space.edge_groups(next(iter(space.arch_shapes())))]
  return 2 * len(per_key) if keeps_two_inputs(space) else sum(per_key)


class SGAS(base.Procedure):
  """Greedy edge decisions by criterion 1 or 2 (config.procedure.criterion)."""

  name = 'sgas'
  edits_mixing = True

  def __init__(self, config):
    super().__init__(config)
    p = config.procedure
    self.space = spaces.get_space(config.space)
    self.criterion = p.get('criterion', 1)
    self.warmup = p.get('warmup_epochs', 9)
    self.every = p.get('decision_freq', 5)
    self.history_size = p.get('history', 4)
    self.batch_increase = p.get('batch_increase', 8)
    self._decisions, self._events, self._history, self._recorded = [], [], {}, -1

  @classmethod
  def check_config(cls, config):
    p = config.procedure
    allowed = {'name', 'criterion', 'warmup_epochs', 'decision_freq', 'history', 'batch_increase'}
    unknown = sorted(set(p.keys()) - allowed)
    if unknown:
      raise ValueError(f'unknown config.procedure field(s) {unknown} for sgas; allowed: '
                       f'{sorted(allowed)}')
    if p.get('criterion', 1) not in CRITERIA:
      raise ValueError(f'config.procedure.criterion must be one of {list(CRITERIA)}, got '
                       f'{p.get("criterion")!r}')
    for field, default, low in (('warmup_epochs', 9, 0), ('decision_freq', 5, 1),
                                ('history', 4, 1), ('batch_increase', 8, 0)):
      value = p.get(field, default)
      if not isinstance(value, int) or value < low:
        raise ValueError(f'config.procedure.{field} must be an integer >= {low}, got {value!r}')
    base.check_decidable_method(config, 'sgas')
    space = spaces.get_space(config.space)
    for key in space.arch_shapes():
      none_columns(space, key)
    n = decision_count(space)
    last = p.get('warmup_epochs', 9) + (n - 1) * p.get('decision_freq', 5)
    if config.search.epochs < last + 2:
      raise ValueError(f'config.search.epochs={config.search.epochs} is too short for SGAS: its '
                       f'{n} decisions end after epoch {last + 1} and one epoch must follow '
                       f'(warmup_epochs + (decisions - 1) * decision_freq + 2 = {last + 2})')

  # ---- decisions -----------------------------------------------------------

  def begin_epoch(self, epoch, ctx):
    done = epoch - 1   # the epoch that just ended
    logs = {}
    probs = ctx.readout_weights()
    if (done >= self.warmup and (done - self.warmup) % self.every == 0
        and done not in self._events and self._candidates()):
      for key in self.space.arch_shapes():
        self._decide(key, probs[key])
      self._events.append(done)
      logs['sgas_decisions'] = float(len(self._events))
    if epoch > self._recorded:   # SS's history: once per epoch
      for key in self.space.arch_shapes():
        _, qs, _ = selection_q(probs[key], none_columns(self.space, key))
        rows = self._history.setdefault(key, [])
        rows.append([q.tolist() for q in qs])
        del rows[:-self.history_size]
      self._recorded = epoch
    return logs

  def _candidates(self, key=None):
    keys = [key] if key else list(self.space.arch_shapes())
    decided = {(d['key'], d['edge']) for d in self._decisions}
    return [(k, e) for k in keys for e in range(self.space.arch_shapes()[k][0])
            if (k, e) not in decided]

  def _decide(self, key, probs):
    candidates = [e for _, e in self._candidates(key)]
    if not candidates:
      return
    nones = none_columns(self.space, key)
    history = self._history.get(key, []) if self.criterion == 2 else []
    values = criteria(probs, nones, history)
    score = values[f'score{self.criterion}']
    edge = max(candidates, key=lambda e: (score[e], -e))
    _, qs, cols = selection_q(probs, nones)
    op = cols[edge][int(np.argmax(qs[edge]))]
    self._decisions.append({'kind': 'fix', 'key': key, 'edge': int(edge), 'op': int(op)})
    logging.info('SGAS: %s edge %s -> %s (score %.3f)', key, self.space.edge_names(key)[edge],
                 self.space.op_names(key)[edge][op], score[edge])
    if keeps_two_inputs(self.space):
      self._prune(key, edge)

  def _prune(self, key, edge):
    """A node with 2 decided inputs loses its other edges (check_edges)."""
    start, end = next(g for g in self.space.edge_groups(key) if g[0] <= edge < g[1])
    fixed = [d['edge'] for d in self._decisions
             if d['key'] == key and d['kind'] == 'fix' and start <= d['edge'] < end]
    if len(fixed) < 2:
      return
    decided = {d['edge'] for d in self._decisions if d['key'] == key}
    for e in range(start, end):
      if e not in decided:
        self._decisions.append({'kind': 'prune', 'key': key, 'edge': e})

  def decisions(self):
    return list(self._decisions)

  def batch_size(self, epoch, default):
    del epoch
    return default + self.batch_increase * len(self._events)

  def result_fields(self, history):
    del history
    return {'sgas_decisions': self.decisions()}

  def state_dict(self):
    return {'decisions': self._decisions, 'events': self._events, 'history': self._history,
            'recorded': self._recorded}

  def load_state_dict(self, state):
    self._decisions = [dict(d) for d in state.get('decisions', [])]
    self._events = list(state.get('events', []))
    self._history = {k: list(v) for k, v in state.get('history', {}).items()}
    self._recorded = state.get('recorded', -1)

