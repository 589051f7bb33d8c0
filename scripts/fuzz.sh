#!/usr/bin/env bash
# cargo-fuzz on Tessera's hostile-input boundaries: the PS requests
# (prost decoding, id lists, f32/f16 payloads, zstd frames), the job spec,
# the graph-build spec and the behaviour-log reader. Each target runs for
# FUZZ_SECONDS (default 60) from the committed seeds (fuzz/seeds/<target>)
# plus what earlier runs found (fuzz/corpus/<target>, git-ignored), and
# fuzz/report.md gets the executions and any crash (saved under
# fuzz/artifacts/<target>). cargo-fuzz is installed when missing; the
# stable toolchain runs it with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-60}"
SANITIZER="${FUZZ_SANITIZER:-address}"
TARGETS="${FUZZ_TARGETS:-ps_request job_spec graph_spec log_csv}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (once per machine)"
  cargo install cargo-fuzz --locked
fi
# The fuzz crate is its own workspace: start its lock file from the main
# one, so both build the same dependency versions.
[ -f fuzz/Cargo.lock ] || cp Cargo.lock fuzz/Cargo.lock
mkdir -p fuzz/logs
report=fuzz/report.md
{
  echo "# Fuzzing report"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), ${SECONDS_EACH} s per target, sanitizer ${SANITIZER}, $(nproc) cores."
  echo
  echo "| target | executions | exec/s | corpus units | crashes |"
  echo "|---|---:|---:|---:|---:|"
} > "$report"
failed=0
for t in $TARGETS; do
  mkdir -p "fuzz/corpus/$t"
  log="fuzz/logs/$t.log"
  echo "fuzz: $t for ${SECONDS_EACH} s (log: $log)"
  status=0
  RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer "$SANITIZER" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 \
    > "$log" 2>&1 || status=$?
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  units=$(find "fuzz/corpus/$t" -type f | wc -l)
  crashes=$(find "fuzz/artifacts/$t" -type f 2>/dev/null | wc -l)
  echo "| $t | ${execs:-?} | ${rate:-?} | $units | $crashes |" >> "$report"
  if [ "$status" -ne 0 ]; then
    failed=1
    echo "fuzz: $t failed (exit $status); the last lines of $log:" >&2
    tail -30 "$log" >&2
  fi
done
cat "$report"
exit "$failed"
