#!/usr/bin/env bash
# Makes the base images the examples start from, without Docker Hub, and imports them into
# hoist's store (examples/base-images/README.md says what each holds):
#
#   bash examples/base-images/make-bases.sh --mirror|--offline [--push HOST:PORT] [--rebuild] [IMAGE...]
#
# IMAGE: busybox:latest, debian:bookworm (also tagged debian:bookworm-slim), python:3, gcc:12;
# all four when none is named.
#   --mirror    debootstrap --variant=minbase bookworm from the Debian mirror apt is configured
#               with (/etc/apt/sources.list{,.d}; MIRROR=URL overrides), --include'ing python3
#               or gcc for python:3 and gcc:12. Needs root and the mirror.
#   --offline   no network: the Debian packages installed on this machine (the Essential and
#               required ones, plus python3 or gcc + libc6-dev), closed over their dependencies,
#               with their files as they are here (host-files.pl).
#   --push HOST:PORT  also push each image to that registry, as HOST:PORT/NAME:TAG.
#   --rebuild   remake the root filesystems even when the cache has them.
# busybox:latest is the host's static busybox in both modes (tests/fixtures/make_busybox_rootfs.sh).
#
# Environment: HOIST (the hoist binary; default `hoist` in PATH, else this checkout's
# build/builder/hoist), HOIST_ROOT (the store, as for hoist itself), XDG_CACHE_HOME (the cache
# is $XDG_CACHE_HOME/hoist/bases, default ~/.cache/hoist/bases), MIRROR, SOURCE_DATE_EPOCH
# (the images' creation time; default 0, so the same root filesystem is the same image id).
#
# Each root filesystem tarball is cached under a key made of its recipe: this script, the mode,
# and for --offline the installed packages' versions, for --mirror the mirror's URL. A changed
# input makes a new tarball; an image already in the store with the same key is not imported
# again. Prints one line per image; exits non-zero naming what failed.
set -euo pipefail
# A failure inside $(...) stops the script too, so a half-made tarball never enters the cache.
shopt -s inherit_errexit

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
all_images=(busybox:latest debian:bookworm python:3 gcc:12)
path_env='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

usage() {
  echo "usage: $(sed -n '5p' "${BASH_SOURCE[0]}" | sed 's/^# *//')" >&2
  exit 2
}
die() {
  echo "make-bases.sh: $*" >&2
  exit 1
}

mode="" push="" rebuild=0 images=()
while (($#)); do
  case "$1" in
    --mirror | --offline)
      [[ -z "$mode" || "$mode" == "${1#--}" ]] || { echo "make-bases.sh: --mirror and --offline exclude each other" >&2; usage; }
      mode=${1#--} ;;
    --push)
      [[ $# -ge 2 && "$2" == *:* ]] || { echo "make-bases.sh: --push needs HOST:PORT" >&2; usage; }
      push=$2
      shift ;;
    --push=*)
      push=${1#--push=}
      [[ "$push" == *:* ]] || { echo "make-bases.sh: --push needs HOST:PORT" >&2; usage; } ;;
    --rebuild) rebuild=1 ;;
    -h | --help) sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "make-bases.sh: unknown option $1" >&2; usage ;;
    busybox:latest | busybox | debian:bookworm | debian:bookworm-slim | python:3 | gcc:12)
      case "$1" in busybox) images+=(busybox:latest) ;; debian:bookworm-slim) images+=(debian:bookworm) ;; *) images+=("$1") ;; esac ;;
    *) echo "make-bases.sh: unknown image $1 (one of: ${all_images[*]})" >&2; usage ;;
  esac
  shift
done
[[ -n "$mode" ]] || { echo "make-bases.sh: say --mirror or --offline" >&2; usage; }
((${#images[@]})) || images=("${all_images[@]}")

if [[ -z "${HOIST:-}" ]]; then
  if command -v hoist >/dev/null; then HOIST=hoist
  elif [[ -x "$repo/build/builder/hoist" ]]; then HOIST=$repo/build/builder/hoist
  else die "no hoist: put it in PATH or set HOIST=/path/to/hoist (build it with: meson setup build && ninja -C build)"
  fi
fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/hoist/bases
mkdir -p "$cache"
work=$(mktemp -d "${TMPDIR:-/tmp}/make-bases.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Deterministic tar options: sorted where tar walks a tree, numeric owners, no atime/ctime.
# shellcheck disable=SC2054  # the commas are tar's
tar_opts=(--numeric-owner --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime)

# The bookworm mirror apt uses: the first "deb" source with suite bookworm, one-line or deb822.
find_mirror() {
  if [[ -n "${MIRROR:-}" ]]; then echo "$MIRROR"; return; fi
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk '$1 == "deb" { sub(/\[[^]]*\][ \t]*/, ""); if ($3 == "bookworm") { print $2; exit } }' "$f"
  done | head -n 1 | grep . && return
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    # deb822: stanzas of "Field: value"; the one with Types deb and Suites holding bookworm.
    awk 'function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ / bookworm /) { split(uris, u, " "); print u[1]; found = 1; exit }
                            types = uris = suites = "" }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         tolower($1) == "types:" { $1 = ""; types = $0 }
         tolower($1) == "uris:" { $1 = ""; uris = $0 }
         tolower($1) == "suites:" { $1 = ""; suites = $0 }
         END { if (!found) flush() }' "$f"
  done | head -n 1 | grep . && return
  return 1
}

sha() { sha256sum | cut -c1-16; }

# The packages each Debian-based image is made of, beyond the minimal base.
extra_packages() {
  case "$1" in
    python:3) echo python3 ;;
    gcc:12) echo gcc libc6-dev ;;
    *) ;;
  esac
}

# The image config, as --change instructions.
changes_for() {
  case "$1" in
    busybox:latest) printf '%s\n' "$path_env" 'CMD ["sh"]' ;;
    python:3) printf '%s\n' "$path_env" 'ENV LANG=C.UTF-8' 'CMD ["python3"]' ;;
    *) printf '%s\n' "$path_env" 'CMD ["bash"]' ;;
  esac
}

# The recipe of IMAGE's root filesystem in this mode: what its cache key is made of. Prints it.
recipe() {
  local image=$1
  echo "image $image"
  sha <"${BASH_SOURCE[0]}"
  if [[ "$image" == busybox:latest ]]; then
    sha <"$repo/tests/fixtures/make_busybox_rootfs.sh"
    sha <"${BUSYBOX:-/bin/busybox}"
    return
  fi
  echo "mode $mode"
  echo "mirror $mirror"  # --offline writes it into /etc/apt/sources.list
  if [[ "$mode" == offline ]]; then
    sha <"$here/host-files.pl"
    # shellcheck disable=SC2046
    perl "$here/host-files.pl" packages essential $(extra_packages "$image")
  else
    extra_packages "$image"
  fi
}

# Writes IMAGE's root filesystem tarball to OUT (offline: from this machine's packages).
make_offline_rootfs() {
  local image=$1 out=$2 packages gen="$work/gen"
  # shellcheck disable=SC2046
  packages=$(perl "$here/host-files.pl" packages essential $(extra_packages "$image") | cut -d' ' -f1)
  # shellcheck disable=SC2086
  perl "$here/host-files.pl" files $packages >"$work/files"
  tar -C / --no-recursion "${tar_opts[@]}" -cf "$out" -T "$work/files"

  # What dpkg's packages do not hold: the users and groups base-passwd would make, the files
  # a container runtime fills in, and dpkg's status of exactly these packages.
  rm -rf "$gen"
  mkdir -p "$gen/etc/apt" "$gen/var/lib/dpkg/updates" "$gen/var/lib/dpkg/triggers" "$gen/mnt" "$gen/media" "$gen/opt" "$gen/srv"
  cp /usr/share/base-passwd/passwd.master "$gen/etc/passwd"
  cp /usr/share/base-passwd/group.master "$gen/etc/group"
  : >"$gen/etc/hosts"
  : >"$gen/etc/resolv.conf"
  # shellcheck disable=SC2086
  dpkg-query -s $packages >"$gen/var/lib/dpkg/status"
  : >"$gen/var/lib/dpkg/available"
  : >"$gen/var/lib/dpkg/diversions"
  : >"$gen/var/lib/dpkg/statoverride"
  local generated=(etc/passwd etc/group etc/hosts etc/resolv.conf var/lib/dpkg/status var/lib/dpkg/available
    var/lib/dpkg/diversions var/lib/dpkg/statoverride var/lib/dpkg/updates var/lib/dpkg/triggers)
  # The empty top-level directories debootstrap makes, unless a package here has them.
  local dir
  for dir in mnt media opt srv; do grep -qx "$dir" "$work/files" || generated+=("$dir"); done
  if [[ -n "$mirror" ]]; then
    echo "deb $mirror bookworm main" >"$gen/etc/apt/sources.list"
    generated+=(etc/apt/sources.list)
  fi
  tar -C "$gen" --no-recursion --owner=0 --group=0 --mtime=@0 "${tar_opts[@]}" -rf "$out" "${generated[@]}"
}

# Writes IMAGE's root filesystem tarball to OUT (mirror: debootstrap).
make_mirror_rootfs() {
  local image=$1 out=$2 root="$work/root" include
  include=$(extra_packages "$image" | tr ' ' ',')
  rm -rf "$root"
  mkdir -p "$cache/debs"
  echo "$image: debootstrap --variant=minbase${include:+ --include=$include} bookworm $mirror (a few minutes)" >&2
  if ! debootstrap --variant=minbase ${include:+--include="$include"} --cache-dir="$cache/debs" \
    bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    die "$image: debootstrap from $mirror failed (log above)"
  fi
  # As Docker's images: no downloaded packages or lists, no log of the bootstrap, and the
  # files the runtime provides left empty.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root/var/log/bootstrap.log" \
    "$root"/var/cache/debconf/*-old "$root/debootstrap"
  mkdir -p "$root/var/lib/apt/lists/partial"
  : >"$root/etc/hosts"
  : >"$root/etc/resolv.conf"
  rm -f "$root/etc/hostname"
  tar -C "$root" --sort=name "${tar_opts[@]}" -cf "$out" .
  rm -rf "$root"
}

# The cached tarball of IMAGE (made when missing or when --rebuild). Prints its path.
rootfs_of() {
  local image=$1 key slug file
  key=$(recipe "$image" | sha)
  slug=${image//[:\/]/_}
  local kind=$mode
  [[ "$image" == busybox:latest ]] && kind=host
  file="$cache/$slug-$kind-$key.tar"
  if [[ $rebuild == 1 || ! -s "$file" ]]; then
    rm -f "$cache/$slug-$kind-"*.tar
    case "$image:$kind" in
      busybox:latest:host) sh "$repo/tests/fixtures/make_busybox_rootfs.sh" "$work/rootfs.tar" ;;
      *:offline) make_offline_rootfs "$image" "$work/rootfs.tar" ;;
      *:mirror) make_mirror_rootfs "$image" "$work/rootfs.tar" ;;
    esac
    mv "$work/rootfs.tar" "$file.tmp"
    mv "$file.tmp" "$file"
  fi
  echo "$file"
}

mirror=""
if [[ "$mode" == mirror ]]; then
  mirror=$(find_mirror) || die "no Debian bookworm mirror in /etc/apt/sources.list{,.d}; set MIRROR=URL"
  command -v debootstrap >/dev/null || die "--mirror needs debootstrap (apt-get install debootstrap)"
  [[ $(id -u) == 0 ]] || die "--mirror needs root (debootstrap)"
else
  mirror=$(find_mirror) || mirror=""
fi

for image in "${images[@]}"; do
  file=$(rootfs_of "$image")
  key=$(basename "$file" .tar)
  key=${key##*-}
  names=("$image")
  [[ "$image" == debian:bookworm ]] && names+=(debian:bookworm-slim)
  if "$HOIST" inspect "$image" 2>/dev/null | grep -q "\"org.hoist.base-images.key\": \"$key\""; then
    echo "$image: up to date ($file)"
  else
    changes=()
    while IFS= read -r change; do changes+=(--change "$change"); done < <(changes_for "$image")
    id=$("$HOIST" import "${changes[@]}" \
      --change "LABEL org.hoist.base-images.key=$key" \
      --message "examples/base-images/make-bases.sh$([[ $image == busybox:latest ]] || echo " --$mode")" \
      "$file" "$image") ||
      die "$image: hoist import $file failed"
    echo "$image: imported $id ($file)"
  fi
  for name in "${names[@]:1}"; do
    "$HOIST" tag "$image" "$name" >/dev/null || die "hoist tag $image $name failed"
  done
  if [[ -n "$push" ]]; then
    for name in "${names[@]}"; do
      "$HOIST" tag "$image" "$push/$name" >/dev/null || die "hoist tag $image $push/$name failed"
      "$HOIST" push --quiet "$push/$name" >/dev/null || die "hoist push $push/$name failed"
      echo "$image: pushed $push/$name"
    done
  fi
done
