"""R-DARTS(DP)'s scheduled regularisers of the search: supernet drop path and cutout.

RobustDARTS (Zela et al. 2020; src/search/train_search.py 111-113,
model_search.py 60-63, utils.py 240-260; ../shared/docs/baselines.md part 2,
sect. 4) sets at the start of every 0-based epoch e of E

  p(e)     = drop_path_max * e / (E - 1)     drop path on every mixed edge
  p_cut(e) = e / (E - 1)                     cutout probability per image

so both reach their maximum at the last epoch. Config (`config.search`):

  drop_path_max      p_max in [0, 1); 0 = off (the supernet's graph is then
                     exactly the one without drop path).
  cutout             cutout length on both search streams (the weight and
                     the alpha batches: RobustDARTS draws both from one
                     dataset with one transform); 0 = none. R-DARTS(DP) uses
                     16 whenever p_max > 0 (args.py 103-105), its L2 runs none.
  cutout_schedule    'ramp': p_cut(e) as above (what the code logs and the
                     paper describes); 'constant': probability 1 in every
                     epoch, what the public code actually runs (it assigns
                     the ramp to `cutout_prob`, an attribute its Cutout
                     never reads: it reads `prob`, fixed at 1.0).

The values are functions of the epoch: a resumed run recomputes them, and
the masks come from the step seed (`Searcher.drop_path`), the cutout from
(seed, epoch, batch) (`data.pipeline.make_dataset`).
"""

CUTOUT_SCHEDULES = ('ramp', 'constant')


def ramp(epoch, epochs):
  """e / (E - 1) for the 0-based epoch e of E: 0 at the first, 1 at the last (0 if E == 1)."""
  return epoch / (epochs - 1) if epochs > 1 else 0.0


def drop_path_rate(epoch, epochs, drop_path_max):
  """p(e) = drop_path_max * e / (E - 1) (RobustDARTS train_search.py 112)."""
  return drop_path_max * ramp(epoch, epochs)


def cutout_prob(epoch, epochs, schedule='ramp'):
  """The per-image cutout probability of epoch e: e / (E - 1), or 1 ('constant')."""
  if schedule not in CUTOUT_SCHEDULES:
    raise ValueError(f'unknown config.search.cutout_schedule {schedule!r}; allowed: '
                     f'{list(CUTOUT_SCHEDULES)}')
  return 1.0 if schedule == 'constant' else ramp(epoch, epochs)


def epoch_values(search_config, epoch, epochs):
  """{'drop_path_rate', 'cutout_prob'} of an epoch, only those that are on (to log)."""
  out = {}
  p_max = search_config.get('drop_path_max', 0.0)
  if p_max:
    out['drop_path_rate'] = drop_path_rate(epoch, epochs, p_max)
  if search_config.get('cutout', 0):
    out['cutout_prob'] = cutout_prob(epoch, epochs, search_config.get('cutout_schedule', 'ramp'))
  return out


def cutout_args(search_config, epoch, epochs):
  """{'cutout', 'cutout_prob'} for `data.pipeline.make_dataset` of a search stream of `epoch`."""
  length = search_config.get('cutout', 0)
  prob = epoch_values(search_config, epoch, epochs).get('cutout_prob', 1.0)
  return {'cutout': length, 'cutout_prob': prob}


def check_config(search_config):
  """Raises ValueError naming the config.search field of a bad regulariser setting."""
  p_max = search_config.get('drop_path_max', 0.0)
  if isinstance(p_max, bool) or not isinstance(p_max, (int, float)) or not 0 <= p_max < 1:
    raise ValueError(f'config.search.drop_path_max must be a number in [0, 1) (0 = no drop '
                     f'path), got {p_max!r}')
  length = search_config.get('cutout', 0)
  if isinstance(length, bool) or not isinstance(length, int) or length < 0:
    raise ValueError(f'config.search.cutout must be an integer >= 0 (the cutout length; '
                     f'0 = none), got {length!r}')
  schedule = search_config.get('cutout_schedule', 'ramp')
  if schedule not in CUTOUT_SCHEDULES:
    raise ValueError(f'unknown config.search.cutout_schedule {schedule!r}; allowed: '
                     f'{list(CUTOUT_SCHEDULES)}')
