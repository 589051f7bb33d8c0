#!/usr/bin/env bash
# `make bench`: every benchmark side by side in one run, results in
# bench/results/*.json, then bench/report.md and bench/plots/*.png
# (bench/report.py). Sections (BENCH_ONLY="hgt models ..." runs a subset):
#   hgt      Tessera's HGT against PyTorch Geometric's HGTConv on tmall_mb,
#            the same recipe and the same number of steps on both sides:
#            positive edges/s, validation NDCG@10 over training time.
#   models   HGT, RGCN, GraphSAGE, LightGCN and MF (the tmall_mb recipe) on
#            1 worker (standalone) and 2 workers (`coordinator local`), with
#            the split into sample, pull, compute and push.
#   shards   HGT on 1 worker with 1, 2 and 4 parameter-server shards.
#   graph, ps, partition, ann, recommend
#            the graph-build, parameter-server (against a tonic echo),
#            partitioning (against gpmetis), retrieval and endpoint benches.
# BENCH_QUICK=1 makes every section small (about 5 minutes) and skips the
# PyG side when torch-sparse is not built yet (it says so).
set -euo pipefail
# The whole script is one function, read before it runs: editing the file
# during a run does not change the run.
main() {
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=${BENCH_QUICK:-0}
only=${BENCH_ONLY:-hgt models shards graph ps partition ann recommend}
bin=$root/target/release
out=$root/bench/results
work=$root/target/bench
mkdir -p "$out" "$work"
export LIBTORCH=${LIBTORCH:-$(cat .libtorch)}
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
threads=$(nproc)
log() { echo "bench: $*" >&2; }
want() { [[ " $only " == *" $1 "* ]]; }
pick() { [ "$quick" = 1 ] && echo "$2" || echo "$1"; } # full quick

# A job spec from bench/jobs/hgt.toml or examples/jobs/tmall_mb.toml with
# its name and budget replaced, written two levels below the root (where its
# relative paths resolve as in bench/jobs): spec <out> <template> <name>
# <epochs> <steps> [key=value ...]
spec() {
  python3 - "$@" <<'PY'
import re, sys
out, template, name, epochs, steps, *overrides = sys.argv[1:]
text = open(template).read()
def put(key, value, after=None):
    global text
    pattern = rf'(?m)^{re.escape(key)} = .*$'
    if re.search(pattern, text):
        text = re.sub(pattern, lambda _: f'{key} = {value}', text, count=1)
    elif after is not None:
        text = re.sub(rf'(?m)^({re.escape(after)} = .*)$', lambda m: f'{m.group(1)}\n{key} = {value}', text, count=1)
    else:
        raise SystemExit(f"spec: {template} has no '{key} =' line")
put("name", f'"{name}"')
put("graph", '"../../data/tmall_mb"')
put("build", '"../../examples/graphs/tmall_mb.toml"')
put("epochs", epochs)
put("max_steps_per_epoch", steps, after="epochs")
for kv in overrides:
    key, value = kv.split("=", 1)
    put(key, value, after="ps_shards" if key == "report_interval" else None)
open(out, "w").write(text)
PY
}

# Runs a command, recording its wall time and output: timed <name> <cmd...>
timed() {
  local name=$1; shift
  local started; started=$(date +%s.%N)
  set +e
  "$@" > "$work/$name.out" 2> "$work/$name.err"
  local rc=$?
  set -e
  python3 - "$out/$name.run.json" "$name" "$started" "$rc" "$work/$name.out" "$*" <<'PY'
import json, sys, time
path, name, started, rc, stdout, command = sys.argv[1:]
json.dump({"name": name, "command": command, "exit": int(rc), "secs": time.time() - float(started),
           "date": time.strftime("%Y-%m-%d", time.gmtime()), "stdout": open(stdout).read().splitlines()},
          open(path, "w"), indent=1)
PY
  if [ "$rc" != 0 ]; then log "$name failed ($rc): see $work/$name.err"; tail -20 "$work/$name.err" >&2; return "$rc"; fi
}

"$bin/coordinator" --version >/dev/null
if want ps || want ann || want recommend; then
  # The benches build in the release profile (the bench profile would build
  # every dependency again), each package alone as it runs below, so the
  # timed runs find them built.
  log "building the PS and retrieval benches"
  cargo bench -q --profile release --no-run -p ps-server --bench ps
  cargo bench -q --profile release --no-run -p tessera-bundle --bench ann
fi
mkdir -p data
if [ ! -f data/tmall_mb/manifest.json ]; then
  log "building the tmall_mb graph"
  "$bin/coordinator" graph build --spec examples/graphs/tmall_mb.toml --out data/tmall_mb > "$work/graph_tmall.txt"
fi
python3 - "$out/machine.json" "$threads" <<'PY'
import json, os, platform, sys, time
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
mem = next(int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal"))
json.dump({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu, "cores": int(sys.argv[2]),
           "memory_mb": mem, "quick": os.environ.get("BENCH_QUICK", "0") == "1"}, open(sys.argv[1], "w"), indent=1)
PY

if want hgt; then
  epochs=$(pick 3 1); steps=$(pick 40 4)
  log "hgt: Tessera, $epochs x $steps steps, validation after each"
  spec "$work/hgt.toml" bench/jobs/hgt.toml bench_hgt "$epochs" "$steps"
  timed hgt_tessera "$bin/worker" train --standalone "$work/hgt.toml" --device cpu --train-only \
    --results "$out/hgt_tessera.json"
  if py=$(BENCH_QUICK=$quick bench/setup-venv.sh) && "$py" -c 'import torch_sparse' 2>/dev/null; then
    # The same steps and validation passes, with HeteroLinear computed as
    # pyg-lib's segment_matmul would (pyg-lib has no PyPI release): the
    # parity run and the conservative ratio. Then PyG exactly as PyPI
    # installs it, for throughput only: its HeteroLinear fallback makes it
    # several times slower, so a few steps suffice.
    log "hgt: PyG HGTConv (HeteroLinear as segment_matmul), $((epochs * steps)) steps"
    timed hgt_pyg "$py" bench/pyg_hgt.py --graph data/tmall_mb --out "$out/hgt_pyg.json" \
      --steps $((epochs * steps)) --validate-every "$steps" --threads "$threads" --segment-cat
    if [ "$quick" != 1 ]; then
      log "hgt: PyG HGTConv as installed, 8 steps (throughput only)"
      timed hgt_pyg_stock "$py" bench/pyg_hgt.py --graph data/tmall_mb --out "$out/hgt_pyg_stock.json" \
        --steps 8 --warmup 1 --threads "$threads"
    else
      rm -f "$out/hgt_pyg_stock.json"
    fi
  else
    log "hgt: the PyG side is skipped: torch-sparse is not built (BENCH_QUICK=1 does not build it; make bench does, once)"
    echo '{"skipped": "torch-sparse is not built on this machine; BENCH_QUICK=1 does not build it (about 25 minutes), make bench does"}' > "$out/hgt_pyg.json"
    rm -f "$out/hgt_pyg_stock.json"
  fi
fi

if want models; then
  steps=$(pick 30 3)
  log "models: 5 models x $steps steps on 1 worker"
  spec "$work/models1.toml" examples/jobs/tmall_mb.toml bench_models_1w 1 "$steps" \
    'baselines=["rgcn", "sage", "lightgcn", "mf"]' workers=1 ps_shards=2
  timed models_1w "$bin/worker" train --standalone "$work/models1.toml" --device cpu --train-only \
    --results "$out/models_1w.json"
  if [ "$quick" != 1 ]; then
    log "models: 5 models x $((steps / 2)) steps per worker on 2 workers (coordinator local)"
    spec "$work/models2.toml" examples/jobs/tmall_mb.toml bench_models_2w 1 $((steps / 2)) \
      'baselines=["rgcn", "sage", "lightgcn", "mf"]' workers=2 ps_shards=2 'report_interval="2s"'
    rm -rf "$work/models_2w"
    timed models_2w_run "$bin/coordinator" local "$work/models2.toml" --run-dir "$work/models_2w" --device cpu
    cp "$work/models_2w/progress.jsonl" "$out/models_2w.progress.jsonl"
  fi
fi

if want shards; then
  steps=$(pick 20 3)
  for n in $(pick "1 2 4" "1 2"); do
    log "shards: HGT, $steps steps, $n PS shards"
    spec "$work/shards.toml" examples/jobs/tmall_mb.toml "bench_shards_$n" 1 "$steps" \
      'baselines=[]' workers=1 ps_shards="$n"
    timed "shards_$n" "$bin/worker" train --standalone "$work/shards.toml" --device cpu --train-only \
      --results "$out/shards_$n.json"
  done
fi

if want graph; then
  log "graph build"
  BENCH_QUICK=$quick timed graph scripts/bench-graph.sh
fi
if want ps; then
  log "parameter server against echo"
  timed ps cargo bench -q --profile release -p ps-server --bench ps
fi
if want partition; then
  log "partitioning against gpmetis"
  BENCH_EVENTS=$(pick 12500000 500000) timed partition scripts/bench-partition.sh
fi
if want ann; then
  log "retrieval: HNSW against exact"
  timed ann cargo bench -q --profile release -p tessera-bundle --bench ann -- --items "$(pick 1000000 50000)"
fi
if want recommend; then
  log "recommend endpoint under wrk"
  BENCH_ITEMS=$(pick 100000 10000) BENCH_SECS=$(pick 15 2) timed recommend scripts/bench-recommend.sh
fi

"$(BENCH_QUICK=1 bench/setup-venv.sh)" bench/report.py
}
main "$@"; exit
