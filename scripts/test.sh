#!/usr/bin/env bash
# Set up and run the whole test suite (what CI runs). Tests that need a real cgroup-v2
# kernel use this host's when `harness doctor` passes, else a user-mode Linux guest;
# under CI=true they fail rather than skip when neither is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash scripts/setup.sh --test
"$PY" -m ruff check harness tests scripts
"$PY" -m mypy --strict harness
exec "$PY" -m pytest -q -p no:cacheprovider "$@"
