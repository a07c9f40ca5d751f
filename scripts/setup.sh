#!/usr/bin/env bash
# One-time set-up on a fresh machine: system packages, then a virtual environment
# with the pinned grading stack and this package. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# bubblewrap: the grading sandbox; chromium: the browser tests; acl: private
# feedback files in the JupyterHub deployment's exchange; postgresql: a gradebook on
# a database server, which the tests run against a throwaway server of their own.
system_packages=(bubblewrap chromium acl postgresql)
missing=()
for package in "${system_packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch is pinned to the CPU build in pyproject.toml; a grading machine with a GPU
# installs the CUDA build of the same version instead (see autograder/container/).
.venv/bin/python -m pip install --quiet -e ".[dev,hub,term]"
# configurable-http-proxy for deploy/, exactly as locked; it needs Node.js 20 or newer.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -ge 20 ] && command -v npm >/dev/null; then
    if [ ! -x deploy/proxy/node_modules/.bin/configurable-http-proxy ]; then
        npm ci --prefix deploy/proxy --no-audit --no-fund --silent
    fi
else
    echo "no Node.js 20 or newer with npm: the JupyterHub deployment and its test" \
        "need it (deploy/README.md); everything else is set up" >&2
fi
touch .venv/.installed
echo "set-up done: $(.venv/bin/python --version), $(.venv/bin/autograder --help | head -1)"
