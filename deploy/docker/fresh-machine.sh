#!/usr/bin/env bash
# The fresh-machine check (`make fresh-check`): proves that the set-up
# installs everything a clean Debian needs, so that a package this machine
# happens to have cannot hide a missing install step (as it once hid
# libprotobuf-dev).
#
# It makes a builder image from the bare base (deploy/docker/base-image.sh:
# debootstrap's minimal bookworm when no registry answers) with only what the
# README takes for granted added: python3, make, and the CA certificates that
# installing Rust with rustup needed (with the site's own, below). In a container of it, with the host's
# Rust toolchain mounted read-only at /opt/rust and a copy of the tree (what a
# clone holds: tracked and untracked files that git does not ignore), it runs
# `make release`, which runs scripts/setup-deps.sh, scripts/setup-torch.sh
# (torch 2.11.0 from PyPI into the container's own cache) and the release
# build, then scripts/check-deps.sh and the binaries' --version. Nothing is
# written back except the log, target/fresh-machine.log.
#   deploy/docker/fresh-machine.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
base="${BASE_IMAGE:-debian:bookworm-slim}"
BASE_IMAGE="$base" deploy/docker/base-image.sh
toolchain=$(rustc --print sysroot)
log=target/fresh-machine.log
mkdir -p target
# The site's own CA certificates (/usr/local/share/ca-certificates: a proxy
# that inspects TLS, as here) come along: they belong to the network, not to
# what the project installs, and without them neither pip nor cargo reaches
# its registry.
context=$(mktemp -d)
tree=$(mktemp --suffix=.tar)
trap 'rm -rf "$context" "$tree"' EXIT
mkdir "$context/certs"
cp /usr/local/share/ca-certificates/*.crt "$context/certs/" 2>/dev/null || true
cat >"$context/Dockerfile" <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 make ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null
DOCKERFILE
DOCKER_BUILDKIT=0 docker build -q -t tessera/fresh-builder:dev --build-arg "BASE=$base" "$context" >/dev/null
started=$(date +%s)
git ls-files -co --exclude-standard -z | tar --null -T - -cf "$tree"
set +e
docker run --rm -v "$tree:/tree.tar:ro" -v "$toolchain:/opt/rust:ro" \
  -e PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  -e CARGO_HOME=/root/.cargo -e CARGO_TERM_PROGRESS_WHEN=never \
  tessera/fresh-builder:dev bash -euo pipefail -c '
    mkdir /src && tar -xf /tree.tar -C /src && cd /src
    echo "== fresh machine: $(. /etc/os-release; echo "$PRETTY_NAME"), $(rustc --version), $(python3 --version), $(dpkg-query -f . -W | wc -c) packages"
    for tool in etcd protoc gpmetis cc c++ git; do
      if command -v $tool >/dev/null; then echo "   $tool: present"; else echo "   $tool: missing"; fi
    done
    echo "   descriptor.proto: $([ -f /usr/include/google/protobuf/descriptor.proto ] && echo present || echo missing)"
    t0=$(date +%s)
    echo "== make release"
    make release 2>&1 | grep -v "^\s*\(Compiling\|Downloaded\|Downloading\)"
    echo "   make release took $(( $(date +%s) - t0 )) s"
    echo "== scripts/check-deps.sh"; scripts/check-deps.sh && echo "   all present"
    echo "== the binaries"
    export LD_LIBRARY_PATH="$(cat .libtorch)/lib"
    for bin in coordinator worker ps-server recommend; do echo "   $(target/release/$bin --version)"; done
    echo "== fresh machine: OK"' >"$log" 2>&1
rc=$?
set -e
echo "fresh-machine: exit $rc after $(( $(date +%s) - started )) s; log: $log" >&2
grep -E '^(==|   |setup-|libtorch)' "$log" >&2 || true
exit $rc
