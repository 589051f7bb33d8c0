#!/usr/bin/env bash
# Endpoint benchmark of the recommend service on loopback (release build):
# a synthetic bundle of 100k users and 100k items (dimension 64, HNSW),
# wrk (Debian's, installed when missing) with a Lua script that asks for a
# random user's recommendations (k=20, candidates=200, seen items left out);
# then the same load with 10 reloads in the middle, counting failed requests.
# Reports p50/p99 latency and requests/s of each run.
set -euo pipefail
bin=${RECOMMEND_BIN:-target/release/recommend}
items=${BENCH_ITEMS:-100000}
secs=${BENCH_SECS:-15}
conns=${BENCH_CONNECTIONS:-8}
if ! command -v wrk >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bench-recommend: installing wrk with apt-get" >&2
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >&2
fi
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
# BENCH_RANKER=0 leaves the ranker out; by default the bundle has a random
# ranker of the default shape, so every request is re-ranked.
ranker_flag=$([ "${BENCH_RANKER:-1}" = 1 ] && echo --ranker || true)
cargo bench -q --profile release -p tessera-bundle --bench ann -- --write-bundle "$work/bundles" --items "$items" $ranker_flag
"$bin" --bundle "$work/bundles/synthetic" --listen 127.0.0.1:0 --watch 0s >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 300); do grep -q '^LISTENING ' "$work/out" && break; sleep 0.1; done
addr=$(sed -n 's/^LISTENING //p' "$work/out")
[ -n "$addr" ] || { cat "$work/log" >&2; exit 1; }
cat >"$work/users.lua" <<LUA
math.randomseed(7)
request = function()
  return wrk.format("GET", "/v1/users/" .. math.random(0, $items - 1) .. "/recommendations?k=20&candidates=200")
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d secs=%.2f qps=%.0f p50_ms=%.3f p99_ms=%.3f non2xx=%d errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
echo "== recommend endpoint, $items items, k=20, candidates=200, ranker $([ -n "$ranker_flag" ] && echo on || echo off), $conns connections, ${secs}s =="
wrk -t1 -c"$conns" -d"${secs}s" -s "$work/users.lua" "http://$addr" | grep '^RESULT'
echo "== the same load with 10 reloads (POST /admin/reload) =="
wrk -t1 -c"$conns" -d"${secs}s" -s "$work/users.lua" "http://$addr" >"$work/wrk" &
wrk_pid=$!
sleep 1
for _ in $(seq 10); do
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="POST", data=b"")).read()' \
    "http://$addr/admin/reload"
  sleep 0.5
done
wait $wrk_pid
grep '^RESULT' "$work/wrk"
python3 -c 'import sys, urllib.request; t = urllib.request.urlopen(sys.argv[1]).read().decode(); print("\n".join(l for l in t.splitlines() if "reloads_total" in l and not l.startswith("#")))' "http://$addr/metrics"
