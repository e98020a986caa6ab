r"""PyTorch reference timing of one NAS-Bench-201 DARTS-V1 search step pair.

  /work/venv-torch/bin/python benchmarks/torch_nb201.py --pairs=10
  /work/venv-torch/bin/python benchmarks/torch_nb201.py --skip_none --lean_grads

A from-scratch PyTorch version of AutoDL's NB201 DARTS search supernet
(TinyNetworkDarts, facts in shared/docs/reference.md sect. 2.1-2.3): stem
conv3x3(3->C)+BN, three stages of N search cells (C, 2C, 4C) joined by
ResNet basic blocks (stride 2), head BN+ReLU+GAP+Linear; each search cell has
4 nodes and 6 edges, each edge a MixedOp over the 5 NB201 ops computed
edge by edge as sum(w * op(x)), 'none' as x.mul(0.) as the reference does.

One "pair" is DARTS-V1's order (reference sect. 2.6): a weight step (SGD
nesterov, momentum 0.9, wd 5e-4, lr 0.025, clip_grad_norm 5) on a train batch,
then an alpha step (Adam 3e-4, betas (0.5, 0.999), wd 1e-3) on a val batch,
with softmax(alphas) as the mixing weights, on random normal images. As in
AutoDL's DARTS-V1.py, both backward passes compute gradients for every leaf
(alphas in the weight step, weights in the alpha step) unless --lean_grads.

Not part of the project (torch is not a requirement): run it with a separate
venv that has torch, see benchmarks/README.md. The last line printed is one
JSON object with seconds_per_pair (median), pairs_per_s, peak_rss_mb
(resource.getrusage ru_maxrss in MB, the whole process), params (weights +
alphas; weight_params, arch_params), torch, threads, the load averages.
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

OP_NAMES = ('none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3')
NUM_NODES = 4  # node 0 = cell input; nodes 1..3 computed; output = node 3.


def edge_keys():
  """['1<-0', '2<-0', '2<-1', '3<-0', '3<-1', '3<-2']: alpha row order (sorted keys)."""
  return sorted(f'{i}<-{j}' for i in range(1, NUM_NODES) for j in range(i))


class ReLUConvBN(nn.Sequential):
  """ReLU -> Conv2d -> BatchNorm2d; NCHW [B, C_in, H, W] -> [B, C_out, H/stride, W/stride]."""

  def __init__(self, c_in, c_out, kernel, stride, affine, track_running_stats=True):
    super().__init__(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats))


class Zero(nn.Module):
  """'none': x.mul(0.) (the reference computes it rather than skipping it)."""

  def forward(self, x):
    return x.mul(0.)


class MixedOp(nn.Module):
  """One edge: sum_k w[k] * op_k(x), x: [B, C, H, W], w: [5] -> [B, C, H, W]."""

  def __init__(self, channels, skip_none):
    super().__init__()
    self.skip_none = skip_none
    self.ops = nn.ModuleList([
        Zero(),
        nn.Identity(),
        ReLUConvBN(channels, channels, 1, 1, affine=False),
        ReLUConvBN(channels, channels, 3, 1, affine=False),
        nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
    ])

  def forward(self, x, weights):
    if self.skip_none:  # w_none * 0 contributes nothing: leave the op out.
      return sum(w * op(x) for w, op in zip(weights[1:], self.ops[1:]))
    return sum(w * op(x) for w, op in zip(weights, self.ops))


class SearchCell(nn.Module):
  """NAS201SearchCell: 4 nodes, 6 MixedOp edges; [B, C, H, W] -> [B, C, H, W]."""

  def __init__(self, channels, skip_none):
    super().__init__()
    self.keys = edge_keys()
    self.edges = nn.ModuleDict({k: MixedOp(channels, skip_none) for k in self.keys})
    self.index = {k: n for n, k in enumerate(self.keys)}

  def forward(self, x, weights):
    """weights: [6, 5] mixing weights, rows in edge_keys() order."""
    nodes = [x]
    for i in range(1, NUM_NODES):
      nodes.append(sum(self.edges[f'{i}<-{j}'](nodes[j], weights[self.index[f'{i}<-{j}']])
                       for j in range(i)))
    return nodes[-1]


class ResNetBasicBlock(nn.Module):
  """Reduction block: [B, C_in, H, W] -> [B, C_out, H/2, W/2], affine BN."""

  def __init__(self, c_in, c_out):
    super().__init__()
    self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, affine=True)
    self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, affine=True)
    self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2, padding=0),
                                  nn.Conv2d(c_in, c_out, 1, bias=False))

  def forward(self, x):
    return self.shortcut(x) + self.conv_b(self.conv_a(x))


class TinyNetworkDarts(nn.Module):
  """The NB201 DARTS supernet; images [B, 3, H, W] -> logits [B, num_classes].

  The alphas are not among this module's parameters: forward takes the
  mixing weights [6, 5] shared by every search cell.
  """

  def __init__(self, channels=16, cells_per_stage=5, num_classes=10, skip_none=False):
    super().__init__()
    c = channels
    self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
    layers, c_prev = [], c
    for stage in range(3):
      c_curr = c * 2 ** stage
      if stage:
        layers.append(ResNetBasicBlock(c_prev, c_curr))
      layers.extend(SearchCell(c_curr, skip_none) for _ in range(cells_per_stage))
      c_prev = c_curr
    self.cells = nn.ModuleList(layers)
    self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
    self.classifier = nn.Linear(c_prev, num_classes)

  def forward(self, images, weights):
    x = self.stem(images)
    for cell in self.cells:
      x = cell(x, weights) if isinstance(cell, SearchCell) else cell(x)
    x = F.adaptive_avg_pool2d(self.lastact(x), 1).flatten(1)
    return self.classifier(x)


def make_pair_step(model, alphas, lean_grads):
  """One DARTS-V1 pair: weight step on `train`, then alpha step on `val`."""
  weights = list(model.parameters())
  w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9, nesterov=True, weight_decay=5e-4)
  a_opt = torch.optim.Adam([alphas], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)

  def set_weights_grad(flag):
    for p in weights:
      p.requires_grad_(flag)

  def pair_step(train, val):
    # Weight step. AutoDL's DARTS-V1.py backpropagates into the alphas too.
    w_opt.zero_grad(set_to_none=True)
    mix = torch.softmax(alphas.detach() if lean_grads else alphas, dim=-1)
    logits = model(train[0], mix)
    loss = F.cross_entropy(logits, train[1])
    loss.backward()
    nn.utils.clip_grad_norm_(weights, 5.0)
    w_opt.step()
    # Alpha step (first order), BN in training mode as in the search loop.
    a_opt.zero_grad(set_to_none=True)
    if lean_grads:
      set_weights_grad(False)
    arch_logits = model(val[0], torch.softmax(alphas, dim=-1))
    arch_loss = F.cross_entropy(arch_logits, val[1])
    arch_loss.backward()
    a_opt.step()
    if lean_grads:
      set_weights_grad(True)
    return loss.item(), arch_loss.item()

  return pair_step


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--pairs', type=int, default=10, help='Timed step pairs.')
  parser.add_argument('--warmup', type=int, default=2, help='Untimed step pairs.')
  parser.add_argument('--threads', type=int, default=None,
                      help='torch.set_num_threads (default: torch default).')
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--channels', type=int, default=16)
  parser.add_argument('--cells_per_stage', type=int, default=5)
  parser.add_argument('--skip_none', action='store_true',
                      help="Optimised reference: do not compute the 'none' op.")
  parser.add_argument('--lean_grads', action='store_true',
                      help='Optimised reference: no alpha grads in the weight step, no weight '
                           'grads in the alpha step.')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  for name in ('pairs', 'batch_size', 'channels', 'cells_per_stage'):
    if getattr(args, name) <= 0:
      parser.error(f'--{name} must be > 0, got {getattr(args, name)}')
  if args.warmup < 0:
    parser.error(f'--warmup must be >= 0, got {args.warmup}')
  if args.threads is not None:
    if args.threads <= 0:
      parser.error(f'--threads must be > 0, got {args.threads}')
    torch.set_num_threads(args.threads)

  torch.manual_seed(args.seed)
  load_start = os.getloadavg()
  model = TinyNetworkDarts(args.channels, args.cells_per_stage, 10, args.skip_none)
  model.train()
  alphas = (1e-3 * torch.randn(len(edge_keys()), len(OP_NAMES))).requires_grad_(True)
  pair_step = make_pair_step(model, alphas, args.lean_grads)

  def batch():
    return (torch.randn(args.batch_size, 3, 32, 32),
            torch.randint(0, 10, (args.batch_size,)))

  train, val = batch(), batch()
  for _ in range(args.warmup):
    pair_step(train, val)
  times = []
  for _ in range(args.pairs):
    start = time.perf_counter()
    pair_step(train, val)
    times.append(time.perf_counter() - start)
  seconds = statistics.median(times)
  print(f'torch {torch.__version__}: {seconds:.3f} s per step pair (median of {len(times)}, '
        f'{torch.get_num_threads()} threads)')
  print(json.dumps(dict(
      seconds_per_pair=round(seconds, 4), pairs_per_s=round(1.0 / seconds, 4),
      mean_seconds_per_pair=round(statistics.fmean(times), 4), pairs=len(times),
      batch_size=args.batch_size, channels=args.channels, cells_per_stage=args.cells_per_stage,
      skip_none=args.skip_none, lean_grads=args.lean_grads,
      params=sum(p.numel() for p in model.parameters()) + alphas.numel(),
      weight_params=sum(p.numel() for p in model.parameters()), arch_params=alphas.numel(),
      peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
      torch=torch.__version__, threads=torch.get_num_threads(), cpus=os.cpu_count(),
      machine=platform.machine(), load_average_start=[round(x, 2) for x in load_start],
      load_average_end=[round(x, 2) for x in os.getloadavg()])))


if __name__ == '__main__':
  main()
