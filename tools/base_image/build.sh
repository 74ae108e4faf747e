#!/usr/bin/env bash
# make base-image: a local equivalent of python:3.11-slim-bookworm built from Debian packages only,
# for machines that reach a Debian mirror and PyPI but not Docker Hub (air-gapped sites, CI here).
#   tools/base_image/build.sh <tag>
# Two steps, each skipped when its image already exists (delete the image to rebuild it):
#   1. debootstrap --variant=minbase bookworm into a temporary folder, `docker import` it as
#      $ROOTFS_IMAGE (about a minute from a nearby mirror);
#   2. tools/base_image/Dockerfile on that rootfs: Debian's python3.11 in a virtualenv at /usr/local,
#      where the official image keeps its Python, so `python3` and `pip` resolve the same way.
# The machine's CA bundle ($CA_BUNDLE) reaches the build as a BuildKit secret: pip uses it behind a
# TLS-intercepting proxy, and it is never written into a layer.
set -euo pipefail
cd "$(dirname "$0")/../.."

tag="${1:?usage: tools/base_image/build.sh <tag>}"
ROOTFS_IMAGE="${ROOTFS_IMAGE:-stockpipe/debian-minbase:bookworm}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
DOCKER_BUILD="${DOCKER_BUILD:-$(tools/images/buildkit-command)}"

if docker image inspect "$tag" >/dev/null 2>&1 && [ "${REBUILD:-0}" != 1 ]; then
  echo "base image $tag exists (REBUILD=1 to build it again)"
  exit 0
fi

if ! docker image inspect "$ROOTFS_IMAGE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "make base-image: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }
  [ "$(id -u)" = 0 ] || { echo "make base-image: debootstrap needs root (run as root, or with sudo)" >&2; exit 1; }
  rootfs="$(mktemp -d /tmp/stockpipe-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  echo "debootstrap --variant=minbase bookworm $rootfs $DEBIAN_MIRROR"
  debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log" >&2; echo "make base-image: debootstrap failed (log above)" >&2; exit 1; }
  rm -f "$rootfs.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  echo "docker import -> $ROOTFS_IMAGE"
  tar -C "$rootfs" -c . | docker import - "$ROOTFS_IMAGE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

secret=()
if [ -s "$CA_BUNDLE" ]; then
  secret=(--secret "id=ca_bundle,src=$CA_BUNDLE")
fi
proxies=()
for name in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  if [ -n "${!name:-}" ]; then proxies+=(--build-arg "$name"); fi
done
# shellcheck disable=SC2086  # DOCKER_BUILD is a command line
$DOCKER_BUILD --progress=plain "${secret[@]}" "${proxies[@]}" \
  --build-arg "ROOTFS_IMAGE=$ROOTFS_IMAGE" --build-arg "DEBIAN_MIRROR=$DEBIAN_MIRROR" \
  -t "$tag" -f tools/base_image/Dockerfile tools/base_image
docker image inspect "$tag" --format "base image $tag: {{.Size}} bytes"
