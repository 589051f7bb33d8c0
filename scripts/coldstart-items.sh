#!/usr/bin/env bash
# Cold-start items on ecomm (issue #16): the day-11 test items that never
# occur in the log are taken out of the item table and the test file
# (scripts/coldstart-items.py), HGT trains on the rest with
# examples/jobs/ecomm.toml, and `worker cold-items` folds each new item in
# from its category, brand and price (what POST /v1/items does) and ranks
# the new items for the users whose day-11 pairs hold them, beside
# category popularity.
# Output: target/coldstart/ecomm_items/{report.md,cold_items.json}.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
shared=${TESSERA_SHARED:-$root/../shared}/datasets/ecomm
work=$root/target/coldstart/ecomm_items
bin=${TESSERA_BIN:-$root/target/release}
mkdir -p "$work"
python3 scripts/coldstart-items.py --log "$shared/interactions.csv" --log-item item_id \
  --items "$shared/items.csv" --item item_id --category cate_id --brand brand_id --price price \
  --test "$shared/day11_eval_pairs.csv" --test-user user_id --label label --split split \
  --out-items "$work/items.csv" --out-test "$work/test_pairs.csv" \
  --out-cold "$work/new_items.csv" --out-pairs "$work/new_pairs.csv" | tee "$work/split.txt"
sed -e "s|^path = \".*items.csv\"|path = \"$work/items.csv\"|" \
    -e "s|^path = \".*day11_eval_pairs.csv\"|path = \"$work/test_pairs.csv\"|" \
    -e "s|\"\.\./\.\./\.\./shared/datasets/ecomm/|\"$shared/|" \
    examples/graphs/ecomm.toml > "$work/graph.toml"
grep -q "$work/items.csv" "$work/graph.toml" || { echo "the graph spec's item table was not replaced" >&2; exit 1; }
sed -e "s|^name = .*|name = \"ecomm_items\"|" \
    -e "s|^baselines = .*|baselines = []|" \
    -e "s|^graph = .*|graph = \"$work/graph\"|" \
    -e "s|^build = .*|build = \"$work/graph.toml\"|" \
    examples/jobs/ecomm.toml > "$work/job.toml"
rm -rf "$work/graph" "$work/bundles"
started=$(date +%s)
"$bin/worker" train --standalone "$work/job.toml" --bundles "$work/bundles" --device cpu \
  --results "$work/train.json" | tee "$work/train.txt"
trained=$(date +%s)
"$bin/worker" cold-items --bundle "$work/bundles/ecomm_items" --items "$work/new_items.csv" \
  --pairs "$work/new_pairs.csv" --now "$(date -u -d 2019-06-20 +%s)" --results "$work/cold_items.json" \
  | tee "$work/table.md"
{
  echo "# Cold-start items on ecomm ($(date -u +%F))"
  echo
  echo "The day-11 test items that never occur in the log, absent from training; HGT trained on the rest"
  echo "in $((trained - started)) s; each new item folded in from its category, brand and price;"
  echo "ranking among the new items only."
  echo
  cat "$work/split.txt"
  echo
  cat "$work/table.md"
} > "$work/report.md"
echo "report: $work/report.md"
