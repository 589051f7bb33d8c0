#!/bin/bash
# The compose cluster's one-shot job container: writes the demo's synthetic
# logs into the data volume (once), submits the demo job to the coordinator
# and waits for it; exits 0 when the job succeeded (coordinator exit codes:
# 3 failed, 4 cancelled, 5 unreachable).
#   TESSERA_JOB_SPEC   the job spec (default /opt/tessera/compose/demo.toml)
set -euo pipefail
spec="${TESSERA_JOB_SPEC:-/opt/tessera/compose/demo.toml}"
mkdir -p /data/demo
if [ ! -f /data/demo/synth.csv.items.csv ]; then
  coordinator graph synth --users 20000 --items 10000 --events 200000 --seed 42 --out /data/demo/synth.csv
fi
# The coordinator may still be starting: retry the submit while it is unreachable.
for attempt in $(seq 30); do
  set +e
  id=$(coordinator submit "$spec" 2>/tmp/submit.err)
  rc=$?
  set -e
  [ $rc -eq 0 ] && break
  [ $rc -eq 5 ] || { cat /tmp/submit.err >&2; exit $rc; }
  sleep 2
done
[ -n "${id:-}" ] || { cat /tmp/submit.err >&2; exit 5; }
echo "JOB $id"
exec coordinator watch "$id"
