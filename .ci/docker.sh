# Sourced by .ci/run (and by the test of this file, tests/builder/ci_docker_test.cpp): a
# Docker engine of our own for the interop tests. Its socket, data and state live under a
# temp dir, with no bridge and no iptables rules, so the host's engine
# (/var/run/docker.sock), network and /var/lib/docker are never touched. dockerd starts its
# own containerd (its socket under --exec-root) and stops it when it stops.
#
#   start_private_dockerd [PARENT]
#                              makes $docker_dir (in PARENT, default /tmp; bench/sxs.sh
#                              puts it beside its stores), exports DOCKER_HOST (even when
#                              dockerd fails, so no test can reach another engine) and, when dockerd
#                              does not come up, HOIST_DOCKER_ERROR with the end of its log
#   stop_private_dockerd       stops it and its containerd, unmounts whatever is mounted
#                              under $docker_dir (dockerd bind-mounts its data root on itself
#                              before it checks cgroups, and leaves that mount when it fails),
#                              then removes $docker_dir; never deletes through a mount
#
# HOIST_DOCKER_WAIT (seconds, default 60) bounds the wait for `docker version`.

docker_dir=""
dockerd_pid=""

# Every mount point at or beneath $1, deepest first (/proc/self/mounts escapes spaces; the
# temp dir has none).
mounts_under() {
  awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

start_private_dockerd() {
  docker_dir=$(mktemp -d "${1:-/tmp}/hoist-ci-docker-XXXXXX") || return 1
  export DOCKER_HOST="unix://$docker_dir/docker.sock"
  if ! command -v dockerd >/dev/null; then
    export HOIST_DOCKER_ERROR="dockerd not installed (Debian package docker.io)"
    return 0
  fi
  dockerd --bridge=none --iptables=false --ip6tables=false --host "$DOCKER_HOST" \
    --data-root "$docker_dir/data" --exec-root "$docker_dir/exec" \
    --pidfile "$docker_dir/dockerd.pid" >"$docker_dir/dockerd.log" 2>&1 </dev/null &
  dockerd_pid=$!
  local up="" _
  for _ in $(seq 1 "${HOIST_DOCKER_WAIT:-60}"); do
    kill -0 "$dockerd_pid" 2>/dev/null || break
    if docker version >/dev/null 2>&1; then up=1; break; fi
    sleep 1
  done
  if [[ -z "$up" ]]; then
    export HOIST_DOCKER_ERROR="dockerd did not start: $(tail -n 3 "$docker_dir/dockerd.log" | tr '\n' ' ')"
    echo "$HOIST_DOCKER_ERROR" >&2
  fi
}

stop_private_dockerd() {
  [[ -n "$docker_dir" && -d "$docker_dir" ]] || return 0
  if [[ -n "$dockerd_pid" ]] && kill -0 "$dockerd_pid" 2>/dev/null; then
    kill -TERM "$dockerd_pid"
    for _ in $(seq 1 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$dockerd_pid" 2>/dev/null && kill -KILL "$dockerd_pid"
  fi
  [[ -n "$dockerd_pid" ]] && wait "$dockerd_pid" 2>/dev/null
  # Its containerd, should dockerd have died without stopping it.
  local cpid m _
  cpid=$(cat "$docker_dir/exec/containerd/containerd.pid" 2>/dev/null)
  if [[ -n "$cpid" ]] && kill -0 "$cpid" 2>/dev/null; then
    kill -TERM "$cpid"
    for _ in $(seq 1 20); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.5; done
  fi
  # What dockerd left mounted (its data root bound on itself, overlay and shm mounts of a
  # container): unmounted deepest first; a stacked mount needs another round; a busy one
  # is detached (lazy), which is enough to delete what is beneath.
  for _ in 1 2 3 4 5 6 7 8; do
    mapfile -t left < <(mounts_under "$docker_dir")
    [[ ${#left[@]} -eq 0 ]] && break
    for m in "${left[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  done
  if [[ -n "$(mounts_under "$docker_dir")" ]]; then
    echo "could not unmount under $docker_dir; not removing it:" $(mounts_under "$docker_dir") >&2
    return 1
  fi
  rm -rf "$docker_dir"
}
