// .ci/docker.sh, the private Docker engine .ci/run starts for the interop tests: when
// dockerd fails after bind-mounting its data root on itself (as it does in a chroot without
// the devices cgroup), stopping it must unmount what it left, remove the temp dir, and the
// error must reach HOIST_DOCKER_ERROR. A fake dockerd that does just that stands in for the
// real one (which starts fine on this machine); it runs in a mount namespace of its own, so
// a failing test leaves nothing mounted on the host.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "tests/builder/hoist_runner.h"
#include "tests/support/files.h"
#include "tests/support/skip.h"

TEST_CASE(".ci/docker.sh: a dockerd that fails to start leaves no mount and no temp dir",
          "[builder][ci]") {
  if (::geteuid() != 0) {
    HOIST_SKIP("mounting the fake dockerd's data root needs root");
  }
  // A mount namespace whose mounts stay in it needs "/" to be a mount (unshare's
  // --propagation private); under a plain chroot they would reach the host's namespace.
  if (hoist_test::run_program({"mountpoint", "-q", "/"}).exit_code != 0) {
    HOIST_SKIP("\"/\" is not a mount point (a plain chroot): the fake dockerd's mounts cannot be kept private");
  }
  hoist_test::TempDir bin("hoist-fake-docker");
  hoist_test::write_file(bin / "dockerd",
                         "#!/bin/sh\n"
                         "while [ $# -gt 0 ]; do [ \"$1\" = --data-root ] && data=$2; shift; done\n"
                         "mkdir -p \"$data\" && mount --bind \"$data\" \"$data\" || exit 2\n"
                         "mkdir -p \"$data/overlay2/l\" && mount -t tmpfs none \"$data/overlay2/l\" || exit 2\n"
                         "mount --bind \"$data\" \"$data\" || exit 2\n"  // stacked on itself
                         "echo 'failed to start daemon: Devices cgroup isn'\"'\"'t mounted' >&2\n"
                         "exit 1\n");
  hoist_test::write_file(bin / "docker", "#!/bin/sh\nexit 1\n");
  std::filesystem::permissions(bin / "dockerd", std::filesystem::perms::owner_all);
  std::filesystem::permissions(bin / "docker", std::filesystem::perms::owner_all);
  const std::string script =
      "source " + hoist_test::source_root() + "/.ci/docker.sh\n"
      "start_private_dockerd; echo \"started=$?\"\n"
      "echo \"host=$DOCKER_HOST\"\n"
      "echo \"error=$HOIST_DOCKER_ERROR\"\n"
      "echo \"mounted=$(mounts_under \"$docker_dir\" | wc -l)\"\n"
      "stop_private_dockerd; echo \"stopped=$?\"\n"
      "echo \"after=$(mounts_under \"$docker_dir\" | wc -l)\"\n"
      "[ -e \"$docker_dir\" ] && echo left || echo gone\n";
  auto r = hoist_test::run_program(
      {"unshare", "-m", "--propagation", "private", "bash", "-c", script},
      {"PATH=" + bin.path() + ":/usr/sbin:/usr/bin:/sbin:/bin", "HOIST_DOCKER_WAIT=10"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("started=0") && Catch::Contains("host=unix:///tmp/hoist-ci-docker-"));
  CHECK_THAT(r.out, Catch::Contains("error=dockerd did not start: ") &&
                        Catch::Contains("Devices cgroup isn't mounted"));
  CHECK_THAT(r.out, Catch::Contains("mounted=3"));
  CHECK_THAT(r.out, Catch::Contains("stopped=0") && Catch::Contains("after=0") &&
                        Catch::Contains("gone"));
}
