#!/usr/bin/env bash
# Start (or stop) throwaway Docker engines for tier's end-to-end tests, on a
# machine without a running engine: each with its own socket, data root and
# exec root, no bridge and no iptables, so containers use --network host.
#
#   scripts/docker-engines.sh start [N]   start N engines (default 2), print their hosts
#   scripts/docker-engines.sh stop        stop them and remove their state
#
# Each engine has its own containerd namespaces, so that even when they share
# a system containerd (installing docker.io on systemd starts one) their
# containers stay apart. Hosts are unix:///tmp/tier-docker/engine<i>/docker.sock. Engine 1 is also a
# single-node Swarm manager (advertised on 127.0.0.1). TIER_DOCKER_HOSTS is
# printed as a comma-separated list for the tests.
set -euo pipefail
root=${TIER_DOCKER_ROOT:-/tmp/tier-docker}
cmd=${1:-start}
n=${2:-2}

install() {
  local pkgs=()
  command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
  command -v pgrep >/dev/null 2>&1 || pkgs+=(procps)
  if [ ${#pkgs[@]} -gt 0 ]; then
    echo "installing ${pkgs[*]}..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    apt-get install -y -qq "${pkgs[@]}" >&2
  fi
}

start_one() {
  local i=$1 dir="$root/engine$1"
  local sock="$dir/docker.sock"
  mkdir -p "$dir"
  if [ -S "$sock" ] && DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1; then
    return 0
  fi
  dockerd \
    --host "unix://$sock" \
    --data-root "$dir/data" \
    --exec-root "$dir/exec" \
    --pidfile "$dir/docker.pid" \
    --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    --storage-driver=vfs \
    --containerd-namespace "tier-engine$i" \
    --containerd-plugins-namespace "tier-engine$i-plugins" \
    >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do
    if DOCKER_HOST="unix://$sock" docker version >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  echo "engine $i did not start; its log:" >&2
  tail -30 "$dir/dockerd.log" >&2
  return 1
}

case "$cmd" in
start)
  install
  hosts=()
  for i in $(seq 1 "$n"); do
    start_one "$i"
    hosts+=("unix://$root/engine$i/docker.sock")
  done
  # Engine 1 runs Swarm too.
  if [ "$(DOCKER_HOST=${hosts[0]} docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
    DOCKER_HOST=${hosts[0]} docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  fi
  (IFS=,; echo "TIER_DOCKER_HOSTS=${hosts[*]}")
  ;;
stop)
  for pidfile in "$root"/engine*/docker.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  for _ in $(seq 1 20); do
    pgrep -f "dockerd --host unix://$root" >/dev/null || break
    sleep 0.5
  done
  pkill -9 -f "dockerd --host unix://$root" 2>/dev/null || true
  # The engines leave mounts (network namespaces, overlay of vfs) under root.
  grep -o " $root[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$root" 2>/dev/null || echo "some of $root could not be removed" >&2
  ;;
*)
  echo "usage: $0 start [N] | stop" >&2
  exit 2
  ;;
esac
