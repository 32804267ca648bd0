// examples/registry/run.sh as a user runs it: a docker-registry with htpasswd auth on
// 127.0.0.1, hoist login --password-stdin, build, push, pull into a second store, run,
// logout (after which a pull is refused), registry stopped. The script's own output is
// checked, step by step, against what its README shows.

#include <catch2/catch.hpp>

#include <unistd.h>

#include "tests/builder/hoist_runner.h"
#include "tests/support/skip.h"

using hoist_test::HoistRunner;

TEST_CASE("examples/registry: login, push, pull into a second store, run, logout",
          "[builder][examples-registry]") {
  for (const char* tool : {"docker-registry", "htpasswd", "python3"})
    if (hoist_test::run_program({"sh", "-c", std::string("command -v ") + tool}).exit_code != 0)
      HOIST_SKIP(tool << " not installed (Debian packages docker-registry, apache2-utils, python3)");
  HoistRunner hoist;
  REQUIRE(hoist.import_busybox().exit_code == 0);

  auto r = hoist_test::run_program({"bash", hoist_test::source_root() + "/examples/registry/run.sh"},
                                   {"HOIST=" + hoist_test::hoist_bin(), "HOIST_ROOT=" + hoist.root()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("Login Succeeded"));
  CHECK_THAT(r.out, Catch::Matches("[\\s\\S]*1\\.0: digest: sha256:[0-9a-f]{64} size: [0-9]+\n[\\s\\S]*"));
  CHECK_THAT(r.out, Catch::Contains("Status: Downloaded newer image for 127.0.0.1:"));
  // The run, from the second store, prints the COPYed file.
  CHECK_THAT(r.out, Catch::Contains("== 6. hoist run from the second store\nHello from a private registry!\n"));
  CHECK_THAT(r.out, Catch::Contains("Removing login credentials for 127.0.0.1:"));
  CHECK_THAT(r.out, Catch::Contains("pull after logout refused"));
  CHECK_THAT(r.out, Catch::Contains("401 for pull from 127.0.0.1:"));
  CHECK_THAT(r.out, Catch::EndsWith("done\n"));
  // The script built in the store it was given; the pulls went to stores of its own.
  auto images = hoist.run({"images"});
  CHECK_THAT(images.out, Catch::Contains("examples/greeting"));
}
