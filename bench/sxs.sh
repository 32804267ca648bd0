#!/usr/bin/env bash
# hoist side by side with `buildah bud` and Docker's BuildKit: the same workloads, in one
# run, on this machine; each cell the median of --runs runs, reported as hoist's time
# divided by the best peer's (issue 12's target: at most 0.5). What each cell means:
# bench/README.md, "Side by side".
#
#   sudo bash bench/sxs.sh [--quick] [--runs N] [--only LIST] [--peers LIST] [--fs auto|journal|here] [--keep] [--out FILE]
#
# Offline (but for the sklearn cell, run only when --only names it: the Debian mirror):
# base images are made here (busybox from the host, a python base from the host's python3,
# a 1 GiB base from bench/gen_tree.sh), imported with `hoist import` and pushed to a
# docker-registry on 127.0.0.1, from which all three builders pull. BuildKit runs in a
# dockerd of our own (.ci/docker.sh: private socket, data and exec roots, no bridge, no
# iptables), stopped on exit. A peer that cannot run is skipped, and the table says why.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<'EOF'
usage: sudo bash bench/sxs.sh [--quick] [--runs N] [--only LIST] [--peers LIST] [--fs auto|journal|here] [--keep] [--out FILE]

  --quick       small sizes (2,000 files, a 64 MiB RUN, a 64 MiB base), a few minutes
  --runs N      runs per cell, the median is shown (default 3; quick 1)
  --only LIST   cells to run, comma-separated: copy,run512,bigbase,stages,hello,repro,limits
                (the default), and sklearn, run only when named (it needs the Debian mirror)
  --peers LIST  builders besides hoist: buildah,buildkit (default both)
  --fs WHERE    where the stores (all three builders', the registry's) live: `journal`, a
                fresh ext4 with a journal on a loop device, in a sparse file in the work
                directory; `here`, the work directory as it is; `auto` (default), `journal`
                when the work directory is on ext4 without a journal, else `here`
  --keep        keep the work directory (stores, logs) and print where it is
  --out FILE    also write the table to FILE, rewritten after every cell (a run cut short
                still leaves the cells it finished)

Environment: HOIST_BIN (the hoist to measure; default a release build in build-bench/, as
bench/run.sh), HOIST_BENCH_TMPDIR (where the work directory goes, default /var/tmp; the
full run needs about 10 GB there; with --fs journal, the loop file's 24 GiB, sparse).
EOF
}

quick=0 keep=0 out="" runs="" fs=auto only="copy,run512,bigbase,stages,hello,repro,limits" peer_list="buildah,buildkit"
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --keep) keep=1 ;;
    --out) out=${2:?--out needs a file}; shift ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --only) only=${2:?--only needs a list}; shift ;;
    --peers) peer_list=${2?--peers needs a list}; shift ;;
    --fs) fs=${2:?--fs needs auto, journal or here}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench/sxs.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
wanted() { [[ ",$only," == *",$1,"* ]]; }

# ---- sizes --------------------------------------------------------------------------------
if ((quick)); then
  copy_files=2000        # x 4 KiB: the COPY context
  run_half_mib=32        # the big RUN writes twice this (half random, half text)
  big_files=128          # x 512 KiB: the big base (64 MiB)
  runs=${runs:-1}
else
  copy_files=20000       # 80 MB
  run_half_mib=256       # 512 MiB
  big_files=2048         # 1 GiB
  runs=${runs:-3}
fi
copy_size=4096 big_size=524288 repro_files=200
[[ $fs == auto || $fs == journal || $fs == here ]] || { echo "bench/sxs.sh: --fs wants auto, journal or here, got '$fs'" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bench/sxs.sh: --runs wants a positive number, got '$runs'" >&2; exit 2; }
((EUID == 0)) || { echo "bench/sxs.sh: needs root (buildah, dockerd and RUN steps); run it with sudo" >&2; exit 1; }

# ---- tools: installed when missing, and said so ---------------------------------------------
# The bench is not CI: what it needs is not in .ci/deps.sh. Each missing tool is installed
# from its Debian package; a peer whose tool cannot be had is skipped (SKIP says why).
declare -A SKIP=()
need() {  # need COMMAND PACKAGE WHY
  command -v "$1" >/dev/null && return 0
  echo "sxs: $1 is missing (needed for $3): apt-get install $2"
  apt-get -o DPkg::Lock::Timeout=600 install -y "$2" >"/tmp/sxs-apt-$2.log" 2>&1 ||
    echo "sxs: apt-get install $2 failed (/tmp/sxs-apt-$2.log)"
  command -v "$1" >/dev/null
}
for t in "jq jq the table" "curl curl the registry" "openssl openssl bench/gen_tree.sh" \
  "docker-registry docker-registry the registry"; do
  read -r cmd pkg why <<<"$t"
  need "$cmd" "$pkg" "$why" || { echo "bench/sxs.sh: cannot run without $cmd" >&2; exit 1; }
done
need /usr/bin/time time "peak RSS" || true
need pigz pigz "the pigz limit" || true
need zstd zstd "the zstd limit" || true
peers=(hoist)
for p in ${peer_list//,/ }; do
  case $p in
    buildah) need buildah buildah "the buildah column" || SKIP[buildah]="buildah not installed (Debian package buildah)" ;;
    buildkit) need dockerd docker.io "the BuildKit column" || SKIP[buildkit]="dockerd not installed (Debian package docker.io)" ;;
    *) echo "bench/sxs.sh: unknown peer '$p' (buildah, buildkit)" >&2; exit 2 ;;
  esac
  peers+=("$p")
done
# Docker 20.10's CLI builds with the BuildKit inside dockerd (DOCKER_BUILDKIT=1); a newer
# CLI (/usr/local/bin/docker here) wants buildx, which Debian's docker.io does not have.
docker_cli=/usr/bin/docker docker_cli_version=""
if [[ " ${peers[*]} " == *" buildkit "* && -z ${SKIP[buildkit]:-} ]]; then
  docker_cli_version=$("$docker_cli" version --format '{{.Client.Version}}' 2>/dev/null || true)
  [[ $docker_cli_version == 20.10* ]] || SKIP[buildkit]="$docker_cli is '${docker_cli_version:-missing}', not Docker 20.10 (Debian's docker.io), whose CLI builds with dockerd's BuildKit without buildx"
fi

source "$repo/bench/lib.sh"
source "$repo/.ci/docker.sh"
find_hoist bench/sxs.sh

# ---- work directory, its filesystem, cleanup ----------------------------------------------
# An ext4 without a journal (this VM's root filesystem) makes file creation slow for a
# minute after a mass delete: its inode allocator skips every inode freed in the last 60 s
# (360 s while the inode's table block is dirty), rescanning them for each new file (the
# kernel's recently_deleted(), used only when there is no journal). Every store reset here
# deletes thousands of files, so the next timed pull or build pays a cost that grows as the
# run goes on and that no machine with a journal has: a pull of the COPY image (20,000
# files) took 1.0 s, then 2.5 s, then 4.4 s, each after deleting the last one's store; on
# an ext4 with a journal, 1.0-1.2 s every time. So on such a filesystem (--fs auto) the
# bench makes its own ext4, with a journal, in a sparse file on a loop device with direct
# I/O (its blocks are not cached twice), and keeps everything there: the three builders'
# stores, dockerd's data root, the registries, the contexts.
base_dir=$(mktemp -d "${HOIST_BENCH_TMPDIR:-/var/tmp}/hoist-sxs-XXXXXX")
work=$base_dir loop_dev="" fs_note=""
unmount_under() {  # DIR [--beneath]: the mounts at or beneath DIR (only beneath: --beneath)
  local m _
  for _ in 1 2 3 4; do
    mapfile -t left < <(mounts_under "$1" | { if [[ ${2:-} == --beneath ]]; then grep -vxF "$1"; else cat; fi; })
    ((${#left[@]})) || return 0
    for m in "${left[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
}
cleanup() {
  stop_registries
  stop_private_dockerd || true
  if ((keep)); then
    unmount_under "$work" --beneath
    echo "sxs: work directory kept: $work"
    [[ -z $loop_dev ]] || echo "sxs: it is an ext4 on $loop_dev (image $base_dir/fs.img); when done: umount $work; losetup -d $loop_dev; rm -r $base_dir"
    return
  fi
  unmount_under "$work"
  [[ -z $loop_dev ]] || losetup -d "$loop_dev" || true
  rm -rf "$base_dir"
}
trap cleanup EXIT
# ext4_without_journal DIR: DIR's filesystem is ext4 and its device has no jbd2 journal.
ext4_without_journal() {
  local src fstype
  read -r src fstype < <(findmnt -n -o SOURCE,FSTYPE --target "$1") || return 1
  [[ $fstype == ext4 ]] || return 1
  src=$(readlink -f "${src%%[*}")
  ! compgen -G "/proc/fs/jbd2/$(basename "$src")-*" >/dev/null
}
fs_why="--fs $fs"
if [[ $fs == auto ]]; then
  if ext4_without_journal "$base_dir"; then fs=journal fs_why="$(dirname "$base_dir") is ext4 without a journal"; else fs=here; fi
fi
# make_journal_fs: the ext4 with a journal in $base_dir/fs.img, mounted on $base_dir/fs;
# sets work, loop_dev. On failure says why (fs_failed) and leaves nothing behind.
fs_failed=""
make_journal_fs() {
  local gib avail mnt=$base_dir/fs
  gib=$( ((quick)) && echo 8 || echo 24)
  avail=$(df --output=avail -B1G "$base_dir" | tail -n 1 | tr -d ' ')
  if ((avail <= gib)); then fs_failed="its loop file wants ${gib} GiB free in $base_dir, ${avail} GiB there"; return 1; fi
  truncate -s "${gib}G" "$base_dir/fs.img"
  if ! mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$base_dir/fs.img" >"$base_dir/mkfs.log" 2>&1; then
    fs_failed="mkfs.ext4 failed: $(tail -n 1 "$base_dir/mkfs.log")"; rm -f "$base_dir/fs.img"; return 1
  fi
  if ! loop_dev=$(losetup --direct-io=on -f --show "$base_dir/fs.img" 2>"$base_dir/losetup.log"); then
    fs_failed="no loop device: $(tail -n 1 "$base_dir/losetup.log")"; loop_dev=""; rm -f "$base_dir/fs.img"; return 1
  fi
  mkdir -p "$mnt"
  if ! mount "$loop_dev" "$mnt" 2>"$base_dir/mount.log"; then
    fs_failed="mounting $loop_dev failed: $(tail -n 1 "$base_dir/mount.log")"
    losetup -d "$loop_dev" || true; loop_dev=""; rm -f "$base_dir/fs.img"; return 1
  fi
  work=$mnt
  fs_note="a fresh ext4 with a journal on $loop_dev (direct I/O; a ${gib} GiB sparse file in $base_dir): $fs_why"
}
if [[ $fs == journal ]] && ! make_journal_fs; then
  # Asked for (--fs journal): no bench without it. Chosen (auto): the bench goes on where it
  # is, and the table's header says so.
  [[ $fs_why == "--fs journal" ]] && { echo "bench/sxs.sh: --fs journal: $fs_failed; try --fs here" >&2; exit 1; }
  fs_note="$work ($fs_why, and no journaled ext4 could be made: $fs_failed; pulls and builds right after a store's deletion are slowed, bench/README.md)"
elif [[ $fs == here ]]; then
  fs_note="$work ($(findmnt -n -o FSTYPE --target "$work"))"
fi
mkdir -p "$work/logs"
logs=$work/logs

# ---- the three builders -------------------------------------------------------------------
# Each builder keeps its store under $work (dockerd: its private data root). p_reset empties
# it (and its build cache); p_build, p_push and p_pull are timed (T_WALL, T_RSS). Every
# build gets --network host: dockerd runs without a bridge, and the same for all three
# keeps network setup out of the comparison (no RUN here needs a network).
HOIST=("$hoist" --root "$work/hoist")
BUILDAH=(buildah --root "$work/buildah/root" --runroot "$work/buildah/run" --storage-driver overlay)
DOCKER=(env DOCKER_BUILDKIT=1 "$docker_cli")
repro_epoch=1700000000

# ptimed PEER LOG CMD...: timed; for BuildKit, T_RSS is the docker CLI's peak plus dockerd's
# (its VmHWM, reset before the command through /proc/PID/clear_refs): dockerd does the work.
ptimed() {
  local peer=$1 code=0
  shift
  if [[ $peer == buildkit ]]; then echo 5 >"/proc/$dockerd_pid/clear_refs"; fi
  timed "$@" || code=$?
  if [[ $peer == buildkit ]]; then
    T_RSS=$(awk -v c="$T_RSS" '/^VmHWM:/ { printf "%.1f", c + $2 / 1024 }' "/proc/$dockerd_pid/status")
  fi
  return "$code"
}

p_reset() {
  case $1 in
    hoist) unmount_under "$work/hoist"; rm -rf "$work/hoist" ;;
    buildah)
      if [[ -d $work/buildah/root ]]; then
        "${BUILDAH[@]}" rm -a >/dev/null 2>&1 || true
        "${BUILDAH[@]}" rmi -a -f >/dev/null 2>&1 || true
      fi
      unmount_under "$work/buildah"
      rm -rf "$work/buildah" ;;
    buildkit)
      "${DOCKER[@]}" system prune -af >/dev/null
      "${DOCKER[@]}" builder prune -af >/dev/null
      [[ -z $("${DOCKER[@]}" images -aq) ]] || { echo "sxs: docker images left after prune" >&2; return 1; } ;;
  esac
}

# p_build PEER LOG TAG CONTEXT, with B_NOCACHE=1, B_JOBS=N, B_IIDFILE=FILE, B_REPRO=1
# translated into each builder's words (the same meaning).
B_NOCACHE=0 B_JOBS="" B_IIDFILE="" B_REPRO=0
p_build() {
  local peer=$1 log=$2 tag=$3 ctx=$4 args=()
  case $peer in
    hoist)
      ((B_NOCACHE)) && args+=(--no-cache)
      [[ -n $B_JOBS ]] && args+=(--jobs "$B_JOBS")
      [[ -n $B_IIDFILE ]] && args+=(--iidfile "$B_IIDFILE")
      local env=()
      ((B_REPRO)) && env=(SOURCE_DATE_EPOCH=$repro_epoch)
      ptimed hoist "$log" env "${env[@]}" "${HOIST[@]}" build --progress plain --network host "${args[@]}" -t "$tag" "$ctx" ;;
    buildah)
      ((B_NOCACHE)) && args+=(--no-cache)
      [[ -n $B_JOBS ]] && args+=(--jobs "$B_JOBS")
      [[ -n $B_IIDFILE ]] && args+=(--iidfile "$B_IIDFILE")
      ((B_REPRO)) && args+=(--timestamp "$repro_epoch")
      ptimed buildah "$log" "${BUILDAH[@]}" bud --layers --tls-verify=false --network host "${args[@]}" -t "$tag" "$ctx" ;;
    buildkit)
      # BuildKit builds independent stages at once anyway (no --jobs). SOURCE_DATE_EPOCH
      # as a build-arg is what BuildKit 0.11+ reads; dockerd 20.10's BuildKit 0.8 ignores it.
      ((B_NOCACHE)) && args+=(--no-cache)
      [[ -n $B_IIDFILE ]] && args+=(--iidfile "$B_IIDFILE")
      ((B_REPRO)) && args+=(--build-arg "SOURCE_DATE_EPOCH=$repro_epoch")
      ptimed buildkit "$log" "${DOCKER[@]}" build --progress plain --network host "${args[@]}" -t "$tag" "$ctx" ;;
  esac
}
p_push() {  # PEER LOG TAG REF
  case $1 in
    hoist) "${HOIST[@]}" tag "$3" "$4" && ptimed hoist "$2" "${HOIST[@]}" push "$4" ;;
    buildah) ptimed buildah "$2" "${BUILDAH[@]}" push --tls-verify=false "$3" "docker://$4" ;;
    buildkit) "${DOCKER[@]}" tag "$3" "$4" && ptimed buildkit "$2" "${DOCKER[@]}" push "$4" ;;
  esac
}
p_pull() {  # PEER LOG REF: into the peer's store (after p_reset: an empty one)
  case $1 in
    hoist) ptimed hoist "$2" "${HOIST[@]}" pull "$3" ;;
    buildah) ptimed buildah "$2" "${BUILDAH[@]}" pull --tls-verify=false "$3" ;;
    buildkit) ptimed buildkit "$2" "${DOCKER[@]}" pull "$3" ;;
  esac
}
# Sum of the layer sizes (compressed, as pushed) of REF's manifest in the registry.
pushed_bytes() {
  local ref=$1 host=${1%%/*} rest=${1#*/}
  curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
    "http://$host/v2/${rest%:*}/manifests/${rest##*:}" | jq '[.layers[].size] | add'
}

# ---- results ------------------------------------------------------------------------------
# rec KEY PEER VALUE: one run's value; fail KEY PEER: that run failed (the log says why).
declare -A VAL=() FAILED=()
rec() { VAL[$1|$2]="${VAL[$1|$2]:-} $3"; }
fail() { FAILED[$1|$2]=1; echo "  $2: $1 failed (logs in $logs)"; }
live() { printf '  %-9s %-22s %s\n' "$1" "$2" "$3"; }
active() { [[ -z ${SKIP[$1]:-} ]]; }

# ---- setup: bases in the local registry ---------------------------------------------------
setup_bases() {
  echo "setup: busybox base (tests/fixtures/make_busybox_rootfs.sh), hoist import, push to the local registry"
  busybox_tar
  start_registry base
  BASE=$REGISTRY
  local S=("$hoist" --root "$work/setup-store")
  "${S[@]}" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["sh"]' "$work/busybox.tar" "$BASE/bench/busybox:latest" >/dev/null
  "${S[@]}" push "$BASE/bench/busybox:latest" >"$logs/setup-push-busybox.log" 2>&1
  BUSYBOX=$BASE/bench/busybox:latest
}

# ---- the cells ----------------------------------------------------------------------------
# COPY of the context: cold (empty store, base in the registry), push to an empty registry
# (first push of that build), no-change rebuild, one-file change, pull into an empty store.
cell_copy() {
  local ctx=$work/ctx-copy i p
  echo "copy: COPY of $copy_files x 4 KiB files ($(mb $((copy_files * copy_size))) MB), $runs runs, the builders in turn"
  bash "$repo/bench/gen_tree.sh" "$ctx/data" "$copy_files" "$copy_size" 3
  printf 'FROM %s\nCOPY data /data\n' "$BUSYBOX" >"$ctx/Dockerfile"
  local victim=$ctx/data/d0001/f000
  cp -p "$victim" "$work/victim.orig"
  for ((i = 1; i <= runs; i++)); do
    for p in "${peers[@]}"; do
      active "$p" || continue
      copy_cycle "$p" "$i" || true
    done
  done
}
copy_cycle() {
  local p=$1 i=$2 ctx=$work/ctx-copy L=$logs/copy-$1-$2
  p_reset "$p" || { fail copy.cold "$p"; return 1; }
  B_NOCACHE=0
  p_build "$p" "$L-cold.log" copy "$ctx" || { fail copy.cold "$p"; return 1; }
  rec copy.cold "$p" "$T_WALL"; rec rss:copy.cold "$p" "$T_RSS"; live "$p" "cold build" "$T_WALL s, $T_RSS MiB"
  start_registry "push-$p"
  local ref=$REGISTRY/bench/copy:latest
  if p_push "$p" "$L-push.log" copy "$ref"; then
    rec copy.push "$p" "$T_WALL"; rec size:copy "$p" "$(pushed_bytes "$ref")"; live "$p" "push" "$T_WALL s"
  else fail copy.push "$p"; fi
  if p_build "$p" "$L-nochange.log" copy "$ctx"; then
    rec copy.nochange "$p" "$T_WALL"; live "$p" "no-change rebuild" "$T_WALL s"
  else fail copy.nochange "$p"; fi
  yes "changed in run $i by $p" | head -c "$copy_size" >"$ctx/data/d0001/f000"
  if p_build "$p" "$L-change.log" copy "$ctx"; then
    rec copy.change "$p" "$T_WALL"; live "$p" "one-file change" "$T_WALL s"
  else fail copy.change "$p"; fi
  cp -p "$work/victim.orig" "$ctx/data/d0001/f000"
  p_reset "$p"
  if p_pull "$p" "$L-pull.log" "$ref"; then
    rec copy.pull "$p" "$T_WALL"; rec rss:copy.pull "$p" "$T_RSS"; live "$p" "pull, empty store" "$T_WALL s, $T_RSS MiB"
  else fail copy.pull "$p"; fi
  stop_registry "push-$p"
}

# A RUN writing 2 x run_half_mib MiB (half /dev/urandom, half text), --no-cache, base local;
# then its first push to an empty registry (which compresses the layer).
cell_run512() {
  local ctx=$work/ctx-run512 i p n=$((run_half_mib << 20))
  echo "run512: RUN writing $((2 * run_half_mib)) MiB (half incompressible), --no-cache, base local; push; $runs runs"
  mkdir -p "$ctx"
  printf 'FROM %s\nRUN head -c %d /dev/urandom > /random && yes hoist-bench-layer | head -c %d > /text\n' \
    "$BUSYBOX" "$n" "$n" >"$ctx/Dockerfile"
  for p in "${peers[@]}"; do
    active "$p" || continue
    p_reset "$p" && p_pull "$p" "$logs/run512-$p-base.log" "$BUSYBOX" || fail run512.build "$p"
  done
  for ((i = 1; i <= runs; i++)); do
    for p in "${peers[@]}"; do
      active "$p" || continue
      B_NOCACHE=1
      if p_build "$p" "$logs/run512-$p-$i.log" big-run "$ctx"; then
        rec run512.build "$p" "$T_WALL"; rec rss:run512.build "$p" "$T_RSS"; live "$p" "RUN $((2 * run_half_mib)) MiB build" "$T_WALL s, $T_RSS MiB"
      else fail run512.build "$p"; B_NOCACHE=0; continue; fi
      B_NOCACHE=0
      start_registry "push-$p"
      local ref=$REGISTRY/bench/big-run:latest
      if p_push "$p" "$logs/run512-$p-$i-push.log" big-run "$ref"; then
        rec run512.push "$p" "$T_WALL"; rec rss:run512.push "$p" "$T_RSS"; rec size:run512 "$p" "$(pushed_bytes "$ref")"
        live "$p" "push" "$T_WALL s, $T_RSS MiB"
      else fail run512.push "$p"; fi
      stop_registry "push-$p"
    done
  done
  for p in "${peers[@]}"; do active "$p" && p_reset "$p"; done
  return 0
}

# A small RUN on a base of big_files x 512 KiB: pull it into an empty store, the first RUN
# (hoist unpacks at first use, the peers at pull), a second RUN; the same RUN on busybox.
cell_bigbase() {
  local i p root=$work/root-big ctx=$work/ctx-bigbase ctxs=$work/ctx-smallbase
  echo "bigbase: small RUN on a $(mb $((big_files * big_size))) MB base ($big_files files); pull, first RUN, RUN; the same on busybox; $runs runs"
  mkdir -p "$root"
  tar -C "$root" -xf "$work/busybox.tar"
  bash "$repo/bench/gen_tree.sh" "$root/data" "$big_files" "$big_size" 4
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$root" -cf "$work/big.tar" .
  rm -rf "$root"
  local S=("$hoist" --root "$work/setup-store") big=$BASE/bench/bigbase:latest
  "${S[@]}" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$work/big.tar" "$big" >/dev/null
  rm -f "$work/big.tar"
  timed "$logs/setup-push-bigbase.log" "${S[@]}" push "$big"
  echo "  (setup: hoist push of the big base, compressing it: $T_WALL s, $T_RSS MiB)"
  # Issue 12's "peak RSS of pushes of a 1 GiB image": hoist's only (the peers push
  # nothing here).
  rec rss:big.push hoist "$T_RSS"
  mkdir -p "$ctx" "$ctxs"
  printf 'FROM %s\nRUN echo changed > /x\n' "$big" >"$ctx/Dockerfile"
  printf 'FROM %s\nRUN echo changed > /x\n' "$BUSYBOX" >"$ctxs/Dockerfile"
  B_NOCACHE=1
  for ((i = 1; i <= runs; i++)); do
    for p in "${peers[@]}"; do
      active "$p" || continue
      local L=$logs/bigbase-$p-$i pulled
      p_reset "$p" || { fail big.pull "$p"; continue; }
      p_pull "$p" "$L-pull.log" "$big" || { fail big.pull "$p"; continue; }
      pulled=$T_WALL
      rec big.pull "$p" "$T_WALL"; rec rss:big.pull "$p" "$T_RSS"; live "$p" "pull big base" "$T_WALL s, $T_RSS MiB"
      p_build "$p" "$L-first.log" small-run "$ctx" || { fail big.first "$p"; continue; }
      rec big.first "$p" "$(awk -v a="$pulled" -v b="$T_WALL" 'BEGIN { printf "%.3f", a + b }')"
      live "$p" "first RUN" "$T_WALL s"
      p_build "$p" "$L-run.log" small-run "$ctx" || { fail big.run "$p"; continue; }
      rec big.run "$p" "$T_WALL"; rec rss:big.run "$p" "$T_RSS"; live "$p" "RUN on big base" "$T_WALL s, $T_RSS MiB"
      p_reset "$p"
      p_pull "$p" "$L-bb-pull.log" "$BUSYBOX" && p_build "$p" "$L-bb-first.log" small-run "$ctxs" &&
        p_build "$p" "$L-bb-run.log" small-run "$ctxs" || { fail bb.run "$p"; continue; }
      rec bb.run "$p" "$T_WALL"; live "$p" "RUN on busybox" "$T_WALL s"
    done
  done
  B_NOCACHE=0
  for p in "${peers[@]}"; do active "$p" && p_reset "$p"; done
  return 0
}

# Two independent stages each `RUN sleep 3`, a final stage copying from both; --no-cache,
# hoist and buildah with --jobs 2, BuildKit as it is (it builds independent stages at once).
cell_stages() {
  local ctx=$work/ctx-stages i p
  echo "stages: two independent stages each RUN sleep 3, --no-cache (hoist, buildah: --jobs 2), $runs runs"
  mkdir -p "$ctx"
  printf '%s\n' "FROM $BUSYBOX AS one" 'RUN sleep 3 && echo one > /one' "FROM $BUSYBOX AS two" \
    'RUN sleep 3 && echo two > /two' "FROM $BUSYBOX" 'COPY --from=one /one /one' 'COPY --from=two /two /two' \
    >"$ctx/Dockerfile"
  B_NOCACHE=1 B_JOBS=2
  for p in "${peers[@]}"; do
    active "$p" || continue
    p_reset "$p" && p_build "$p" "$logs/stages-$p-warm.log" stages "$ctx" || fail stages "$p"
  done
  for ((i = 1; i <= runs; i++)); do
    for p in "${peers[@]}"; do
      active "$p" || continue
      if p_build "$p" "$logs/stages-$p-$i.log" stages "$ctx"; then
        rec stages "$p" "$T_WALL"; live "$p" "two stages" "$T_WALL s"
      else fail stages "$p"; fi
    done
  done
  B_NOCACHE=0 B_JOBS=""
  for p in "${peers[@]}"; do active "$p" && p_reset "$p"; done
  return 0
}

# The hello image on a python base (bench/python_rootfs.sh: the host's python3), cold.
cell_hello() {
  local ctx=$work/ctx-hello i p py=$BASE/bench/python:3
  echo "hello: WORKDIR + COPY hello_world.py + CMD on a python base made from the host's python3, cold, $runs runs"
  bash "$repo/bench/python_rootfs.sh" "$work/busybox.tar" "$work/python.tar" || { echo "  no python base: the cell is not measured"; HELLO_WHY="bench/python_rootfs.sh failed"; return 0; }
  local S=("$hoist" --root "$work/setup-store")
  "${S[@]}" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' "$work/python.tar" "$py" >/dev/null
  "${S[@]}" push "$py" >"$logs/setup-push-python.log" 2>&1
  mkdir -p "$ctx"
  echo 'print("Hello, world!")' >"$ctx/hello_world.py"
  printf '%s\n' "FROM $py" 'WORKDIR /app' 'COPY hello_world.py .' 'CMD ["python3", "hello_world.py"]' >"$ctx/Dockerfile"
  for ((i = 1; i <= runs; i++)); do
    for p in "${peers[@]}"; do
      active "$p" || continue
      p_reset "$p" || { fail hello "$p"; continue; }
      if p_build "$p" "$logs/hello-$p-$i.log" demo1 "$ctx"; then
        rec hello "$p" "$T_WALL"; live "$p" "hello, cold" "$T_WALL s"
      else fail hello "$p"; fi
    done
  done
  for p in "${peers[@]}"; do active "$p" && p_reset "$p"; done
  return 0
}

# buildah keeps its cache mounts outside --root: $TMPDIR/buildah-cache (1.28; later
# versions add -UID). Removed before a cold build and at the end.
clear_buildah_cache_mounts() {
  rm -rf "${TMPDIR:-/var/tmp}/buildah-cache" "${TMPDIR:-/var/tmp}/buildah-cache-$EUID"
}

# examples/sklearn as a user builds it (opt-in, `--only sklearn`: it needs the Debian mirror
# and takes about 3 minutes a run): FROM debian:bookworm (make-bases.sh --mirror, pushed to
# the local registry), apt-get of python3-sklearn from the mirror through a cache mount, the
# model trained in a RUN. Per run and builder: cold (empty store, empty cache mounts), a
# no-change rebuild, and train.py changed (its COPY and the training again, apt cached).
cell_sklearn() {
  local ctx=$work/ctx-sklearn i p deb=$BASE/bench/debian:bookworm
  echo "sklearn: examples/sklearn (apt-get of python3-sklearn from the Debian mirror through a cache mount, a model trained in a RUN), $runs runs"
  if ! need debootstrap debootstrap "the sklearn cell's debian base"; then
    SKLEARN_WHY="debootstrap is not installed"
    return 0
  fi
  if ! debian_bookworm "$work/setup-store" "$logs/setup-debian.log"; then
    SKLEARN_WHY="examples/base-images/make-bases.sh --mirror debian:bookworm failed (no mirror?): $logs/setup-debian.log"
    return 0
  fi
  local S=("$hoist" --root "$work/setup-store")
  "${S[@]}" tag debian:bookworm "$deb" && "${S[@]}" push "$deb" >"$logs/setup-push-debian.log" 2>&1 ||
    { SKLEARN_WHY="pushing the debian base failed: $logs/setup-push-debian.log"; return 0; }
  mkdir -p "$ctx"
  cp -r "$repo/examples/sklearn/." "$ctx/"
  sed -i "s|^ARG BASE=.*|ARG BASE=$deb|" "$ctx/Dockerfile"
  grep -qxF "ARG BASE=$deb" "$ctx/Dockerfile" || { SKLEARN_WHY="examples/sklearn/Dockerfile has no ARG BASE= line"; return 0; }
  cp -p "$ctx/train.py" "$work/train.py.orig"
  for ((i = 1; i <= runs; i++)); do
    for p in "${peers[@]}"; do
      active "$p" || continue
      local L=$logs/sklearn-$p-$i
      p_reset "$p" || { fail sk.cold "$p"; continue; }
      [[ $p != buildah ]] || clear_buildah_cache_mounts
      if ! p_build "$p" "$L-cold.log" sklearn "$ctx"; then fail sk.cold "$p"; continue; fi
      # Cold means apt downloaded the packages: its cache mount was empty.
      if ! grep -Eq "Get:[0-9]+ .* python3-sklearn " "$L-cold.log"; then
        echo "  $p: the cold build downloaded no python3-sklearn: its apt cache was not empty"
        fail sk.cold "$p"; continue
      fi
      # No RSS row: GNU time's peak is the largest process waited for, here python training.
      rec sk.cold "$p" "$T_WALL"; live "$p" "cold build" "$T_WALL s"
      if p_build "$p" "$L-nochange.log" sklearn "$ctx"; then
        rec sk.nochange "$p" "$T_WALL"; live "$p" "no-change rebuild" "$T_WALL s"
      else fail sk.nochange "$p"; fi
      echo "# changed in run $i by $p" >>"$ctx/train.py"
      if p_build "$p" "$L-change.log" sklearn "$ctx"; then
        rec sk.change "$p" "$T_WALL"; live "$p" "train.py changed" "$T_WALL s"
      else fail sk.change "$p"; fi
      cp -p "$work/train.py.orig" "$ctx/train.py"
    done
  done
  for p in "${peers[@]}"; do active "$p" && p_reset "$p"; done
  [[ " ${peers[*]} " != *" buildah "* ]] || clear_buildah_cache_mounts
  return 0
}

# Two no-cache builds, each into an empty store, with each builder's way of fixing times
# (hoist: SOURCE_DATE_EPOCH; buildah: --timestamp; BuildKit: the SOURCE_DATE_EPOCH build-arg):
# the same image id?
cell_repro() {
  local ctx=$work/ctx-repro p k
  echo "repro: FROM busybox + COPY $repro_files files + RUN, two --no-cache builds into empty stores: same image id?"
  bash "$repo/bench/gen_tree.sh" "$ctx/data" "$repro_files" 4096 5
  printf 'FROM %s\nCOPY data /data\nRUN echo built > /built\n' "$BUSYBOX" >"$ctx/Dockerfile"
  B_NOCACHE=1 B_REPRO=1
  for p in "${peers[@]}"; do
    active "$p" || continue
    local ids=()
    for k in 1 2; do
      B_IIDFILE=$work/iid-$p-$k
      p_reset "$p" && p_build "$p" "$logs/repro-$p-$k.log" repro "$ctx" || { fail repro "$p"; continue 2; }
      ids+=("$(cat "$B_IIDFILE")")
    done
    if [[ ${ids[0]} == "${ids[1]}" ]]; then rec repro "$p" yes; else rec repro "$p" no; fi
    live "$p" "same image id" "${ids[0]:7:12} ${ids[1]:7:12}"
    p_reset "$p"
  done
  B_NOCACHE=0 B_REPRO=0 B_IIDFILE=""
}

# What the machine can do on the same data, for scale: copy, hash, compress.
cell_limits() {
  local ctx=$work/ctx-copy i
  echo "limits: the tools alone on the COPY context and on the big RUN's data, $runs runs"
  [[ -d $ctx/data ]] || bash "$repo/bench/gen_tree.sh" "$ctx/data" "$copy_files" "$copy_size" 3
  tar -C "$ctx" -cf "$work/ctx.tar" data
  local n=$((run_half_mib << 20))
  { head -c "$n" /dev/urandom; yes hoist-bench-layer | head -c "$n"; } >"$work/run.data"
  limit() {  # KEY COMMAND (sh -c)
    local t=() k
    for ((k = 1; k <= runs; k++)); do
      rm -rf "$work/cp-dest"
      timed "$logs/limit-$1-$k.log" sh -c "$2" || { fail "$1" limit; return 0; }
      t+=("$T_WALL")
    done
    rec "$1" limit "$(median "${t[@]}")"; live tool "$1" "$(median "${t[@]}") s"
  }
  limit lim.cp "cp -a '$ctx/data' '$work/cp-dest'"
  limit lim.tar "tar -C '$ctx' -cf - data | cat > /dev/null"
  limit lim.sha "sha256sum '$work/ctx.tar' > /dev/null"
  if command -v pigz >/dev/null; then limit lim.pigz "pigz -6 -c '$work/ctx.tar' > /dev/null"; fi
  if command -v zstd >/dev/null; then limit lim.zstd "zstd -q -T0 -3 -c '$work/ctx.tar' > /dev/null"; fi
  limit lim.sha512 "sha256sum '$work/run.data' > /dev/null"
  if command -v pigz >/dev/null; then limit lim.pigz512 "pigz -6 -c '$work/run.data' > /dev/null"; fi
  if command -v zstd >/dev/null; then limit lim.zstd512 "zstd -q -T0 -3 -c '$work/run.data' > /dev/null"; fi
  # What no build of the big RUN can beat: its command alone, run by the base's busybox
  # (tests/fixtures/make_busybox_rootfs.sh copies /bin/busybox), writing into a directory
  # here; no builder, no layer.
  limit lim.runcmd "mkdir '$work/cp-dest' && /bin/busybox sh -c 'busybox head -c $n /dev/urandom > $work/cp-dest/random && busybox yes hoist-bench-layer | busybox head -c $n > $work/cp-dest/text'"
  # What no builder's push can beat: the registry taking in the compressed 512 MiB (one
  # POST, one streamed PUT with the digest, as curl sends it), and what no no-change
  # rebuild can beat: one stat of each context file.
  limit lim.stat "find '$ctx/data' -printf '%s %T@ %C@ %i\\n' > /dev/null"
  gzip -6 -c "$work/run.data" >"$work/run.data.gz"
  local gz_digest
  gz_digest=sha256:$(sha256sum "$work/run.data.gz" | cut -c1-64)
  limit lim.put512 "k=\$(date +%s%N); loc=\$(curl -sf -D - -o /dev/null -X POST http://$BASE/v2/bench/limit-\$k/blobs/uploads/ |
    tr -d '\\r' | sed -n 's/^[Ll]ocation: //p') && curl -sf -o /dev/null -T '$work/run.data.gz' \
    -H 'Content-Type: application/octet-stream' \"\$loc&digest=$gz_digest\""
  rm -rf "$work/cp-dest" "$work/ctx.tar" "$work/run.data" "$work/run.data.gz"
}

# ---- the table ----------------------------------------------------------------------------
# KIND: time (median, ratio hoist / best peer, target 0.5), size (MB pushed), rss (max MiB;
# hoist's target 64), yes (same digest), limit (the tool's median, in the hoist column).
row_defs=(
  "copy.cold|time|COPY ${copy_files} x 4 KiB: cold build"
  "copy.nochange|time|COPY: no-change rebuild"
  "copy.change|time|COPY: one-file change"
  "copy.push|time|COPY: push (first, to an empty registry)"
  "copy.pull|time|COPY: pull into an empty store"
  "size:copy|size|COPY: compressed size pushed"
  "rss:copy.cold|rss|COPY: peak RSS, cold build"
  "rss:copy.pull|rss|COPY: peak RSS, pull"
  "run512.build|time|RUN writing $((2 * run_half_mib)) MiB, --no-cache"
  "run512.push|time|RUN $((2 * run_half_mib)) MiB: push (compresses)"
  "size:run512|size|RUN $((2 * run_half_mib)) MiB: compressed size pushed"
  "rss:run512.build|rss|RUN $((2 * run_half_mib)) MiB: peak RSS, build"
  "rss:run512.push|rss|RUN $((2 * run_half_mib)) MiB: peak RSS, push"
  "big.pull|time|$((big_files / 2)) MiB base ($big_files files): pull into an empty store"
  "big.first|time|$((big_files / 2)) MiB base: pull + first small RUN"
  "big.run|time|small RUN on the $((big_files / 2)) MiB base"
  "bb.run|time|the same RUN on busybox"
  "rss:big.pull|rss|$((big_files / 2)) MiB base: peak RSS, pull"
  "rss:big.push|rss|$((big_files / 2)) MiB base: peak RSS, hoist's push (setup, compresses)"
  "stages|time|two stages each sleep 3 (parallel)"
  "hello|time|hello on a python base, cold"
  "sk.cold|time|examples/sklearn: cold build (apt from the Debian mirror)"
  "sk.nochange|time|examples/sklearn: no-change rebuild"
  "sk.change|time|examples/sklearn: train.py changed"
  "repro|yes|two no-cache builds: same image id"
  "lim.cp|limit|limit: cp -a of the COPY context"
  "lim.tar|limit|limit: tar of the COPY context (read all)"
  "lim.sha|limit|limit: sha256sum of the context tar"
  "lim.pigz|limit|limit: pigz -6 of the context tar"
  "lim.zstd|limit|limit: zstd -T0 -3 of the context tar"
  "lim.sha512|limit|limit: sha256sum of the RUN's $((2 * run_half_mib)) MiB"
  "lim.pigz512|limit|limit: pigz -6 of the RUN's $((2 * run_half_mib)) MiB"
  "lim.zstd512|limit|limit: zstd -T0 -3 of the RUN's $((2 * run_half_mib)) MiB"
  "lim.runcmd|limit|limit: the big RUN's command alone (busybox, no builder)"
  "lim.stat|limit|limit: a stat of each COPY context file (find -printf)"
  "lim.put512|limit|limit: the registry taking in the RUN's layer, gzip -6 (curl POST + PUT)"
)
# The value shown for KEY, PEER and KIND (empty when not measured).
cell_value() {
  local vals=${VAL[$1|$2]:-}
  if [[ -z ${vals// /} ]]; then
    if [[ -n ${FAILED[$1|$2]:-} ]]; then echo FAIL; fi
    return 0
  fi
  # shellcheck disable=SC2086
  case $3 in
    time | limit) awk -v m="$(median $vals)" 'BEGIN { printf "%.2f", m }' ;;
    size) mb "$(median $vals)" ;;
    rss) maxof $vals ;;
    yes) echo "${vals##* }" ;;
  esac
}
print_table() {
  local def key kind label p v h best ratio target status cols
  echo "| cell | hoist | buildah | buildkit | ratio (hoist / best peer) | target |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for def in "${row_defs[@]}"; do
    IFS='|' read -r key kind label <<<"$def"
    cols=()
    if [[ $kind == limit ]]; then
      v=$(cell_value "$key" limit limit)
      [[ -n $v ]] || continue
      echo "| $label | $v s (the tool) | | | | floor |"
      continue
    fi
    local unit=""
    case $kind in time) unit=" s" ;; size) unit=" MB" ;; rss) unit=" MiB" ;; esac
    best="" h=$(cell_value "$key" hoist "$kind")
    local any=""
    for p in hoist buildah buildkit; do
      if [[ " ${peers[*]} " != *" $p "* ]]; then cols+=("not run"); continue; fi
      if [[ -n ${SKIP[$p]:-} ]]; then cols+=("skipped"); continue; fi
      v=$(cell_value "$key" "$p" "$kind")
      [[ -n $v ]] && any=1
      if [[ -z $v ]]; then cols+=("-"); elif [[ $v == FAIL || $kind == yes ]]; then cols+=("$v"); else cols+=("$v$unit"); fi
      if [[ $p != hoist && -n $v && $v != FAIL && $kind != yes ]]; then
        best=$(awk -v a="$v" -v b="$best" 'BEGIN { print (b == "" || a + 0 < b + 0) ? a : b }')
      fi
    done
    [[ -n $any ]] || continue
    ratio="-"
    if [[ $kind != yes && -n $h && $h != FAIL && -n $best ]]; then ratio=$(div "$h" "$best"); fi
    case $kind in
      time) target="<= 0.5"; status=$(awk -v r="$ratio" 'BEGIN { print (r == "-") ? "" : (r + 0 <= 0.5) ? " ok" : " over" }') ;;
      rss) target="hoist <= 64 MiB"; status=$(awk -v h="$h" 'BEGIN { print (h == "" || h == "FAIL") ? "" : (h + 0 <= 64) ? " ok" : " over" }') ;;
      yes) target="yes"; status=""; [[ $h == yes ]] && status=" ok"; [[ $h == no ]] && status=" differs" ;;
      *) target="-"; status="" ;;
    esac
    echo "| $label | ${cols[0]} | ${cols[1]} | ${cols[2]} | $ratio | $target$status |"
  done
}

# ---- main ---------------------------------------------------------------------------------
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "hoist side by side: $("$hoist" version 2>/dev/null | head -n 1) ($build_note)"
echo "  $(buildah --version 2>/dev/null || echo 'buildah: none'); docker CLI ${docker_cli_version:-not used}"
echo "  host $(hostname -s), $(nproc) cores, load $load_start, $( ((quick)) && echo quick || echo full) sizes, $runs runs a cell, work dir $work"
echo "  peak RSS: $rss_tool; BuildKit's is dockerd's VmHWM + the docker CLI's"
echo "  stores, registries and dockerd's data root on: $fs_note"
if [[ " ${peers[*]} " == *" buildkit "* && -z ${SKIP[buildkit]:-} ]]; then
  echo "  starting a private dockerd (.ci/docker.sh: --bridge=none --iptables=false, its own socket, data and exec roots)"
  start_private_dockerd "$work"
  if [[ -n ${HOIST_DOCKER_ERROR:-} ]]; then
    SKIP[buildkit]=$HOIST_DOCKER_ERROR
  else
    echo "  dockerd $("$docker_cli" version --format '{{.Server.Version}}' 2>/dev/null) at $DOCKER_HOST (pid $dockerd_pid)"
  fi
fi
for p in "${!SKIP[@]}"; do echo "  SKIPPED $p: ${SKIP[$p]}"; done
echo
setup_bases
HELLO_WHY="" SKLEARN_WHY=""
report() {
  echo "side by side, $started to $(date -u +%Y-%m-%dT%H:%M:%SZ), load average $load_start -> $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $( ((quick)) && echo quick || echo full) sizes, median of $runs runs"
  echo "hoist: $("$hoist" version 2>/dev/null | head -n 1) ($build_note); bench/sxs.sh at commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "stores on: $fs_note"
  echo
  print_table
  echo
  for p in "${!SKIP[@]}"; do echo "$p skipped: ${SKIP[$p]}"; done
  [[ -z $HELLO_WHY ]] || echo "hello not measured: $HELLO_WHY"
  [[ -z $SKLEARN_WHY ]] || echo "sklearn not measured: $SKLEARN_WHY"
}
for c in copy run512 bigbase stages hello sklearn repro limits; do
  wanted "$c" || continue
  echo "[$(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg)]"
  "cell_$c" || echo "  $c: stopped early (see above)"
  [[ -z $out ]] || report >"$out"
done

echo
report
