#!/usr/bin/env bash
# Install what the harness needs on a fresh machine: the package itself (with its test
# extras when asked), where this host has no usable cgroup v2, user-mode Linux, and with
# --test or --podman what container trials need (podman, crun, conmon; mmdebstrap, kmod
# and e2fsprogs to build the offline base image and the UML guest's podman store).
# With --test also what the multi-machine tests run: sshd and GNU parallel (the ssh
# recipe) and slirp (the guests' network); Slurm itself comes with scripts/slurm_cluster.sh.
# Usage: scripts/setup.sh [--test] [--podman]   (idempotent: installs only what is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras=""
podman=""
tests=""
for arg in "$@"; do
  case "$arg" in
    --test) extras="[test]"; podman=1; tests=1 ;;
    --podman) podman=1 ;;
    *) echo "setup: unknown option $arg (use --test, --podman)" >&2; exit 2 ;;
  esac
done

apt_updated=""
apt_install() {  # apt_install PACKAGE... : as root through apt-get, else say what to run
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing $*" >&2
    [ -n "$apt_updated" ] || { apt-get update -qq >&2; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
  else
    echo "setup: missing $*; install them: apt-get install $*" >&2
  fi
}

if [ -n "$podman" ]; then
  # command -> Debian package, for what container trials and their tests need
  want=""
  # podman with what it was tested with here (its CNI plugins, an init, fuse-overlayfs)
  pairs="podman:podman,containernetworking-plugins,catatonit,uidmap,fuse-overlayfs crun:crun conmon:conmon mmdebstrap:mmdebstrap insmod:kmod mkfs.ext4:e2fsprogs"
  [ -z "$tests" ] || pairs="$pairs sshd:openssh-server parallel:parallel slirp:slirp"
  for pair in $pairs; do
    cmd=${pair%%:*}; pkg=${pair#*:}; pkg=${pkg//,/ }
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/usr/bin/$cmd" ] || want="$want $pkg"
  done
  # shellcheck disable=SC2086
  [ -z "$want" ] || apt_install $want
fi

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
if [ -n "$podman" ]; then
  # The offline base image and the UML guests' podman store, built once per machine
  # (about 1 + 2 minutes) and cached under /var/tmp/harness-podman.
  "$PY" -m harness.environments.uml_store >&2 || echo "setup: the podman test store could not be built (see above)" >&2
fi
