#!/usr/bin/env bash
# Graph build benchmark: synthetic 1M- and 10M-event logs, release build.
# Reports parse throughput (events/s while reading the log), end-to-end build
# time, peak memory (max RSS) and the ratio of peak memory to the output size.
# BENCH_QUICK=1 measures the 1M-event log only.
set -euo pipefail
bin=${COORDINATOR_BIN:-target/release/coordinator}
work=${BENCH_DIR:-$(mktemp -d)}
trap 'rm -rf "$work"' EXIT
printf '%-8s %12s %10s %14s %10s %12s %10s %8s\n' events users parse_s "parse_ev/s" build_s peak_rss_MB out_MB rss/out
sizes=("1000000 50000 50000" "10000000 500000 200000")
# BENCH_QUICK=1: the 1M-event log only.
[ "${BENCH_QUICK:-0}" = 1 ] && sizes=("${sizes[0]}")
for spec in "${sizes[@]}"; do
  read -r events users items <<<"$spec"
  "$bin" graph synth --users "$users" --items "$items" --events "$events" --seed 1 --out "$work/log.csv" >/dev/null
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$work/rss" "$bin" graph build --input "$work/log.csv" --items "$work/log.csv.items.csv" \
    --split-time-fraction 0.9 --out "$work/graph" --json >"$work/stats.json"
  end=$(date +%s.%N)
  python3 - "$events" "$users" "$start" "$end" "$work" <<'PY'
import json, os, sys
events, users, start, end, work = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
stats = json.load(open(os.path.join(work, "stats.json")))
rss_mb = int(open(os.path.join(work, "rss")).read().split()[-1]) / 1024
out_mb = sum(os.path.getsize(os.path.join(work, "graph", f)) for f in os.listdir(os.path.join(work, "graph"))) / 2**20
parse = stats["report"]["read_secs"]
print(f"{events:<8} {users:>12} {parse:>10.2f} {events/parse:>14,.0f} {end-start:>10.2f} {rss_mb:>12.0f} {out_mb:>10.0f} {rss_mb/out_mb:>8.2f}")
PY
  rm -rf "$work/graph" "$work/log.csv" "$work/log.csv.items.csv"
done
