#!/usr/bin/env bash
# Installs what hoist needs to build and test on Debian 12, when missing. Idempotent.
set -euo pipefail
packages=(
  g++ meson ninja-build pkg-config
  libarchive-dev libssl-dev libzstd-dev zlib1g-dev nlohmann-json3-dev libcpp-httplib-dev catch2
  busybox-static
  # The sandbox: Docker's seccomp profile is built with libseccomp; slirp4netns gives a
  # RUN step or `hoist run` its own network namespace with outbound access (the default).
  libseccomp-dev slirp4netns
)
if [[ "${1:-}" == "--test" ]]; then
  # Every program the tests and .ci/run execute on the host, by package (grep the tests for
  # run_program, std::system, popen, exec*; the Essential ones, sh tar gzip cmp unshare
  # base64, come with every Debian):
  #   docker-registry  the registry the push/pull tests talk to
  #   skopeo umoci     third-party readers of what hoist writes
  #   apache2-utils    htpasswd, for the Basic-auth registry
  #   openssl          the test CA and the token issuer's key
  #   zstd             the zstd CLI decodes hoist's zstd layers (layers tests), and with
  #   bzip2 xz-utils   makes the tarballs of every compression that ADD extracts
  #   libcap2-bin      capsh takes CAP_SYS_ADMIN away for the chroot executor's test
  #   docker.io        dockerd and docker: docker load / pull / run of what hoist makes
  #                    (.ci/run starts a private dockerd)
  #   python3          .ci/run's summary, and (with g++'s gcc and libc6-dev) the offline
  #                    python:3 and gcc:12 of examples/base-images (tests/builder/examples_test.cpp)
  #   clang            the fuzz build (.ci/fuzz.sh): clang++ 14, with
  #   libclang-rt-14-dev   libFuzzer and the ASan/UBSan runtimes (only a Recommends of clang)
  #   llvm-14          llvm-symbolizer, for file:line in sanitizer reports
  #   openssh-client   ssh-agent, the real agent RUN --mount=type=ssh is relayed to
  #   uidmap           newuidmap/newgidmap: rootless hoist as a user the test creates
  #                    (tests/builder/rootless_test.cpp; useradd and runuser are Essential)
  packages+=(docker-registry skopeo umoci apache2-utils openssl zstd bzip2 xz-utils libcap2-bin docker.io
    python3 clang libclang-rt-14-dev llvm-14 openssh-client uidmap)
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
