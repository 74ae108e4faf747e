#!/usr/bin/env bash
# Build one image from the repository root with BuildKit (make images runs this once per image):
#   tools/images/build.sh <Dockerfile> <tag>
# BASE_IMAGE    base of the image (default: the Dockerfile's own, the pinned official Python image;
#               make base-image builds a stand-in: BASE_IMAGE=stockpipe/base:bookworm-py3.11)
# CA_BUNDLE     the machine's CA bundle, handed to pip as a BuildKit secret (never in a layer)
# HTTP(S)_PROXY / NO_PROXY are passed on as build arguments when set.
set -euo pipefail
cd "$(dirname "$0")/../.."

dockerfile="${1:?usage: tools/images/build.sh <Dockerfile> <tag>}"
tag="${2:?usage: tools/images/build.sh <Dockerfile> <tag>}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
builder="${DOCKER_BUILD:-$(tools/images/buildkit-command)}"

flags=(--progress="${PROGRESS:-plain}")
if [ -n "${BASE_IMAGE:-}" ]; then flags+=(--build-arg "BASE_IMAGE=$BASE_IMAGE"); fi
if [ -s "$CA_BUNDLE" ]; then flags+=(--secret "id=ca_bundle,src=$CA_BUNDLE"); fi
for name in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  if [ -n "${!name:-}" ]; then flags+=(--build-arg "$name"); fi
done

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
start=$SECONDS
# shellcheck disable=SC2086  # the builder is a command line
if ! $builder "${flags[@]}" -f "$dockerfile" -t "$tag" . >"$log" 2>&1; then
  tail -30 "$log" >&2
  echo "make images: building $tag from $dockerfile failed (last lines above)" >&2
  exit 1
fi
cached="$(grep -c ' CACHED$' "$log" || true)"
echo "built $tag from $dockerfile in $((SECONDS - start)) s ($cached steps cached)"
