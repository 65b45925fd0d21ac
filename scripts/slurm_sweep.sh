#!/usr/bin/env bash
# Run a sweep as a Slurm job array, one shard per array task, from a plan fixed once.
#
#   slurm_sweep.sh submit SUITE OUT_PREFIX --shards N [--seed S] [harness sweep options...]
#       fixes the plan in OUT_PREFIX/plan.json (suite checksum, seed, shards, the sweep's
#       settings, harness), then submits array tasks 1..N of this script; logs in OUT_PREFIX/logs/
#   slurm_sweep.sh resubmit OUT_PREFIX [LIST]
#       submits the shards that did not finish (or LIST, e.g. 2 or 1,3); each resumes
#   harness report OUT_PREFIX/shard-*
#
# SUITE and OUT_PREFIX must be the same paths on every node (a shared filesystem).
# The harness is $HARNESS (an executable, e.g. /opt/venv/bin/harness) or `harness` on
# PATH, resolved once at submission and used by every shard. More sbatch options: sbatch's
# own variables (SBATCH_TIMELIMIT, SBATCH_PARTITION, SBATCH_MEM_PER_CPU, ...).
# HARNESS_BACKEND (default auto) is passed as --backend; inside Slurm's own cgroups the
# harness needs a delegated subtree, else it uses a user-mode Linux guest per shard.
# Array task i runs `harness shard run OUT_PREFIX i`; the seed and the shard count are the
# plan's, whatever the array and job ids. A time limit becomes a clean stop (exit 130,
# resumable) through --signal below; so does `scancel JOB_i`.
#SBATCH --job-name=harness-sweep
#SBATCH --cpus-per-task=1
#SBATCH --signal=B:TERM@120
set -euo pipefail
# Under Slurm $0 is the spooled copy (.../slurm_script); say our own name.
me=$(basename "$0"); [ "$me" = slurm_script ] && me=slurm_sweep.sh

usage() {
  echo "usage: $me submit SUITE OUT_PREFIX --shards N [--seed S] [harness sweep options...]" >&2
  echo "       $me resubmit OUT_PREFIX [SHARD,...]" >&2
  echo "       sbatch --array=1-N $me run OUT_PREFIX     (what submit does)" >&2
  exit 2
}
die() { echo "$me: error: $1" >&2; [ -n "${2:-}" ] && echo "  fix: $2" >&2; exit "${3:-2}"; }

find_harness() {
  local h=${HARNESS:-}
  if [ -z "$h" ]; then
    h=$(command -v harness) ||
      die "no harness: none on PATH and HARNESS is not set" \
          "install it (pip install /path/to/harness) or set HARNESS=/path/to/venv/bin/harness"
  fi
  h=$(command -v "$h") && [ -x "$h" ] ||
    die "HARNESS=${HARNESS:-} is not an executable" "set HARNESS to the harness executable, e.g. /opt/venv/bin/harness"
  "$h" shard --help >/dev/null 2>&1 ||
    die "$h does not run, or is a harness without \`shard\` ($("$h" --version 2>&1 | head -1))" \
        "set HARNESS to a working harness of this version"
  printf '%s\n' "$h"
}

submit_array() {  # submit_array HARNESS PREFIX ARRAY
  local h=$1 prefix=$2 array=$3 self
  self=$(readlink -f "$0")
  command -v sbatch >/dev/null || die "sbatch not found" "run this on a Slurm login node"
  mkdir -p "$prefix/logs"
  sbatch --parsable --array="$array" --output="$prefix/logs/shard-%a-%A.out" \
    --export="ALL,HARNESS=$h" "$self" run "$prefix"
}

cmd=${1:-}; [ $# -gt 0 ] && shift
case $cmd in
  submit)
    [ $# -ge 2 ] || usage
    suite=$1 prefix=$2; shift 2
    case $suite in /*) ;; *) suite=$PWD/$suite ;; esac
    case $prefix in /*) ;; *) prefix=$PWD/$prefix ;; esac
    h=$(find_harness)
    echo "$me: harness: $h ($("$h" --version))" >&2
    "$h" shard prepare "$suite" "$prefix" "$@" >/dev/null
    n=$("$h" shard status "$prefix" | wc -l)
    [ "$n" -ge 1 ] || die "no shards in $prefix/plan.json" "prepare the plan again" 125
    job=$(submit_array "$h" "$prefix" "1-$n")
    echo "$me: submitted job $job: shards 1-$n; logs in $prefix/logs/; then: harness report $prefix/shard-*" >&2
    echo "$job"
    ;;
  resubmit)
    [ $# -ge 1 ] || usage
    prefix=$1
    case $prefix in /*) ;; *) prefix=$PWD/$prefix ;; esac
    h=$(find_harness)
    list=${2:-$("$h" shard status "$prefix" --pending)}
    [ -n "$list" ] || { echo "$me: every shard of $prefix finished; nothing to submit" >&2; exit 0; }
    job=$(submit_array "$h" "$prefix" "$list")
    echo "$me: submitted job $job: shards $list of $prefix" >&2
    echo "$job"
    ;;
  run)
    [ $# -eq 1 ] || usage
    i=${SLURM_ARRAY_TASK_ID:-}
    [ -n "$i" ] || die "run is for Slurm array tasks (no SLURM_ARRAY_TASK_ID)" "$me submit SUITE OUT_PREFIX --shards N ..."
    h=$(find_harness)
    # exec: the batch shell becomes the harness, so --signal=B:TERM reaches it.
    exec "$h" shard run "$1" "$i" --backend "${HARNESS_BACKEND:-auto}"
    ;;
  *) usage ;;
esac
