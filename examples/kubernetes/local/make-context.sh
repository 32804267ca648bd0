#!/bin/sh
# Gathers a build context for local/Dockerfile: HOIST (a built hoist binary, stripped when
# strip is installed) as rootfs/usr/local/bin/hoist, and every shared library `ldd HOIST`
# names (symlinks resolved) at the same path under rootfs/, plus the Dockerfile.
#
#   sh examples/kubernetes/local/make-context.sh build/builder/hoist OUT_DIR
set -eu
hoist=${1:?usage: make-context.sh HOIST_BINARY OUT_DIR}
out=${2:?usage: make-context.sh HOIST_BINARY OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/rootfs/usr/local/bin"
if command -v strip >/dev/null 2>&1; then
  strip --strip-unneeded -o "$out/rootfs/usr/local/bin/hoist" "$hoist"
else
  cp "$hoist" "$out/rootfs/usr/local/bin/hoist"
fi
# "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
for lib in $(ldd "$hoist" | sed -n 's|.*[[:space:]]\(/[^[:space:]]*\) (0x.*|\1|p'); do
  mkdir -p "$out/rootfs$(dirname "$lib")"
  cp -L "$lib" "$out/rootfs$lib"
done
[ -e "$out/rootfs/usr/local/bin/hoist" ] && ls "$out"/rootfs/lib*/ >/dev/null 2>&1 || {
  echo "make-context.sh: no shared libraries found with ldd $hoist" >&2
  exit 1
}
cp "$here/Dockerfile" "$out/Dockerfile"
