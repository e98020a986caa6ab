"""The final networks are Keras models you can keep: .keras round trip, summary, compile/fit."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from edd_tf.arch import genotype as genotype_lib
from edd_tf.nets import finalnet
from tests.helpers import NB201_CELL

CASES = {
    'nb201': ('nb201', NB201_CELL, dict(channels=4, cells_per_stage=1)),
    'darts_cifar+aux': ('darts_cifar', genotype_lib.GENOTYPES['DARTS_V2'],
                        dict(channels=8, layers=3, auxiliary=True)),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_save_and_load_give_the_same_network_bitwise(tmp_path, case):
  network, genotype, sizes = CASES[case]
  model = finalnet.build_final_network(network, genotype, 10, **sizes)
  x = tf.random.stateless_normal([2, 32, 32, 3], seed=[0, 1])
  if model.auxiliary_head is not None:   # trained with the head: its weights exist
    model.call_with_aux(x, training=False)
  # Move the BN statistics and weights off their initial values.
  for v in model.weights:
    v.assign(v + 0.01 * tf.cast(tf.random.stateless_normal(v.shape, seed=[2, len(v.path)]),
                                v.dtype))
  want = model(x, training=False).numpy()
  model.save(tmp_path / 'cell.keras')
  loaded = keras.saving.load_model(tmp_path / 'cell.keras')
  assert type(loaded) is type(model) and loaded.arch == model.arch
  np.testing.assert_array_equal(loaded(x, training=False).numpy(), want)
  assert len(loaded.weights) == len(model.weights)
  for a, b in zip(model.weights, loaded.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
  if model.auxiliary_head is not None:
    np.testing.assert_array_equal(loaded.call_with_aux(x, training=False)[1].numpy(),
                                  model.call_with_aux(x, training=False)[1].numpy())
  lines = []
  loaded.summary(print_fn=lines.append)
  assert any('cell_0' in line for line in lines)


def test_compile_and_fit_on_a_dataset_also_after_loading(tmp_path):
  model = finalnet.build_final_network('nb201', NB201_CELL, 3, channels=4, cells_per_stage=1)
  rng = np.random.default_rng(0)
  images = rng.standard_normal((16, 16, 16, 3)).astype(np.float32)
  labels = rng.integers(0, 3, 16)
  ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
  model.compile(optimizer=keras.optimizers.SGD(0.05),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=['accuracy'])
  history = model.fit(ds, epochs=2, verbose=0)
  assert len(history.history['loss']) == 2 and np.isfinite(history.history['loss']).all()
  model.save(tmp_path / 'fitted.keras')
  loaded = keras.saving.load_model(tmp_path / 'fitted.keras')
  np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
  more = loaded.fit(ds, epochs=1, verbose=0)   # the optimizer state came along
  assert np.isfinite(more.history['loss']).all()


@pytest.mark.parametrize('network', ['nb201', 'darts_cifar'])
def test_summary_shows_every_layers_output_shape(network):
  """summary() of a built network has no '?' and the cells' shapes are the real ones."""
  import io
  from edd_tf.arch import genotype as genotype_lib
  if network == 'nb201':
    net = finalnet.build_final_network('nb201', NB201_CELL, 10, channels=4, cells_per_stage=1)
  else:
    net = finalnet.build_final_network('darts_cifar', genotype_lib.GENOTYPES['DARTS_V2'], 10,
                                       channels=16, layers=3)
  net(np.zeros((2, 32, 32, 3), np.float32))
  out = io.StringIO()
  net.summary(print_fn=lambda line, **_: out.write(line + '\n'))
  table = out.getvalue()
  assert '?' not in table, table
  if network == 'darts_cifar':   # each cell's reported shape is its real output's
    s0 = s1 = net.layers[0](np.zeros((2, 32, 32, 3), np.float32))
    cells = [layer for layer in net.layers if type(layer).__name__ == 'DartsCell']
    assert len(cells) == 3
    for cell in cells:
      out = cell(s0, s1)
      assert cell.output_shape == tuple(out.shape)
      s0, s1 = s1, out
