#!/usr/bin/env bash
# Set up and run the built-in demo sweep (six profiles, the demo suite), then its report.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash scripts/setup.sh
exec "$PY" -m harness demo "$@"
