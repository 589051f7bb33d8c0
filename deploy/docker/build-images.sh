#!/usr/bin/env bash
# Builds Tessera's images from the release binaries without a registry:
# the base (pulled, or built with debootstrap), the staged context, then one
# image per Dockerfile target, tagged tessera/<name>:$TAG (default dev).
# Prints each image's size.
#   deploy/docker/build-images.sh      (after make release)
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${TAG:-dev}"
base="${BASE_IMAGE:-debian:bookworm-slim}"
BASE_IMAGE="$base" deploy/docker/base-image.sh
deploy/docker/stage.sh
for target in etcd coordinator ps-server worker recommend; do
  echo "images: building tessera/$target:$tag" >&2
  log=$(mktemp)
  if ! DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$base" --target "$target" -t "tessera/$target:$tag" \
    target/docker >/dev/null 2>"$log"; then
    cat "$log" >&2; rm -f "$log"; exit 1
  fi
  rm -f "$log"
done
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep "^tessera/" | sort | sed 's/^/images: /'
