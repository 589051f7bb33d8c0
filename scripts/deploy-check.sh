#!/usr/bin/env bash
# `make deploy-check` (part of `make test`): the deployment files, offline.
#   1. renders the Kubernetes overlays (deploy/k8s/overlays/{cpu,gpu}) with
#      kubectl's kustomize (Debian's kubernetes-client when no kubectl) and
#      validates them against the Kubernetes schemas with
#      `kubernetes-validate --strict` (PyPI, in a cached venv);
#   2. checks that every TESSERA_* variable and every flag that compose, the
#      manifests and the job script use exists in the binaries' --help (or is
#      one the job script itself reads).
#   scripts/deploy-check.sh [bin dir, default target/debug]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/debug}"
out=target/k8s
log() { echo "deploy-check: $*"; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v kubectl >/dev/null 2>&1; then
  log "installing kubernetes-client (kubectl) with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends kubernetes-client >&2
fi
venv="${XDG_CACHE_HOME:-$HOME/.cache}/tessera/kubernetes-validate"
if ! "$venv/bin/kubernetes-validate" --version >/dev/null 2>&1; then
  log "installing kubernetes-validate into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==1.37.0" >&2
fi
mkdir -p "$out"
for overlay in cpu gpu; do
  kubectl kustomize "deploy/k8s/overlays/$overlay" >"$out/$overlay.yaml" 2>"$out/$overlay.warnings"
  "$venv/bin/kubernetes-validate" --strict --quiet "$out/$overlay.yaml"
  log "overlay $overlay: $(grep -c '^kind:' "$out/$overlay.yaml") objects valid (--strict)"
done

help="$out/help.txt"
: >"$help"
for cmd in "coordinator" "coordinator serve" "coordinator submit" "coordinator watch" "coordinator status" \
  "coordinator graph synth" "coordinator certs" "ps-server" "worker serve" "recommend"; do
  read -r b sub <<<"$cmd"
  [ -x "$bin/$b" ] || { log "$bin/$b is missing (build the binaries first)"; exit 1; }
  # shellcheck disable=SC2086
  LD_LIBRARY_PATH="$(cat .libtorch 2>/dev/null)/lib" "$bin/$b" $sub --help >>"$help"
done
python3 - "$help" "$out/cpu.yaml" "$out/gpu.yaml" deploy/compose.yaml deploy/compose/job.sh <<'PY'
import re, sys
help_text = open(sys.argv[1]).read()
script = open(sys.argv[5]).read()
script_vars = set(re.findall(r"\$\{(TESSERA_[A-Z_]+)", script))
compose_vars = {"TESSERA_TAG", "TESSERA_RECOMMEND_PORT", "TESSERA_WORKER_DEVICE"}  # ${...} of compose itself
missing = []
for path in sys.argv[2:]:
    text = open(path).read()
    names = set(re.findall(r"\b(TESSERA_[A-Z0-9_]+)", text))
    for name in sorted(names):
        if "[env: %s=" % name in help_text or name in script_vars:
            continue
        if path.endswith("compose.yaml") and name in compose_vars and "${%s" % name in text:
            if name != "TESSERA_WORKER_DEVICE" or "[env: TESSERA_WORKER_DEVICE=" in help_text:
                continue
        missing.append("%s: variable %s" % (path, name))
    for flag in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", text))):
        if flag in ("--strict",):
            continue
        if not re.search(r"(^|\s)%s[\s=,]" % re.escape(flag), help_text, re.M):
            missing.append("%s: flag %s" % (path, flag))
if missing:
    sys.exit("deploy-check: not in any binary's --help:\n  " + "\n  ".join(missing))
print("deploy-check: every TESSERA_* variable and flag in compose, the manifests and the job script is in the binaries' --help")
PY
