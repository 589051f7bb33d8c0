#!/usr/bin/env bash
# Partition benchmark: a synthetic graph of about 10M relation edges,
# partitioned into K parts by `coordinator partition` (METIS through the
# metis crate) and by Debian's `gpmetis` on the same merged graph, in the
# same run. Reports Tessera's time (merge + METIS), gpmetis's wall time and
# its own METIS time, the ratio, and both edge-cuts.
set -euo pipefail
bin=${COORDINATOR_BIN:-target/release/coordinator}
work=${BENCH_DIR:-$(mktemp -d)}
trap 'rm -rf "$work"' EXIT
events=${BENCH_EVENTS:-12500000}
parts=${BENCH_PARTS:-4}
command -v gpmetis >/dev/null || { echo "gpmetis missing: run make deps" >&2; exit 1; }
"$bin" graph synth --users 500000 --items 250000 --events "$events" --seed 1 --out "$work/log.csv" >/dev/null
"$bin" graph build --input "$work/log.csv" --items "$work/log.csv.items.csv" --split-time-fraction 0.9 \
  --out "$work/graph" --json >"$work/stats.json"
rm -f "$work/log.csv" "$work/log.csv.items.csv"
"$bin" partition --graph "$work/graph" --parts "$parts" --out "$work/parts" --halo-hops 1 \
  --export-metis "$work/graph.metis" --json >"$work/plan.json"
start=$(date +%s.%N)
gpmetis "$work/graph.metis" "$parts" >"$work/gpmetis.txt"
end=$(date +%s.%N)
python3 - "$work" "$start" "$end" <<'PY'
import json, re, sys
work, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
plan = json.load(open(f"{work}/plan.json"))
text = open(f"{work}/gpmetis.txt").read()
gp_cut = int(re.search(r"Edgecut:\s*(\d+)", text).group(1))
gp_metis = float(re.search(r"Partitioning:\s*([\d.]+)", text).group(1))
gp_wall = end - start
t = plan["timings"]
ours = t["merge"] + t["metis"]
q, r = plan["quality"], plan["baseline"]
print(f"graph: {q['num_edges']:,} relation edges, {plan['space']['types'][-1][1] + plan['space']['types'][-1][2]:,} nodes, K={plan['parts']}")
print(f"{'':<28} {'seconds':>8} {'edge-cut':>12}")
print(f"{'tessera merge + METIS':<28} {ours:>8.2f} {q['edge_cut']:>12,}")
print(f"{'  of which METIS':<28} {t['metis']:>8.2f}")
print(f"{'  halo + part dirs':<28} {t['halo_and_write']:>8.2f}")
print(f"{'gpmetis wall (reads file)':<28} {gp_wall:>8.2f} {gp_cut:>12,}")
print(f"{'  gpmetis METIS time':<28} {gp_metis:>8.2f}")
print(f"{'random baseline':<28} {'':>8} {r['edge_cut']:>12,}")
print(f"ratio tessera/gpmetis wall: {ours / gp_wall:.2f}x (target <= 1.3x); METIS time ratio {t['metis'] / gp_metis:.2f}x")
PY
