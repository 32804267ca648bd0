// `hoist build --push` to a real registry on 127.0.0.1, pulled into a second, empty store
// and run there.

#include <catch2/catch.hpp>

#include <unistd.h>

#include "tests/builder/build_fixture.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/skip.h"

using build_test::BuildFixture;

TEST_CASE("build: --push to a local registry, pulled into an empty store and run there",
          "[builder][build][push]") {
  if (::access("/usr/bin/docker-registry", X_OK) != 0)
    HOIST_SKIP("docker-registry not installed (Debian package docker-registry)");
  hoist_test::RegistryServer registry({});
  REQUIRE(registry.start_error() == "");
  BuildFixture f;
  f.write("hello.sh", "echo pushed-and-pulled\n");
  std::string name = registry.host() + "/hoist/pushed:v1";
  auto built = f.build("FROM busybox:latest\nCOPY hello.sh /\nCMD [\"/bin/sh\", \"/hello.sh\"]\n", name,
                       {"--push"});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);

  hoist_test::HoistRunner second;
  auto pulled = second.run({"pull", name});
  INFO(pulled.err);
  REQUIRE(pulled.exit_code == 0);
  auto ran = second.run({"run", "--rm", name});
  INFO(ran.err);
  CHECK(ran.exit_code == 0);
  CHECK_THAT(ran.out, Catch::Contains("pushed-and-pulled"));
}
