// What `hoist push` and `hoist pull` print, as docker's do, and the RepoDigests they record
// (issue 13), against a real registry on 127.0.0.1.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/builder/build_fixture.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/skip.h"

using build_test::BuildFixture;

namespace {

nlohmann::json inspect(const hoist_test::HoistRunner& hoist, const std::string& name) {
  auto r = hoist.run({"inspect", name});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(!j.is_discarded());
  return j.is_array() ? j.at(0) : j;
}

}  // namespace

TEST_CASE("push and pull: a line per layer (no config), \"Mounted from REPO\", RepoDigests as docker records them",
          "[builder][push][push_output]") {
  if (::access("/usr/bin/docker-registry", X_OK) != 0)
    HOIST_SKIP("docker-registry not installed (Debian package docker-registry)");
  hoist_test::RegistryServer registry({});
  REQUIRE(registry.start_error() == "");
  BuildFixture f;
  f.write("a.txt", "layer content\n");
  const std::string first = registry.host() + "/hoist/first:v1";
  auto built = f.build("FROM busybox:latest\nCOPY a.txt /\n", first);
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  auto before = inspect(f.hoist(), first);
  CHECK(before.at("RepoDigests") == nlohmann::json::array());  // never pushed nor pulled
  const std::string config_id = before.at("Manifest").at("config").at("digest").get<std::string>().substr(7, 12);

  auto pushed = f.hoist().run({"push", first});
  INFO(pushed.out << pushed.err);
  REQUIRE(pushed.exit_code == 0);
  CHECK_THAT(pushed.out, Catch::Contains(": Pushed") && !Catch::Contains(config_id));
  const std::string digest = pushed.out.substr(pushed.out.rfind('@') + 1, 71);
  CHECK(inspect(f.hoist(), first).at("RepoDigests") ==
        nlohmann::json::array({registry.host() + "/hoist/first@" + digest}));

  // The same image to another repository of the registry: its layers are mounted, and the
  // line names where from.
  const std::string second = registry.host() + "/hoist/second:v1";
  REQUIRE(f.hoist().run({"tag", first, second}).exit_code == 0);
  auto mounted = f.hoist().run({"push", second});
  INFO(mounted.out << mounted.err);
  REQUIRE(mounted.exit_code == 0);
  CHECK_THAT(mounted.out, Catch::Contains(": Mounted from hoist/first") && !Catch::Contains(config_id));
  CHECK(inspect(f.hoist(), first).at("RepoDigests").size() == 2);

  hoist_test::HoistRunner other;
  auto pulled = other.run({"pull", first});
  INFO(pulled.out << pulled.err);
  REQUIRE(pulled.exit_code == 0);
  CHECK_THAT(pulled.out, Catch::Contains(": Pull complete") && !Catch::Contains(config_id));
  CHECK(inspect(other, first).at("RepoDigests") == nlohmann::json::array({registry.host() + "/hoist/first@" + digest}));
}

TEST_CASE("push: in one log of both streams the error comes after what was printed before it",
          "[builder][push][push_output]") {
  hoist_test::HoistRunner hoist;
  REQUIRE(hoist.import_busybox().exit_code == 0);
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  REQUIRE(hoist.run({"tag", "busybox:latest", "127.0.0.1:1/hoist/nowhere:v1"}).exit_code == 0);
  hoist_test::TempDir dir;
  const std::string log = dir.path() + "/log";
  auto r = hoist_test::run_program({"sh", "-c", "HOIST_ROOT=\"$1\" \"$2\" push 127.0.0.1:1/hoist/nowhere:v1 >\"$3\" 2>&1",
                                    "sh", hoist.root(), hoist_test::hoist_bin(), log});
  CHECK(r.exit_code == 1);
  const std::string text = hoist_test::read_file(log);
  INFO(text);
  const size_t refers = text.find("The push refers to repository [127.0.0.1:1/hoist/nowhere]");
  const size_t error = text.find("hoist: error:");
  REQUIRE(refers != std::string::npos);
  REQUIRE(error != std::string::npos);
  CHECK(refers < error);
}
