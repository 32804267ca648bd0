// Bad numbers in Dockerfiles and --change flags are errors with a message, never an
// exception out of std::stod / std::stoi (which used to abort hoist).

#include <catch2/catch.hpp>

#include "builder/metadata.h"
#include "tests/builder/build_fixture.h"

TEST_CASE("HEALTHCHECK --interval=. is an error, not an uncaught exception", "[builder][bad_input]") {
  auto [text, ok] = GENERATE(table<std::string, bool>({
      {".", false},
      {"..s", false},
      {"1.2.3s", false},
      {"1e5s", false},
      {"99999999999999999999h", false},
      {"2562048h", false},  // past Go's ~290 years
      {"1.5s", true},
      {"1m30s", true},
      {"0", true},
  }));
  CAPTURE(text);
  auto ns = builder::parse_duration_ns(text);
  CHECK(static_cast<bool>(ns) == ok);
  if (!ok) CHECK_THAT(ns.error().describe(), Catch::Contains("invalid duration"));
}

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
