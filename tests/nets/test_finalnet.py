"""Tests for edd_tf.nets.finalnet: discrete NB201 / DARTS networks."""

import numpy as np
import pytest
import tensorflow as tf

from edd_tf.nets import finalnet
from edd_tf.arch import genotype as genotype_lib
from edd_tf.nets import ops

GENOTYPES = genotype_lib.GENOTYPES
NB201_ARCH0 = ('|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+'
               '|nor_conv_1x1~0|skip_connect~1|skip_connect~2|')
NB201_BEST = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+'
              '|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|')  # index 9930
NB201_NONE = '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|'
NB201_CONV = ('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+'
              '|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|')
S4_LIKE = genotype_lib.Genotype(
    normal=[('noise', 0), ('sep_conv_3x3', 1)] * 4, normal_concat=[2, 3, 4, 5],
    reduce=[('noise', 0), ('sep_conv_3x3', 1)] * 4, reduce_concat=[2, 3, 4, 5])


def _images(batch=2, size=32, seed=0):
  return tf.constant(np.random.default_rng(seed).normal(size=(batch, size, size, 3)), tf.float32)


def _built(network, genotype, num_classes=10, size=32, batch=1, **kwargs):
  model = finalnet.build_final_network(network, genotype, num_classes, **kwargs)
  model(_images(batch, size), training=False)
  return model


# ----------------------------------------------------------------- parameters


def test_darts_v2_cifar10_params_match_pytorch_reference():
  # quark0/darts train.py log: "param size = 3.349342MB" (auxiliary head excluded).
  model = _built('darts_cifar', GENOTYPES['DARTS_V2'], channels=36, layers=20, auxiliary=True)
  assert finalnet.count_params(model) == 3_349_342


def test_pc_darts_cifar10_params_match_literature():
  model = _built('darts_cifar', GENOTYPES['PC_DARTS_cifar'], channels=36, layers=20)
  assert 3.55e6 < finalnet.count_params(model) < 3.65e6  # PC-DARTS README: 3.6M


def test_drnas_cifar10_params_match_literature():
  model = _built('darts_cifar', GENOTYPES['DrNAS_cifar10'], channels=36, layers=20)
  assert 4.0e6 < finalnet.count_params(model) < 4.15e6  # DrNAS README: 4.1M


def test_darts_v2_imagenet_params_match_literature():
  # Parameters do not depend on the input size; 32x32 keeps the test fast.
  model = _built('darts_imagenet', GENOTYPES['DARTS_V2'], 1000, channels=48, layers=14)
  assert 4.65e6 < finalnet.count_params(model) < 4.75e6  # DARTS README: 4.7M


@pytest.mark.parametrize('arch,expected', [
    # Hand-derived: stem 464, ResNet blocks 14,464 + 57,600, last BN 128, fc 650.
    (NB201_NONE, 73_306),
    # ... plus two 1x1 ReLUConvBN per cell: 5 * 2 * (C^2 + 2C) for C = 16, 32, 64.
    (NB201_ARCH0, 129_306),
    # ... plus six 3x3 ReLUConvBN per cell (NB201's largest net, 1.53M).
    (NB201_CONV, 1_531_546)])
def test_nb201_params_hand_derived(arch, expected):
  model = _built('nb201', arch, channels=16)
  assert finalnet.count_params(model) == expected


def test_count_params_includes_auxiliary_head_on_request():
  model = finalnet.build_final_network('darts_cifar', GENOTYPES['DARTS_V2'], 10, channels=8,
                                       layers=6, auxiliary=True)
  model.call_with_aux(_images(), training=True)
  # AuxiliaryHeadCIFAR: 1x1 conv 128 + BN, 2x2 conv 768 + BN, Dense 768 -> 10.
  c_aux = 4 * 4 * 8  # multiplier 4, C doubled twice at cell 2*6//3 = 4
  aux = c_aux * 128 + 256 + 128 * 4 * 768 + 2 * 768 + 768 * 10 + 10
  assert finalnet.count_params(model, exclude_auxiliary=False) - finalnet.count_params(model) == aux


def test_count_params_needs_a_built_model():
  model = finalnet.build_final_network('nb201', NB201_BEST, 10, channels=16)
  with pytest.raises(ValueError, match='built'):
    finalnet.count_params(model)


# ---------------------------------------------------------------------- flops


def test_nb201_flops_match_the_benchmark():
  # NAS-Bench-201 reports 15.64737 MFLOPs (cifar10-valid) / 15.65322 (cifar100)
  # for arch index 0 (NATS-Bench issue #24).
  assert finalnet.count_flops(_built('nb201', NB201_ARCH0, channels=16), (32, 32, 3)) == 15_647_370
  assert finalnet.count_flops(_built('nb201', NB201_ARCH0, 100, channels=16),
                              (1, 32, 32, 3)) == 15_653_220


def test_darts_flops_skip_the_auxiliary_head_and_scale_with_resolution():
  kwargs = dict(channels=8, layers=3)
  plain = _built('darts_cifar', GENOTYPES['DARTS_V2'], **kwargs)
  aux = _built('darts_cifar', GENOTYPES['DARTS_V2'], auxiliary=True, **kwargs)
  f32 = finalnet.count_flops(plain, (32, 32, 3))
  assert finalnet.count_flops(aux, (32, 32, 3)) == f32
  fc = 4 * 4 * 8 * 10 + 10
  assert finalnet.count_flops(plain, (64, 64, 3)) - fc == 4 * (f32 - fc)


# ------------------------------------------------------------- model contract


def test_darts_cifar_returns_float32_logits():
  model = finalnet.build_final_network('darts_cifar', GENOTYPES['DARTS_V2'], 7, channels=8,
                                       layers=3)
  logits = model(_images(), training=False)
  assert logits.shape == (2, 7) and logits.dtype == tf.float32
  assert model.num_classes == 7


def test_call_with_aux_returns_logits_and_aux_logits():
  model = finalnet.build_final_network('darts_cifar', GENOTYPES['DARTS_V2'], 10, channels=8,
                                       layers=3, auxiliary=True)
  logits, aux = model.call_with_aux(_images(), training=True)
  assert logits.shape == (2, 10) and aux.shape == (2, 10) and aux.dtype == tf.float32
  assert model(_images(), training=True).shape == (2, 10)  # plain call: logits only


def test_auxiliary_head_only_runs_when_asked():
  model = _built('darts_cifar', GENOTYPES['DARTS_V2'], channels=8, layers=3, auxiliary=True)
  model(_images(), training=True)
  assert not model.auxiliary_head.weights  # never called, so never built


def test_call_with_aux_without_head_raises():
  model = finalnet.build_final_network('darts_cifar', GENOTYPES['DARTS_V2'], 10, channels=8,
                                       layers=3)
  with pytest.raises(ValueError, match='auxiliary'):
    model.call_with_aux(_images(), training=True)


def test_darts_imagenet_aux_head_on_224_input():
  model = finalnet.build_final_network('darts_imagenet', GENOTYPES['DARTS_V2'], 5, channels=8,
                                       layers=3, auxiliary=True)
  logits, aux = model.call_with_aux(_images(1, 224), training=True)
  assert logits.shape == (1, 5) and aux.shape == (1, 5)
  # stem0 -> 56x56, stem1 -> 28x28 (three stride-2 convs), then two reductions.
  assert model.stem0[0].conv.strides == (2, 2) and model.stem1[0].conv.strides == (2, 2)
  assert isinstance(model.cells[0].preprocess0, ops.FactorizedReduce)


def test_nb201_cell_sums_edges_and_skips_none():
  cell = finalnet.NB201Cell(genotype_lib.parse_nb201(
      '|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|'), 4)
  x = _images(1, 8)[..., :1] * tf.ones([1, 1, 1, 4])
  np.testing.assert_allclose(cell(x).numpy(), x.numpy())
  assert len(cell.edge_ops) == 3
  zero = finalnet.NB201Cell(genotype_lib.parse_nb201(NB201_NONE), 4)
  assert not np.any(zero(x).numpy())


def test_nb201_best_cell_builds_and_runs():
  model = _built('nb201', NB201_BEST, 10, batch=2, channels=16)
  assert model(_images(), training=True).shape == (2, 10)
  assert 0.07e6 < finalnet.count_params(model) < 1.6e6


@pytest.mark.parametrize('name', sorted(GENOTYPES))
def test_every_reference_genotype_builds(name):
  model = finalnet.build_final_network('darts_cifar', GENOTYPES[name], 10, channels=4, layers=3,
                                       auxiliary=True)
  logits, aux = model.call_with_aux(_images(1), training=True)
  assert logits.shape == (1, 10) and aux.shape == (1, 10)


def test_s4_noise_genotype_builds_and_runs():
  model = finalnet.build_final_network('darts_cifar', S4_LIKE, 10, channels=16, layers=8)
  assert model(_images(), training=False).shape == (2, 10)


# ------------------------------------------------------------------ drop path


def test_drop_path_rate_is_a_non_trainable_float32_scalar():
  model = _built('darts_cifar', GENOTYPES['DARTS_V2'], channels=4, layers=3)
  assert float(model.drop_path_rate.numpy()) == 0.0
  assert model.drop_path_rate.dtype == 'float32' and model.drop_path_rate.shape == ()
  assert not any(v is model.drop_path_rate for v in model.trainable_variables)
  model.drop_path_rate.assign(0.2)
  assert float(model.drop_path_rate.numpy()) == pytest.approx(0.2)


def test_drop_path_zeroes_some_samples_and_rescales_the_rest():
  x = tf.ones([64, 2, 2, 3])
  y = finalnet.drop_path(x, tf.constant(0.5), tf.constant([1, 2], tf.int64)).numpy()
  per_sample = y.reshape(64, -1)
  assert np.all((per_sample == 0) | (per_sample == 2))
  dropped = np.all(per_sample == 0, axis=1).sum()
  assert 10 < dropped < 54
  np.testing.assert_array_equal(
      finalnet.drop_path(x, tf.constant(0.0), tf.constant([1, 2], tf.int64)).numpy(), x.numpy())


def _all_conv_cell(op):
  gene = genotype_lib.Genotype(normal=[(op, 0), (op, 1)] * 4, normal_concat=[2, 3, 4, 5],
                               reduce=[(op, 0), (op, 1)] * 4, reduce_concat=[2, 3, 4, 5])
  return finalnet.DartsCell(gene.normal, gene.normal_concat, 4, False, False)


def test_drop_path_in_cells_applies_in_training_only():
  cell = _all_conv_cell('sep_conv_3x3')
  s = _images(4, 8)[..., :1] * tf.ones([1, 1, 1, 4])
  seed = tf.constant([3, 4], tf.int64)
  dropped = cell(s, s, drop_rate=tf.constant(1.0), seed=seed, training=True).numpy()
  assert not np.any(dropped)  # every op dropped
  kept = cell(s, s, drop_rate=tf.constant(1.0), seed=seed, training=False).numpy()
  assert np.all(np.abs(kept).sum(axis=(1, 2, 3)) > 0)


def test_drop_path_skips_identity_ops():
  cell = _all_conv_cell('skip_connect')
  s = _images(4, 8)[..., :1] * tf.ones([1, 1, 1, 4])
  out = cell(s, s, drop_rate=tf.constant(1.0), seed=tf.constant([3, 4], tf.int64), training=True)
  assert np.all(np.abs(out.numpy()).sum(axis=(1, 2, 3)) > 0)


def test_model_drop_path_changes_training_output_only():
  model = _built('darts_cifar', GENOTYPES['DARTS_V2'], batch=8, channels=4, layers=3)
  x = _images(8)
  eval_before = model(x, training=False).numpy()
  model.drop_path_rate.assign(0.6)
  np.testing.assert_allclose(model(x, training=False).numpy(), eval_before, atol=1e-5)
  model.drop_path_rate.assign(0.0)
  train_before = model(x, training=True).numpy()  # BN uses batch statistics
  np.testing.assert_allclose(model(x, training=True).numpy(), train_before, atol=1e-5)
  model.drop_path_rate.assign(0.6)
  assert not np.allclose(model(x, training=True).numpy(), train_before, atol=1e-3)


def test_drop_path_works_inside_tf_function():
  model = _built('darts_cifar', GENOTYPES['DARTS_V2'], batch=4, channels=4, layers=3)
  model.drop_path_rate.assign(0.5)
  fn = tf.function(lambda x: model(x, training=True))
  x = _images(4)
  assert not np.allclose(fn(x).numpy(), fn(x).numpy())  # fresh masks each call


# ------------------------------------------------------------------- errors


def test_unknown_network_lists_networks():
  with pytest.raises(ValueError, match='darts_imagenet'):
    finalnet.build_final_network('resnet', GENOTYPES['DARTS_V2'], 10, channels=16)


def test_nb201_string_for_darts_network_raises():
  with pytest.raises(ValueError, match='NB201'):
    finalnet.build_final_network('darts_cifar', NB201_BEST, 10, channels=16)


def test_darts_genotype_for_nb201_raises():
  with pytest.raises(ValueError, match='NB201 arch string'):
    finalnet.build_final_network('nb201', GENOTYPES['DARTS_V2'], 10, channels=16)


def test_op_from_another_space_raises():
  gene = GENOTYPES['DARTS_V2']._replace(normal=[('nor_conv_3x3', 0)] + GENOTYPES['DARTS_V2'].normal[1:])
  with pytest.raises(ValueError, match="unknown op 'nor_conv_3x3'"):
    finalnet.build_final_network('darts_cifar', gene, 10, channels=16)
  with pytest.raises(ValueError, match='sep_conv_3x3'):
    finalnet.build_final_network('nb201', NB201_BEST.replace('nor_conv_3x3~0|+', 'sep_conv_3x3~0|+', 1),
                                 10, channels=16)


def test_bad_darts_input_index_raises():
  gene = GENOTYPES['DARTS_V2']._replace(normal=[('sep_conv_3x3', 2)] + GENOTYPES['DARTS_V2'].normal[1:])
  with pytest.raises(ValueError, match='inputs 0..1'):
    finalnet.build_final_network('darts_cifar', gene, 10, channels=16)


def test_nb201_rejects_darts_only_arguments():
  with pytest.raises(ValueError, match='cells_per_stage'):
    finalnet.build_final_network('nb201', NB201_BEST, 10, channels=16, layers=8)
