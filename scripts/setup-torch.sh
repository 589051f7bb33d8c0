#!/usr/bin/env bash
# Finds or installs libtorch 2.11.0 for the worker build and prints the
# directory to use as LIBTORCH (a torch package or a libtorch distribution).
#
# Order: $LIBTORCH if set; a `python3` that already imports torch 2.11.0;
# the per-machine cache venv (installed there with pip when missing). The repo
# gets a git-ignored `.venv` symlink to the cache venv, so a fresh clone on
# the same machine reuses the ~5 GB install instead of downloading it again.
set -euo pipefail
want="2.11.0"
cache="${TESSERA_TORCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera/torch-$want}"
probe='import os, torch; print(torch.__version__.split("+")[0]); print(os.path.dirname(torch.__file__))'

log() { echo "setup-torch: $*" >&2; }

if [ -n "${LIBTORCH:-}" ]; then
  [ -d "$LIBTORCH/lib" ] || { log "LIBTORCH=$LIBTORCH has no lib/ directory"; exit 1; }
  echo "$LIBTORCH"; exit 0
fi

try_python() {
  local py="$1" out
  out=$("$py" -c "$probe" 2>/dev/null) || return 1
  [ "$(sed -n 1p <<<"$out")" = "$want" ] || return 1
  sed -n 2p <<<"$out"
}

if dir=$(try_python python3); then echo "$dir"; exit 0; fi

if ! dir=$(try_python "$cache/bin/python"); then
  log "installing torch==$want into $cache (about 5 GB, once per machine)"
  mkdir -p "$(dirname "$cache")"
  python3 -m venv "$cache"
  "$cache/bin/python" -m pip install -q --disable-pip-version-check "torch==$want" >&2
  dir=$(try_python "$cache/bin/python") || { log "torch $want did not import after install"; exit 1; }
fi
if [ ! -e .venv ]; then ln -s "$cache" .venv; fi
echo "$dir"
