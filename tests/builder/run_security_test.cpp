// RUN --security=insecure with `hoist build --allow security.insecure`, as BuildKit's insecure
// mode: that step alone runs privileged (every capability, no seccomp filter, /proc
// unmasked, /sys writable); without the entitlement the build fails naming it.

#include <catch2/catch.hpp>

#include "tests/builder/build_fixture.h"
#include "tests/support/skip.h"

namespace {

// The CapEff mask a step wrote with `grep CapEff /proc/self/status > FILE`.
uint64_t cap_eff(const std::string& status_line) {
  const size_t colon = status_line.find(':');
  REQUIRE(colon != std::string::npos);
  return std::stoull(status_line.substr(colon + 1), nullptr, 16);
}

constexpr uint64_t kCapSysAdmin = uint64_t(1) << 21;

}  // namespace

TEST_CASE("RUN --security=insecure: privileged with --allow security.insecure, that step only",
          "[builder][run-security]") {
  build_test::BuildFixture f;
  SKIP_WITHOUT_MOUNT_NAMESPACE(f);  // copy+chroot refuses the step (the last case)
  const std::string dockerfile =
      "FROM busybox:latest\n"
      "RUN mkdir /mnt && grep CapEff /proc/self/status > /caps-sandbox && ! mount -t tmpfs none /mnt 2>/dev/null\n"
      "RUN --security=insecure grep CapEff /proc/self/status > /caps-insecure \\\n"
      "    && mount -t tmpfs none /mnt && touch /mnt/on-tmpfs && grep -q ' /mnt tmpfs ' /proc/mounts \\\n"
      "    && ! grep -q ' /proc/keys ' /proc/mounts && grep -q ' /sys sysfs rw,' /proc/mounts\n"
      "RUN grep CapEff /proc/self/status > /caps-after && grep -q ' /proc/keys ' /proc/mounts \\\n"
      "    && grep -q ' /sys sysfs ro,' /proc/mounts\n";

  SECTION("refused without the entitlement, naming the flag and the --allow that grants it") {
    auto refused = f.build(dockerfile);
    CHECK(refused.exit_code == 1);
    CHECK_THAT(refused.err, Catch::Contains("--security=insecure: security.insecure is not allowed"));
    CHECK_THAT(refused.err, Catch::Contains("--allow security.insecure"));
  }

  SECTION("with it: all capabilities, mounts allowed, /proc and /sys open; other steps sandboxed") {
    auto root = f.rootfs(dockerfile, {"--allow", "security.insecure", "--allow", "network.host"});
    const uint64_t sandboxed = cap_eff(hoist_test::read_file(root + "/caps-sandbox"));
    const uint64_t insecure = cap_eff(hoist_test::read_file(root + "/caps-insecure"));
    CHECK(sandboxed == 0xa80425fbull);
    CHECK(cap_eff(hoist_test::read_file(root + "/caps-after")) == sandboxed);
    CHECK((insecure & kCapSysAdmin) != 0);
    CHECK((insecure & sandboxed) == sandboxed);
    // The tmpfs was the step's own: the layer holds no trace of it.
    CHECK(hoist_test::run_program({"sh", "-c", "ls -A \"$0\"", root + "/mnt"}).out.empty());
  }
}

TEST_CASE("RUN --security=insecure is part of the step's cache key", "[builder][run-security]") {
  build_test::BuildFixture f;
  SKIP_WITHOUT_MOUNT_NAMESPACE(f);  // copy+chroot refuses the step (the last case)
  const std::vector<std::string> allow = {"--allow", "security.insecure"};
  auto plain = f.build("FROM busybox:latest\nRUN echo hi > /hi\n", "t", allow);
  REQUIRE(plain.exit_code == 0);
  auto again = f.build("FROM busybox:latest\nRUN echo hi > /hi\n", "t", allow);
  REQUIRE(again.exit_code == 0);
  CHECK(build_test::count_lines_with(again.err, "CACHED") == 1);
  auto insecure = f.build("FROM busybox:latest\nRUN --security=insecure echo hi > /hi\n", "t", allow);
  INFO(insecure.err);
  REQUIRE(insecure.exit_code == 0);
  CHECK(build_test::count_lines_with(insecure.err, "CACHED") == 0);
  // A cached insecure step still needs the entitlement, as BuildKit checks it before solving.
  auto cached_refused = f.build("FROM busybox:latest\nRUN --security=insecure echo hi > /hi\n");
  CHECK(cached_refused.exit_code == 1);
  CHECK_THAT(cached_refused.err, Catch::Contains("security.insecure is not allowed"));
}

TEST_CASE("hoist build --allow: security.insecure and network.host, anything else refused by name",
          "[builder][run-security]") {
  build_test::BuildFixture f;
  auto host = f.build("FROM busybox:latest\nRUN --network=host true\n", "t", {"--allow", "network.host"});
  CHECK(host.exit_code == 0);
  auto unknown = f.build("FROM busybox:latest\nRUN true\n", "t", {"--allow", "device"});
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("--allow device: unknown entitlement"));
}

// The copy+chroot executor (no CAP_SYS_ADMIN around hoist) has no namespace to hold a
// privileged step's mounts: it refuses the step rather than run it differently.
TEST_CASE("RUN --security=insecure is refused by the copy+chroot executor", "[builder][run-security]") {
  if (hoist_test::run_program({"sh", "-c", "command -v capsh"}).exit_code != 0) {
    HOIST_SKIP("capsh missing (Debian package libcap2-bin; run .ci/deps.sh --test)");
  }
  build_test::BuildFixture f;
  f.write("Dockerfile", "FROM busybox:latest\nRUN --security=insecure true\n");
  auto r = hoist_test::run_program({"capsh", "--drop=cap_sys_admin", "--", "-c", "exec \"$0\" \"$@\"",
                                    hoist_test::hoist_bin(), "build", "--progress", "plain", "--allow",
                                    "security.insecure", f.context()},
                                   {"HOIST_ROOT=" + f.hoist().root()});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("a privileged step needs the sandbox's namespaces"));
}
