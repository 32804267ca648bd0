# shellcheck shell=bash
# What bench/run.sh and bench/sxs.sh share: finding (or building) the hoist binary, timing
# a command with its peak RSS, medians, the busybox tar, and docker-registry on 127.0.0.1.
# Sourced, never run. The caller sets `repo` (the checkout) before sourcing, and `work`
# (its work directory, with a logs/ subdirectory) before calling what uses it.

# ---- the hoist binary ---------------------------------------------------------------------
# find_hoist SCRIPT_NAME: sets `hoist` (absolute path) and `build_note`. HOIST_BIN when set;
# else a -Dbuildtype=release build in HOIST_BENCH_BUILD_DIR (default build-bench/).
find_hoist() {
  if [[ -n ${HOIST_BIN:-} ]]; then
    hoist=$HOIST_BIN
    build_note="HOIST_BIN"
  else
    local build_dir=${HOIST_BENCH_BUILD_DIR:-$repo/build-bench}
    export CCACHE_NOHASHDIR=1 CCACHE_BASEDIR=$repo
    if [[ ! -f $build_dir/build.ninja ]]; then
      (cd "$repo" && meson setup "$build_dir" -Dbuildtype=release -Dtests=false) >/dev/null
    fi
    ninja -C "$build_dir" builder/hoist >/dev/null
    hoist=$build_dir/builder/hoist
    build_note="$(meson introspect --buildoptions "$build_dir" 2>/dev/null |
      jq -r '.[] | select(.name=="buildtype") | .value' 2>/dev/null || echo '?') build in $build_dir"
  fi
  [[ -x $hoist ]] || { echo "$1: $hoist is not an executable" >&2; exit 1; }
  hoist=$(cd "$(dirname "$hoist")" && pwd)/$(basename "$hoist")
}

# ---- peak RSS: GNU time if there is one, else Python's getrusage --------------------------
if /usr/bin/time -f '%M' -o /dev/null true 2>/dev/null; then
  rss_tool="GNU time %M (max RSS of hoist and the children it waited for)"
  rss_run() { /usr/bin/time -f '%M %U %S' -o "$1" "${@:2}"; }
elif command -v python3 >/dev/null; then
  rss_tool="python3 getrusage(RUSAGE_CHILDREN).ru_maxrss"
  rss_run() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    f.write("%d %.2f %.2f\n" % (u.ru_maxrss, u.ru_utime, u.ru_stime))
sys.exit(code)
PY
  }
else
  rss_tool="none (install the Debian package 'time'); RSS shows as 0"
  rss_run() { echo 0 0 0 >"$1"; "${@:2}"; }
fi

# ---- measuring ----------------------------------------------------------------------------
# timed LOG CMD...: runs CMD with its output in LOG; sets T_WALL (seconds), T_CPU (user +
# system seconds of CMD and its waited-for children) and T_RSS (MiB).
# Returns CMD's status (and prints LOG's tail when it failed).
timed() {
  local log=$1 t0 t1 code=0
  shift
  t0=$(date +%s%N)
  rss_run "$work/rss.out" "$@" >"$log" 2>&1 || code=$?
  t1=$(date +%s%N)
  T_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  T_RSS=$(awk 'END { printf "%.1f", $1 / 1024 }' "$work/rss.out")
  T_CPU=$(awk 'END { printf "%.2f", $2 + $3 }' "$work/rss.out")
  if ((code != 0)); then
    echo "bench: failed ($code): $*" >&2
    tail -n 15 "$log" | sed 's/^/  | /' >&2
  fi
  return "$code"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maxof() { printf '%s\n' "$@" | sort -g | tail -n 1; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
mb() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1e6 }'; }

busybox_tar() {
  [[ -f $work/busybox.tar ]] || sh "$repo/tests/fixtures/make_busybox_rootfs.sh" "$work/busybox.tar"
}

# debian_bookworm STORE LOG: debian:bookworm in the hoist store STORE, made by
# examples/base-images/make-bases.sh --mirror (debootstrap from the Debian mirror apt is
# configured with, cached in ~/.cache/hoist/bases), its output in LOG. Returns 1, having
# printed LOG's tail, when it cannot (no mirror, no debootstrap).
debian_bookworm() {
  local store=$1 log=$2
  if ! HOIST=$hoist HOIST_ROOT=$store bash "$repo/examples/base-images/make-bases.sh" --mirror debian:bookworm >"$log" 2>&1; then
    tail -n 5 "$log" | sed 's/^/  | /' >&2
    return 1
  fi
}

# ---- docker-registry on 127.0.0.1 ---------------------------------------------------------
free_port() {
  local p
  for p in $(shuf -i 20000-60000 -n 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}
# start_registry [NAME]: a docker-registry with empty storage in $work/registry[-NAME] on a
# free port; sets REGISTRY (127.0.0.1:PORT). stop_registry NAME stops it and removes its
# storage; stop_registries stops all (for the EXIT trap).
declare -A registry_pids=()
start_registry() {
  command -v docker-registry >/dev/null || { echo "bench: docker-registry is not installed (apt-get install docker-registry)" >&2; return 1; }
  local name=${1:-} port dir=$work/registry${1:+-$1} log=$work/logs/registry${1:+-$1}.log
  port=$(free_port) || { echo "bench: no free port" >&2; return 1; }
  mkdir -p "$dir/storage"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: hoist-bench-secret
EOF
  docker-registry serve "$dir/config.yml" >"$log" 2>&1 &
  local pid=$!
  registry_pids[${name:-default}]=$pid
  local i
  for ((i = 0; i < 200; i++)); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; then
      REGISTRY=127.0.0.1:$port
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.05
  done
  echo "bench: docker-registry did not answer on 127.0.0.1:$port" >&2
  return 1
}
stop_registry() {
  local name=${1:-default} pid
  pid=${registry_pids[$name]:-}
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "registry_pids[$name]"
  [[ $name == default ]] || rm -rf "$work/registry-$name"
}
stop_registries() {
  local name
  for name in "${!registry_pids[@]}"; do stop_registry "$name"; done
}
