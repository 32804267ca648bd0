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

  // A build FROM the pushed image in an empty store pulls it first (the FROM path).
  BuildFixture third;
  auto child = third.build("FROM " + name + "\nRUN sh /hello.sh > /out\n", "child");
  INFO(child.err);
  REQUIRE(child.exit_code == 0);
  CHECK_THAT(child.err, Catch::Contains("pulling " + name));
  CHECK(hoist_test::read_file(third.rootfs("FROM child\n") + "/out") == "pushed-and-pulled\n");
}

TEST_CASE("run: --pull missing (the default) pulls an image the store lacks; always and never",
          "[builder][run][push]") {
  if (::access("/usr/bin/docker-registry", X_OK) != 0)
    HOIST_SKIP("docker-registry not installed (Debian package docker-registry)");
  hoist_test::RegistryServer registry({});
  REQUIRE(registry.start_error() == "");
  BuildFixture f;
  const std::string name = registry.host() + "/hoist/run-pull:v1";
  auto built = f.build("FROM busybox:latest\nCMD [\"echo\", \"ran-after-pull\"]\n", name, {"--push"});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);

  hoist_test::HoistRunner fresh;
  auto ran = fresh.run({"run", "--rm", name});
  INFO(ran.err);
  CHECK(ran.exit_code == 0);
  CHECK(ran.out == "ran-after-pull\n");  // the pull's words go to stderr, as docker run's
  CHECK_THAT(ran.err, Catch::StartsWith("Unable to find image '" + name + "' locally\n") &&
                          Catch::Contains("v1: Pulling from hoist/run-pull") &&
                          Catch::Contains("Status: Downloaded newer image for " + name));
  // Now local: no pull by default; --pull always asks the registry again.
  auto again = fresh.run({"run", "--rm", name});
  CHECK(again.exit_code == 0);
  CHECK(again.err.empty());
  auto always = fresh.run({"run", "--rm", "--pull", "always", name});
  CHECK(always.exit_code == 0);
  CHECK_THAT(always.err, !Catch::Contains("Unable to find") && Catch::Contains("Image is up to date"));

  hoist_test::HoistRunner never;
  auto refused = never.run({"run", "--rm", "--pull", "never", name});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("no such image"));
  CHECK(never.run({"images", "-q"}).out.empty());
  auto bad = never.run({"run", "--pull", "sometimes", name});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("--pull sometimes: want missing, always or never"));
}
