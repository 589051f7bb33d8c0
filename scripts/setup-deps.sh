#!/usr/bin/env bash
# Installs the system tools the build and tests need when they are missing:
# etcd (Debian's etcd-server), protoc (protobuf-compiler), gpmetis (metis,
# used only by the partition benchmark) and a TrueType font for the report's
# plots (fonts-dejavu-core). Skips whatever is already there.
set -euo pipefail
missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
command -v gpmetis >/dev/null 2>&1 || missing+=(metis)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || [ -n "${TESSERA_FONT:-}" ] || missing+=(fonts-dejavu-core)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup-deps: installing ${missing[*]} with apt-get" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
