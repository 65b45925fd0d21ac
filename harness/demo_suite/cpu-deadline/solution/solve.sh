#!/bin/bash
# The oracle: runs the shared demo workload (see ../../README.md) in the working directory.
set -eu
TASK_DIR="${HARNESS_TASK_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "${HARNESS_WORKDIR:-$PWD}"
exec "${HARNESS_PYTHON:-python3}" "$TASK_DIR/../_workloads/work.py" deadline 0.7 2.0
