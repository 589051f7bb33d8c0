#!/usr/bin/env bash
# Stages the Docker build context of deploy/docker/Dockerfile into
# target/docker: the release binaries (stripped of debug info), the example
# jobs and graphs, the health check, and for the worker the libtorch
# libraries it loads, found by ldd and kept at their paths under the torch
# package's site-packages (torch/lib/…, nvidia/…) so their RPATHs resolve.
#   deploy/docker/stage.sh [release dir]   (LIBTORCH as for the build)
set -euo pipefail
cd "$(dirname "$0")/../.."
release="${1:-target/release}"
out=target/docker
libtorch="${LIBTORCH:-$(cat .libtorch)}"
site=$(cd "$libtorch/.." && pwd)
rm -rf "$out"
mkdir -p "$out/bin" "$out/torch"
for bin in coordinator ps-server worker recommend; do
  [ -x "$release/$bin" ] || { echo "stage: $release/$bin is missing (make release)" >&2; exit 1; }
  objcopy --strip-debug "$release/$bin" "$out/bin/$bin"
done
cp -r examples "$out/examples"
cp -r deploy/compose "$out/compose"
cp deploy/docker/Dockerfile deploy/docker/healthcheck.sh "$out/"
# The libraries under the torch package that the worker loads.
LD_LIBRARY_PATH="$libtorch/lib" ldd "$out/bin/worker" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
  real=$(realpath "$lib")
  case "$real" in
    "$site"/*) rel="${real#"$site"/}" ;;
    *) continue ;;
  esac
  mkdir -p "$out/torch/$(dirname "$rel")"
  cp "$real" "$out/torch/$rel"
  # Keep the soname the loader asks for when the file has another name.
  [ "$(basename "$lib")" = "$(basename "$real")" ] || ln -sf "$(basename "$real")" "$out/torch/$(dirname "$rel")/$(basename "$lib")"
done
[ -f "$out/torch/torch/lib/libtorch_cpu.so" ] || { echo "stage: libtorch_cpu.so not found under $site" >&2; exit 1; }
du -sh "$out/bin" "$out/torch" | sed 's/^/stage: /' >&2
