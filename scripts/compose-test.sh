#!/usr/bin/env bash
# `make compose-test`: the docker compose cluster end to end, with real
# containers and real training on the demo's synthetic data.
#   1. builds the images from the local base (deploy/docker/build-images.sh);
#   2. brings the cluster up (deploy/compose.yaml, a project of its own);
#   3. waits for the demo job and checks that HGT beats MF on NDCG@10;
#   4. a second job: `docker kill` of PS shard 0 at about half-way, a restart,
#      and the job must still succeed;
#   5. a third job: `docker network disconnect` of worker-1 mid-training; its
#      partition must move to worker-0 and the job succeed;
#   6. calls the recommend endpoint from the host and checks the top-k;
#   7. tears everything down and checks that no container, network or volume
#      of the project is left.
# Skips with a printed reason (exit 0) when no Docker engine answers.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
  echo "compose-test: skipped: no Docker engine answers (docker info failed)"
  exit 0
fi
compose_bin=(docker-compose)
command -v docker-compose >/dev/null 2>&1 || compose_bin=(docker compose)
project="tessera-test-$$"
export TESSERA_TAG="${TESSERA_TAG:-dev}" TESSERA_RECOMMEND_PORT=0
compose() { "${compose_bin[@]}" -p "$project" -f deploy/compose.yaml "$@"; }
log() { echo "compose-test: $*"; }
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }
container() { compose ps -q "$1"; }
cli() { docker exec "$(container coordinator)" coordinator "$@"; }
status_json() { cli status "$1" --json; }
# The job's state, its training fraction and its metric; see job_field below.
job_field() {
  python3 -c '
import json, sys, tomllib
j = json.load(sys.stdin)
what = sys.argv[1]
if what == "state":
    print(j["state"])
elif what == "fraction":
    spec = tomllib.loads(j["spec_toml"])
    trained = [b for b in spec.get("baselines", []) if b in ("hgt", "rgcn", "sage", "lightgcn", "mf")]
    epochs = spec["train"]["epochs"] * (1 + len(trained))
    done = [(p["epoch"] + p["step"] / max(p["steps_per_epoch"], 1)) / epochs for p in j["progress"] if not p["finished"]]
    print(min(done) if done else (1.0 if j["progress"] else 0.0))
elif what == "workers":
    print(" ".join(sorted("%s:%s" % (a["partition"], a["worker_id"]) for a in j["assignments"])))
else:
    print(j["metrics"].get(what, "nan"))' "$1"
}
wait_state() { # job, timeout s: waits for a final state, prints it
  local deadline=$(( $(date +%s) + $2 )) state
  while :; do
    state=$(status_json "$1" | job_field state)
    case "$state" in succeeded|failed|cancelled) echo "$state"; return ;; esac
    [ "$(date +%s)" -lt "$deadline" ] || { echo "timeout:$state"; return; }
    sleep 3
  done
}
wait_fraction() { # job, fraction, timeout s
  local deadline=$(( $(date +%s) + $3 ))
  while :; do
    local f
    f=$(status_json "$1" | job_field fraction)
    python3 -c "import sys; sys.exit(0 if float('$f') >= $2 else 1)" && return 0
    [ "$(date +%s)" -lt "$deadline" ] || { log "FAIL: job $1 did not reach $2 of its training (at $f)"; return 1; }
    sleep 1
  done
}
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    log "FAILED after $(elapsed) s; the cluster's logs:"
    compose logs --no-color --tail=40 2>&1 | sed 's/^/  /' || true
  fi
  compose down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "1. images"
deploy/docker/build-images.sh

log "2. up (the first job runs while compose waits for it)"
compose up -d
job1=$(docker logs "$(container job)" 2>&1 | sed -n 's/^JOB //p')
[ -n "$job1" ] || { log "FAIL: the job container printed no job id"; exit 1; }
[ "$(docker inspect -f '{{.State.ExitCode}}' "$(container job)")" = 0 ] || { log "FAIL: the job container failed"; exit 1; }

log "3. job $job1: HGT against MF"
json=$(status_json "$job1")
[ "$(job_field state <<<"$json")" = succeeded ] || { log "FAIL: $job1 did not succeed"; exit 1; }
hgt=$(job_field hgt/ndcg@10 <<<"$json")
mf=$(job_field mf/ndcg@10 <<<"$json")
log "   NDCG@10: HGT $hgt, MF $mf"
python3 -c "import sys; sys.exit(0 if $hgt > $mf else 1)" || { log "FAIL: HGT does not beat MF"; exit 1; }

log "4. a second job; docker kill of ps-0 at about half-way, then a restart"
job2=$(cli submit /opt/tessera/compose/demo.toml)
wait_fraction "$job2" 0.45 600
docker kill "$(container ps-0)" >/dev/null
killed=$(date +%s)
sleep 3
docker start "$(container ps-0)" >/dev/null
state=$(wait_state "$job2" 900)
[ "$state" = succeeded ] || { log "FAIL: $job2 ended $state after the PS kill"; exit 1; }
log "   $job2 succeeded $(( $(date +%s) - killed )) s after the kill; NDCG@10 $(status_json "$job2" | job_field ndcg@10)"

log "5. a third job; docker network disconnect of worker-1 mid-training"
job3=$(cli submit /opt/tessera/compose/demo.toml)
wait_fraction "$job3" 0.2 600
network="${project//[^a-zA-Z0-9_.-]/}_default"
docker network disconnect "$network" "$(container worker-1)"
cut=$(date +%s)
before=$(status_json "$job3" | job_field workers)
state=$(wait_state "$job3" 900)
after=$(status_json "$job3" | job_field workers)
docker network connect "$network" "$(container worker-1)"
[ "$state" = succeeded ] || { log "FAIL: $job3 ended $state after the disconnect"; exit 1; }
case "$after" in *worker-1*) log "FAIL: worker-1 kept a partition ($before -> $after)"; exit 1 ;; esac
log "   partitions $before -> $after; $job3 succeeded $(( $(date +%s) - cut )) s after the cut"

log "6. the recommend endpoint from the host"
port=$(compose port recommend 8080 | sed 's/.*://')
user=$(docker exec "$(container coordinator)" sed -n 2p /data/demo/synth.csv | cut -d, -f1)
python3 -c '
import json, sys, time, urllib.request
url = sys.argv[1]
for attempt in range(60):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            r = json.load(resp)
        break
    except OSError as e:
        err = e
        time.sleep(1)
else:
    sys.exit("compose-test: FAIL: GET %s: %s" % (url, err))
ranks = [i["rank"] for i in r["items"]]
assert ranks == list(range(1, 11)), "not a top-10: %r" % r
print("compose-test:    GET %s: HTTP 200, top-10 from bundle version %s, first item %s" % (url, r["bundle_version"], r["items"][0]["item"]))
' "http://127.0.0.1:$port/v1/users/$user/recommendations?k=10"

log "7. down"
compose down -v --remove-orphans >/dev/null 2>&1
left=$(docker ps -aq --filter "label=com.docker.compose.project=$project"; docker network ls -q --filter "label=com.docker.compose.project=$project"; docker volume ls -q --filter "label=com.docker.compose.project=$project")
[ -z "$left" ] || { log "FAIL: left behind: $left"; exit 1; }
trap - EXIT
log "passed in $(elapsed) s"
