#!/usr/bin/env bash
# The Python side of `make bench`: a git-ignored venv at bench/.venv that
# sees the per-machine torch 2.11.0 (scripts/setup-torch.sh's cache, through
# a .pth file, so the 5 GB install is not repeated) and holds PyTorch
# Geometric from PyPI, numpy and matplotlib.
#
# PyG's neighbour sampler needs pyg-lib or torch-sparse. pyg-lib has no
# PyPI release and torch-sparse has only an sdist (with torch-scatter, which
# it imports), so both are built here once per machine (about 25 minutes on
# 2 cores) into a wheel cache outside the clone, then installed from it.
# With BENCH_QUICK=1 a missing wheel is not built: the script says so and
# the PyG comparison is skipped.
#
# Prints the venv's python on success.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=bench/.venv
cache=${TESSERA_PYG_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera/pyg-wheels-torch2.11.0}
log() { echo "bench-setup: $*" >&2; }

libtorch=$(scripts/setup-torch.sh)
torch_site=$(dirname "$libtorch")
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  python3 -m venv "$venv"
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$torch_site" > "$site/tessera-torch.pth"
py="$venv/bin/python"
if ! "$py" -c 'import torch_geometric, numpy, matplotlib, scipy' 2>/dev/null; then
  log "installing torch_geometric, numpy, scipy and matplotlib from PyPI"
  "$py" -m pip install -q --disable-pip-version-check torch_geometric numpy scipy matplotlib >&2
fi
if ! "$py" -c 'import torch_sparse' 2>/dev/null; then
  mkdir -p "$cache"
  for pkg in torch_scatter torch_sparse; do
    if ! ls "$cache"/"$pkg"-*.whl >/dev/null 2>&1; then
      if [ "${BENCH_QUICK:-0}" = 1 ]; then
        log "no $pkg wheel in $cache and BENCH_QUICK=1: not building it (about 25 minutes); the PyG comparison is skipped"
        echo "$py"
        exit 0
      fi
      "$py" -m pip install -q --disable-pip-version-check wheel >&2
      log "building $pkg from its sdist into $cache (once per machine, about 10-25 minutes on 2 cores)"
      MAX_JOBS=${MAX_JOBS:-$(nproc)} "$py" -m pip wheel -q --disable-pip-version-check --no-deps \
        --no-build-isolation --no-binary :all: -w "$cache" "$pkg" >&2
    fi
  done
  "$py" -m pip install -q --disable-pip-version-check --no-deps "$cache"/torch_scatter-*.whl "$cache"/torch_sparse-*.whl >&2
fi
echo "$py"
