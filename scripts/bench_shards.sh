#!/usr/bin/env bash
# Wall time of one sweep run four ways on this machine: unsharded (one trial at a time,
# and --concurrency 2: one guest per CPU where trials run in UML), as a 2-shard Slurm
# array (scripts/slurm_sweep.sh on the scripts/slurm_cluster.sh test bed), and as 2 direct
# shards at once (harness shard run). Prints one line per way, "way seconds".
#
#   scripts/bench_shards.sh [OUT_DIR]     (default /var/tmp/harness-bench-shards)
#
# The sweep: demo tasks steady, lean-solver, flaky × the six default profiles × 1 repeat
# (18 trials). HARNESS (default: this checkout through python3) runs every way.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-/var/tmp/harness-bench-shards}
rm -rf "$out"; mkdir -p "$out/bin"
py=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
if [ -z "${HARNESS:-}" ]; then
  printf '#!/bin/sh\nPYTHONPATH=%s exec %s -P -m harness "$@"\n' "$root" "$py" >"$out/bin/harness"
  chmod +x "$out/bin/harness"
  HARNESS=$out/bin/harness
fi
export HARNESS
suite=$root/harness/demo_suite
opts=(--repeats 1 --tasks steady,lean-solver,flaky --seed 3)
now() { date +%s.%N; }
took() { python3 -c "print(f'{$2 - $1:.1f}')"; }

t0=$(now)
"$HARNESS" sweep "$suite" --out "$out/unsharded" "${opts[@]}" >/dev/null 2>"$out/unsharded.log"
echo "unsharded $(took "$t0" "$(now)")"

t0=$(now)
"$HARNESS" sweep "$suite" --out "$out/concurrency-2" --concurrency 2 "${opts[@]}" >/dev/null 2>"$out/concurrency-2.log"
echo "unsharded-concurrency-2 $(took "$t0" "$(now)")"

bash scripts/slurm_cluster.sh start 2>/dev/null
eval "$(bash scripts/slurm_cluster.sh env)"
t0=$(now)
job=$(scripts/slurm_sweep.sh submit "$suite" "$out/array" --shards 2 "${opts[@]}" 2>/dev/null)
while [ -n "$(squeue -h -j "$job")" ]; do sleep 0.2; done
echo "slurm-array-2 $(took "$t0" "$(now)")"
[ "$("$HARNESS" shard status "$out/array" --pending)" = "" ] || echo "array: shards unfinished, see $out/array/logs" >&2

"$HARNESS" shard prepare "$suite" "$out/direct" --shards 2 "${opts[@]}" >/dev/null 2>&1
t0=$(now)
"$HARNESS" shard run "$out/direct" 1 >/dev/null 2>"$out/direct-1.log" &
p1=$!
"$HARNESS" shard run "$out/direct" 2 >/dev/null 2>"$out/direct-2.log" &
p2=$!
wait "$p1" "$p2"
echo "direct-2-shards $(took "$t0" "$(now)")"
