"""Search supernets (edd_tf/spaces/nb201_supernet.py)."""

import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from edd_tf import spaces
from edd_tf.spaces import nb201_supernet as supernet


def _model(fused, channels=4, cells=1):
  cfg = ml_collections.ConfigDict(dict(channels=channels, cells_per_stage=cells, fused=fused))
  model = spaces.get_space('nb201').build_supernet(10, cfg)
  model(tf.zeros([2, 16, 16, 3]), {'alphas': tf.fill([6, 5], 0.2)})
  return model


def test_output_shape_and_no_alphas_in_model():
  model = _model(fused=False)
  logits = model(tf.random.normal([3, 16, 16, 3]),
                 {'alphas': tf.nn.softmax(tf.random.normal([6, 5]))})
  assert logits.shape == (3, 10) and logits.dtype == tf.float32
  assert not any('alpha' in v.path for v in model.variables)


def test_fused_cell_equals_per_edge_cell():
  space = spaces.get_space('nb201')
  plain = supernet.NB201SearchCell(space, 4)
  fused = supernet.FusedNB201SearchCell(space, 4)
  x = tf.random.normal([2, 8, 8, 4], seed=1)
  betas = tf.nn.softmax(tf.random.normal([6, 5], seed=2))
  plain(x, betas, training=True)
  fused(x, betas, training=True)
  # Copy the per-edge conv kernels into the fused cell.
  for k, convs in enumerate(fused.convs):
    for col, conv, _ in convs:
      conv.kernel.assign({c: op for c, _, op in plain.edges[k].candidates}[col].conv.kernel)
  # Training mode (batch statistics); the moving statistics differ only
  # because the build calls ran with different kernels.
  np.testing.assert_allclose(plain(x, betas, training=True), fused(x, betas, training=True),
                             atol=1e-5)


def test_none_column_gets_no_gradient_and_does_not_matter():
  model = _model(fused=False)
  x = tf.random.normal([2, 16, 16, 3])
  betas = tf.nn.softmax(tf.random.normal([6, 5]))
  with tf.GradientTape() as tape:
    tape.watch(betas)
    loss = tf.reduce_sum(model(x, {'alphas': betas}, training=True))
  grad = tape.gradient(loss, betas).numpy()
  assert np.all(grad[:, 0] == 0) and np.any(grad[:, 1:] != 0)


def test_unknown_space_names_known_ones():
  with pytest.raises(ValueError, match=r"unknown search space 'darts_x'.*nb201"):
    spaces.get_space('darts_x')
