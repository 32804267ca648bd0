#!/usr/bin/env bash
# Installs what hoist needs to build and test on Debian 12, when missing. Idempotent.
set -euo pipefail
packages=(
  g++ meson ninja-build pkg-config
  libarchive-dev libssl-dev libzstd-dev zlib1g-dev nlohmann-json3-dev libcpp-httplib-dev catch2
  busybox-static libseccomp-dev slirp4netns
)
if [[ "${1:-}" == "--test" ]]; then
  # The real parts the tests talk to: a registry, third-party validators, htpasswd, openssl;
  # capsh (libcap2-bin) takes CAP_SYS_ADMIN away for the chroot executor's test.
  packages+=(docker-registry skopeo umoci apache2-utils openssl clang libcap2-bin)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
