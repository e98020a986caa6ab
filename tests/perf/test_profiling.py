"""edd_tf.perf.profiling: FLOPs and bytes against hand counts, executed kernels, all-reduce bytes."""

import re

import pytest
import tensorflow as tf

from edd_tf.perf import profiling

B = 2  # batch


def _variables():
  tf.random.set_seed(0)
  return dict(
      conv=tf.Variable(tf.random.normal([3, 3, 3, 4]), name='conv'),          # 3 -> 4, stride 2
      dw=tf.Variable(tf.random.normal([3, 3, 4, 1]), name='dw'),              # depthwise 3x3
      fc=tf.Variable(tf.random.normal([4 * 4 * 4, 5]), name='fc'))           # 64 -> 5


def _forward(v, images):
  x = tf.nn.conv2d(images, v['conv'], strides=2, padding='SAME')             # [B, 4, 4, 4]
  x = tf.nn.relu(tf.nn.depthwise_conv2d(x, v['dw'], [1, 1, 1, 1], 'SAME'))   # [B, 4, 4, 4]
  return tf.matmul(tf.reshape(x, [B, -1]), v['fc'])                          # [B, 5]


def _train_step(v):
  @tf.function
  def step(images, labels):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels, _forward(v, images)))
    for var, g in zip(v.values(), tape.gradient(loss, list(v.values()))):
      var.assign_sub(0.1 * g)
    return loss
  return step


def _args():
  return tf.ones([B, 8, 8, 3]), tf.constant([0, 3])


# Hand count, 2 FLOPs per multiply-add:
CONV = 2 * (B * 4 * 4 * 4) * (3 * 3 * 3)   # 6,912: each of 128 outputs sees 27 inputs
DW = 2 * (B * 4 * 4 * 4) * (3 * 3)         # 2,304
FC = 2 * B * 64 * 5                        # 1,280


def test_flops_of_a_training_step_equal_the_hand_count():
  concrete = _train_step(_variables()).get_concrete_function(*_args())
  flops = profiling.count_flops(concrete.graph)
  # The images need no gradient: the first conv's input gradient is dead code
  # (traced, pruned by Grappler) and is not counted.
  assert flops['by_type'] == {'Conv2D': CONV, 'Conv2DBackpropFilter': CONV,
                              'DepthwiseConv2dNative': DW,
                              'DepthwiseConv2dNativeBackpropFilter': DW,
                              'DepthwiseConv2dNativeBackpropInput': DW, 'MatMul': 3 * FC}
  assert flops['total'] == 2 * CONV + 3 * DW + 3 * FC == 24_576
  traced = [op.type for op in concrete.graph.get_operations()]
  assert 'Conv2DBackpropInput' in traced  # ... it is in the traced graph


def test_forward_flops_and_nested_functions():
  v = _variables()
  inner = tf.function(lambda images: _forward(v, images))
  concrete = tf.function(lambda images: inner(images) * 2.0).get_concrete_function(
      tf.TensorSpec([B, 8, 8, 3]))
  assert any(op.type.endswith('PartitionedCall') for op in concrete.graph.get_operations())
  assert profiling.count_flops(concrete.graph)['total'] == CONV + DW + FC


def test_unused_results_are_not_counted():
  w = tf.Variable(tf.ones([16, 16]))

  @tf.function
  def f(x):
    tf.matmul(x, w, transpose_a=True) * 2.0  # Dead: feeds nothing.
    return tf.matmul(x, w, transpose_a=True)

  concrete = f.get_concrete_function(tf.TensorSpec([16, 8]))
  assert profiling.count_flops(concrete.graph)['total'] == 2 * 8 * 16 * 16


def test_unknown_shapes_are_an_error():
  w = tf.ones([4, 4])
  concrete = tf.function(lambda x: tf.matmul(x, w)).get_concrete_function(
      tf.TensorSpec([None, 4]))
  with pytest.raises(ValueError, match='unknown static shape'):
    profiling.count_flops(concrete.graph)


def test_bytes_are_inputs_plus_outputs_of_kernel_ops():
  concrete = tf.function(lambda x: tf.nn.relu(x) + 1.0).get_concrete_function(
      tf.TensorSpec([10]))
  moved = profiling.count_bytes(concrete.graph)
  # Relu reads 40 B and writes 40 B; AddV2 reads 40 B + a 4-byte constant and
  # writes 40 B; the argument, the constant and the Identity launch nothing.
  assert moved == dict(total=40 + 40 + 40 + 4 + 40, ops=2, unknown=0,
                     by_type={'AddV2': 84, 'Relu': 80})


def test_executed_kernels_of_the_first_call_only():
  step = _train_step(_variables())
  step.get_concrete_function(*_args())  # Tracing first is fine.
  graphs, loss = profiling.executed_graphs(step, *_args())
  assert float(loss) > 0
  kernels = profiling.count_kernels(graphs)
  assert 0 < kernels['kernels'] < kernels['nodes']
  # Under oneDNN the kernels are TF's ops renamed '_MklNative<op>' / '_Mkl<op>'.
  by_op = {re.sub(r'^_Mkl(Native)?', '', name): n for name, n in kernels['by_type'].items()}
  assert by_op['DepthwiseConv2dNative'] == 1
  assert 'Const' not in by_op and 'ReadVariableOp' not in by_op
  # Grappler dropped the dead input gradient of the first conv.
  assert 'Conv2DBackpropInput' not in by_op
  with pytest.raises(ValueError, match='already run'):
    profiling.executed_graphs(step, *_args())


def test_count_params():
  assert profiling.count_params(list(_variables().values())) == (108 + 36 + 320,
                                                                  4 * (108 + 36 + 320))


def test_all_reduces_are_recorded_while_tracing():
  def replica_fn(x):
    context = tf.distribute.get_replica_context()
    return context.all_reduce('SUM', [x, tf.ones([5], tf.float16)])

  strategy = tf.distribute.get_strategy()
  f = tf.function(lambda x: strategy.run(replica_fn, args=(x,)))
  with profiling.record_all_reduces() as record:
    f.get_concrete_function(tf.TensorSpec([3, 4]))
  assert record == profiling.AllReduces(calls=1, tensors=2, bytes=3 * 4 * 4 + 5 * 2)
  assert tf.distribute.ReplicaContext.all_reduce is not None
  with profiling.record_all_reduces() as again:
    pass
  assert again.calls == 0


HLO = """HloModule m, entry_computation_layout={(f32[4,4]{1,0})->f32[4]{0}}

%fused_computation (p: f32[4,4]) -> f32[4] {
  %p = f32[4,4]{1,0} parameter(0)
  ROOT %r = f32[4]{0} reduce(%p), dimensions={1}
}

ENTRY %main.7 (Arg_0.1: f32[4,4]) -> (f32[4], f32[4,4]) {
  %Arg_0.1 = f32[4,4]{1,0} parameter(0), metadata={op_name="XLA_Args"}
  %dot.2 = f32[4,4]{1,0} dot(%Arg_0.1, %Arg_0.1), lhs_contracting_dims={1}
  %bitcast.3 = f32[16]{0} bitcast(%dot.2)
  %fusion = f32[4]{0} fusion(%dot.2), kind=kInput, calls=%fused_computation
  %fusion.1 = (f32[4]{0}, f32[4,4]{1,0}) fusion(%fusion, %dot.2), kind=kLoop, calls=%f2
  %constant.4 = f32[] constant(1)
  ROOT %tuple.5 = (f32[4]{0}, f32[4,4]{1,0}) tuple(%fusion, %dot.2)
}
"""


def test_hlo_kernels_are_the_entry_instructions_that_run_code():
  assert profiling.count_hlo_kernels(HLO) == dict(
      kernels=3, by_opcode={'fusion': 2, 'dot': 1}, fusion_kinds={'kInput': 1, 'kLoop': 1})


def test_xla_kernels_of_a_compiled_function():
  w = tf.ones([8, 8])
  f = tf.function(lambda x: tf.nn.relu(tf.matmul(x, w)) + 1.0)
  xla = profiling.count_xla_kernels(f, tf.ones([4, 8]))
  assert xla['by_opcode'].get('dot', 0) + xla['by_opcode'].get('fusion', 0) >= 1
  assert 1 <= xla['kernels'] <= 3  # the matmul, and the ReLU + add fused (or into the dot)


def test_uses_xla_finds_a_compiled_call_inside_a_plain_step():
  w = tf.ones([8, 8])
  inner = tf.function(lambda x: tf.matmul(x, w), jit_compile=True)
  plain = tf.function(lambda x: tf.matmul(x, w) + 1.0)
  outer = tf.function(lambda x: inner(x) + 1.0)
  x = tf.ones([4, 8])
  assert profiling.uses_xla(outer.get_concrete_function(x).graph)
  assert not profiling.uses_xla(plain.get_concrete_function(x).graph)
