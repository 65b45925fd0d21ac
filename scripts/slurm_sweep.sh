#!/usr/bin/env bash
# Run a sweep as a Slurm job array, one shard per array task:
#
#   sbatch --array=1-4 --cpus-per-task=2 --mem=16G scripts/slurm_sweep.sh SUITE OUT_PREFIX [sweep options...]
#
# Array task i of N runs shard i/N into OUT_PREFIX/shard-i; all shards share one seed
# (--seed if given among the options, else the array job's id), so together they cover
# the plan exactly once. Resubmitting a task whose shard was cut short resumes it; one whose
# shard finished does nothing.
# Then: harness report OUT_PREFIX/shard-*
# Inside Slurm's own cgroups the harness needs a delegated subtree or --backend uml;
# HARNESS_BACKEND (default auto) is passed as --backend.
#SBATCH --job-name=harness-sweep
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 SUITE OUT_PREFIX [harness sweep options...]" >&2; exit 2; }
suite=$1 prefix=$2
shift 2
i=${SLURM_ARRAY_TASK_ID:?run me with sbatch --array=1-N}
n=${SLURM_ARRAY_TASK_COUNT:?run me with sbatch --array=1-N}
PY=${PYTHON:-python3}
out="$prefix/shard-$i"
backend=(--backend "${HARNESS_BACKEND:-auto}")
if [ -f "$out/manifest.json" ]; then
  if ! grep -q '"finished_at": null' "$out/manifest.json"; then
    echo "harness: $out is finished; nothing to resume" >&2  # `sweep --resume` refuses it
    echo "$out"
    exit 0
  fi
  exec "$PY" -m harness sweep --resume "$out" "${backend[@]}"
fi
seed=()
case " $* " in *" --seed "*) ;; *) seed=(--seed "${SLURM_ARRAY_JOB_ID:?}") ;; esac
exec "$PY" -m harness sweep "$suite" --out "$out" --shard "$i/$n" "${seed[@]}" "${backend[@]}" "$@"
