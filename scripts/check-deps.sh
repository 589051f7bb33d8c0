#!/usr/bin/env bash
# Checks that everything the build and tests need is present, and names each
# missing piece with the package that provides it. Exit 1 when any is
# missing. `scripts/setup-deps.sh` installs them; `.ci/run` calls this after
# it, so a CI run fails here in seconds instead of deep inside a build script.
set -uo pipefail
missing=0
need() { # need <what> <package> <test...>
  local what="$1" pkg="$2"; shift 2
  if ! "$@" >/dev/null 2>&1; then
    echo "check-deps: missing $what (Debian/Ubuntu package: $pkg)" >&2
    missing=1
  fi
}
need "cargo (the Rust toolchain)" "rustup" command -v cargo
need "a C compiler for -sys crates" "gcc" command -v cc
need "python3 (installs torch)" "python3" command -v python3
need "etcd (tests run a real one)" "etcd-server" command -v etcd
need "protoc (etcd-client's build)" "protobuf-compiler" command -v protoc
need "the protobuf well-known .proto files (google/protobuf/descriptor.proto)" "libprotobuf-dev" \
  test -f /usr/include/google/protobuf/descriptor.proto
need "a TrueType font for the report's plots" "fonts-dejavu-core" \
  bash -c '[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || [ -n "${TESSERA_FONT:-}" ]'
exit "$missing"
