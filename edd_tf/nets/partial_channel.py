"""PC-DARTS partial channel connections of a search edge (reference sect. 4.1).

With K = ``partial_channels`` > 1 (PC-DARTS model_search.py MixedOp) only the
first C/K channels of an edge input go through the candidate ops (xtemp =
x[:, :C//K], `head`); the other channels bypass them (xtemp2 = x[:, C//K:],
`bypass`), max-pooled 2x2 on a reduction edge so that they match the strided
ops' output (`bypass_pool`). The mixed part and the bypass are concatenated
and shuffled with K groups (`shuffle_concat`, `channel_shuffle`), so the next
edge mixes other channels. K = 1 is plain DARTS: the ops see every channel.

`mixed_op.MixedOp` uses these per edge; spaces/darts_supernet.py sums the
edges of a node before one `shuffle_concat` (both operations are linear).
"""

from keras import layers
from keras import ops as K
import tensorflow as tf


def head_channels(channels, partial_channels):
  """C // K, the channels of the `head` (what the candidate ops see), after checking K.

  Args:
    channels: C, input and output channels of the edge.
    partial_channels: K of PC-DARTS (1 = plain DARTS).

  Returns:
    int, channels // partial_channels.

  Raises:
    ValueError: if `partial_channels` is not an integer >= 1 or does not
      divide `channels`.
  """
  if not isinstance(partial_channels, int) or partial_channels < 1:
    raise ValueError(f'model.partial_channels must be an integer >= 1 (1 = plain DARTS, '
                     f'4 = PC-DARTS CIFAR), got {partial_channels!r}')
  if channels % partial_channels:
    raise ValueError(f'model.partial_channels={partial_channels} must divide the channel count '
                     f'of every edge, got {channels} channels')
  return channels // partial_channels


def bypass_pool(partial_channels, stride):
  """The pooling of the bypassed channels: nn.MaxPool2d(2, 2) on a reduction edge.

  Returns:
    a keras MaxPooling2D layer if `partial_channels` > 1 and `stride` > 1,
    else None (the bypass is the channels themselves).
  """
  if partial_channels > 1 and stride > 1:
    return layers.MaxPooling2D(2, strides=2, padding='valid')
  return None


def head(x, width, partial_channels):
  """PC-DARTS xtemp = x[:, :C//K] (width = C//K): the channels that go through the ops.

  x itself if K = 1.
  """
  return x[..., :width] if partial_channels > 1 else x


def bypass(x, width, pool):
  """PC-DARTS xtemp2 = x[:, C//K:] (width = C//K), through `pool` (`bypass_pool`) unless None."""
  rest = x[..., width:]
  return pool(rest) if pool is not None else rest


def shuffle_concat(mixed, bypassed, groups):
  """PC-DARTS edge output: channel_shuffle(cat([mixed, bypassed], channels), K).

  Args:
    mixed: float[B, H, W, C/K], the mixed ops' output.
    bypassed: float[B, H, W, C - C/K], the bypass.
    groups: K.

  Returns:
    float[B, H, W, C].
  """
  return channel_shuffle(K.concatenate([mixed, bypassed], axis=-1), groups)


def channel_shuffle(x, groups):
  """PC-DARTS channel shuffle for NHWC tensors (model_search.py channel_shuffle).

  PyTorch views NCHW ``x`` as (B, groups, C/groups, H, W), swaps axes 1 and 2
  and flattens back, so output channel ``j * groups + g`` is input channel
  ``g * (C/groups) + j`` (g < groups, j < C/groups); equivalently
  ``out[..., o] = x[..., (o % groups) * (C // groups) + o // groups]``.
  Channels-last: reshape to (..., groups, C/groups), swap the last two axes,
  flatten: the same permutation of channel indices.

  Args:
    x: float[B, H, W, C] (any rank >= 2; channels last), C divisible by
      `groups`.
    groups: int >= 1.

  Returns:
    float[B, H, W, C], the channels permuted as above.

  Raises:
    ValueError: if `groups` < 1 or does not divide C.
  """
  c = x.shape[-1]
  if groups < 1 or c is None or c % groups:
    raise ValueError(f'channel_shuffle: groups={groups} must be >= 1 and divide the '
                     f'channel count {c}')
  if groups == 1:
    return x
  rank = x.shape.rank
  shape = tf.shape(x)
  y = tf.reshape(x, tf.concat([shape[:-1], [groups, c // groups]], axis=0))
  y = tf.transpose(y, list(range(rank - 1)) + [rank, rank - 1])
  return tf.reshape(y, shape)
