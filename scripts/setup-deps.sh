#!/usr/bin/env bash
# Installs the system tools the build and tests need when they are missing:
# etcd (Debian's etcd-server), protoc (protobuf-compiler), the protobuf
# well-known types that etcd-client's build compiles against (libprotobuf-dev,
# only a "recommends" of protobuf-compiler, so --no-install-recommends leaves
# it out), gpmetis (metis, used only by the partition benchmark) and a
# TrueType font for the report's plots (fonts-dejavu-core); on a bare
# machine also the C and C++ compilers that the -sys crates and torch-sys's
# C++ shim need (gcc, g++) and Python's venv module (python3-venv), which
# scripts/setup-torch.sh installs torch with. Skips whatever is already
# there; scripts/check-deps.sh then checks the result.
set -euo pipefail
missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/descriptor.proto ] || missing+=(libprotobuf-dev)
command -v gpmetis >/dev/null 2>&1 || missing+=(metis)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || [ -n "${TESSERA_FONT:-}" ] || missing+=(fonts-dejavu-core)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup-deps: installing ${missing[*]} with apt-get" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
