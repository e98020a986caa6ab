"""Widening a supernet's candidate ops by copying channels (DrNAS' progressive stage change).

DrNAS grows every candidate op of the DARTS-space supernet from C/6 to C/4
channels between its two search stages (partial channels K = 6 -> 4): the
first channels keep their values, each new channel copies a randomly chosen
existing one, without rescaling, and the SGD momentum buffers grow the same
way (DrNAS DARTS-space net2wider.py:7-116; ../shared/docs/baselines.md part 1,
sect. 1 "DARTS space with progressive learning").

Here the two stages are two supernets built alike except for K, so their
`weights` lists pair up by position. A variable whose shape is unchanged
(stem, preprocessing, classifier) is copied; a variable that grew (only
candidate ops: kernels, depthwise kernels, BN statistics) is gathered along
every axis that grew with an index map ``[0, 1, ..., n_old - 1, r_1, ...]``,
r_i uniform in [0, n_old). One map per (op, n_old, n_new): every variable of
one candidate op (e.g. a sep_conv's depthwise kernel, pointwise kernel in and
out, BN statistics) uses the same copies, so the new channels of an op form a
consistent copy of existing channels.
"""

import re

import numpy as np

# 'model/cell_3/edge_4_1/sep_conv_12/conv2d_7/kernel' -> 'model/cell_3/edge_4_1/sep_conv_12':
# the candidate op (MixedOp edges are named edge_<node>_<input>).
_OP_PATH = re.compile(r'^(.*?edge_\d+_\d+/[^/]+)/')


def channel_map(n_old, n_new, rng):
  """int64[n_new]: identity on [0, n_old), then n_new - n_old draws from [0, n_old)."""
  if n_new < n_old or n_old < 1:
    raise ValueError(f'channel_map widens: needs 1 <= n_old <= n_new, got {n_old}, {n_new}')
  return np.concatenate([np.arange(n_old), rng.integers(0, n_old, n_new - n_old)])


def widen(value, axis_maps):
  """`value` gathered along each axis of `axis_maps` ({axis: index map}); a copy."""
  out = np.asarray(value)
  for axis, index in sorted(axis_maps.items()):
    out = np.take(out, index, axis=axis)
  return out


def _op_group(path):
  match = _OP_PATH.search(path)
  return match.group(1) if match else None


def widening_plan(old_variables, new_variables, seed):
  """The index maps that widen `old_variables` into `new_variables` (paired by position).

  Args:
    old_variables: the narrow supernet's variables (e.g. `model.weights`).
    new_variables: the wide one's, built alike (same order, same ranks).
    seed: numpy seed of the channel draws (the plan is a function of it).

  Returns:
    one {axis: int64 index map} per pair ({} = copy as is).

  Raises:
    ValueError: different counts or ranks, a shrinking axis, or a grown
      variable outside a candidate op.
  """
  if len(old_variables) != len(new_variables):
    raise ValueError(f'the supernets differ: {len(old_variables)} vs {len(new_variables)} '
                     'variables')
  rng = np.random.default_rng(seed)
  maps = {}   # (op group, n_old, n_new) -> index map, drawn in variable order
  plan = []
  for old, new in zip(old_variables, new_variables):
    a, b = tuple(old.shape), tuple(new.shape)
    if len(a) != len(b) or any(m > n for m, n in zip(a, b)):
      raise ValueError(f'cannot widen {old.path} {a} into {new.path} {b}')
    axes = {}
    for axis, (m, n) in enumerate(zip(a, b)):
      if m == n:
        continue
      group = _op_group(old.path)
      if group is None:
        raise ValueError(f'{old.path} {a} -> {b}: only candidate ops may widen')
      key = (group, m, n)
      if key not in maps:
        maps[key] = channel_map(m, n, rng)
      axes[axis] = maps[key]
    plan.append(axes)
  return plan


def assign_widened(old_variables, new_variables, plan):
  """new_v <- widen(old_v, maps) for every pair of the plan (eager)."""
  for old, new, axes in zip(old_variables, new_variables, plan):
    value = old.numpy()
    new.assign(widen(value, axes).astype(value.dtype))
