#!/usr/bin/env bash
# Makes a python base image's root filesystem offline, from the host's /usr/bin/python3
# (or $PYTHON), for bench/sxs.sh's hello cell:
#
#   bash bench/python_rootfs.sh BUSYBOX.tar OUT.tar
#
# The tree is the busybox one (tests/fixtures/make_busybox_rootfs.sh makes BUSYBOX.tar)
# plus /usr/bin/python3, the host's standard library (/usr/lib/python3.X, without its test
# suite) and the shared libraries the interpreter and its extension modules load (as ldd
# lists them, at the same paths). Entries are sorted and owned by 0:0 with mtime 0, so the
# same host gives the same tar. It is checked by running python3 in it (chroot).
set -euo pipefail
busybox_tar=${1:?usage: python_rootfs.sh BUSYBOX.tar OUT.tar}
out=${2:?usage: python_rootfs.sh BUSYBOX.tar OUT.tar}
# Debian's interpreter (python3 on PATH may be a pyenv shim or a virtualenv).
python=$(readlink -f "${PYTHON:-/usr/bin/python3}")
[[ -x $python ]] || { echo "python_rootfs.sh: $python not found (apt-get install python3)" >&2; exit 1; }
ver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
stdlib=/usr/lib/python$ver
[[ -d $stdlib ]] || { echo "python_rootfs.sh: $stdlib not found" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/usr/bin" "$root/usr/lib"
tar -C "$root" -xf "$busybox_tar"
cp "$python" "$root/usr/bin/python$ver"
ln -s "python$ver" "$root/usr/bin/python3"
ln -s python3 "$root/usr/bin/python"
tar -C / --exclude="${stdlib#/}/test" --exclude='__pycache__' -cf - "${stdlib#/}" | tar -C "$root" -xf -
# Every library the interpreter and its extension modules need, at the path ldd gives.
libs=$({ ldd "$python"; find "$stdlib/lib-dynload" -name '*.so' -exec ldd {} \; ; } 2>/dev/null || true)
printf '%s\n' "$libs" |
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
  while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
chroot "$root" /usr/bin/python3 -c 'import json, hashlib, zlib; print("ok")' >/dev/null ||
  { echo "python_rootfs.sh: python3 does not run in the tree" >&2; exit 1; }
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$root" -cf "$out" .
