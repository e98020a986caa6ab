"""Load-independent counts of one compiled step: FLOPs, bytes moved, kernels, all-reduce volume.

Timings on a shared 2-core machine are noisy and say little about a GPU; these
counts do not depend on the load and are what the GPU plan in WORKSPACE.md is
built from. `binaries/benchmark.py` reports them next to its timings.

  concrete = step.get_concrete_function(*args)        # trace once
  flops = profiling.count_flops(concrete.graph)         # 2 per multiply-add, fwd + bwd
  moved = profiling.count_bytes(concrete.graph)         # unfused bytes read + written
  graphs = profiling.executed_graphs(step, *args)       # the FIRST call of `step`
  kernels = profiling.count_kernels(graphs)

Conventions, and why:

* FLOPs are 2 per multiply-accumulate of the conv and matmul ops (forward and
  gradient kernels: Conv2D, Conv2DBackpropInput/Filter, the depthwise forms,
  MatMul, BatchMatMul), read from the static shapes of the traced graph. That
  is the work a GPU's tensor cores can do; BatchNorm, ReLU, pooling, the
  optimizer and the sums are left out of FLOPs (they are a few % of the
  arithmetic, but most of the memory traffic: see `count_bytes`). Only ops
  that feed the function's outputs or side effects are counted (`live_ops`):
  the gradient of a conv input nobody needs (the stem's, or every filter
  gradient of an alpha step) is traced but pruned by Grappler, so it is
  pruned here too. `finalnet.count_flops` is the other convention
  (multiply-adds of one inference pass, as the NAS papers report).
* Bytes are the sum, over the live ops that run a kernel, of their input and
  output tensor sizes: the memory traffic of an unfused executor (every op
  reads its inputs from and writes its outputs to device memory). Fusion
  (XLA, cuDNN's conv+BN epilogues) can only lower it.
* Kernels are the nodes of the graph TensorFlow executes after Grappler (from
  the run metadata of the function's first call), minus nodes that launch no
  device kernel (constants, arguments, identities, variable reads, reshapes,
  shape and control-flow bookkeeping: `NO_KERNEL_OPS`). A GPU executor
  launches roughly one kernel per remaining node; cuDNN convs and BatchNorm
  may launch 2-3.
* XLA kernels (`count_xla_kernels`, optional: compiling takes minutes at the
  paper's size) are the instructions of the ENTRY computation of the
  XLA-optimized HLO of the same step compiled with jit_compile=True for this
  machine's device, minus those that run no code (parameters, constants,
  bitcasts, tuples): fusions, convolutions, dots, custom calls, copies. On a
  GPU that is the kernels XLA launches per step; on this CPU it shows what
  XLA-CPU fuses, which is less than XLA-GPU does.
* All-reduce bytes are what the step passes to `ReplicaContext.all_reduce`
  (gradients, in their dtype), recorded while it is traced
  (`record_all_reduces`); the metric reductions of `strategy.reduce` (a few
  scalars) are not included.
"""

import contextlib
import dataclasses
import re

import numpy as np
import tensorflow as tf
from tensorflow.python.eager import context as eager_context

# Conv and matmul ops whose FLOPs are counted (forward and gradient kernels).
CONV_OPS = ('Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropInputV2', 'Conv2DBackpropFilter',
            'DepthwiseConv2dNative', 'DepthwiseConv2dNativeBackpropInput',
            'DepthwiseConv2dNativeBackpropFilter')
MATMUL_OPS = ('MatMul', 'BatchMatMul', 'BatchMatMulV2', 'BatchMatMulV3')
# Nodes that launch no device kernel: constants, arguments and results,
# aliases (identity, reshape, variable read), shape / host-side bookkeeping,
# control flow and send/receive between devices.
NO_KERNEL_OPS = frozenset((
    'Const', 'HostConst', 'NoOp', '_Arg', '_Retval', '_DeviceArg', '_DeviceRetval', 'Placeholder',
    'Identity', 'IdentityN', 'StopGradient', 'PreventGradient', 'Snapshot', 'ReadVariableOp',
    'VarHandleOp', 'VarIsInitializedOp', 'Reshape', 'ExpandDims', 'Squeeze', 'Shape', 'ShapeN',
    'Size', 'Rank', 'BroadcastGradientArgs', 'Switch', 'Merge', 'Enter', 'Exit',
    'NextIteration', 'LoopCond', 'ControlTrigger', 'Assert', 'If', 'StatelessIf', 'While',
    'StatelessWhile', 'PartitionedCall', 'StatefulPartitionedCall', '_Send', '_Recv',
    '_HostSend', '_HostRecv', 'AssignVariableOp'))
_CALL_OPS = ('PartitionedCall', 'StatefulPartitionedCall')
# HLO instructions that run no code of their own.
NO_KERNEL_HLO = frozenset(('parameter', 'constant', 'bitcast', 'get-tuple-element', 'tuple',
                           'after-all', 'opt-barrier'))


def live_ops(graph):
  """The operations of a function graph that feed its outputs or side effects.

  Walks data and control inputs back from `graph.outputs` and
  `graph.control_outputs` (the stateful ops tf.function keeps: variable
  updates, asserts). What is not reached is dead code that Grappler removes
  before the step runs, e.g. input gradients of the first conv.

  Args:
    graph: a `FuncGraph` (`tf.function(...).get_concrete_function(...).graph`).

  Returns:
    list of `tf.Operation`, in graph order.
  """
  seen = set()
  stack = [t.op for t in graph.outputs] + list(graph.control_outputs)
  while stack:
    op = stack.pop()
    if op.name in seen:
      continue
    seen.add(op.name)
    stack.extend(t.op for t in op.inputs)
    stack.extend(op.control_inputs)
  return [op for op in graph.get_operations() if op.name in seen]


def _shape(tensor, op):
  shape = tensor.shape
  if not shape.is_fully_defined():
    raise ValueError(f'op {op.name} ({op.type}) has a tensor of unknown static shape {shape}; '
                     f'trace the step with fully defined input shapes')
  return [int(d) for d in shape]


def op_flops(op):
  """2 x multiply-adds of one conv or matmul op from its static shapes (0 for other ops)."""
  if op.type in ('Conv2D', 'DepthwiseConv2dNative'):
    out, kernel = _shape(op.outputs[0], op), _shape(op.inputs[1], op)
  elif op.type in ('Conv2DBackpropInput', 'Conv2DBackpropInputV2',
                   'DepthwiseConv2dNativeBackpropInput'):
    out, kernel = _shape(op.inputs[2], op), _shape(op.inputs[1], op)   # out_backprop, filter
  elif op.type in ('Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter'):
    out, kernel = _shape(op.inputs[2], op), _shape(op.outputs[0], op)  # out_backprop, filter grad
  elif op.type in MATMUL_OPS:
    a, out = _shape(op.inputs[0], op), _shape(op.outputs[0], op)
    transposed = op.get_attr('transpose_a' if op.type == 'MatMul' else 'adj_x')
    return 2 * int(np.prod(out)) * (a[-2] if transposed else a[-1])
  else:
    return 0
  if op.type.startswith('Depthwise'):
    # Filter [kh, kw, in, multiplier]: each output channel sees kh * kw inputs.
    return 2 * int(np.prod(out)) * kernel[0] * kernel[1]
  # Filter [kh, kw, in / groups, out]: each output sees kh * kw * in / groups inputs.
  return 2 * int(np.prod(out)) * kernel[0] * kernel[1] * kernel[2]


def _nested_graphs(op):
  """The function bodies an op runs one of: [body] of a call, [then, else] of an If."""
  graph = op.graph
  if op.type in _CALL_OPS:
    names = [op.get_attr('f').name]
  elif op.type in ('If', 'StatelessIf'):
    names = [op.get_attr(b).name for b in ('then_branch', 'else_branch')]
  else:
    names = []
  if op.type in ('While', 'StatelessWhile'):
    raise ValueError(f'count_flops cannot count the loop {op.name}: its trip count is dynamic')
  return [graph._get_function(n).graph for n in names]  # pylint: disable=protected-access


def uses_xla(graph):
  """True if the traced graph XLA-compiles anything (a `jit_compile=True` call).

  Looks for `_XlaMustCompile` on the graph's nodes, on the nodes of every
  function in its library and on those functions' own attributes.
  """
  graph_def = graph.as_graph_def()
  nodes = list(graph_def.node)
  for function in graph_def.library.function:
    if function.attr['_XlaMustCompile'].b:
      return True
    nodes.extend(function.node_def)
  return any(node.attr['_XlaMustCompile'].b for node in nodes)


def count_flops(graph):
  """FLOPs of one call of a traced function (see the module docstring).

  Nested function calls are counted inside; of an If, the costlier branch.

  Args:
    graph: the `FuncGraph` of a concrete function traced with static shapes.

  Returns:
    dict(total=int, by_type={op type: int}).

  Raises:
    ValueError: a counted op has a tensor of unknown static shape, or the
      graph holds a while loop.
  """
  by_type = {}
  for op in live_ops(graph):
    flops = op_flops(op)
    if flops:
      by_type[op.type] = by_type.get(op.type, 0) + flops
    branches = _nested_graphs(op)
    if branches:
      counts = [count_flops(g) for g in branches]
      best = max(counts, key=lambda c: c['total'])
      for k, v in best['by_type'].items():
        by_type[k] = by_type.get(k, 0) + v
  return dict(total=int(sum(by_type.values())), by_type=dict(sorted(by_type.items())))


def _tensor_bytes(tensor):
  dtype = tensor.dtype
  if dtype in (tf.resource, tf.variant, tf.string) or not tensor.shape.is_fully_defined():
    return None
  return int(np.prod(tensor.shape.as_list(), dtype=np.int64)) * dtype.size


def count_bytes(graph):
  """Unfused memory traffic of one call: input + output bytes of the kernel-launching live ops.

  Nested function calls are counted inside; of an If, the costlier branch.
  Resource handles are not counted (a variable's value is counted where an
  op reads it: as the output of its ReadVariableOp, an alias, consumed by the
  op that uses it).

  Returns:
    dict(total=int bytes, ops=number of ops counted, by_type={op type:
    bytes} (largest first), unknown=tensors left out for an unknown static
    shape: in these steps only FusedBatchNorm's reserve-space outputs, a few
    floats per channel).
  """
  total, ops, unknown, by_type = 0, 0, 0, {}
  for op in live_ops(graph):
    branches = _nested_graphs(op)
    if branches:
      best = max((count_bytes(g) for g in branches), key=lambda c: c['total'])
      total, ops, unknown = total + best['total'], ops + best['ops'], unknown + best['unknown']
      for k, v in best['by_type'].items():
        by_type[k] = by_type.get(k, 0) + v
    if op.type in NO_KERNEL_OPS:
      continue
    sizes = [_tensor_bytes(t) for t in list(op.inputs) + list(op.outputs)
             if t.dtype not in (tf.resource, tf.variant)]
    moved = sum(s for s in sizes if s is not None)
    total += moved
    by_type[op.type] = by_type.get(op.type, 0) + moved
    unknown += sum(s is None for s in sizes)
    ops += 1
  return dict(total=total, ops=ops, unknown=unknown,
              by_type=dict(sorted(by_type.items(), key=lambda kv: -kv[1])))


def executed_graphs(function, *args, **kwargs):
  """Calls `function` once and returns the GraphDefs TensorFlow ran (after Grappler).

  TensorFlow optimises a function graph when it first runs it and reports the
  result in the run metadata of that call only, so this must be the FIRST
  call of `function` with these argument shapes (tracing it before with
  `get_concrete_function` is fine). The call runs for real (a training step
  updates the variables).

  Returns:
    (list of GraphDef partition graphs, the call's outputs).

  Raises:
    ValueError: nothing was reported, i.e. the function had already run.
  """
  ctx = eager_context.context()
  ctx.enable_run_metadata()
  try:
    # Drop what earlier calls left (eager ops run while metadata was off are
    # still reported after a previous collection).
    ctx.export_run_metadata()
    outputs = function(*args, **kwargs)
    tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, 'numpy') else t, outputs)
    metadata = ctx.export_run_metadata()
  finally:
    ctx.disable_run_metadata()
  graphs = [g for fg in metadata.function_graphs for g in fg.partition_graphs]
  if not graphs:
    raise ValueError('executed_graphs: no graph was reported; the function had already run '
                     'with these argument shapes (call this on its first call)')
  return graphs, outputs


def count_kernels(graph_defs):
  """Nodes of executed GraphDefs: all of them, and those that launch a device kernel.

  Returns:
    dict(nodes=int, kernels=int, by_type={op type: count} of the kernel nodes).
  """
  nodes, by_type = 0, {}
  for graph_def in graph_defs:
    for node in graph_def.node:
      nodes += 1
      if node.op not in NO_KERNEL_OPS:
        by_type[node.op] = by_type.get(node.op, 0) + 1
  return dict(nodes=nodes, kernels=int(sum(by_type.values())),
              by_type=dict(sorted(by_type.items(), key=lambda kv: -kv[1])))


def count_xla_kernels(function, *args):
  """Kernel-running instructions of the XLA-optimized HLO of `function(*args)`.

  Compiles the Python function behind `function` (a tf.function or a plain
  callable) with jit_compile=True for this machine's default device; nothing
  runs and no variable changes.

  Returns:
    dict(kernels=int, by_opcode={opcode: count}, fusion_kinds={kind: count}).
  """
  python_function = getattr(function, 'python_function', function)
  jitted = tf.function(python_function, jit_compile=True, autograph=False)
  hlo = jitted.experimental_get_compiler_ir(*args)(stage='optimized_hlo')
  return count_hlo_kernels(hlo)


def count_hlo_kernels(hlo_text):
  """`count_xla_kernels` of an HLO module's text: its ENTRY computation's instructions."""
  lines = hlo_text.splitlines()
  start = next(i for i, line in enumerate(lines) if line.startswith('ENTRY'))
  by_opcode, kinds = {}, {}
  for line in lines[start + 1:]:
    if line.startswith('}'):
      break
    _, eq, rhs = line.partition(' = ')
    match = re.search(r'(?<![\w.])([a-z][a-z0-9-]*)\(', rhs) if eq else None
    if not match or match.group(1) in NO_KERNEL_HLO:
      continue
    opcode = match.group(1)
    by_opcode[opcode] = by_opcode.get(opcode, 0) + 1
    kind = re.search(r'kind=(k\w+)', rhs)
    if opcode == 'fusion' and kind:
      kinds[kind.group(1)] = kinds.get(kind.group(1), 0) + 1
  return dict(kernels=int(sum(by_opcode.values())),
              by_opcode=dict(sorted(by_opcode.items(), key=lambda kv: -kv[1])),
              fusion_kinds=dict(sorted(kinds.items(), key=lambda kv: -kv[1])))


def count_params(variables):
  """(number of elements, bytes) of `variables` (tf or Keras variables)."""
  elements = sum(int(np.prod(v.shape)) for v in variables)
  size = sum(int(np.prod(v.shape)) * tf.as_dtype(v.dtype).size for v in variables)
  return elements, size


@dataclasses.dataclass
class AllReduces:
  """What a traced step all-reduces: number of `all_reduce` calls and their bytes.

  Summed over every replica the strategy traced (MirroredStrategy traces its
  replica function once per local replica): divide by the replica count for
  one replica's share.
  """
  calls: int = 0
  tensors: int = 0
  bytes: int = 0


@contextlib.contextmanager
def record_all_reduces():
  """Records every `ReplicaContext.all_reduce` made while the block traces a step.

  Wraps the method of `tf.distribute.ReplicaContext` (all strategies' replica
  contexts inherit it) for the duration of the block; it only sees calls made
  while tracing, so trace the step inside the block
  (`step.get_concrete_function(*args)`).

  Yields:
    an `AllReduces`, filled in as the block runs.
  """
  record = AllReduces()
  base = tf.distribute.ReplicaContext
  original = base.all_reduce

  def all_reduce(self, reduce_op, value, options=None):
    flat = tf.nest.flatten(value)
    record.calls += 1
    record.tensors += len(flat)
    record.bytes += sum(_tensor_bytes(v.values if isinstance(v, tf.IndexedSlices)
                                      else tf.convert_to_tensor(v)) or 0 for v in flat)
    return original(self, reduce_op, value, options)

  base.all_reduce = all_reduce
  try:
    yield record
  finally:
    base.all_reduce = original
