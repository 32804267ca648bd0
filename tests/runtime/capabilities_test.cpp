#include <catch2/catch.hpp>

#include "runtime/capabilities.h"
#include "runtime/sandbox/sandbox.h"

using Words = std::vector<std::string>;

namespace {
constexpr uint64_t bit(int n) { return uint64_t(1) << n; }
constexpr uint64_t kDefault = runtime::sandbox::kDefaultCapabilities;
}  // namespace

TEST_CASE("capabilities: --cap-add and --cap-drop as Docker's TweakCapabilities",
          "[runtime][capabilities]") {
  auto [adds, drops, expected] = GENERATE(table<Words, Words, uint64_t>({
      {{}, {}, kDefault},
      {{"NET_ADMIN"}, {}, kDefault | bit(12)},
      {{"cap_net_admin"}, {}, kDefault | bit(12)},
      {{}, {"NET_RAW"}, kDefault & ~bit(13)},
      {{}, {"net_raw,CAP_MKNOD"}, kDefault & ~bit(13) & ~bit(27)},
      {{}, {"ALL"}, 0},
      {{"CHOWN", "SYS_CHROOT"}, {"all"}, bit(0) | bit(18)},
      // An add beats a drop of the same name.
      {{"NET_RAW"}, {"NET_RAW"}, kDefault},
  }));
  CAPTURE(adds, drops);
  auto caps = runtime::resolve_capabilities(adds, drops);
  REQUIRE(caps);
  CHECK(*caps == expected);
}

TEST_CASE("capabilities: unknown names and adds hoist cannot honour are refused by name",
          "[runtime][capabilities]") {
  auto [adds, drops, message] = GENERATE(table<Words, Words, std::string>({
      {{"FOO"}, {}, "--cap-add FOO: unknown capability"},
      {{}, {"NET_RAWW"}, "--cap-drop NET_RAWW: unknown capability"},
      {{"CHOWN,"}, {}, "--cap-add \"\": unknown capability"},
      {{"ALL"}, {}, "--cap-add ALL: not supported"},
      {{"sys_admin"}, {}, "--cap-add SYS_ADMIN: not supported"},
      {{"SYS_PTRACE"}, {}, "--cap-add SYS_PTRACE: not supported"},
  }));
  CAPTURE(adds, drops);
  auto caps = runtime::resolve_capabilities(adds, drops);
  REQUIRE_FALSE(caps);
  CHECK(caps.error().kind() == layers::ErrorKind::Usage);
  CHECK_THAT(caps.error().describe(), Catch::StartsWith(message));
}

TEST_CASE("capabilities: names by number", "[runtime][capabilities]") {
  CHECK(runtime::capability_number("CAP_SYS_ADMIN") == 21);
  CHECK(runtime::capability_number("checkpoint_restore") == 40);
  CHECK(runtime::capability_number("NOPE") == -1);
  CHECK(runtime::capability_name(13) == "CAP_NET_RAW");
}
