#!/usr/bin/env bash
# Times our steps and the PyTorch references alternately, row by row; ratios only.
#
#   bash benchmarks/compare.sh                      # from the repo root, project venv active
#   ROWS="darts pc_darts" ROUNDS=3 bash benchmarks/compare.sh
#   ROWS=nb201 TORCH_ARGS_NB201="--skip_none --lean_grads" bash benchmarks/compare.sh
#
# Rows (benchmarks/README.md says what each measures):
#   nb201     NB201 search step pair, C=16, N=5, batch 64
#             ours configs/nb201_cifar10_edd.py      torch benchmarks/torch_nb201.py
#   darts     DARTS-space search pair, plain DARTS first order, C=16, 8 cells, batch 64
#             ours configs/darts_cifar10_darts.py    torch benchmarks/torch_darts.py --variant=darts
#   pc_darts  PC-DARTS K=4 search pair, batch 256
#             ours configs/darts_cifar10_edd_pc.py   torch benchmarks/torch_darts.py --variant=pc_darts
#   eval      DARTS_V2 evaluation training step, C=36, 20 cells, batch 96
#             ours configs/train_darts_cifar10.py    torch benchmarks/torch_darts.py --variant=eval
#
# For each row, each of ROUNDS rounds runs ours (`python -m binaries.benchmark`, TensorFlow)
# and then the torch reference (from a separate venv), each in its own process, so slow drifts
# in machine load hit both alike and each peak RSS is its own process's. Every run does WARMUP
# untimed steps, then times its row's pairs and reports the median. At the end: one table (per
# row the median over the rounds of ours and torch in seconds per pair, or per training step
# for eval, the speed ratio torch / ours (> 1: ours is faster), both peak RSS and the memory
# ratio ours / torch (< 1: ours uses less), both parameter counts), then one JSON line with
# everything. Nothing is set in the environment for TensorFlow: ours runs with the defaults a
# user gets (the benchmark JSON records the oneDNN setting in effect).
#
# Environment:
#   PYTHON         project venv python (default: python)
#   TORCH_PYTHON   a python with torch (default: /work/venv-torch/bin/python)
#   ROWS           rows to run, space or comma separated (default: nb201 darts pc_darts eval)
#   ROUNDS         alternating rounds per row (3)
#   PAIRS          timed pairs (steps) per run for every row; a row's own PAIRS_<ROW> wins.
#                  Without either: PAIRS_NB201=10, PAIRS_DARTS=3, PAIRS_PC_DARTS=3, PAIRS_EVAL=5
#   WARMUP         untimed pairs per run (2); WARMUP_<ROW> per row
#   OURS_ARGS, TORCH_ARGS                 extra flags for every row's ours / torch run
#   OURS_ARGS_<ROW>, TORCH_ARGS_<ROW>     extra flags for one row (e.g. TORCH_ARGS_NB201)
#   CONFIG         our config of the nb201 row (old name); CONFIG_<ROW> for any row
#   LOG_DIR        where each run's stdout / stderr go (default: a new mktemp -d)
# <ROW> is the row name in upper case: NB201, DARTS, PC_DARTS, EVAL.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python}"
TORCH_PYTHON="${TORCH_PYTHON:-/work/venv-torch/bin/python}"
ROWS="${ROWS:-nb201 darts pc_darts eval}"
ROWS="${ROWS//,/ }"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-2}"
OURS_ARGS="${OURS_ARGS:-}"
TORCH_ARGS="${TORCH_ARGS:-}"
LOG_DIR="${LOG_DIR:-$(mktemp -d /tmp/edd_compare.XXXXXX)}"
mkdir -p "$LOG_DIR"

declare -A OURS_CONFIG=(
  [nb201]="${CONFIG:-configs/nb201_cifar10_edd.py}"
  [darts]=configs/darts_cifar10_darts.py
  [pc_darts]=configs/darts_cifar10_edd_pc.py
  [eval]=configs/train_darts_cifar10.py
)
declare -A TORCH_CMD=(
  [nb201]="benchmarks/torch_nb201.py"
  [darts]="benchmarks/torch_darts.py --variant=darts"
  [pc_darts]="benchmarks/torch_darts.py --variant=pc_darts"
  [eval]="benchmarks/torch_darts.py --variant=eval"
)
declare -A DEFAULT_PAIRS=([nb201]=10 [darts]=3 [pc_darts]=3 [eval]=5)

for row in $ROWS; do
  if [[ -z "${OURS_CONFIG[$row]:-}" ]]; then
    echo "compare.sh: unknown row '$row' in ROWS (known: nb201 darts pc_darts eval)" >&2
    exit 1
  fi
done
if ! "$TORCH_PYTHON" -c 'import torch' 2>/dev/null; then
  echo "compare.sh: TORCH_PYTHON=$TORCH_PYTHON cannot import torch; see benchmarks/README.md" >&2
  exit 1
fi

# The value of variable $1 if set, else $2.
env_or() {
  local name="$1"
  if [[ -n "${!name+x}" ]]; then echo "${!name}"; else echo "$2"; fi
}

# Runs one benchmark: $1 = log file stem, the rest = the command. Its stdout goes to
# $1.out, stderr to $1.err; prints the JSON object on the last line of stdout.
run_one() {
  local stem="$1"
  shift
  if ! "$@" >"$stem.out" 2>"$stem.err"; then
    echo "compare.sh: failed: $*" >&2
    echo "--- last lines of $stem.err:" >&2
    tail -n 20 "$stem.err" >&2
    exit 1
  fi
  tail -n 1 "$stem.out"
}

# "<seconds> s, <peak> MB" from the JSON object on stdin.
brief() {
  "$PYTHON" -c 'import json, sys
d = json.loads(sys.stdin.read())
s = d.get("seconds_per_pair", d.get("seconds_per_step"))
print("%.3f s, peak RSS %s MB" % (s, d.get("peak_rss_mb")))'
}

start_uptime="$(uptime)"
echo "start: $start_uptime"
echo "rows: $ROWS; rounds: $ROUNDS; logs: $LOG_DIR"
if [[ -n "${TF_ENABLE_ONEDNN_OPTS+x}" ]]; then
  echo "note: TF_ENABLE_ONEDNN_OPTS=$TF_ENABLE_ONEDNN_OPTS is set in this shell; ours is then" \
       "not run with the defaults a user gets" >&2
fi

for row in $ROWS; do
  ROW="${row^^}"
  pairs="$(env_or "PAIRS_$ROW" "$(env_or PAIRS "${DEFAULT_PAIRS[$row]}")")"
  warmup="$(env_or "WARMUP_$ROW" "$WARMUP")"
  config="$(env_or "CONFIG_$ROW" "${OURS_CONFIG[$row]}")"
  ours_args="$OURS_ARGS $(env_or "OURS_ARGS_$ROW" '')"
  torch_args="$TORCH_ARGS $(env_or "TORCH_ARGS_$ROW" '')"
  echo "== $row: ours $config, torch ${TORCH_CMD[$row]}; $pairs pairs, $warmup warm-up per run"
  for round in $(seq 1 "$ROUNDS"); do
    # shellcheck disable=SC2086  # *_args and TORCH_CMD are word-split on purpose.
    json=$(run_one "$LOG_DIR/$row.ours.$round" "$PYTHON" -m binaries.benchmark \
        --config="$config" --pairs="$pairs" --warmup="$warmup" $ours_args)
    echo "$json" >"$LOG_DIR/$row.ours.$round.json"
    echo "round $round ours:  $(brief <<<"$json") (load $(cut -d' ' -f1 /proc/loadavg))"
    # shellcheck disable=SC2086
    json=$(run_one "$LOG_DIR/$row.torch.$round" "$TORCH_PYTHON" ${TORCH_CMD[$row]} \
        --pairs="$pairs" --warmup="$warmup" $torch_args)
    echo "$json" >"$LOG_DIR/$row.torch.$round.json"
    echo "round $round torch: $(brief <<<"$json") (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done
end_uptime="$(uptime)"
echo "end: $end_uptime"

"$PYTHON" - "$LOG_DIR" "$ROUNDS" "$start_uptime" "$end_uptime" $ROWS <<'EOF'
import json, os, statistics, sys

log_dir, rounds, start_uptime, end_uptime, rows = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                                   sys.argv[4], sys.argv[5:])
LABELS = dict(nb201='NB201 search pair (C=16, N=5, batch 64)',
              darts='DARTS search pair (C=16, 8 cells, batch 64)',
              pc_darts='PC-DARTS K=4 search pair (batch 256)',
              eval='DARTS_V2 eval train step (C=36, 20 cells, batch 96)')


def load(row, who):
  out = []
  for r in range(1, rounds + 1):
    with open(os.path.join(log_dir, f'{row}.{who}.{r}.json')) as f:
      out.append(json.load(f))
  return out


def seconds(d):
  return d.get('seconds_per_pair', d.get('seconds_per_step'))


def median(values):
  values = [v for v in values if v is not None]
  return statistics.median(values) if values else None


def ratio(a, b):
  return round(a / b, 3) if a and b else None


def fmt(v, spec):
  return '-' if v is None else format(v, spec)


results = {}
for row in rows:
  ours, torch = load(row, 'ours'), load(row, 'torch')
  o_s, t_s = median(seconds(d) for d in ours), median(seconds(d) for d in torch)
  o_m, t_m = median(d.get('peak_rss_mb') for d in ours), median(d.get('peak_rss_mb') for d in torch)
  results[row] = dict(
      ours_seconds=o_s, torch_seconds=t_s, speed_ratio_torch_over_ours=ratio(t_s, o_s),
      ours_peak_rss_mb=o_m, torch_peak_rss_mb=t_m, memory_ratio_ours_over_torch=ratio(o_m, t_m),
      ours_params=ours[0].get('trainable_params'), torch_params=torch[0].get('params'),
      pairs=ours[0].get('steps'), unit='s per training step' if row == 'eval' else 's per pair',
      ours_rounds_seconds=[seconds(d) for d in ours],
      torch_rounds_seconds=[seconds(d) for d in torch],
      ours_rounds_peak_rss_mb=[d.get('peak_rss_mb') for d in ours],
      torch_rounds_peak_rss_mb=[d.get('peak_rss_mb') for d in torch],
      ours_cpu_kernels=ours[0].get('cpu_kernels'), ours_tensorflow=ours[0].get('tensorflow'),
      torch=torch[0].get('torch'), torch_threads=torch[0].get('threads'),
      ours_load_average_start=[d.get('load_average_start') for d in ours],
      torch_load_average_start=[d.get('load_average_start') for d in torch])

print()
print(f'medians over {rounds} round(s); speed ratio torch / ours (> 1: ours faster), '
      f'memory ratio ours / torch (< 1: ours smaller); peak RSS of the whole process')
print('| row | ours s | torch s | torch/ours | ours peak MB | torch peak MB | ours/torch mem '
      '| ours params | torch params |')
print('|---|---|---|---|---|---|---|---|---|')
for row, r in results.items():
  print(f'| {LABELS[row]} | {fmt(r["ours_seconds"], ".3f")} | {fmt(r["torch_seconds"], ".3f")} '
        f'| {fmt(r["speed_ratio_torch_over_ours"], ".2f")}x | {fmt(r["ours_peak_rss_mb"], ".0f")} '
        f'| {fmt(r["torch_peak_rss_mb"], ".0f")} | {fmt(r["memory_ratio_ours_over_torch"], ".2f")} '
        f'| {fmt(r["ours_params"], ",")} | {fmt(r["torch_params"], ",")} |')
print(json.dumps(dict(rows=results, rounds=rounds, uptime_start=start_uptime,
                      uptime_end=end_uptime, log_dir=log_dir)))
EOF
