#!/usr/bin/env bash
# A Debian 12 base image built locally, for machines that cannot pull one:
#   bash scripts/debian_base_image.sh [NAME]      (default intro-dl-base:bookworm)
# debootstrap's minimal variant plus Debian's Python 3.11 and CA certificates, imported
# into the local Docker engine. Does nothing when the image already exists.
set -euo pipefail
name=${1:-intro-dl-base:bookworm}
if docker image inspect "$name" >/dev/null 2>&1; then
    echo "base image $name: already built"
    exit 0
fi
command -v debootstrap >/dev/null || {
    echo "debootstrap is missing: apt-get install debootstrap" >&2
    exit 1
}
root=$(mktemp -d /var/tmp/intro-dl-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
started=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" >"$root.log" 2>&1 || {
    tail -20 "$root.log" >&2
    exit 1
}
rm -f "$root.log"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import --change 'CMD ["/bin/bash"]' - "$name" >/dev/null
echo "base image $name: built in $(($(date +%s) - started)) s," \
    "$(docker image inspect --format '{{.Size}}' "$name" | awk '{printf "%.0f MB", $1/1e6}')"
