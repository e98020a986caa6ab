#!/usr/bin/env bash
# Times our NB201 search step pair and the PyTorch reference alternately.
#
#   bash benchmarks/compare.sh            # from the repo root, project venv active
#   PAIRS=10 ROUNDS=3 TORCH_ARGS="--skip_none" bash benchmarks/compare.sh
#
# Each round runs `python -m binaries.benchmark` (ours, TensorFlow) and then
# benchmarks/torch_nb201.py (PyTorch, from a separate venv), so slow drifts in
# machine load hit both alike. Prints each run's median seconds per pair, the
# median over the rounds for both, and the ratio torch / ours (> 1: ours is
# faster). Environment: PYTHON (project venv python), TORCH_PYTHON (a python
# with torch), CONFIG, PAIRS, WARMUP, ROUNDS, OURS_ARGS, TORCH_ARGS.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python}"
TORCH_PYTHON="${TORCH_PYTHON:-/work/venv-torch/bin/python}"
CONFIG="${CONFIG:-configs/nb201_cifar10_edd.py}"
PAIRS="${PAIRS:-10}"
WARMUP="${WARMUP:-2}"
ROUNDS="${ROUNDS:-3}"
OURS_ARGS="${OURS_ARGS:-}"
TORCH_ARGS="${TORCH_ARGS:-}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

if ! "$TORCH_PYTHON" -c 'import torch' 2>/dev/null; then
  echo "compare.sh: TORCH_PYTHON=$TORCH_PYTHON cannot import torch; see benchmarks/README.md" >&2
  exit 1
fi

# seconds_per_pair from the JSON object on the last line of stdin.
seconds_per_pair() {
  tail -n 1 | "$PYTHON" -c 'import json, sys; print(json.loads(sys.stdin.read())["seconds_per_pair"])'
}

ours=()
torch_times=()
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
  # shellcheck disable=SC2086  # *_ARGS are word-split on purpose.
  s=$("$PYTHON" -m binaries.benchmark --config="$CONFIG" --pairs="$PAIRS" --warmup="$WARMUP" \
      $OURS_ARGS 2>/dev/null | seconds_per_pair)
  ours+=("$s")
  echo "round $round ours:  $s s/pair (load $(cut -d' ' -f1 /proc/loadavg))"
  # shellcheck disable=SC2086
  s=$("$TORCH_PYTHON" benchmarks/torch_nb201.py --pairs="$PAIRS" --warmup="$WARMUP" \
      $TORCH_ARGS 2>/dev/null | seconds_per_pair)
  torch_times+=("$s")
  echo "round $round torch: $s s/pair (load $(cut -d' ' -f1 /proc/loadavg))"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PYTHON" - "${ours[*]}" "${torch_times[*]}" <<'EOF'
import json, statistics, sys
ours = [float(v) for v in sys.argv[1].split()]
torch = [float(v) for v in sys.argv[2].split()]
o, t = statistics.median(ours), statistics.median(torch)
print(f'ours:  median {o:.3f} s per pair over {len(ours)} rounds {ours}')
print(f'torch: median {t:.3f} s per pair over {len(torch)} rounds {torch}')
print(f'ratio torch/ours: {t / o:.2f}')
print(json.dumps(dict(ours_seconds_per_pair=o, torch_seconds_per_pair=t,
                      ratio_torch_over_ours=round(t / o, 3), ours_rounds=ours, torch_rounds=torch)))
EOF
