// The examples a newcomer starts from (issue 13), as their READMEs say to run them:
// examples/base-images/make-bases.sh --offline makes python:3 and gcc:12 from this machine's
// Debian packages (no network) into a temp cache and store; examples/python-hello and
// examples/multistage build on them through the real hoist binary with --pull never and run
// with `hoist run --rm`, printing exactly what their READMEs show.

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "tests/builder/build_fixture.h"
#include "tests/builder/hoist_runner.h"
#include "tests/support/files.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/skip.h"

using build_test::image_config;
using hoist_test::HoistRunner;
using hoist_test::read_file;
using hoist_test::RunResult;
using hoist_test::TempDir;

namespace {

std::string example(const std::string& name) { return hoist_test::source_root() + "/examples/" + name; }

// make-bases.sh ARGS... with HOIST, HOIST_ROOT and the cache set to `store` and `cache`.
RunResult make_bases(const HoistRunner& store, const TempDir& cache, const std::vector<std::string>& args,
                     const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv = {"bash", example("base-images/make-bases.sh")};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> all_env = {"HOIST=" + hoist_test::hoist_bin(), "HOIST_ROOT=" + store.root(),
                                      "XDG_CACHE_HOME=" + cache.path()};
  all_env.insert(all_env.end(), env.begin(), env.end());
  return hoist_test::run_program(argv, all_env);
}

// Why --offline cannot run here ("" when it can): it copies installed Debian packages.
std::string offline_bases_missing() {
  for (const char* tool : {"perl", "dpkg-query", "tar", "sha256sum"})
    if (hoist_test::run_program({"sh", "-c", std::string("command -v ") + tool}).exit_code != 0)
      return std::string(tool) + " missing (make-bases.sh --offline reads dpkg's database)";
  for (const char* package : {"python3", "gcc", "libc6-dev"}) {
    auto r = hoist_test::run_program({"dpkg-query", "-W", "-f", "${Status}", package});
    if (r.out.find("install ok installed") == std::string::npos)
      return std::string("Debian package ") + package + " not installed (make-bases.sh --offline copies it)";
  }
  return "";
}

// python:3 and gcc:12 made once per test process by `make-bases.sh --offline python:3 gcc:12`,
// then a second time with the cache warm.
struct OfflineBases {
  TempDir cache{"hoist-bases-cache"};
  HoistRunner hoist;
  RunResult first;
  RunResult second;
};

const OfflineBases& offline_bases() {
  static const std::unique_ptr<OfflineBases> bases = [] {
    auto b = std::make_unique<OfflineBases>();
    b->first = make_bases(b->hoist, b->cache, {"--offline", "python:3", "gcc:12"});
    if (b->first.exit_code == 0) b->second = make_bases(b->hoist, b->cache, {"--offline", "python:3", "gcc:12"});
    return b;
  }();
  return *bases;
}

// The files directly in `dir`, sorted.
std::vector<std::string> file_names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

// At the top of a test case: skips it visibly where --offline cannot run, else binds `bases`
// to the offline bases, REQUIRing that make-bases.sh made them.
#define USE_OFFLINE_BASES(bases)                                                          \
  if (auto missing_ = offline_bases_missing(); !missing_.empty()) HOIST_SKIP(missing_);  \
  const OfflineBases& bases = offline_bases();                                            \
  INFO(bases.first.out << bases.first.err);                                               \
  REQUIRE(bases.first.exit_code == 0)

TEST_CASE("examples: make-bases.sh --offline makes python:3 and gcc:12; a second run imports nothing",
          "[builder][examples]") {
  USE_OFFLINE_BASES(bases);
  CHECK_THAT(bases.first.out, Catch::Contains("python:3: imported sha256:"));
  CHECK_THAT(bases.first.out, Catch::Contains("gcc:12: imported sha256:"));

  INFO(bases.second.out << bases.second.err);
  REQUIRE(bases.second.exit_code == 0);
  CHECK_THAT(bases.second.out, Catch::Contains("python:3: up to date"));
  CHECK_THAT(bases.second.out, Catch::Contains("gcc:12: up to date"));
  CHECK_THAT(bases.second.out, !Catch::Contains("imported"));

  // One tarball per image, named by the key the image carries as a label.
  auto cached = file_names(bases.cache.path() + "/hoist/bases");
  cached.erase(std::remove(cached.begin(), cached.end(), "debs"), cached.end());
  REQUIRE(cached.size() == 2);
  CHECK(cached[0].starts_with("gcc_12-offline-"));
  CHECK(cached[1].starts_with("python_3-offline-"));
  auto python = image_config(bases.hoist, "python:3");
  CHECK(python["config"]["Cmd"] == nlohmann::json({"python3"}));
  CHECK(python["config"]["Env"] == nlohmann::json({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                                   "LANG=C.UTF-8"}));
  const std::string key = python["config"]["Labels"]["org.hoist.base-images.key"];
  CHECK(cached[1] == "python_3-offline-" + key + ".tar");
  CHECK(image_config(bases.hoist, "gcc:12")["config"]["Cmd"] == nlohmann::json({"bash"}));
}

TEST_CASE("examples: python-hello builds on the offline python:3 and prints what its README shows",
          "[builder][examples]") {
  USE_OFFLINE_BASES(bases);
  const HoistRunner& hoist = bases.hoist;
  const std::string expected = "Hello, World!\nPython 3 in a container built by hoist\n";

  auto built = hoist.run({"build", "--progress", "plain", "-t", "demo1:latest",
                          example("python-hello")});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  auto ran = hoist.run({"run", "--rm", "--pull", "never", "demo1:latest"});
  INFO(ran.err);
  CHECK(ran.exit_code == 0);
  CHECK(ran.out == expected);
  auto config = image_config(hoist, "demo1:latest");
  CHECK(config["config"]["Cmd"] == nlohmann::json({"python3", "hello_world.py"}));
  CHECK(config["config"]["WorkingDir"] == "/app");

  // The README shows that output, indented as a code block.
  CHECK_THAT(read_file(example("python-hello/README.md")),
             Catch::Contains("    Hello, World!\n    Python 3 in a container built by hoist\n"));

  // --build-arg BASE picks another base.
  REQUIRE(hoist.run({"tag", "python:3", "registry.example/team/python:3.11"}).exit_code == 0);
  auto other = hoist.run({"build", "--progress", "plain", "--build-arg",
                          "BASE=registry.example/team/python:3.11", "-t", "demo1:other", example("python-hello")});
  INFO(other.err);
  REQUIRE(other.exit_code == 0);
  CHECK_THAT(other.err, Catch::Contains("FROM registry.example/team/python:3.11"));
  CHECK(hoist.run({"run", "--rm", "--pull", "never", "demo1:other"}).out == expected);
}

TEST_CASE("examples: multistage compiles on the offline gcc:12 and ships one static binary FROM scratch",
          "[builder][examples]") {
  USE_OFFLINE_BASES(bases);
  const HoistRunner& hoist = bases.hoist;

  auto built = hoist.run({"build", "--progress", "plain", "-t", "demo-multistage:latest",
                          example("multistage")});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  auto ran = hoist.run({"run", "--rm", "--pull", "never", "demo-multistage:latest"});
  INFO(ran.err);
  CHECK(ran.exit_code == 0);
  CHECK(ran.out == "Hello, world! (a static C program in a scratch image)\n");
  auto named = hoist.run({"run", "--rm", "--pull", "never", "demo-multistage:latest", "Ada", "Grace"});
  INFO(named.err);
  CHECK(named.exit_code == 0);
  CHECK(named.out == "Hello, Ada!\nHello, Grace!\n");
  CHECK_THAT(read_file(example("multistage/README.md")),
             Catch::Contains("    Hello, world! (a static C program in a scratch image)\n"
                             "    Hello, Ada!\n    Hello, Grace!\n"));

  // One layer holding one file: the compiler stayed in the build stage.
  auto config = image_config(hoist, "demo-multistage:latest");
  CHECK(config["rootfs"]["diff_ids"].size() == 1);
  CHECK(config["config"]["Entrypoint"] == nlohmann::json({"/hello"}));
  TempDir out("hoist-multistage-out");
  auto local = hoist.run({"build", "--progress", "quiet", "-o",
                          "type=local,dest=" + out.path() + "/root", example("multistage")});
  INFO(local.err);
  REQUIRE(local.exit_code == 0);
  CHECK(file_names(out.path() + "/root") == std::vector<std::string>{"hello"});
}

TEST_CASE("examples: make-bases.sh keeps a base in its cache until its input changes", "[builder][examples]") {
  if (!std::filesystem::exists("/bin/busybox")) HOIST_SKIP("/bin/busybox missing (Debian package busybox-static)");
  TempDir cache("hoist-bases-cache");
  TempDir bin("hoist-busybox-bin");
  HoistRunner hoist;
  const std::string busybox = bin.path() + "/busybox";
  std::filesystem::copy_file("/bin/busybox", busybox);
  std::filesystem::permissions(busybox, std::filesystem::perms::owner_all);
  const std::vector<std::string> env = {"BUSYBOX=" + busybox};
  auto tarballs = [&] { return file_names(cache.path() + "/hoist/bases"); };

  auto first = make_bases(hoist, cache, {"--offline", "busybox"}, env);
  INFO(first.out << first.err);
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.out, Catch::Contains("busybox:latest: imported sha256:"));
  const auto made = tarballs();
  REQUIRE(made.size() == 1);

  auto again = make_bases(hoist, cache, {"--offline", "busybox:latest"}, env);
  INFO(again.out << again.err);
  REQUIRE(again.exit_code == 0);
  CHECK_THAT(again.out, Catch::Contains("busybox:latest: up to date"));
  CHECK(tarballs() == made);

  // Another busybox binary: a new key, a new tarball in place of the old one, a new import.
  {
    std::ofstream append(busybox, std::ios::app | std::ios::binary);
    append << '\n';
  }
  auto changed = make_bases(hoist, cache, {"--offline", "busybox"}, env);
  INFO(changed.out << changed.err);
  REQUIRE(changed.exit_code == 0);
  CHECK_THAT(changed.out, Catch::Contains("busybox:latest: imported sha256:"));
  const auto remade = tarballs();
  REQUIRE(remade.size() == 1);
  CHECK(remade != made);
  auto ran = hoist.run({"run", "--rm", "--pull", "never", "busybox:latest", "echo", "made offline"});
  INFO(ran.err);
  CHECK(ran.out == "made offline\n");
}

TEST_CASE("examples: make-bases.sh names a bad argument and exits 2", "[builder][examples]") {
  auto [args, message] = GENERATE(table<std::vector<std::string>, std::string>({
      {std::vector<std::string>{}, "say --mirror or --offline"},
      {{"--offline", "--frobnicate"}, "unknown option --frobnicate"},
      {{"--offline", "ubuntu:24.04"}, "unknown image ubuntu:24.04"},
      {{"--mirror", "--offline"}, "--mirror and --offline exclude each other"},
      {{"--offline", "--push"}, "--push needs HOST:PORT"},
  }));
  CAPTURE(args);
  TempDir cache("hoist-bases-cache");
  HoistRunner hoist;
  auto r = make_bases(hoist, cache, args);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("make-bases.sh: " + message));
  CHECK_THAT(r.err, Catch::Contains("usage: bash examples/base-images/make-bases.sh --mirror|--offline"));
  CHECK(hoist.run({"images", "-q"}).out.empty());
}

TEST_CASE("examples: make-bases.sh --push puts a base in a local registry; --rebuild remakes its tarball",
          "[builder][examples][push]") {
  if (!std::filesystem::exists("/bin/busybox")) HOIST_SKIP("/bin/busybox missing (Debian package busybox-static)");
  if (::access("/usr/bin/docker-registry", X_OK) != 0)
    HOIST_SKIP("docker-registry not installed (Debian package docker-registry)");
  hoist_test::RegistryServer registry({});
  REQUIRE(registry.start_error() == "");
  TempDir cache("hoist-bases-cache");
  HoistRunner hoist;
  auto pushed = make_bases(hoist, cache, {"--offline", "--push", registry.host(), "busybox"});
  INFO(pushed.out << pushed.err);
  REQUIRE(pushed.exit_code == 0);
  CHECK_THAT(pushed.out, Catch::Contains("busybox:latest: pushed " + registry.host() + "/busybox:latest"));

  HoistRunner other;
  const std::string name = registry.host() + "/busybox:latest";
  auto pulled = other.run({"pull", name});
  INFO(pulled.err);
  REQUIRE(pulled.exit_code == 0);
  auto ran = other.run({"run", "--rm", "--pull", "never", name, "echo", "pulled"});
  INFO(ran.err);
  CHECK(ran.out == "pulled\n");

  // --rebuild makes the tarball again (the same bytes, so the same key and image).
  const auto tarballs = file_names(cache.path() + "/hoist/bases");
  REQUIRE(tarballs.size() == 1);
  const std::string tarball = cache.path() + "/hoist/bases/" + tarballs[0];
  struct stat before {};
  REQUIRE(::stat(tarball.c_str(), &before) == 0);
  auto rebuilt = make_bases(hoist, cache, {"--offline", "--rebuild", "busybox"});
  INFO(rebuilt.out << rebuilt.err);
  REQUIRE(rebuilt.exit_code == 0);
  CHECK_THAT(rebuilt.out, Catch::Contains("busybox:latest: up to date"));
  struct stat after {};
  REQUIRE(::stat(tarball.c_str(), &after) == 0);
  CHECK(after.st_ino != before.st_ino);
}
