#!/usr/bin/env bash
# The end of `make demo`: serve the demo job's newest bundle with the real
# recommend binary on a free loopback port, print one real HTTP response
# (the first example user's recommendations), and stop the service.
#   scripts/demo-serve.sh [run dir] [job name]
set -euo pipefail
run="${1:-runs/demo}"
job="${2:-demo}"
bin="${RECOMMEND_BIN:-target/release/recommend}"
bundles="$run/bundles/$job"
[ -f "$bundles/LATEST" ] || { echo "demo-serve: no bundle under $bundles (did the job succeed?)" >&2; exit 1; }
user=$(python3 -c '
import json, sys
reports = json.load(open(sys.argv[1]))["metric_reports"]
test = [r for r in reports if r["phase"] == "test"][-1]
print(test["samples"][0]["user"])' "$run/metrics.json")
out=$(mktemp)
"$bin" --bundle "$bundles" --listen 127.0.0.1:0 --watch 0s >"$out" 2>"$out.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$out" "$out.log"' EXIT
for _ in $(seq 100); do
  grep -q '^LISTENING ' "$out" && break
  kill -0 $pid 2>/dev/null || { cat "$out.log" >&2; exit 1; }
  sleep 0.1
done
addr=$(sed -n 's/^LISTENING //p' "$out")
url="http://$addr/v1/users/$user/recommendations?k=5"
echo
echo "recommend service on $addr (bundle $(cat "$bundles/LATEST" | tr -d '\n')): GET $url"
python3 -c '
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1]) as r:
    print("HTTP", r.status)
    print(json.dumps(json.load(r), indent=2))' "$url"
