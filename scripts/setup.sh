#!/usr/bin/env bash
# Install what the harness needs on a fresh machine: the package itself (with its test
# extras when asked) and, where this host has no usable cgroup v2, user-mode Linux.
# Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

if ! command -v linux.uml >/dev/null 2>&1 && [ ! -x /usr/bin/linux.uml ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing user-mode-linux (a real cgroup-v2 kernel for hybrid hosts)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq user-mode-linux >&2
  else
    echo "setup: linux.uml not found; on a hybrid-cgroup host install it: apt-get install user-mode-linux" >&2
  fi
fi
echo "setup: installing the harness${extras:+ with $extras}" >&2
"$PY" -m pip install -q --disable-pip-version-check -e ".${extras}" >&2
