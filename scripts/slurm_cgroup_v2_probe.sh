#!/usr/bin/env bash
# Slurm's own cgroup v2 support, tried on a pure cgroup-v2 kernel: a user-mode Linux guest.
#
#   HARNESS_UML_NETWORK=slirp harness vm --mem 1500M -- bash scripts/slurm_cgroup_v2_probe.sh
#
# Inside the guest: a single-node Slurm with TaskPlugin=task/cgroup,
# ProctrackType=proctrack/cgroup, CgroupPlugin=cgroup/v2, IgnoreSystemd=yes
# (scripts/slurm_cluster.sh with HARNESS_SLURM_CGROUP=v2), then a job with --mem=300M that
# prints its cgroup, that cgroup's memory.max, and `harness doctor` run inside it.
# slirp gives the guest a non-loopback IPv4 address: without one, Slurm cannot resolve
# "localhost" (getaddrinfo with AI_ADDRCONFIG) and no job starts.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export HARNESS_SLURM_DIR=${HARNESS_SLURM_DIR:-/var/tmp/harness-slurm-cgroup-v2} HARNESS_SLURM_CGROUP=v2
export PYTHONPATH=${PYTHONPATH:-$(dirname "$here")}
[ -r /sys/fs/cgroup/cgroup.controllers ] || { echo "not a cgroup-v2 kernel: run me in harness vm" >&2; exit 2; }
rm -rf "$HARNESS_SLURM_DIR"
hostname localhost
grep -q '^cpuset' /proc/cgroups || echo "probe: this kernel has no cpuset controller (Slurm logs 'Controller cpuset is not enabled!')"
bash "$here/slurm_cluster.sh" start || exit 1
eval "$(bash "$here/slurm_cluster.sh" env)"
timeout 300 srun --mem=300M sh -c 'cg=$(cut -d: -f3 /proc/self/cgroup); echo "probe: job cgroup $cg";
  echo "probe: its controllers $(cat /sys/fs/cgroup$cg/cgroup.controllers)";
  d=/sys/fs/cgroup$cg; while [ "$d" != /sys/fs/cgroup ]; do
    echo "probe: memory.max $(cat $d/memory.max) in ${d#/sys/fs/cgroup}"; d=$(dirname "$d"); done'
timeout 300 srun --mem=400M python3 -m harness doctor
echo "probe: harness doctor in the job exited $?"
grep -h "cgroup\|cpuset" "$HARNESS_SLURM_DIR/slurmd.log" | sort -u | tail -5
bash "$here/slurm_cluster.sh" stop
