#!/usr/bin/env bash
# A running Docker engine for the docker back end, on a Debian machine without systemd:
# installs Debian's docker.io (and debootstrap, for the local base image) when missing,
# starts dockerd in the background when no engine answers, and waits until it does.
# Says what is wrong and fails when it cannot; it never skips silently.
set -euo pipefail
log=${DOCKERD_LOG:-/var/tmp/autograder-dockerd.log}
if docker info >/dev/null 2>&1; then
    echo "docker engine: running ($(docker version --format '{{.Server.Version}}'))"
    exit 0
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null || {
        echo "docker engine: could not install ${missing[*]} with apt-get" >&2
        exit 1
    }
fi
echo "starting dockerd (log: $log)"
$sudo sh -c "nohup dockerd >'$log' 2>&1 &"
for _ in $(seq 60); do
    if docker info >/dev/null 2>&1; then
        echo "docker engine: running ($(docker version --format '{{.Server.Version}}'))"
        exit 0
    fi
    sleep 1
done
echo "docker engine: dockerd did not answer within 60 s; the end of its log:" >&2
tail -20 "$log" >&2
exit 1
