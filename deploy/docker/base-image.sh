#!/usr/bin/env bash
# Makes sure the base image of Tessera's images exists in the local Docker
# engine: BASE_IMAGE (default debian:bookworm-slim, the usual public one).
# It is used when present, pulled when a registry answers, and otherwise
# built here: debootstrap of a minimal Debian bookworm from the Debian package
# archive, then `docker import` under the same name. No registry is needed.
set -euo pipefail
image="${BASE_IMAGE:-debian:bookworm-slim}"
suite="${BASE_SUITE:-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
log() { echo "base-image: $*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1; then
  log "$image is present"; exit 0
fi
if timeout 60 docker pull -q "$image" >/dev/null 2>&1; then
  log "pulled $image"; exit 0
fi
log "$image is missing and cannot be pulled: building it with debootstrap ($suite from $mirror)"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v debootstrap >/dev/null 2>&1; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends debootstrap >&2
fi
root=$(mktemp -d)
trap '$sudo rm -rf "$root"' EXIT
$sudo debootstrap --variant=minbase "$suite" "$root" "$mirror" >&2
# The same sources as the public image: the suite, its updates and security.
$sudo tee "$root/etc/apt/sources.list" >/dev/null <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
SOURCES
# Like the public slim image: no documentation, no apt lists, no caches.
$sudo tee "$root/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
$sudo rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/locale/*
$sudo tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$image" >/dev/null
log "built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
