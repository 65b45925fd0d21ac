#!/usr/bin/env bash
# A real single-node Slurm on this machine's loopback, for tests and trying things out.
#
#   scripts/slurm_cluster.sh start   # install slurm-wlm and munge if missing, start the daemons
#   scripts/slurm_cluster.sh env     # the variables client commands need: eval "$(... env)"
#   scripts/slurm_cluster.sh stop    # stop the daemons (by their PID files)
#
# Everything (config, state, spool, logs, PID files, munge socket) lives in one private
# directory, $HARNESS_SLURM_DIR (default /var/tmp/harness-slurm); the system's munge and
# Slurm configuration are not touched. Needs root (Slurm runs jobs as their user).
# The node is "localhost" with this machine's real CPUs and memory (`slurmd -C`); memory
# is a consumable resource, so jobs get SLURM_MEM_PER_CPU or SLURM_MEM_PER_NODE.
set -euo pipefail
me=$(basename "$0")
dir=${HARNESS_SLURM_DIR:-/var/tmp/harness-slurm}
ctld_port=${HARNESS_SLURM_PORT:-6817}
conf=$dir/slurm.conf
# HARNESS_SLURM_CGROUP=v2: Slurm's cgroup v2 plugins (task/cgroup, proctrack/cgroup; needs a
# pure cgroup-v2 kernel, e.g. a user-mode Linux guest); default: linuxproc, task/none.
cgroup=${HARNESS_SLURM_CGROUP:-none}

die() { echo "$me: error: $*" >&2; exit 1; }

install_packages() {
  local missing=()
  command -v munged >/dev/null || missing+=(munge)
  for c in slurmctld slurmd sbatch; do command -v "$c" >/dev/null || { missing+=(slurm-wlm); break; }; done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "${missing[*]} missing; install as root: apt-get install slurm-wlm munge"
  echo "$me: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slurm-wlm munge >&2 \
    || { apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 &&
         apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slurm-wlm munge >&2; }
}

running() {  # running NAME: the daemon's PID file names a live process
  local pid
  [ -s "$dir/$1.pid" ] || return 1
  pid=$(cat "$dir/$1.pid")
  kill -0 "$pid" 2>/dev/null
}

write_conf() {
  local node plugins="ProctrackType=proctrack/linuxproc
TaskPlugin=task/none"
  if [ "$cgroup" = v2 ]; then
    plugins="ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup"
    # Slurm's own cgroup v2 support; without systemd as PID 1 it makes its scope itself.
    cat >"$dir/cgroup.conf" <<EOF
CgroupPlugin=cgroup/v2
IgnoreSystemd=yes
ConstrainRAMSpace=yes
ConstrainSwapSpace=yes
ConstrainCores=no
EOF
  fi
  # e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
  node=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]*//')
  [ -n "$node" ] || die "slurmd -C printed no node description"
  cat >"$conf" <<EOF
# Written by $me: a single node on loopback. See slurm.conf(5).
ClusterName=harness
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$((ctld_port + 1))
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
$plugins
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=3600
KillWait=10
NodeName=localhost $node State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  install_packages
  mkdir -p "$dir/state" "$dir/spool"
  chmod 700 "$dir"
  if ! running munged; then
    # The package's key; the daemon runs as root here, so take a copy it may own.
    install -m 400 /etc/munge/munge.key "$dir/munge.key"
    munged --force --socket="$dir/munge.socket" --key-file="$dir/munge.key" --pid-file="$dir/munged.pid" \
      --log-file="$dir/munged.log" --seed-file="$dir/munged.seed"
  fi
  running slurmctld && running slurmd && { ready && return 0; }
  write_conf
  if [ "$cgroup" = v2 ] && [ ! -d /sys/fs/cgroup/system.slice ]; then
    # Without systemd nobody made the slice that Slurm's scope goes in; make it, with the
    # controllers Slurm hands on to jobs.
    mkdir /sys/fs/cgroup/system.slice
    echo "+cpu +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control
    echo "+cpu +memory +pids" >/sys/fs/cgroup/system.slice/cgroup.subtree_control
  fi
  running slurmctld || slurmctld -f "$conf"
  # The hostname need not resolve to the node's name: say which node we are.
  running slurmd || slurmd -f "$conf" -N localhost
  local i
  for i in $(seq 1 150); do
    ready && { echo "$me: cluster up in $dir (SLURM_CONF=$conf)" >&2; return 0; }
    sleep 0.2
  done
  tail -5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
  die "the node did not come up within 30 s (logs above, in $dir)"
}

ready() {
  SLURM_CONF=$conf sinfo -h -N -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'
}

stop() {
  local name pid i
  for name in slurmd slurmctld munged; do
    [ -s "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$dir/$name.pid"
  done
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *) echo "usage: $me start|stop|env" >&2; exit 2 ;;
esac
