#!/usr/bin/env bash
# The fuzz part of CI (.ci/run calls it): builds the libFuzzer targets of tests/fuzz/ with
# clang under ASan+UBSan in their own build dir (only the targets, not the tree), then runs
# each one over its seed corpus and fuzzes it for a bounded time, as many at once as there
# are CPUs. Every crash, sanitizer report, leak, timeout (-timeout) or out-of-memory
# (-rss_limit_mb) fails that target.
#
#   bash .ci/fuzz.sh RESULTS [SECONDS]
#
# Appends one JSON line per target to RESULTS: {"target", "result": passed|failed|skipped,
# "reason", "executions", "seconds"}; .ci/run counts each target as one case. A target that
# cannot run (no clang, the build failed, not root) is recorded as skipped or failed with the
# reason, never left out. New inputs go to a scratch dir, not the tree; the input that broke
# a target is kept in $HOIST_FUZZ_BUILD_DIR/artifacts/ and named in the reason.
# Environment: HOIST_FUZZ_BUILD_DIR (default build-fuzz), HOIST_FUZZ_SECONDS (default 6).
set -uo pipefail
cd "$(dirname "$0")/.."
results=${1:?usage: .ci/fuzz.sh RESULTS [SECONDS]}
seconds=${2:-${HOIST_FUZZ_SECONDS:-6}}
build=${HOIST_FUZZ_BUILD_DIR:-build-fuzz}

# The targets are the seed corpora: corpus/NAME is run by NAME_fuzz. A target source without
# a corpus is a failure of its own, so a new target cannot be skipped by forgetting one.
targets=()
for dir in tests/fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done

record() {  # target result reason [executions seconds]
  python3 - "$results" "$@" <<'PY'
import json, sys
path, target, result, reason = sys.argv[1:5]
extra = sys.argv[5:]
entry = {"target": target + "_fuzz", "result": result, "reason": reason}
if extra:
    entry["executions"], entry["seconds"] = int(extra[0] or 0), int(extra[1] or 0)
with open(path, "a") as f:
    f.write(json.dumps(entry) + "\n")
PY
}
record_all() {  # result reason
  for t in "${targets[@]}"; do record "$t" "$1" "$2"; done
}

status=0
for src in tests/fuzz/*_fuzz.cpp; do
  name=$(basename "$src" _fuzz.cpp)
  if [[ ! -d tests/fuzz/corpus/$name ]]; then
    echo "fuzz: $src has no seed corpus tests/fuzz/corpus/$name" >&2
    record "$name" failed "no seed corpus tests/fuzz/corpus/$name"
    status=1
  fi
done

if ! command -v clang++ >/dev/null; then
  record_all skipped "clang++ not installed (Debian packages clang, libclang-rt-14-dev)"
  exit $status
fi

started=$(date +%s)
if [[ ! -f "$build/build.ninja" ]]; then
  # -O1 and line tables only: the build is most of the time this script takes, and a fuzz
  # target needs speed and file:line in its reports, not full debug info. A unity build, as
  # .ci/run's (113 s against 129 s here).
  mkdir -p "$build"
  if ! CXX=clang++ CC=clang meson setup "$build" -Dfuzz=true -Dtests=false \
      -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=plain -Dunity=on \
      -Dcpp_args='-O1 -gline-tables-only' >"$build/fuzz-setup.log" 2>&1; then
    tail -n 20 "$build/fuzz-setup.log" >&2
    record_all failed "meson setup of the fuzz build failed: $(tail -n 1 "$build/fuzz-setup.log")"
    exit 1
  fi
fi
# Only the targets: the libraries they need come along, the rest of the tree does not.
ninja_targets=()
for t in "${targets[@]}"; do ninja_targets+=("tests/fuzz/${t}_fuzz"); done
if ! ninja -C "$build" "${ninja_targets[@]}" >"$build/fuzz-build.log" 2>&1; then
  tail -n 30 "$build/fuzz-build.log" >&2
  why="the fuzz build failed (clang++); see $build/fuzz-build.log"
  grep -q 'libclang_rt' "$build/fuzz-build.log" &&
    why="clang++ has no libFuzzer/sanitizer runtime (Debian package libclang-rt-14-dev); $why"
  record_all failed "$why"
  exit 1
fi
echo "fuzz: built ${#targets[@]} targets in $(( $(date +%s) - started )) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
# Debian's llvm-14 installs llvm-symbolizer off PATH; the reports need it for file:line.
if ! command -v llvm-symbolizer >/dev/null && [[ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
artifacts=$build/artifacts
mkdir -p "$artifacts"
# The targets that write files do it under $TMPDIR: a tmpfs where there is one (the store
# fsyncs every blob; on a disk that caps image_archive at ~10 inputs a second).
shm=/dev/shm
[[ -d $shm && -w $shm ]] || shm=/tmp
work=$(mktemp -d "$shm/hoist-fuzz-XXXXXX") || { record_all failed "mktemp in $shm failed"; exit 1; }
trap 'rm -rf "$work"' EXIT
# One target: run, recorded, and its exit status left in $work/NAME.rc.
fuzz_one() {
  local t=$1 exe=$build/tests/fuzz/${1}_fuzz
  local scratch=$work/$t-new log=$build/${1}_fuzz.log
  mkdir -p "$scratch" "$work/$t-tmp"
  local began rc took runs why crash
  began=$(date +%s)
  # The scratch dir first: libFuzzer writes new inputs to the first corpus dir.
  TMPDIR=$work/$t-tmp timeout $(( seconds + 120 )) "$exe" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
    "$scratch" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - began ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rm -rf "$scratch" "$work/$t-tmp"
  if (( rc == 0 )); then
    record "$t" passed "" "$runs" "$took"
    echo "fuzz: ${t}_fuzz: ${runs:-?} executions in $took s"
  else
    why=$(grep -m1 -E '^==[0-9]+== ?ERROR|runtime error|^SUMMARY' "$log")
    crash=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
    tail -n 40 "$log" >&2
    record "$t" failed "exit $rc: ${why:-see $log}${crash:+; input $crash}" "$runs" "$took"
    echo "fuzz: ${t}_fuzz FAILED (exit $rc), log $log"
  fi
  echo "$rc" >"$work/$t.rc"
}
# As many targets at once as there are CPUs: each fuzzes on one core for its time.
jobs_max=$(nproc 2>/dev/null || echo 1)
ran=()
for t in "${targets[@]}"; do
  if [[ "$t" == tar_apply_overlay && $(id -u) -ne 0 ]]; then
    record "$t" skipped "needs root (mknod of whiteout devices, trusted.* xattrs)"
    continue
  fi
  while (( $(jobs -rp | wc -l) >= jobs_max )); do wait -n; done
  fuzz_one "$t" &
  ran+=("$t")
done
wait
for t in "${ran[@]}"; do
  [[ $(cat "$work/$t.rc" 2>/dev/null) == 0 ]] || status=1
done
echo "fuzz: all targets in $(( $(date +%s) - started )) s"
exit $status
