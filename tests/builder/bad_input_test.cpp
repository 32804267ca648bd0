// Bad numbers in Dockerfiles and --change flags are errors with a message, never an
// exception out of std::stod / std::stoi (which used to abort hoist). The duration
// parser itself is tested in tests/parser/commands_test.cpp.

#include <catch2/catch.hpp>

#include "tests/builder/build_fixture.h"

TEST_CASE("hoist build and import: bad HEALTHCHECK and EXPOSE numbers exit 1 with a message",
          "[builder][bad_input]") {
  build_test::BuildFixture f;
  auto [instruction, message] = GENERATE(table<std::string, std::string>({
      {"HEALTHCHECK --interval=. CMD true", "invalid duration"},
      {"HEALTHCHECK --timeout=1.2.3s CMD true", "invalid duration"},
      {"HEALTHCHECK --interval=99999999999999999999h CMD true", "invalid duration"},
      {"HEALTHCHECK --retries=99999999999 CMD true", "retries"},
      {"EXPOSE 99999999999", "99999999999"},
  }));
  CAPTURE(instruction);
  auto built = f.build("FROM busybox:latest\n" + instruction + "\n");
  INFO(built.err);
  CHECK(built.exit_code == 1);
  CHECK_THAT(built.err, Catch::Contains(message));
  auto imported = f.hoist().run({"import", "-c", instruction, hoist_test::busybox_rootfs_tar(), "bad:1"});
  INFO(imported.err);
  CHECK(imported.exit_code == 1);
  CHECK_THAT(imported.err, Catch::Contains(message));
}
