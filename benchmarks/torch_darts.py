r"""PyTorch reference timings in the DARTS space: search step pairs and an evaluation step.

  /work/venv-torch/bin/python benchmarks/torch_darts.py --variant=darts --pairs=3
  /work/venv-torch/bin/python benchmarks/torch_darts.py --variant=pc_darts --pairs=3
  /work/venv-torch/bin/python benchmarks/torch_darts.py --variant=eval --pairs=3

Our own plain PyTorch versions, eager and NCHW, written from the facts in
shared/docs/reference.md (sect. 3.2-3.7, 4.1-4.3) the way the public
references are written (modules, per-edge Python loops, sum(w * op(x))). No
code is copied from them. The reference files are, for the three variants:

  darts     quark0/darts cnn/model_search.py (Network, Cell, MixedOp),
            cnn/operations.py, cnn/train_search.py, cnn/architect.py
  pc_darts  yuhuixu1993/PC-DARTS model_search.py (partial-channel MixedOp,
            channel_shuffle, edge betas), train_search.py, architect.py
  eval      quark0/darts cnn/model.py (NetworkCIFAR, Cell, AuxiliaryHeadCIFAR),
            cnn/train.py (the training step), cnn/utils.py (drop_path),
            cnn/genotypes.py (DARTS_V2)

Ops (cnn/operations.py, reference sect. 3.2), all convs bias=False:
  none          x.mul(0.) (stride s: x[:, :, ::s, ::s].mul(0.)), computed
  max_pool_3x3  MaxPool2d(3, stride, padding=1)
  avg_pool_3x3  AvgPool2d(3, stride, padding=1, count_include_pad=False)
  skip_connect  identity; stride 2: FactorizedReduce = ReLU, two 1x1 stride-2
                convs to C/2 on x and on x[:, :, 1:, 1:], concat, BN
  sep_conv_kxk  twice [ReLU, depthwise kxk (padding k//2), 1x1 conv, BN], the
                first with the edge's stride, the second with stride 1
  dil_conv_kxk  ReLU, depthwise kxk dilation 2 (padding 2 for 3x3, 4 for 5x5),
                1x1 conv, BN
  ReLUConvBN    ReLU, conv, BN (the cells' 1x1 preprocessing)

Search supernet (--variant=darts, reference sect. 3.3): stem Conv3x3(3 -> 3C) +
BN (affine), 8 cells with reductions at cells 2 and 5 (C doubles there), 4
intermediate nodes per cell, each the sum over all earlier states (2 + i
inputs, 14 edges per cell) of a MixedOp; stride 2 on the edges from the two
cell inputs of a reduction cell; preprocess0 FactorizedReduce after a
reduction cell else ReLUConvBN 1x1, preprocess1 ReLUConvBN 1x1; cell output
concat of the 4 nodes; GAP + Linear. In the search every BN has
affine=False (except the stem's), and each pooling op is followed by
BatchNorm2d(affine=False). Alphas: 1e-3 * randn(14, 8), one for normal and one
for reduction cells, mixing weights softmax(alpha, dim=-1), kept outside the
module's parameters as the reference does.

PC-DARTS (--variant=pc_darts, reference sect. 4.1-4.2): the same supernet with
partial channels K=4: each MixedOp runs its ops on the first C/K channels,
concatenates the untouched C - C/K channels (max-pooled 2x2 on reduction
edges), then channel_shuffle(groups=K) (view [B, K, C/K, H, W], swap axes 1
and 2, flatten). Edge normalisation: betas 1e-3 * randn(14) per cell type;
a node's incoming edges are weighted by the softmax of their betas (slices
[0:2], [2:5], [5:9], [9:14]).

One search step pair (reference sect. 3.5, 4.3; first order, quark0
`unrolled=False`): the alpha step on the validation batch (Adam betas (0.5,
0.999), weight decay 1e-3; lr 3e-4 DARTS, 6e-4 PC-DARTS), then the weight step
on the training batch (SGD momentum 0.9, weight decay 3e-4, clip_grad_norm_ 5;
lr 0.025 DARTS, 0.1 PC-DARTS), the order of quark0's train_search.py. As in
the references, each backward pass computes gradients of every leaf that
requires them (weights in the alpha step, alphas in the weight step) unless
--lean_grads. BN in training mode throughout. Batch 64 (DARTS) and 256
(PC-DARTS).

Evaluation step (--variant=eval, reference sect. 3.7): NetworkCIFAR with the
DARTS_V2 genotype, C=36, 20 cells (reductions at 6 and 13), ops with affine
BN, stride 2 only on the edges whose input index is < 2 in a reduction cell;
auxiliary head on the output of cell 13 (8x8): ReLU, AvgPool(5, stride 3,
count_include_pad=False), 1x1 conv -> 128, BN, ReLU, 2x2 conv -> 768, BN, ReLU,
Linear. Drop path on the output of every non-identity op of the cells'
edges: per-sample Bernoulli(keep) mask, x.div_(keep).mul_(mask), at the fixed
rate --drop_path_prob (0.2; the reference ramps it linearly per epoch up to
0.2). One step: forward (main + auxiliary logits), cross entropy + 0.4 *
auxiliary cross entropy, backward, clip_grad_norm_ 5, SGD (lr 0.025, momentum
0.9, coupled L2 weight decay 3e-4). Batch 96.

Random normal [B, 3, 32, 32] images and random labels of 10 classes, the same
batches every step. --warmup untimed steps (2), then --pairs timed ones (10);
the median is reported. The last line printed is one JSON object with
seconds_per_pair (median seconds per search step pair, or per training step
for --variant=eval), pairs_per_s, mean_seconds_per_pair, peak_rss_mb
(resource.getrusage ru_maxrss in MB, the whole process), params (weights +
architecture parameters; for eval every weight including the auxiliary
head), weight_params, arch_params, the settings, torch and threads.

Not part of the project (torch is not a requirement): run it with a separate
venv that has torch, see benchmarks/README.md.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F

PRIMITIVES = ('none', 'max_pool_3x3', 'avg_pool_3x3', 'skip_connect', 'sep_conv_3x3',
              'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5')
STEPS = 4        # intermediate nodes per cell
MULTIPLIER = 4   # nodes concatenated into the cell output
STEM_MULTIPLIER = 3
NUM_CLASSES = 10

# cnn/genotypes.py DARTS_V2 (reference sect. 3.6): (op, input state) per edge, two per node.
DARTS_V2 = dict(
    normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1),
            ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1),
            ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)],
    reduce_concat=[2, 3, 4, 5])

# Per-variant defaults: network size, batch and the optimiser recipe.
VARIANTS = {
    'darts': dict(channels=16, layers=8, batch_size=64, partial_channels=1, edge_norm=False,
                  lr=0.025, arch_lr=3e-4),
    'pc_darts': dict(channels=16, layers=8, batch_size=256, partial_channels=4, edge_norm=True,
                     lr=0.1, arch_lr=6e-4),
    'eval': dict(channels=36, layers=20, batch_size=96, lr=0.025),
}
MOMENTUM, WEIGHT_DECAY, GRAD_CLIP = 0.9, 3e-4, 5.0
ARCH_BETAS, ARCH_WEIGHT_DECAY = (0.5, 0.999), 1e-3
AUXILIARY_WEIGHT = 0.4


# --- ops (cnn/operations.py) -------------------------------------------------------------------

class ReLUConvBN(nn.Sequential):
  """ReLU -> Conv2d -> BN: [B, C_in, H, W] -> [B, C_out, H/stride, W/stride]."""

  def __init__(self, c_in, c_out, kernel, stride, padding, affine):
    super().__init__(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm2d(c_out, affine=affine))


class DilConv(nn.Sequential):
  """ReLU -> depthwise dilated conv -> 1x1 conv -> BN."""

  def __init__(self, c_in, c_out, kernel, stride, padding, dilation, affine):
    super().__init__(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation,
                  groups=c_in, bias=False),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        nn.BatchNorm2d(c_out, affine=affine))


class SepConv(nn.Sequential):
  """Two stacked [ReLU, depthwise kxk, 1x1 conv, BN]; only the first is strided."""

  def __init__(self, c_in, c_out, kernel, stride, padding, affine):
    super().__init__(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, groups=c_in, bias=False),
        nn.Conv2d(c_in, c_in, 1, bias=False),
        nn.BatchNorm2d(c_in, affine=affine),
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_in, kernel, stride=1, padding=padding, groups=c_in, bias=False),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        nn.BatchNorm2d(c_out, affine=affine))


class Identity(nn.Module):
  """skip_connect at stride 1 (its own class: drop path skips exactly these)."""

  def forward(self, x):
    return x


class Zero(nn.Module):
  """'none': zeros computed as x.mul(0.), strided like the other ops of the edge."""

  def __init__(self, stride):
    super().__init__()
    self.stride = stride

  def forward(self, x):
    if self.stride == 1:
      return x.mul(0.)
    return x[:, :, ::self.stride, ::self.stride].mul(0.)


class FactorizedReduce(nn.Module):
  """ReLU, two 1x1 stride-2 convs (on x and on x shifted by one pixel), concat, BN."""

  def __init__(self, c_in, c_out, affine):
    super().__init__()
    assert c_out % 2 == 0, c_out
    self.relu = nn.ReLU(inplace=False)
    self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
    self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
    self.bn = nn.BatchNorm2d(c_out, affine=affine)

  def forward(self, x):
    x = self.relu(x)
    return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


# name -> (channels, stride, affine) -> module, C -> C channels (cnn/operations.py OPS).
OPS = {
    'none': lambda c, stride, affine: Zero(stride),
    'max_pool_3x3': lambda c, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    'avg_pool_3x3': lambda c, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1,
                                                           count_include_pad=False),
    'skip_connect': lambda c, stride, affine: (Identity() if stride == 1
                                               else FactorizedReduce(c, c, affine)),
    'sep_conv_3x3': lambda c, stride, affine: SepConv(c, c, 3, stride, 1, affine),
    'sep_conv_5x5': lambda c, stride, affine: SepConv(c, c, 5, stride, 2, affine),
    'dil_conv_3x3': lambda c, stride, affine: DilConv(c, c, 3, stride, 2, 2, affine),
    'dil_conv_5x5': lambda c, stride, affine: DilConv(c, c, 5, stride, 4, 2, affine),
}


def make_op(name, channels, stride, affine):
  """The op `name` on `channels` channels (C -> C) with the edge's stride."""
  if name not in OPS:
    raise ValueError(f'unknown op {name!r}; known ops: {sorted(OPS)}')
  return OPS[name](channels, stride, affine)


# --- search supernet (quark0 cnn/model_search.py, PC-DARTS model_search.py) ------------------

def channel_shuffle(x, groups):
  """[B, C, H, W] -> [B, C, H, W] with channel g * (C / groups) + i moved to i * groups + g."""
  b, c, h, w = x.shape
  x = x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous()
  return x.view(b, c, h, w)


class MixedOp(nn.Module):
  """One search edge: sum_k w[k] * op_k(x), on the first C/K channels when K > 1.

  x: [B, C, H, W], w: [8] -> [B, C, H/stride, W/stride].
  """

  def __init__(self, channels, stride, partial_channels, skip_none):
    super().__init__()
    self.k = partial_channels
    self.skip_none = skip_none
    c = channels // self.k
    ops = []
    for name in PRIMITIVES:
      op = make_op(name, c, stride, affine=False)
      if 'pool' in name:  # The DARTS search adds a BN after each pooling op.
        op = nn.Sequential(op, nn.BatchNorm2d(c, affine=False))
      ops.append(op)
    self.ops = nn.ModuleList(ops)
    if self.k > 1:
      self.mp = nn.MaxPool2d(2, 2)

  def mix(self, x, weights):
    pairs = list(zip(weights, self.ops))
    if self.skip_none:  # w_none * 0 adds nothing: leave the op out.
      pairs = pairs[1:]
    return sum(w * op(x) for w, op in pairs)

  def forward(self, x, weights):
    if self.k == 1:
      return self.mix(x, weights)
    c = x.shape[1] // self.k
    mixed = self.mix(x[:, :c], weights)
    rest = x[:, c:]
    if mixed.shape[2] != x.shape[2]:  # a reduction edge: pool the bypassed channels too
      rest = self.mp(rest)
    return channel_shuffle(torch.cat([mixed, rest], dim=1), self.k)


class SearchCell(nn.Module):
  """4 nodes over 14 MixedOp edges; (s0, s1) -> [B, 4C, H', W'] (the nodes concatenated)."""

  def __init__(self, c_prev_prev, c_prev, channels, reduction, reduction_prev,
               partial_channels, skip_none):
    super().__init__()
    self.reduction = reduction
    if reduction_prev:
      self.preprocess0 = FactorizedReduce(c_prev_prev, channels, affine=False)
    else:
      self.preprocess0 = ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine=False)
    self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0, affine=False)
    self.edges = nn.ModuleList(
        MixedOp(channels, 2 if reduction and j < 2 else 1, partial_channels, skip_none)
        for i in range(STEPS) for j in range(2 + i))

  def forward(self, s0, s1, weights, edge_weights=None):
    """weights: [14, 8] op mixing weights; edge_weights: [14] (PC-DARTS) or None."""
    states = [self.preprocess0(s0), self.preprocess1(s1)]
    offset = 0
    for _ in range(STEPS):
      if edge_weights is None:
        node = sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
      else:
        node = sum(edge_weights[offset + j] * self.edges[offset + j](h, weights[offset + j])
                   for j, h in enumerate(states))
      offset += len(states)
      states.append(node)
    return torch.cat(states[-MULTIPLIER:], dim=1)


def node_softmax(betas):
  """[14] betas -> [14]: softmax over each node's incoming edges (2, 3, 4, 5 of them)."""
  parts, start = [], 0
  for i in range(STEPS):
    parts.append(F.softmax(betas[start:start + 2 + i], dim=-1))
    start += 2 + i
  return torch.cat(parts)


class SearchNetwork(nn.Module):
  """The DARTS-space supernet; images [B, 3, 32, 32] -> logits [B, 10].

  The alphas (and PC-DARTS' betas) are plain leaf tensors, not module
  parameters, as in the references; `arch_parameters()` lists them.
  """

  def __init__(self, channels=16, layers=8, partial_channels=1, edge_norm=False,
               skip_none=False):
    super().__init__()
    c_curr = STEM_MULTIPLIER * channels
    self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False),
                              nn.BatchNorm2d(c_curr))
    c_prev_prev, c_prev, c_curr = c_curr, c_curr, channels
    cells, reduction_prev = [], False
    for i in range(layers):
      reduction = i in (layers // 3, 2 * layers // 3)
      if reduction:
        c_curr *= 2
      cells.append(SearchCell(c_prev_prev, c_prev, c_curr, reduction, reduction_prev,
                              partial_channels, skip_none))
      reduction_prev = reduction
      c_prev_prev, c_prev = c_prev, MULTIPLIER * c_curr
    self.cells = nn.ModuleList(cells)
    self.classifier = nn.Linear(c_prev, NUM_CLASSES)
    num_edges = sum(2 + i for i in range(STEPS))
    self.alphas_normal = (1e-3 * torch.randn(num_edges, len(PRIMITIVES))).requires_grad_(True)
    self.alphas_reduce = (1e-3 * torch.randn(num_edges, len(PRIMITIVES))).requires_grad_(True)
    self.edge_norm = edge_norm
    if edge_norm:
      self.betas_normal = (1e-3 * torch.randn(num_edges)).requires_grad_(True)
      self.betas_reduce = (1e-3 * torch.randn(num_edges)).requires_grad_(True)

  def arch_parameters(self):
    if self.edge_norm:
      return [self.alphas_normal, self.alphas_reduce, self.betas_normal, self.betas_reduce]
    return [self.alphas_normal, self.alphas_reduce]

  def forward(self, images, detach_arch=False):
    """detach_arch: no gradient path to the architecture parameters (--lean_grads)."""
    arch = [a.detach() if detach_arch else a for a in self.arch_parameters()]
    s0 = s1 = self.stem(images)
    for cell in self.cells:
      alphas = arch[1] if cell.reduction else arch[0]
      weights = F.softmax(alphas, dim=-1)
      edge_weights = None
      if self.edge_norm:
        edge_weights = node_softmax(arch[3] if cell.reduction else arch[2])
      s0, s1 = s1, cell(s0, s1, weights, edge_weights)
    out = F.adaptive_avg_pool2d(s1, 1).flatten(1)
    return self.classifier(out)


# --- evaluation network (quark0 cnn/model.py) ---------------------------------------------------

def drop_path(x, drop_prob):
  """Zeroes whole samples with probability drop_prob, scales the rest by 1 / keep (in place)."""
  if drop_prob > 0.:
    keep = 1. - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    x.div_(keep)
    x.mul_(mask)
  return x


class EvalCell(nn.Module):
  """A genotype's cell: each node sums two ops of earlier states; output concat of `concat`."""

  def __init__(self, genotype, c_prev_prev, c_prev, channels, reduction, reduction_prev):
    super().__init__()
    if reduction_prev:
      self.preprocess0 = FactorizedReduce(c_prev_prev, channels, affine=True)
    else:
      self.preprocess0 = ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine=True)
    self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0, affine=True)
    edges = genotype['reduce' if reduction else 'normal']
    self.concat = genotype['reduce_concat' if reduction else 'normal_concat']
    self.multiplier = len(self.concat)
    self.indices = [j for _, j in edges]
    self.ops = nn.ModuleList(make_op(name, channels, 2 if reduction and j < 2 else 1, True)
                             for name, j in edges)

  def forward(self, s0, s1, drop_prob):
    states = [self.preprocess0(s0), self.preprocess1(s1)]
    for i in range(len(self.ops) // 2):
      node = 0
      for e in (2 * i, 2 * i + 1):
        h = self.ops[e](states[self.indices[e]])
        if self.training and drop_prob > 0. and not isinstance(self.ops[e], Identity):
          h = drop_path(h, drop_prob)
        node = node + h
      states.append(node)
    return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
  """[B, C, 8, 8] -> [B, 10]: ReLU, avg pool 5/3 (-> 2x2), 1x1 conv 128, BN, ReLU, 2x2 conv 768,
  BN, ReLU, Linear."""

  def __init__(self, channels):
    super().__init__()
    self.features = nn.Sequential(
        nn.ReLU(inplace=True),
        nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
        nn.Conv2d(channels, 128, 1, bias=False),
        nn.BatchNorm2d(128),
        nn.ReLU(inplace=True),
        nn.Conv2d(128, 768, 2, bias=False),
        nn.BatchNorm2d(768),
        nn.ReLU(inplace=True))
    self.classifier = nn.Linear(768, NUM_CLASSES)

  def forward(self, x):
    return self.classifier(self.features(x).flatten(1))


class NetworkCIFAR(nn.Module):
  """The evaluation network; images [B, 3, 32, 32] -> (logits, auxiliary logits or None)."""

  def __init__(self, genotype, channels=36, layers=20, auxiliary=True, drop_path_prob=0.2):
    super().__init__()
    self.layers = layers
    self.drop_path_prob = drop_path_prob
    c_curr = STEM_MULTIPLIER * channels
    self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False),
                              nn.BatchNorm2d(c_curr))
    c_prev_prev, c_prev, c_curr = c_curr, c_curr, channels
    cells, reduction_prev, c_aux = [], False, None
    for i in range(layers):
      reduction = i in (layers // 3, 2 * layers // 3)
      if reduction:
        c_curr *= 2
      cell = EvalCell(genotype, c_prev_prev, c_prev, c_curr, reduction, reduction_prev)
      cells.append(cell)
      reduction_prev = reduction
      c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
      if i == 2 * layers // 3:
        c_aux = c_prev
    self.cells = nn.ModuleList(cells)
    self.auxiliary_head = AuxiliaryHeadCIFAR(c_aux) if auxiliary else None
    self.classifier = nn.Linear(c_prev, NUM_CLASSES)

  def forward(self, images):
    logits_aux = None
    s0 = s1 = self.stem(images)
    for i, cell in enumerate(self.cells):
      s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
      if i == 2 * self.layers // 3 and self.auxiliary_head is not None and self.training:
        logits_aux = self.auxiliary_head(s1)
    out = F.adaptive_avg_pool2d(s1, 1).flatten(1)
    return self.classifier(out), logits_aux


# --- steps ----------------------------------------------------------------------------------------

def make_search_pair_step(model, lr, arch_lr, lean_grads):
  """One first-order pair (quark0 train_search.py order): alpha step on `val`, weight step on
  `train`."""
  weights = list(model.parameters())
  w_opt = torch.optim.SGD(weights, lr=lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
  a_opt = torch.optim.Adam(model.arch_parameters(), lr=arch_lr, betas=ARCH_BETAS,
                           weight_decay=ARCH_WEIGHT_DECAY)

  def set_weights_grad(flag):
    for p in weights:
      p.requires_grad_(flag)

  def pair_step(train, val):
    # Alpha step (architect.step, first order). The references backpropagate into the
    # weights too; the weight step's zero_grad then discards those gradients.
    a_opt.zero_grad(set_to_none=True)
    if lean_grads:
      set_weights_grad(False)
    arch_loss = F.cross_entropy(model(val[0]), val[1])
    arch_loss.backward()
    a_opt.step()
    if lean_grads:
      set_weights_grad(True)
    # Weight step; the references also give the alphas gradients here.
    w_opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(train[0], detach_arch=lean_grads), train[1])
    loss.backward()
    nn.utils.clip_grad_norm_(weights, GRAD_CLIP)
    w_opt.step()
    return loss.item(), arch_loss.item()

  return pair_step


def make_train_step(model, lr, auxiliary_weight):
  """One cnn/train.py step: (loss + w_aux * loss_aux).backward(), clip 5, SGD."""
  params = list(model.parameters())
  opt = torch.optim.SGD(params, lr=lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)

  def train_step(train, val):
    del val  # one batch per step
    opt.zero_grad(set_to_none=True)
    logits, logits_aux = model(train[0])
    loss = F.cross_entropy(logits, train[1])
    if logits_aux is not None:
      loss = loss + auxiliary_weight * F.cross_entropy(logits_aux, train[1])
    loss.backward()
    nn.utils.clip_grad_norm_(params, GRAD_CLIP)
    opt.step()
    return loss.item()

  return train_step


def peak_rss_mb():
  """Peak resident memory of this process (ru_maxrss is in kB on Linux)."""
  return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def count(params):
  return sum(p.numel() for p in params)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--variant', choices=sorted(VARIANTS), default='darts',
                      help='darts / pc_darts: search step pair; eval: DARTS_V2 training step.')
  parser.add_argument('--pairs', type=int, default=10,
                      help='Timed step pairs (training steps for --variant=eval).')
  parser.add_argument('--warmup', type=int, default=2, help='Untimed steps before timing.')
  parser.add_argument('--threads', type=int, default=None,
                      help='torch.set_num_threads (default: torch default).')
  parser.add_argument('--batch_size', type=int, default=None, help='Default: the variant\'s.')
  parser.add_argument('--channels', type=int, default=None, help='Default: the variant\'s.')
  parser.add_argument('--layers', type=int, default=None, help='Default: the variant\'s.')
  parser.add_argument('--drop_path_prob', type=float, default=0.2,
                      help='eval: the fixed drop path rate.')
  parser.add_argument('--auxiliary_weight', type=float, default=AUXILIARY_WEIGHT,
                      help='eval: weight of the auxiliary loss (0: no auxiliary head).')
  parser.add_argument('--skip_none', action='store_true',
                      help="Search, optimised reference: do not compute the 'none' op.")
  parser.add_argument('--lean_grads', action='store_true',
                      help='Search, optimised reference: no alpha grads in the weight step, no '
                           'weight grads in the alpha step.')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  v = dict(VARIANTS[args.variant])
  for name in ('batch_size', 'channels', 'layers'):
    if getattr(args, name) is None:
      setattr(args, name, v[name])
  for name in ('pairs', 'batch_size', 'channels', 'layers'):
    if getattr(args, name) <= 0:
      parser.error(f'--{name} must be > 0, got {getattr(args, name)}')
  if args.warmup < 0:
    parser.error(f'--warmup must be >= 0, got {args.warmup}')
  if not 0.0 <= args.drop_path_prob < 1.0:
    parser.error(f'--drop_path_prob must be in [0, 1), got {args.drop_path_prob}')
  search = args.variant != 'eval'
  if not search and (args.skip_none or args.lean_grads):
    parser.error('--skip_none and --lean_grads apply to the search variants only')
  if args.threads is not None:
    if args.threads <= 0:
      parser.error(f'--threads must be > 0, got {args.threads}')
    torch.set_num_threads(args.threads)

  torch.manual_seed(args.seed)
  load_start = os.getloadavg()
  settings = dict(variant=args.variant, batch_size=args.batch_size, channels=args.channels,
                  layers=args.layers)
  if search:
    model = SearchNetwork(args.channels, args.layers, v['partial_channels'], v['edge_norm'],
                          args.skip_none)
    step = make_search_pair_step(model, v['lr'], v['arch_lr'], args.lean_grads)
    arch_params = count(model.arch_parameters())
    settings.update(partial_channels=v['partial_channels'], edge_norm=v['edge_norm'],
                    lr=v['lr'], arch_lr=v['arch_lr'], skip_none=args.skip_none,
                    lean_grads=args.lean_grads)
  else:
    model = NetworkCIFAR(DARTS_V2, args.channels, args.layers, args.auxiliary_weight > 0,
                         args.drop_path_prob)
    step = make_train_step(model, v['lr'], args.auxiliary_weight)
    arch_params = 0
    settings.update(genotype='DARTS_V2', drop_path_prob=args.drop_path_prob,
                    auxiliary_weight=args.auxiliary_weight, lr=v['lr'],
                    params_without_auxiliary=count(
                        p for n, p in model.named_parameters() if 'auxiliary' not in n))
  model.train()
  weight_params = count(model.parameters())
  rss_built = peak_rss_mb()

  def batch():
    return (torch.randn(args.batch_size, 3, 32, 32),
            torch.randint(0, NUM_CLASSES, (args.batch_size,)))

  train, val = batch(), batch()
  for _ in range(args.warmup):
    step(train, val)
  times = []
  for _ in range(args.pairs):
    start = time.perf_counter()
    step(train, val)
    times.append(time.perf_counter() - start)
  seconds = statistics.median(times)
  unit = 'step pair' if search else 'training step'
  print(f'torch {torch.__version__} {args.variant}: {seconds:.3f} s per {unit} (median of '
        f'{len(times)}, {torch.get_num_threads()} threads), peak RSS {peak_rss_mb():.0f} MB, '
        f'{weight_params + arch_params:,} parameters')
  print(json.dumps(dict(
      seconds_per_pair=round(seconds, 4), pairs_per_s=round(1.0 / seconds, 4),
      mean_seconds_per_pair=round(statistics.fmean(times), 4), pairs=len(times),
      unit=unit, **settings,
      params=weight_params + arch_params, weight_params=weight_params, arch_params=arch_params,
      peak_rss_mb=peak_rss_mb(), rss_after_build_mb=rss_built,
      torch=torch.__version__, threads=torch.get_num_threads(), cpus=os.cpu_count(),
      machine=platform.machine(),
      load_average_start=[round(x, 2) for x in load_start],
      load_average_end=[round(x, 2) for x in os.getloadavg()])))


if __name__ == '__main__':
  main()
