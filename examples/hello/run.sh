#!/usr/bin/env bash
# The main job, end to end: install what is missing, build hoist, import a small busybox
# base image, build examples/hello with hoist, and run it (it prints "Hello World!").
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"

bash .ci/deps.sh
if [[ ! -f build/build.ninja ]]; then
  meson setup build
fi
ninja -C build builder/hoist
hoist=$repo/build/builder/hoist

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sh tests/fixtures/make_busybox_rootfs.sh "$work/busybox.tar"
"$hoist" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["sh"]' \
  "$work/busybox.tar" busybox:latest >/dev/null
"$hoist" build -t hello examples/hello
# Prints "Hello World!".
"$hoist" run --rm hello
