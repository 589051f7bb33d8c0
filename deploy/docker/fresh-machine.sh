#!/usr/bin/env bash
# The fresh-machine check: proves that the set-up scripts install everything
# a clean Debian needs. It makes a builder image from the bare base (the one
# deploy/docker/base-image.sh provides: debootstrap's minimal bookworm when
# no registry answers) with only python3 added, the README's premise of a
# "fresh Debian machine with Rust and python3". In a container of it, with
# the host's Rust toolchain mounted read-only and a copy of the working tree,
# it runs scripts/setup-deps.sh, scripts/check-deps.sh, scripts/setup-torch.sh
# and the release build. The log goes to target/fresh-machine.log.
#   deploy/docker/fresh-machine.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
base="${BASE_IMAGE:-debian:bookworm-slim}"
BASE_IMAGE="$base" deploy/docker/base-image.sh
toolchain=$(rustc --print sysroot)
log=target/fresh-machine.log
mkdir -p target
DOCKER_BUILDKIT=0 docker build -q -t tessera/fresh-builder:dev --build-arg "BASE=$base" - >/dev/null 2>&1 <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
DOCKERFILE
started=$(date +%s)
# The tree is copied in (tracked and untracked, not ignored files), so the
# container builds what a clone would hold and writes nothing back.
git ls-files -co --exclude-standard -z | tar --null -T - -cf target/fresh-tree.tar
set +e
docker run --rm -v "$PWD/target/fresh-tree.tar:/tree.tar:ro" -v "$toolchain:/opt/rust:ro" \
  -e PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  -e CARGO_HOME=/root/.cargo -e CARGO_INCREMENTAL=0 tessera/fresh-builder:dev bash -euo pipefail -c '
    mkdir /src && tar -xf /tree.tar -C /src && cd /src
    echo "== fresh machine: $(. /etc/os-release; echo $PRETTY_NAME), $(rustc --version), $(python3 --version)"
    for tool in etcd protoc gpmetis cc c++; do command -v $tool >/dev/null && echo "   $tool: present" || echo "   $tool: missing"; done
    echo "== scripts/setup-deps.sh"; scripts/setup-deps.sh
    echo "== scripts/check-deps.sh"; scripts/check-deps.sh
    echo "== scripts/setup-torch.sh"; export LIBTORCH=$(env -u LIBTORCH scripts/setup-torch.sh); echo "   LIBTORCH=$LIBTORCH"
    echo "== cargo build --workspace --release --bins"; cargo build --workspace --release --bins 2>&1 | tail -3
    echo "== worker --version"; target/release/worker --version
    echo "== fresh machine: OK"' >"$log" 2>&1
rc=$?
set -e
rm -f target/fresh-tree.tar
echo "fresh-machine: exit $rc after $(( $(date +%s) - started )) s; log: $log" >&2
grep -E '^(==|   )' "$log" >&2 || true
exit $rc
