#!/usr/bin/env bash
# A private registry with a password, end to end: starts Debian's docker-registry on
# 127.0.0.1 (a free port, storage in a temp dir, htpasswd Basic auth), logs in with
# `hoist login --password-stdin`, builds a small image on BASE and pushes it, pulls it into a
# second, empty store and runs it from there, logs out (a pull is then refused), and stops
# the registry. Nothing outside the temp dir is changed: the credentials go to a
# DOCKER_CONFIG of its own.
#
#   bash examples/registry/run.sh
#
# Environment:
#   HOIST       the hoist binary (default: build/builder/hoist of this checkout, else `hoist`)
#   HOIST_ROOT  the store the image is built in, where BASE must be (hoist's default store
#               when unset); the pull goes to a second store in the temp dir
#   BASE        the base image (default busybox:latest: examples/hello/run.sh imports one)
# Needs: docker-registry, htpasswd (apache2-utils), python3 (to find a free port).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
hoist=${HOIST:-}
if [[ -z "$hoist" ]]; then
  if [[ -x "$repo/build/builder/hoist" ]]; then hoist=$repo/build/builder/hoist; else hoist=hoist; fi
fi
base=${BASE:-busybox:latest}
for tool in docker-registry htpasswd python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install docker-registry apache2-utils python3)" >&2; exit 1; }
done

work=$(mktemp -d)
registry_pid=""
stop_registry() {
  if [[ -n "$registry_pid" ]]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=""
  fi
}
trap 'stop_registry; rm -rf "$work"' EXIT

user=data-scientist
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
registry=127.0.0.1:$port
image=$registry/examples/greeting:1.0

echo "== 1. docker-registry on $registry, htpasswd auth for user $user"
# The same bcrypt entry the registry tests make (tests/support/registry_fixture.cpp).
htpasswd -Bbn "$user" "$password" >"$work/htpasswd"
cat >"$work/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: $registry
  secret: examples-registry-secret
auth:
  htpasswd:
    realm: hoist-example
    path: $work/htpasswd
YAML
docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log" >&2; exit 1; }
  sleep 0.1
done
(: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "docker-registry did not start:" >&2; cat "$work/registry.log" >&2; exit 1; }

# Credentials go to this config.json, not ~/.docker/config.json.
export DOCKER_CONFIG=$work/docker

echo "== 2. hoist login"
printf '%s\n' "$password" | "$hoist" login -u "$user" --password-stdin "$registry"

echo "== 3. hoist build -t $image"
mkdir -p "$work/context"
printf 'Hello from a private registry!\n' >"$work/context/greeting.txt"
cat >"$work/context/Dockerfile" <<DOCKERFILE
ARG BASE=busybox:latest
FROM \$BASE
COPY greeting.txt /greeting.txt
CMD ["cat", "/greeting.txt"]
DOCKERFILE
"$hoist" build --progress plain --build-arg "BASE=$base" -t "$image" "$work/context"

echo "== 4. hoist push $image"
"$hoist" push "$image"

echo "== 5. hoist pull into a second, empty store"
second=(--root "$work/second-store")
"$hoist" "${second[@]}" pull "$image"
"$hoist" "${second[@]}" images

echo "== 6. hoist run from the second store"
"$hoist" "${second[@]}" run --rm --pull never "$image"

echo "== 7. hoist logout"
"$hoist" logout "$registry"
if "$hoist" --root "$work/third-store" pull "$image" >"$work/pull.log" 2>&1; then
  echo "pull after logout succeeded: the registry did not ask for a password" >&2
  exit 1
fi
echo "pull after logout refused, as it should be:"
sed 's/^/  /' "$work/pull.log"

echo "== 8. stop docker-registry"
stop_registry
echo "done"
