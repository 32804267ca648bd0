// Docker reads what hoist makes: `docker load` of `hoist save` and of `hoist build -o
// type=docker`, and `docker pull` + `docker run` of an image hoist pushed to a registry on
// 127.0.0.1. Needs a Docker engine: .ci/run starts a private dockerd and sets DOCKER_HOST
// (and HOIST_DOCKER_ERROR when it could not start it); elsewhere DOCKER_HOST or
// /var/run/docker.sock. Without one each case is a counted skip saying why.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <string>

#include <nlohmann/json.hpp>

#include "tests/builder/build_fixture.h"
#include "tests/builder/docker_engine.h"
#include "tests/builder/hoist_runner.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/skip.h"

using hoist_test::HoistRunner;
using hoist_test::RunResult;

using hoist_test::docker_engine_error;
using hoist_test::trimmed;

TEST_CASE("docker load reads hoist save's docker-archive", "[builder][interop][docker]") {
  if (auto why = docker_engine_error(); !why.empty()) HOIST_SKIP(why);
  HoistRunner hoist;
  const std::string name = "hoist-load-test-" + std::to_string(::getpid()) + ":v1";
  RunResult imported =
      hoist.run({"import", "--change", "ENV PATH=/usr/bin:/bin", "--change",
                 "CMD [\"sh\", \"-c\", \"echo hi\"]", "--change", "WORKDIR /srv", "--change",
                 "LABEL org.example.test=hoist", "--change", "EXPOSE 8080", "--change",
                 "USER 1000:1000", hoist_test::busybox_rootfs_tar(), name});
  INFO(imported.err);
  REQUIRE(imported.exit_code == 0);
  const std::string id = trimmed(imported.out);
  RunResult inspected = hoist.run({"inspect", name});
  REQUIRE(inspected.exit_code == 0);
  auto ours = nlohmann::json::parse(inspected.out, nullptr, false);
  REQUIRE(ours.is_array());

  hoist_test::TempDir dir;
  const std::string archive = dir.path() + "/image.tar";
  REQUIRE(hoist.run({"save", "-o", archive, name}).exit_code == 0);
  RunResult loaded = hoist_test::run_program({"docker", "load", "-i", archive});
  INFO(loaded.out << loaded.err);
  REQUIRE(loaded.exit_code == 0);
  CHECK_THAT(loaded.out, Catch::Contains("Loaded image: " + name));

  RunResult theirs_text = hoist_test::run_program({"docker", "image", "inspect", name});
  hoist_test::run_program({"docker", "rmi", "-f", name});  // clean up before checking
  INFO(theirs_text.err);
  REQUIRE(theirs_text.exit_code == 0);
  auto theirs = nlohmann::json::parse(theirs_text.out, nullptr, false);
  REQUIRE(theirs.is_array());
  REQUIRE(theirs.size() == 1);
  const auto& t = theirs[0];
  CHECK(t["Id"] == id);
  CHECK(t["Os"] == "linux");
  CHECK(t["RootFS"]["Layers"] == ours[0]["RootFS"]["Layers"]);
  const auto& c = t["Config"];
  CHECK(c["Cmd"] == nlohmann::json::array({"sh", "-c", "echo hi"}));
  CHECK(c["Env"] == nlohmann::json::array({"PATH=/usr/bin:/bin"}));
  CHECK(c["WorkingDir"] == "/srv");
  CHECK(c["User"] == "1000:1000");
  CHECK(c["Labels"]["org.example.test"] == "hoist");
  CHECK(c["ExposedPorts"].contains("8080/tcp"));
}

TEST_CASE("docker load reads hoist build -o type=docker, and docker run prints what its CMD says",
          "[builder][interop][docker]") {
  if (auto why = docker_engine_error(); !why.empty()) HOIST_SKIP(why);
  build_test::BuildFixture f;
  const std::string name = "hoist-build-load-" + std::to_string(::getpid()) + ":v1";
  const std::string archive = f.out_dir() + "/docker.tar";
  f.write("hello.sh", "echo built-by-hoist \"$(cat /from-run)\"\n");
  RunResult built = f.build(
      "FROM busybox:latest\nRUN echo from-run-step > /from-run\nCOPY hello.sh /\n"
      "CMD [\"/bin/sh\", \"/hello.sh\"]\n",
      name, {"-o", "type=docker,dest=" + archive});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);

  RunResult loaded = hoist_test::run_program({"docker", "load", "-i", archive});
  INFO(loaded.out << loaded.err);
  REQUIRE(loaded.exit_code == 0);
  CHECK_THAT(loaded.out, Catch::Contains("Loaded image: " + name));
  RunResult ran = hoist_test::run_program({"docker", "run", "--rm", "--network", "none", name});
  hoist_test::run_program({"docker", "rmi", "-f", name});
  INFO(ran.err);
  CHECK(ran.exit_code == 0);
  CHECK(ran.out == "built-by-hoist from-run-step\n");
}

TEST_CASE("docker pull + docker run of an image hoist pushed to a loopback registry",
          "[builder][interop][docker][push]") {
  if (auto why = docker_engine_error(); !why.empty()) HOIST_SKIP(why);
  if (::access("/usr/bin/docker-registry", X_OK) != 0)
    HOIST_SKIP("docker-registry not installed (Debian package docker-registry)");
  hoist_test::RegistryServer registry({});
  REQUIRE(registry.start_error() == "");
  build_test::BuildFixture f;
  // Docker treats registries on 127.0.0.0/8 as insecure-allowed: plain HTTP works unasked.
  const std::string name =
      registry.host() + "/hoist/docker-pull-" + std::to_string(::getpid()) + ":v1";
  f.write("hello.sh", "echo pulled-by-docker \"$GREETING\"\n");
  RunResult built = f.build(
      "FROM busybox:latest\nENV GREETING=from-env\nCOPY hello.sh /\n"
      "CMD [\"/bin/sh\", \"/hello.sh\"]\n",
      name, {"--push"});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  RunResult inspected = f.hoist().run({"inspect", name});
  REQUIRE(inspected.exit_code == 0);
  auto ours = nlohmann::json::parse(inspected.out, nullptr, false);
  REQUIRE(ours.is_array());

  RunResult pulled = hoist_test::run_program({"docker", "pull", name});
  INFO(pulled.out << pulled.err);
  REQUIRE(pulled.exit_code == 0);
  RunResult theirs_text = hoist_test::run_program({"docker", "image", "inspect", name});
  RunResult ran = hoist_test::run_program({"docker", "run", "--rm", "--network", "none", name});
  hoist_test::run_program({"docker", "rmi", "-f", name});
  INFO(ran.err);
  CHECK(ran.exit_code == 0);
  CHECK(ran.out == "pulled-by-docker from-env\n");
  auto theirs = nlohmann::json::parse(theirs_text.out, nullptr, false);
  REQUIRE(theirs.is_array());
  REQUIRE(theirs.size() == 1);
  CHECK(theirs[0]["Id"] == ours[0]["Id"]);  // the config digest, the same image
  CHECK(theirs[0]["RootFS"]["Layers"] == ours[0]["RootFS"]["Layers"]);
}
