#!/usr/bin/env bash
# hoist's speed and memory measurements; what each one means and why its target is what it
# is: bench/README.md.
#
#   bash bench/run.sh [--quick] [--save] [--only a,b,c,d,e,f,g,h,i,j] [--keep] [--runs N]
#
# Offline (but for (i) and (j), run only when --only names them: the Debian mirror); the registry
# measurements talk to a docker-registry on 127.0.0.1 only. RUN steps need root
# (namespaces, overlayfs). Prints one table (name, value, unit, target, status); with --save
# also writes bench/results/<date>-<host>.json. Exits 1 when a measurement failed or missed
# its target.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<'EOF'
usage: bash bench/run.sh [--quick] [--save] [--only LIST] [--keep] [--runs N]

  --quick      smaller sizes (base 10 MB vs 200 MB, context 40 MB); under ~2 minutes
  --save       also write bench/results/<date>-<host>.json
  --only LIST  run only these measurements (comma-separated letters: a,b,c,d,e,f,g,h, and
               i and j, which the default leaves out: they need the Debian mirror, and
               ~15 and ~6 minutes here)
  --keep       keep the work directory (stores, logs) and print where it is
  --runs N     timed repetitions for the RUN, cache-hit and multistage builds (default 5, quick 3)

Environment:
  HOIST_BIN              the hoist binary to measure (default: build one, see below)
  HOIST_BENCH_BUILD_DIR  where to build hoist with -Dbuildtype=release (default build-bench)
  HOIST_BENCH_TMPDIR     where the work directory goes (default /var/tmp; needs ~4 GB free
                         for the default run, ~1 GB for --quick)
EOF
}

quick=0 save=0 keep=0 only="a,b,c,d,e,f,g,h" runs=""
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --save) save=1 ;;
    --keep) keep=1 ;;
    --only) only=${2:?--only needs a list}; shift ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
wanted() { [[ ",$only," == *",$1,"* ]]; }

# ---- sizes -------------------------------------------------------------------------------
# base images for (a): files x bytes each; context for (b) (c) (e): files x bytes each.
if ((quick)); then
  small_files=200 small_size=51200      # 10 MB
  big_files=4000 big_size=51200         # 200 MB
  ctx_files=2000 ctx_size=20480         # 40 MB
  small_ctx_files=2000                  # x 4 KiB, the 10-step no-change rebuild of (c)
  parse_loops=3
  runs=${runs:-3}
else
  small_files=200 small_size=51200      # 10 MB
  big_files=20000 big_size=51200        # 1 GB
  ctx_files=10000 ctx_size=20480        # 200 MB
  small_ctx_files=20000                 # x 4 KiB, the 10-step no-change rebuild of (c)
  parse_loops=10
  runs=${runs:-5}
fi
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: --runs wants a positive number, got '$runs'" >&2; exit 2; }

# ---- targets (bench/README.md says why each is what it is) ---------------------------------
t_run_ratio=1.5          # RUN time on the big base / on the small base, at most
t_run_small=2.0          # s, a --no-cache FROM+RUN build on the small base, at most
t_run_rss=64             # MiB, peak RSS of that build on the big base, at most
t_import_mbs=15          # MB per CPU second, hoist import (gzip), at least
t_rss_growth=1.5         # peak RSS on the big input / on the small one, at most
t_copy_gzip_mbs=15       # MB per CPU second, COPY of the context into a gzip layer, at least
t_copy_zstd_mbs=25       # MB per CPU second, the same with --compression zstd, at least
t_copy_rss=64            # MiB, peak RSS of the gzip one, at most
t_copy_zstd_rss=128      # MiB, peak RSS of the zstd one (zstd's worker threads), at most
t_cache_hit=3.0          # s, a rebuild with nothing changed on the context, at most
t_no_change_10=0.1       # s, the same for a 10-step Dockerfile on 20,000 small files (issue 12), at most
t_push_mbs=20            # MB/s, push of the context image, at least
t_pull_mbs=20            # MB/s, pull of it into an empty store, at least
t_xfer_rss=64            # MiB, peak RSS of push or pull, at most
t_gzip_vs_pigz=0.8       # hoist's gzip throughput / pigz's on the same layer, at least (when pigz is installed)
t_zstd_vs_zstd=0.8       # hoist's zstd throughput / zstd -T0's on the same layer, at least (when zstd is installed)
t_parse_ms=50            # ms of CPU per `hoist parse` of a real-world Dockerfile (process included)
t_multistage=4.5         # s, two independent stages each sleeping 3 s, built at once, at most

# ---- the hoist binary, timing, the registry: bench/lib.sh ----------------------------------
source "$repo/bench/lib.sh"
find_hoist bench/run.sh

for tool in jq openssl tar split; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh: needs $tool" >&2; exit 1; }
done

# ---- work directory and cleanup -----------------------------------------------------------
tmp_parent=${HOIST_BENCH_TMPDIR:-/var/tmp}
work=$(mktemp -d "$tmp_parent/hoist-bench-XXXXXX")
cleanup() {
  stop_registries
  if ((keep)); then
    echo "bench: work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
mkdir -p "$work/logs"
store=$work/store
H=("$hoist" --root "$store")

# ---- results ------------------------------------------------------------------------------
declare -a r_name r_value r_unit r_target r_status
failed=0
# result NAME VALUE UNIT TARGET KIND: KIND is max (value <= target), min (value >= target),
# eq (value == target) or info (no target).
result() {
  local name=$1 value=$2 unit=$3 target=$4 kind=$5 status
  case $kind in
    max) status=$(awk -v v="$value" -v t="$target" 'BEGIN { print (v + 0 <= t + 0) ? "ok" : "over" }') ;;
    min) status=$(awk -v v="$value" -v t="$target" 'BEGIN { print (v + 0 >= t + 0) ? "ok" : "under" }') ;;
    eq) [[ $value == "$target" ]] && status=ok || status=differs ;;
    *) status=info target="-" ;;
  esac
  [[ $status == ok || $status == info ]] || failed=1
  case $kind in max) target="<= $target" ;; min) target=">= $target" ;; esac
  r_name+=("$name") r_value+=("$value") r_unit+=("$unit") r_target+=("$target") r_status+=("$status")
  printf '  %-34s %12s %-6s %-10s %s\n' "$name" "$value" "$unit" "$target" "$status"
}
# A line in the table that is not a number: TODO (not measured yet) or FAIL.
note_row() {
  local name=$1 status=$2 text=$3
  [[ $status == FAIL ]] && failed=1
  r_name+=("$name") r_value+=("-") r_unit+=("-") r_target+=("$text") r_status+=("$status")
  printf '  %-34s %12s %-6s %-10s %s\n' "$name" "-" "-" "$text" "$status"
}

# ---- measuring (timed, median, div, mb: bench/lib.sh) ---------------------------------------
h() { "$hoist" --root "$store" "$@"; }
# The seconds hoist's plain progress gave the first RUN step ("#N DONE 0.3s").
run_step_seconds() {
  awk '/^#[0-9]+ \[.*\] RUN / { step = $1 } step != "" && $1 == step && $2 == "DONE" { sub("s$", "", $3); print $3; exit }' "$1"
}

# A base image NAME: busybox plus FILES files of SIZE bytes under /data, imported with
# `hoist import` from a tar on stdin (timed: the import numbers of (b)).
IMPORT_WALL="" IMPORT_RSS="" IMPORT_BYTES=""
make_base() {
  local name=$1 files=$2 size=$3 seed=$4 root=$work/root-$1
  busybox_tar || return 1
  mkdir -p "$root"
  tar -C "$root" -xf "$work/busybox.tar" || return 1
  bash "$repo/bench/gen_tree.sh" "$root/data" "$files" "$size" "$seed" || return 1
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$root" -cf "$work/$name.tar" . || return 1
  rm -rf "$root"
  IMPORT_BYTES=$(stat -c %s "$work/$name.tar")
  timed "$work/logs/import-$name.log" "${H[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$work/$name.tar" "$name:latest" || return 1
  IMPORT_WALL=$T_WALL IMPORT_CPU=$T_CPU IMPORT_RSS=$T_RSS
  rm -f "$work/$name.tar"
}


# RUN_TIMES / RUN_STEP / RUN_RSS / RUN_CPU for `FROM base; RUN echo > /x`, --no-cache,
# $runs times, after one warm-up build (which unpacks the base; FIRST_WALL). Extra build
# flags in $@, extra environment (VAR=VALUE) in RUN_ENV.
RUN_ENV=()
run_builds() {
  local base=$1 tag=$2
  shift 2
  local ctx=$work/ctx-run-$tag
  mkdir -p "$ctx"
  printf 'FROM %s\nRUN echo changed > /x\n' "$base" >"$ctx/Dockerfile"
  timed "$work/logs/run-$tag-first.log" env "${RUN_ENV[@]}" "${H[@]}" build --no-cache --progress plain "$@" -t "run-$tag" "$ctx" || return 1
  FIRST_WALL=$T_WALL
  RUN_TIMES=() RUN_STEP=() RUN_RSS=() RUN_CPU=()
  local i
  for ((i = 1; i <= runs; i++)); do
    timed "$work/logs/run-$tag-$i.log" env "${RUN_ENV[@]}" "${H[@]}" build --no-cache --progress plain "$@" -t "run-$tag" "$ctx" || return 1
    RUN_TIMES+=("$T_WALL") RUN_RSS+=("$T_RSS") RUN_CPU+=("$T_CPU")
    RUN_STEP+=("$(run_step_seconds "$work/logs/run-$tag-$i.log")")
  done
}

# T_WALL of `FROM base; COPY f /app/`, --no-cache; fails when the build unpacked the base.
copy_cold() {
  local base=$1 tag=$2 ctx=$work/ctx-copy-$2
  mkdir -p "$ctx"
  echo copied >"$ctx/f"
  printf 'FROM %s\nCOPY f /app/\n' "$base" >"$ctx/Dockerfile"
  timed "$work/logs/copy-$tag.log" "${H[@]}" build --no-cache --progress plain -t "copy-$tag" "$ctx" || return 1
  if grep -q ' unpacked ' "$work/logs/copy-$tag.log"; then
    echo "COPY onto $base unpacked the base" >&2
    return 1
  fi
}

# ---- (a) RUN snapshot cost vs base size ---------------------------------------------------
bench_a() {
  local small_mb big_mb
  small_mb=$(mb $((small_files * small_size)))
  big_mb=$(mb $((big_files * big_size)))
  echo "(a) RUN on a ${small_mb} MB base vs a ${big_mb} MB base ($big_files files), --no-cache, median of $runs"
  make_base base-small "$small_files" "$small_size" 1 || return 1
  A_IMPORT_SMALL_RSS=$IMPORT_RSS
  make_base base-big "$big_files" "$big_size" 2 || return 1
  A_IMPORT_BIG_WALL=$IMPORT_WALL A_IMPORT_BIG_CPU=$IMPORT_CPU A_IMPORT_BIG_RSS=$IMPORT_RSS A_IMPORT_BIG_BYTES=$IMPORT_BYTES

  # COPY onto each base before anything unpacked it (cold: one build each, first of all):
  # COPY reads the base's layer index, made now from the tar, and must not unpack it.
  local copy_cold_small copy_cold_big
  copy_cold base-small small || return 1
  copy_cold_small=$T_WALL
  copy_cold base-big big || return 1
  copy_cold_big=$T_WALL
  result "a.copy_cold_small_base" "$copy_cold_small" s - info
  result "a.copy_cold_big_base" "$copy_cold_big" s - info
  result "a.copy_cold_ratio_big/small" "$(div "$copy_cold_big" "$copy_cold_small")" x - info

  run_builds base-small small || return 1
  local small_med small_step small_cpu
  small_med=$(median "${RUN_TIMES[@]}")
  small_step=$(median "${RUN_STEP[@]}")
  small_cpu=$(median "${RUN_CPU[@]}")
  run_builds base-big big || return 1
  local big_first=$FIRST_WALL big_med big_step big_rss big_cpu
  big_med=$(median "${RUN_TIMES[@]}")
  big_cpu=$(median "${RUN_CPU[@]}")
  big_step=$(median "${RUN_STEP[@]}")
  big_rss=$(maxof "${RUN_RSS[@]}")
  result "a.run_build_small_base" "$small_med" s "$t_run_small" max
  result "a.run_build_big_base" "$big_med" s - info
  result "a.run_build_ratio_big/small" "$(div "$big_med" "$small_med")" x "$t_run_ratio" max
  result "a.run_build_cpu_small_base" "$small_cpu" s - info
  result "a.run_build_cpu_big_base" "$big_cpu" s - info
  result "a.run_step_small_base(progress)" "$small_step" s - info
  result "a.run_step_big_base(progress)" "$big_step" s - info
  result "a.run_build_big_base_rss" "$big_rss" MiB "$t_run_rss" max
  result "a.first_build_big_base(unpack)" "$big_first" s - info

  # The copy executor (HOIST_SNAPSHOTTER=copy, which --snapshotter overrides when given):
  # a hoist without it says "RUN executor: overlay" or nothing at all.
  RUN_ENV=(HOIST_SNAPSHOTTER=copy)
  run_builds base-small copy-small || { RUN_ENV=(); return 1; }
  if ! grep -q '^RUN executor: copy' "$work/logs/run-copy-small-first.log"; then
    RUN_ENV=()
    note_row "a.copy_snapshotter" TODO "this hoist has no copy executor (HOIST_SNAPSHOTTER=copy ignored)"
    return 0
  fi
  local copy_small copy_big
  copy_small=$(median "${RUN_TIMES[@]}")
  run_builds base-big copy-big || { RUN_ENV=(); return 1; }
  RUN_ENV=()
  copy_big=$(median "${RUN_TIMES[@]}")
  result "a.copy_run_build_small_base" "$copy_small" s - info
  result "a.copy_run_build_big_base" "$copy_big" s - info
  result "a.copy_run_build_big_base_step(progress)" "$(median "${RUN_STEP[@]}")" s - info
  result "a.copy_run_build_big_base_rss" "$(maxof "${RUN_RSS[@]}")" MiB "$t_run_rss" max
}

# ---- context for (b), (c), (e) ------------------------------------------------------------
CTX=$work/ctx
make_context() {
  [[ -d $CTX/data ]] && return 0
  mkdir -p "$CTX"
  bash "$repo/bench/gen_tree.sh" "$CTX/data" "$ctx_files" "$ctx_size" 3 || return 1
  printf 'FROM scratch\nCOPY data /data\n' >"$CTX/Dockerfile"
}

# ---- (b) layer writing throughput ---------------------------------------------------------
bench_b() {
  local ctx_bytes=$((ctx_files * ctx_size))
  echo "(b) layer writing: COPY of $(mb $ctx_bytes) MB ($ctx_files files), stored uncompressed (--compression gzip and zstd apply when it leaves: (e), (g)); hoist import (gzip)"
  make_context || return 1
  local c
  for c in gzip zstd; do
    timed "$work/logs/copy-$c.log" "${H[@]}" build --no-cache --progress plain --compression "$c" -t "ctx-$c" "$CTX" || return 1
    local t=$T_WALL cpu=$T_CPU rss=$T_RSS target=$t_copy_gzip_mbs rss_target=$t_copy_rss
    [[ $c == zstd ]] && target=$t_copy_zstd_mbs rss_target=$t_copy_zstd_rss
    result "b.copy_layer_$c" "$(div "$(mb $ctx_bytes)" "$t")" MB/s - info
    result "b.copy_layer_${c}_per_cpu_s" "$(div "$(mb $ctx_bytes)" "$cpu")" MB/s "$target" min
    result "b.copy_layer_${c}_rss" "$rss" MiB "$rss_target" max
  done
  if [[ -n ${A_IMPORT_BIG_WALL:-} ]]; then
    result "b.import_gzip_big_base" "$(div "$(mb "$A_IMPORT_BIG_BYTES")" "$A_IMPORT_BIG_WALL")" MB/s - info
    result "b.import_gzip_big_base_per_cpu_s" "$(div "$(mb "$A_IMPORT_BIG_BYTES")" "$A_IMPORT_BIG_CPU")" MB/s "$t_import_mbs" min
    result "b.import_rss_small_base" "$A_IMPORT_SMALL_RSS" MiB - info
    result "b.import_rss_big_base" "$A_IMPORT_BIG_RSS" MiB - info
    result "b.import_rss_ratio_big/small" "$(div "$A_IMPORT_BIG_RSS" "$A_IMPORT_SMALL_RSS")" x "$t_rss_growth" max
  else
    note_row "b.import" skipped "needs (a)'s base images"
  fi
}

# ---- (c) cache hit ------------------------------------------------------------------------
bench_c() {
  echo "(c) cache hit: rebuild with nothing changed, context of $(mb $((ctx_files * ctx_size))) MB ($ctx_files files), median of $runs"
  make_context || return 1
  timed "$work/logs/cache-prime.log" "${H[@]}" build --progress plain -t ctx-cache "$CTX" || return 1
  local times=() i
  for ((i = 1; i <= runs; i++)); do
    timed "$work/logs/cache-$i.log" "${H[@]}" build --progress plain -t ctx-cache "$CTX" || return 1
    times+=("$T_WALL")
    # Every step but FROM must say CACHED: a "#N DONE" of any other step ran it again.
    if ! grep -q CACHED "$work/logs/cache-$i.log" ||
      awk '/^#[0-9]+ \[[^]]*\] FROM / { from[$1] = 1 } $2 == "DONE" && !($1 in from) { bad = 1 } END { exit !bad }' \
        "$work/logs/cache-$i.log"; then
      echo "bench: rebuild $i was not all CACHED (see $work/logs/cache-$i.log)" >&2
      return 1
    fi
  done
  result "c.cache_hit_rebuild" "$(median "${times[@]}")" s "$t_cache_hit" max
  result "c.cache_hit_rebuild_rss" "$T_RSS" MiB - info

  # Issue 12's cell: a 10-step Dockerfile on a context of many small files, rebuilt with
  # nothing changed. The context memo (builder/context_memo.h) makes it a stat of each file.
  echo "(c) no-change rebuild of a 10-step Dockerfile, context of $small_ctx_files files x 4 KiB, median of $runs"
  local ctx=$work/ctx-small
  if [[ ! -d $ctx/data ]]; then
    mkdir -p "$ctx"
    bash "$repo/bench/gen_tree.sh" "$ctx/data" "$small_ctx_files" 4096 5 || return 1
    printf '%s\n' 'FROM scratch' 'COPY data /data' 'ENV A=1' 'LABEL b=2' 'WORKDIR /data' \
      'COPY data/d0000 /first' 'ENV C=3' 'LABEL d=4' 'USER 1000' 'CMD ["true"]' >"$ctx/Dockerfile"
  fi
  # Twice: files written less than 100 ms before a build are hashed again by the next one.
  timed "$work/logs/small-prime.log" "${H[@]}" build --progress plain -t ctx-small "$ctx" || return 1
  timed "$work/logs/small-prime2.log" "${H[@]}" build --progress plain -t ctx-small "$ctx" || return 1
  timed "$work/logs/small-debug.log" "${H[@]}" --debug build --progress plain -t ctx-small "$ctx" || return 1
  local hashed
  hashed=$(sed -n 's/.*debug: context: [0-9]* files, \([0-9]*\) hashed in all.*/\1/p' "$work/logs/small-debug.log")
  result "c.no_change_files_hashed" "${hashed:-?}" files 0 eq
  times=()
  for ((i = 1; i <= runs; i++)); do
    timed "$work/logs/small-$i.log" "${H[@]}" build --progress plain -t ctx-small "$ctx" || return 1
    times+=("$T_WALL")
    if (($(grep -c CACHED "$work/logs/small-$i.log") != 9)); then
      echo "bench: rebuild $i of the 10-step build was not all CACHED (see $work/logs/small-$i.log)" >&2
      return 1
    fi
  done
  result "c.no_change_rebuild_10_steps" "$(median "${times[@]}")" s "$t_no_change_10" max
  result "c.no_change_rebuild_10_steps_rss" "$T_RSS" MiB - info
}

# ---- (d) reproducible digests -------------------------------------------------------------
bench_d() {
  echo "(d) reproducibility: the same build into two fresh stores with SOURCE_DATE_EPOCH"
  busybox_tar || return 1
  local ctx=$work/ctx-repro ids=() manifests=() k
  mkdir -p "$ctx"
  bash "$repo/bench/gen_tree.sh" "$ctx/data" 100 4096 4 || return 1
  printf 'FROM busybox\nCOPY data /data\nRUN echo built > /built && mkdir -p /var/made\n' >"$ctx/Dockerfile"
  for k in 1 2; do
    local root=$work/repro-$k
    SOURCE_DATE_EPOCH=1700000000 "$hoist" --root "$root" import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      "$work/busybox.tar" busybox:latest >"$work/logs/repro-import-$k.log" 2>&1 || { cat "$work/logs/repro-import-$k.log" >&2; return 1; }
    timed "$work/logs/repro-build-$k.log" env SOURCE_DATE_EPOCH=1700000000 "$hoist" --root "$root" \
      build --progress plain --iidfile "$work/repro-$k.iid" -t repro "$ctx" || return 1
    ids+=("$(cat "$work/repro-$k.iid")")
    manifests+=("$("$hoist" --root "$root" inspect repro | jq -r 'if type == "array" then .[0] else . end | .Descriptor.digest')")
    rm -rf "$root"
  done
  local same=no
  [[ ${ids[0]} == "${ids[1]}" && ${manifests[0]} == "${manifests[1]}" ]] && same=yes
  echo "  image ids: ${ids[*]}"
  echo "  manifests: ${manifests[*]}"
  result "d.same_digest_two_stores" "$same" "" yes eq
}

# ---- (e) push / pull ----------------------------------------------------------------------
# Sum of the compressed layer sizes of IMAGE in STORE.
layer_bytes() { "$hoist" --root "$1" inspect "$2" | jq '[(if type == "array" then .[0] else . end).Layers[].size] | add'; }

bench_e() {
  echo "(e) push/pull: docker-registry on 127.0.0.1, the context image ($(mb $((ctx_files * ctx_size))) MB uncompressed, gzip)"
  make_context || return 1
  if ! h inspect ctx-gzip >/dev/null 2>&1; then
    timed "$work/logs/push-prepare.log" "${H[@]}" build --no-cache --progress plain -t ctx-gzip "$CTX" || return 1
  fi
  start_registry || return 1
  local bytes ref=$REGISTRY/bench/ctx:gzip
  bytes=$(layer_bytes "$store" ctx-gzip)
  h tag ctx-gzip "$ref" || return 1
  timed "$work/logs/push.log" "${H[@]}" push "$ref" || return 1
  local push_wall=$T_WALL push_rss=$T_RSS
  timed "$work/logs/pull.log" "$hoist" --root "$work/pull-store" pull "$ref" || return 1
  local pull_wall=$T_WALL pull_rss=$T_RSS
  result "e.push" "$(div "$(mb "$bytes")" "$push_wall")" MB/s "$t_push_mbs" min
  result "e.pull" "$(div "$(mb "$bytes")" "$pull_wall")" MB/s "$t_pull_mbs" min
  result "e.push_rss" "$push_rss" MiB "$t_xfer_rss" max
  result "e.pull_rss" "$pull_rss" MiB "$t_xfer_rss" max
  # The same for a small image: RSS must not grow with the blob size.
  if [[ ! -d $store ]] || ! h inspect base-small >/dev/null 2>&1; then
    busybox_tar || return 1
    h import "$work/busybox.tar" base-small:latest >/dev/null || return 1
  fi
  local small_ref=$REGISTRY/bench/small:latest
  h tag base-small "$small_ref" || return 1
  timed "$work/logs/push-small.log" "${H[@]}" push "$small_ref" || return 1
  local small_push_rss=$T_RSS
  timed "$work/logs/pull-small.log" "$hoist" --root "$work/pull-store-small" pull "$small_ref" || return 1
  local small_pull_rss=$T_RSS
  result "e.push_rss_ratio_big/small" "$(div "$push_rss" "$small_push_rss")" x "$t_rss_growth" max
  result "e.pull_rss_ratio_big/small" "$(div "$pull_rss" "$small_pull_rss")" x "$t_rss_growth" max
  rm -rf "$work/pull-store" "$work/pull-store-small"
}

# ---- (f) parser ---------------------------------------------------------------------------
bench_f() {
  local files=("$repo"/tests/data/dockerfiles/*.Dockerfile)
  echo "(f) parser: hoist parse of ${#files[@]} real-world Dockerfiles, $parse_loops rounds"
  local i f n=$((parse_loops * ${#files[@]}))
  # Some of the files are meant to be odd (warnings, errors): timed only, status ignored.
  timed "$work/logs/parse-loop.log" bash -c 'for ((i = 0; i < $1; i++)); do
      for f in "${@:3}"; do "$2" parse -f "$f" >/dev/null 2>&1 || true; done; done' \
    parse-loop "$parse_loops" "$hoist" "${files[@]}" || return 1
  result "f.parse_per_file_cpu" "$(awk -v a="$T_CPU" -v n="$n" 'BEGIN { printf "%.2f", a * 1e3 / n }')" ms "$t_parse_ms" max
  result "f.parse_per_file_wall" "$(awk -v a="$T_WALL" -v n="$n" 'BEGIN { printf "%.2f", a * 1e3 / n }')" ms - info
  # Without process start-up: one big Dockerfile, the real-world ones repeated.
  local big=$work/big.Dockerfile
  local once
  once=$(for f in "${files[@]}"; do
    case $f in *windows-escape* | *crlf* | *bom*) continue ;; esac  # directives must come first
    grep -v '^# *\(syntax\|escape\|check\)=' "$f"
    echo
  done)
  for ((i = 0; i < 200; i++)); do printf '%s\n' "$once"; done >"$big"
  timed "$work/logs/parse-big.log" "$hoist" parse -f "$big" || return 1
  result "f.parse_big_file" "$(div "$(mb "$(stat -c %s "$big")")" "$T_CPU")" MB/s - info
  result "f.parse_big_file_rss" "$T_RSS" MiB - info
}

# ---- (g) a big RUN layer: stored uncompressed, compressed when it leaves -----------------
# The RUN writes 512 MiB, half random, half text. The build stores the layer uncompressed
# (tar + sha256); `hoist save --format oci` then compresses it (gzip, all cores) and a
# second save reuses the compressed blob. pigz (when installed) and gzip -6 compress the
# same layer blob, for comparison; then hoist's zstd (`build --compression zstd -o
# type=oci`, every step cached) against `zstd -T0 -3`. Each tool reads the blob from the
# disk, as hoist finds a layer it has just built (written past the page cache): its pages
# are dropped from the cache before each (drop_cached).
drop_cached() {
  dd if="$1" iflag=nocache count=0 status=none
}
# tool_rate LOG ROW BLOB COMMAND [cached]: the shell COMMAND with BLOB on its stdin and its
# output thrown away, timed (logs/big-run-LOG.log), BLOB read from the disk (dropped from the
# page cache first; `cached`: as the last command left it); BLOB's MB per wall-clock second
# as the info row ROW, and in RATE.
tool_rate() {
  local log=$1 row=$2 blob=$3 command=$4
  [[ ${5:-} == cached ]] || drop_cached "$blob"
  timed "$work/logs/big-run-$log.log" sh -c "$command"' < "$1" > /dev/null' "$log" "$blob" || return 1
  RATE=$(div "$(mb "$(stat -c %s "$blob")")" "$T_WALL")
  result "$row" "$RATE" MB/s - info
}
bench_g() {
  local half_mib=256
  echo "(g) RUN writing $((2 * half_mib)) MiB (half incompressible), --no-cache, median of $runs; then its layer compressed"
  if ! h inspect base-small >/dev/null 2>&1; then
    busybox_tar || return 1
    h import "$work/busybox.tar" base-small:latest >/dev/null || return 1
  fi
  local ctx=$work/ctx-big-run
  mkdir -p "$ctx"
  printf 'FROM base-small\nRUN head -c %d /dev/urandom > /random && yes hoist-bench-layer | head -c %d > /text\n' \
    $((half_mib << 20)) $((half_mib << 20)) >"$ctx/Dockerfile"
  local i times=() steps=() rss=()
  for ((i = 1; i <= runs; i++)); do
    timed "$work/logs/big-run-$i.log" "${H[@]}" build --no-cache --progress plain -t big-run "$ctx" || return 1
    times+=("$T_WALL") rss+=("$T_RSS")
    steps+=("$(run_step_seconds "$work/logs/big-run-$i.log")")
  done
  local med step
  med=$(median "${times[@]}")
  step=$(median "${steps[@]}")
  result "g.big_run_build" "$med" s - info
  result "g.big_run_step(progress)" "$step" s - info
  result "g.big_run_build_minus_step" "$(awk -v a="$med" -v b="$step" 'BEGIN { printf "%.2f", a - b }')" s - info
  result "g.big_run_build_rss" "$(maxof "${rss[@]}")" MiB "$t_run_rss" max

  local layer blob bytes
  layer=$(h inspect big-run | jq -r '(if type == "array" then .[0] else . end).Manifest.layers[-1].digest')
  blob=$store/blobs/sha256/${layer#sha256:}
  bytes=$(stat -c %s "$blob") || return 1
  drop_cached "$blob"
  timed "$work/logs/big-run-save.log" sh -c '"$@" > /dev/null' save "${H[@]}" save --format oci big-run || return 1
  local hoist_mbs
  hoist_mbs=$(div "$(mb "$bytes")" "$T_WALL")
  result "g.save_oci_gzip(compresses)" "$hoist_mbs" MB/s - info
  result "g.save_oci_gzip_rss" "$T_RSS" MiB "$t_xfer_rss" max
  timed "$work/logs/big-run-save-again.log" sh -c '"$@" > /dev/null' save "${H[@]}" save --format oci big-run || return 1
  result "g.save_oci_again(compressed_once)" "$T_WALL" s - info
  tool_rate gzip g.gzip_-6_one_core "$blob" 'gzip -6 -c' || return 1
  if command -v pigz >/dev/null; then
    tool_rate pigz g.pigz_-6 "$blob" 'pigz -6 -c' || return 1
    result "g.hoist_gzip/pigz" "$(div "$hoist_mbs" "$RATE")" x "$t_gzip_vs_pigz" min
  else
    note_row "g.pigz_-6" info "pigz not installed"
  fi
  # zstd: the RUN step is cached, so what the build does is export the image, compressing
  # its layer (the few cache lookups before are in the time, about 0.05 s).
  drop_cached "$blob"
  timed "$work/logs/big-run-zstd.log" sh -c '"$@" > /dev/null' zstd "${H[@]}" build --compression zstd \
    -o type=oci,dest=- --progress plain "$ctx" || return 1
  grep -qx "#2 CACHED" "$work/logs/big-run-zstd.log" || {
    echo "bench/run.sh: (g) the zstd export rebuilt the RUN step instead of finding it cached" >&2
    return 1
  }
  local hoist_zstd_mbs
  hoist_zstd_mbs=$(div "$(mb "$bytes")" "$T_WALL")
  result "g.hoist_zstd(build_-o_type=oci)" "$hoist_zstd_mbs" MB/s - info
  if command -v zstd >/dev/null; then
    tool_rate zstd-T0 g.zstd_-T0_-3 "$blob" 'zstd -q -T0 -3 -c' || return 1
    result "g.hoist_zstd/zstd_T0" "$(div "$hoist_zstd_mbs" "$RATE")" x "$t_zstd_vs_zstd" min
    tool_rate zstd-T0-warm "g.zstd_-T0_-3_cached(page_cache)" "$blob" 'zstd -q -T0 -3 -c' cached || return 1
  else
    note_row "g.zstd_-T0_-3" info "zstd not installed"
  fi
  h rmi big-run >/dev/null && h prune >/dev/null
}

# ---- (h) parallel stages ------------------------------------------------------------------
bench_h() {
  echo "(h) parallel stages: two independent stages each RUN sleep 3, a final stage copying from both, --no-cache --jobs 2, median of $runs"
  busybox_tar || return 1
  if ! h inspect busybox >/dev/null 2>&1; then
    h import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      "$work/busybox.tar" busybox:latest >/dev/null || return 1
  fi
  local ctx=$work/ctx-multistage times=() i
  mkdir -p "$ctx"
  printf '%s\n' 'FROM busybox AS one' 'RUN sleep 3 && echo one > /one' 'FROM busybox AS two' \
    'RUN sleep 3 && echo two > /two' 'FROM busybox' 'COPY --from=one /one /one' 'COPY --from=two /two /two' \
    >"$ctx/Dockerfile"
  # The warm-up unpacks busybox, as (a)'s does.
  timed "$work/logs/multistage-first.log" "${H[@]}" build --no-cache --jobs 2 --progress plain -t multistage "$ctx" || return 1
  for ((i = 1; i <= runs; i++)); do
    timed "$work/logs/multistage-$i.log" "${H[@]}" build --no-cache --jobs 2 --progress plain -t multistage "$ctx" || return 1
    times+=("$T_WALL")
  done
  timed "$work/logs/multistage-sequential.log" "${H[@]}" build --no-cache --jobs 1 --progress plain -t multistage "$ctx" || return 1
  result "h.multistage_two_sleep3_jobs2" "$(median "${times[@]}")" s "$t_multistage" max
  result "h.multistage_two_sleep3_jobs1" "$T_WALL" s - info
}

# ---- (i) and (j): the examples that train a model at build time (opt-in: the Debian mirror) --
# debian_base CELL: debian:bookworm in the store, made by examples/base-images/make-bases.sh
# --mirror (debootstrap from the configured Debian mirror, cached in ~/.cache/hoist/bases).
# Returns 1 after a `skipped` row for CELL when it cannot.
debian_base() {
  if ! debian_bookworm "$store" "$work/logs/debian-base.log"; then
    note_row "$1" skipped "make-bases.sh --mirror debian:bookworm failed (no mirror?)"
    return 1
  fi
}

# example_cold CELL NAME TAG: examples/NAME copied to $work/ctx-NAME and built as TAG into the
# store: the base unpacked, apt downloading into an empty cache mount, the model trained. Row
# CELL.NAME_cold_build; the build's log is logs/NAME-cold.log.
example_cold() {
  local cell=$1 name=$2 tag=$3
  cp -r "$repo/examples/$name" "$work/ctx-$name"
  timed "$work/logs/$name-cold.log" "${H[@]}" build --progress plain -t "$tag" "$work/ctx-$name" || return 1
  result "$cell.${name}_cold_build" "$T_WALL" s - info
}

# example_run CELL NAME TAG PATTERN: `hoist run --rm TAG` (its default command), which must
# print a line matching the extended regex PATTERN; rows CELL.NAME_first_run and
# CELL.NAME_image_layers (the image's layers as stored).
example_run() {
  local cell=$1 name=$2 tag=$3 pattern=$4 log=$work/logs/$2-run.log
  timed "$log" "${H[@]}" run --rm --pull never "$tag" || return 1
  result "$cell.${name}_first_run" "$T_WALL" s - info
  if ! grep -Eq "$pattern" "$log"; then
    echo "bench: ($cell) the run printed no line matching '$pattern':" >&2
    tail -n 15 "$log" | sed 's/^/  | /' >&2
    return 1
  fi
  result "$cell.${name}_image_layers" "$(mb "$(layer_bytes "$store" "$tag")")" MB - info
}

bench_i() {
  echo "(i) examples/sklearn: apt-get of python3-sklearn through a cache mount, a model trained in a RUN; needs the Debian mirror"
  local ctx=$work/ctx-sklearn
  debian_base i || return 0
  example_cold i sklearn demo2-sklearn:0.1 || return 1
  timed "$work/logs/sklearn-nochange.log" "${H[@]}" build --progress plain -t demo2-sklearn:0.1 "$ctx" || return 1
  result "i.sklearn_nochange_rebuild" "$T_WALL" s "$t_cache_hit" max
  # A changed train.py: its COPY and the training run again, apt does not.
  echo "# changed" >>"$ctx/train.py"
  timed "$work/logs/sklearn-train.log" "${H[@]}" build --progress plain -t demo2-sklearn:0.1 "$ctx" || return 1
  result "i.sklearn_train_py_change" "$T_WALL" s - info
  example_run i sklearn demo2-sklearn:0.1 "accuracy on 200 held-out samples" || return 1
  if ((!quick)); then
    # Every step again; apt finds its packages in the cache mount and downloads only the lists.
    timed "$work/logs/sklearn-nocache.log" "${H[@]}" build --no-cache --progress plain -t demo2-sklearn:0.1 "$ctx" || return 1
    result "i.sklearn_no_cache_warm_apt" "$T_WALL" s - info
  fi
}

bench_j() {
  echo "(j) examples/pytorch: apt-get of python3-torch through a cache mount, a CNN trained for one epoch in a RUN; needs the Debian mirror"
  debian_base j || return 0
  example_cold j pytorch demo3:v1.0.0 || return 1
  if ! grep -q "saved /opt/demo3/cnn.pt" "$work/logs/pytorch-cold.log"; then
    echo "bench: (j) the build did not say it saved the model" >&2
    return 1
  fi
  # CMD's default: 8 predictions, then the accuracy on 1,000 held-out images.
  example_run j pytorch demo3:v1.0.0 "^accuracy on 1000 held-out images: 0\.[0-9]{3}$" || return 1
}

# ---- main ---------------------------------------------------------------------------------
host=$(hostname -s 2>/dev/null || hostname)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "hoist bench: $("$hoist" version 2>/dev/null | head -n 1) ($build_note)"
echo "  host $host, $(nproc) cores, load $load_start, $( ((quick)) && echo quick || echo full) sizes, work dir $work"
echo "  peak RSS: $rss_tool"
if ((EUID != 0)); then
  echo "  not root: RUN steps cannot run, so (a), (d), (g), (h), (i) and (j) are skipped"
fi
echo
printf '  %-34s %12s %-6s %-10s %s\n' name value unit target status
for m in a b c d e f g h i j; do
  wanted "$m" || continue
  if ((EUID != 0)) && [[ $m == a || $m == d || $m == g || $m == h || $m == i || $m == j ]]; then
    note_row "$m" skipped "needs root"
    continue
  fi
  if ! "bench_$m"; then
    note_row "$m" FAIL "see the message above"
  fi
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "summary ($started, load $load_start -> $load_end):"
printf '%-34s %12s %-6s %-12s %s\n' name value unit target status
for i in "${!r_name[@]}"; do
  printf '%-34s %12s %-6s %-12s %s\n' "${r_name[$i]}" "${r_value[$i]}" "${r_unit[$i]}" "${r_target[$i]}" "${r_status[$i]}"
done

if ((save)); then
  mkdir -p "$repo/bench/results"
  out=$repo/bench/results/$(date -u +%Y-%m-%d)-$host.json
  rows=$(for i in "${!r_name[@]}"; do
    jq -n --arg n "${r_name[$i]}" --arg v "${r_value[$i]}" --arg u "${r_unit[$i]}" \
      --arg t "${r_target[$i]}" --arg s "${r_status[$i]}" \
      '{name: $n, value: ($v | tonumber? // $v), unit: $u, target: $t, status: $s}'
  done | jq -s .)
  jq -n --arg started "$started" --arg host "$host" --arg version "$("$hoist" version 2>/dev/null | head -n 1)" \
    --arg commit "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --arg dirty "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null | wc -l)" \
    --arg build "$build_note" --arg rss "$rss_tool" --argjson cores "$(nproc)" \
    --arg load_start "$load_start" --arg load_end "$load_end" --argjson quick "$quick" \
    --argjson runs "$runs" --argjson rows "$rows" \
    '{started: $started, host: $host, cores: $cores, hoist: $version, commit: $commit,
      modified_tracked_files: ($dirty | tonumber), build: $build, peak_rss: $rss,
      loadavg_start: $load_start, loadavg_end: $load_end, quick: ($quick == 1), runs: $runs,
      results: $rows}' >"$out"
  echo "saved $out"
fi
exit "$failed"
