#!/usr/bin/env bash
# Incremental training on tmall_mb (issue #16): the log is split by time
# into a base and its last day. HGT trains on the base (the job of
# examples/jobs/tmall_mb.toml); the graph of base + last day is built with
# `extends` (every base node keeps its dense id); then the same job is
# trained on it twice, side by side: from scratch (the full retrain), and
# resumed from the base bundle (`train.resume_from`) for one epoch capped at
# RESUME_STEP_SHARE of its steps. Reports test NDCG@10 and wall time of both.
# Output: target/incremental/tmall_mb/{report.md,*.json}.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
shared=${TESSERA_SHARED:-$root/../shared}/datasets/tmall_mb
work=$root/target/incremental/tmall_mb
bin=${TESSERA_BIN:-$root/target/release}
share=${RESUME_STEP_SHARE:-0.8}
mkdir -p "$work"
python3 - "$shared/train_interactions.csv" "$work/base.csv" > "$work/split.txt" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
last = max(int(r["timestamp"]) for r in rows)
cut = last - 86_400
with open(sys.argv[2], "w", newline="") as out:
    w = csv.DictWriter(out, fieldnames=list(rows[0].keys()))
    w.writeheader()
    base = [r for r in rows if int(r["timestamp"]) < cut]
    w.writerows(base)
print(f"{len(rows)} rows; base: {len(base)} before {cut} (the last day's {len(rows) - len(base)} rows appended)")
PY
cat "$work/split.txt"
graph_spec() { # name log [extends]
  sed -e "s|^path = \".*train_interactions.csv\"|path = \"$2\"|" \
      -e "s|\"\.\./\.\./\.\./shared/datasets/tmall_mb/|\"$shared/|" examples/graphs/tmall_mb.toml > "$work/$1.toml"
  if [ -n "${3:-}" ]; then sed -i "1i extends = \"$3\"" "$work/$1.toml"; fi
  grep -q "path = \"$2\"" "$work/$1.toml" || { echo "the graph spec's log path was not replaced" >&2; exit 1; }
}
job_spec() { # name graph [resume-from]
  sed -e "s|^name = .*|name = \"$1\"|" -e "s|^baselines = .*|baselines = []|" \
      -e "s|^graph = .*|graph = \"$work/$2\"|" -e "/^build = /d" examples/jobs/tmall_mb.toml > "$work/$1.toml"
  if [ -n "${3:-}" ]; then
    python3 - "$work/$1.toml" "$3" "$share" <<'PY'
import sys, re
path, resume, share = sys.argv[1], sys.argv[2], float(sys.argv[3])
text = open(path).read()
text = re.sub(r"(?m)^epochs = \d+$", "epochs = 1\nresume_from = \"%s\"" % resume, text, count=1)
open(path, "w").write(text)
PY
  fi
}
rm -rf "$work/base_graph" "$work/all_graph" "$work/bundles"
graph_spec base "$work/base.csv"
graph_spec all "$shared/train_interactions.csv" "$work/base_graph"
"$bin/coordinator" graph build --spec "$work/base.toml" --out "$work/base_graph" > "$work/base_graph.txt"
"$bin/coordinator" graph build --spec "$work/all.toml" --out "$work/all_graph" > "$work/all_graph.txt"
job_spec base base_graph
train() { # name
  local started; started=$(date +%s.%N)
  "$bin/worker" train --standalone "$work/$1.toml" --bundles "$work/bundles" --device cpu \
    --results "$work/$1.json" "${@:2}" > "$work/$1.txt" 2> "$work/$1.log"
  python3 -c "import time; print(f'{time.time() - $started:.1f}')" > "$work/$1.secs"
}
train base
job_spec full all_graph
job_spec resumed all_graph "$work/bundles/base"
# One epoch capped at a share of a full epoch's steps.
steps=$(python3 -c "import json; print(json.load(open('$work/base.json'))[0]['steps'] // 3)")
cap=$(python3 -c "print(max(1, int($steps * 9 / 8 * $share)))")
sed -i "s|^resume_from = .*|&\nmax_steps_per_epoch = $cap|" "$work/resumed.toml"
train full
train resumed
python3 - "$work" "$share" "$cap" > "$work/table.md" <<'PY'
import json, sys
work, share, cap = sys.argv[1], float(sys.argv[2]), sys.argv[3]
def row(name):
    runs = {r["model"]: r for r in json.load(open(f"{work}/{name}.json"))}
    secs = float(open(f"{work}/{name}.secs").read())
    return runs, secs
full, full_secs = row("full")
resumed, resumed_secs = row("resumed")
print("| model | full retrain NDCG@10 | resumed NDCG@10 | resumed / full |")
print("|---|---:|---:|---:|")
for m in full:
    a, b = full[m]["metrics"]["ndcg@10"], resumed[m]["metrics"]["ndcg@10"]
    print(f"| {m} | {a:.4f} | {b:.4f} | {b / a:.3f} |")
print()
print(f"| run | wall s | steps | train s |")
print("|---|---:|---:|---:|")
for name, runs, secs in [("full retrain (3 epochs)", full, full_secs), (f"resumed (1 epoch, at most {cap} steps)", resumed, resumed_secs)]:
    r = next(iter(runs.values()))
    print(f"| {name} | {secs:.0f} | {r['steps']} | {r['train_secs']:.0f} |")
print(f"\nresumed wall time / full retrain: {resumed_secs / full_secs:.2f}")
PY
{
  echo "# Incremental training on tmall_mb ($(date -u +%F))"
  echo
  cat "$work/split.txt"
  echo
  echo "Both runs on the graph of base + last day (built with extends = the base graph), side by side;"
  echo "the resumed run starts from the base bundle (every base node's row and the dense weights)."
  echo
  cat "$work/table.md"
} > "$work/report.md"
cat "$work/report.md"
