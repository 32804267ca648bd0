// Several hoist processes on one store at once: builds of different contexts, two pulls of
// one image, a build while prune runs, rmi of the base a running build uses. Each command
// succeeds or fails with a message; no tag is lost, no blob an image uses is deleted, and
// `hoist fsck` is clean after.

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <thread>

#include "layers/store.h"
#include "tests/builder/build_fixture.h"
#include "tests/support/skip.h"
#include "tests/builder/crash_support.h"
#include "tests/support/registry_fixture.h"

using hoist_test::HoistRunner;
using hoist_test::RunResult;

namespace {

void write_context(const std::string& dir, const std::string& dockerfile, int files, const std::string& salt) {
  std::filesystem::create_directories(dir + "/files");
  for (int i = 0; i < files; ++i)
    std::ofstream(dir + "/files/f" + std::to_string(i)) << salt << i << std::string(1024, 'x');
  std::ofstream(dir + "/Dockerfile") << dockerfile;
}

void require_fsck_clean(const HoistRunner& hoist) {
  auto fsck = hoist.run({"fsck"});
  INFO(fsck.out << fsck.err);
  REQUIRE(fsck.exit_code == 0);
}

bool has_tag(const std::string& root, const std::string& name) {
  auto store = layers::Store::open(root);
  return store && store->find_tag(name);
}

}  // namespace

TEST_CASE("concurrency: three builds of different contexts into one store at once keep every tag",
          "[builder][concurrency]") {
  build_test::BuildFixture f;
  hoist_test::TempDir work("hoist-conc");
  std::vector<std::unique_ptr<crash_test::Background>> builds;
  for (int i = 0; i < 3; ++i) {
    std::string ctx = work.path() + "/ctx" + std::to_string(i);
    write_context(ctx,
                  "FROM busybox:latest\nCOPY files /files\nRUN echo " + std::to_string(i) + " > /which\n",
                  100, "ctx" + std::to_string(i));
    builds.push_back(std::make_unique<crash_test::Background>(
        f.hoist().root(),
        std::vector<std::string>{"build", "--progress", "plain", "-t", "conc/b" + std::to_string(i), ctx}));
  }
  for (int i = 0; i < 3; ++i) {
    auto r = builds[static_cast<size_t>(i)]->wait();
    INFO("build " << i << ": " << r.err);
    CHECK(r.exit_code == 0);
  }
  for (int i = 0; i < 3; ++i) {
    auto r = f.hoist().run({"run", "--rm", "conc/b" + std::to_string(i), "cat", "/which"});
    INFO(r.err);
    CHECK(r.out == std::to_string(i) + "\n");
  }
  CHECK(has_tag(f.hoist().root(), "docker.io/library/busybox:latest"));
  require_fsck_clean(f.hoist());
}

TEST_CASE("concurrency: two pulls of the same image at once both succeed", "[builder][concurrency]") {
  if (hoist_test::run_program({"sh", "-c", "command -v docker-registry"}).exit_code != 0) {
    HOIST_SKIP("docker-registry is not installed (.ci/deps.sh --test installs it)");
  }
  hoist_test::RegistryServer registry(hoist_test::RegistryServer::Options{});
  REQUIRE(registry.started());
  const std::string name = registry.host() + "/conc/pulled:1";
  {
    HoistRunner source;
    REQUIRE(source.import_busybox(name).exit_code == 0);
    auto pushed = source.run({"push", "-q", name});
    INFO(pushed.err);
    REQUIRE(pushed.exit_code == 0);
  }
  HoistRunner hoist;
  for (int attempt = 0; attempt < 3; ++attempt) {
    crash_test::Background a(hoist.root(), {"pull", "-q", name});
    crash_test::Background b(hoist.root(), {"pull", "-q", name});
    auto ra = a.wait(), rb = b.wait();
    INFO(ra.err << rb.err);
    CHECK(ra.exit_code == 0);
    CHECK(rb.exit_code == 0);
    CHECK(has_tag(hoist.root(), name));
    require_fsck_clean(hoist);
    REQUIRE(hoist.run({"rmi", name}).exit_code == 0);  // the next attempt downloads again
  }
}

TEST_CASE("concurrency: a build while prune runs over and over keeps its blobs",
          "[builder][concurrency]") {
  build_test::BuildFixture f;
  hoist_test::TempDir work("hoist-conc");
  const std::string ctx = work.path() + "/ctx";
  write_context(ctx,
                "FROM busybox:latest\nCOPY files /files\nRUN cat /files/* > /all\nRUN wc -c /all > /count\n",
                200, "prune");
  crash_test::Background build(f.hoist().root(), {"build", "--progress", "plain", "-t", "conc/pruned", ctx});
  int prunes = 0;
  while (!build.exited()) {
    auto p = f.hoist().run({"prune"});
    INFO(p.err);
    CHECK(p.exit_code == 0);
    ++prunes;
  }
  auto r = build.wait();
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(prunes > 0);
  require_fsck_clean(f.hoist());
  auto run = f.hoist().run({"run", "--rm", "conc/pruned", "cat", "/count"});
  INFO(run.err);
  CHECK(run.exit_code == 0);
  // A prune after the build leaves the image whole.
  REQUIRE(f.hoist().run({"prune"}).exit_code == 0);
  require_fsck_clean(f.hoist());
  CHECK(f.hoist().run({"run", "--rm", "conc/pruned", "true"}).exit_code == 0);
}

TEST_CASE("concurrency: rmi of the base a running build uses: the build finishes whole",
          "[builder][concurrency]") {
  build_test::BuildFixture f;
  hoist_test::TempDir work("hoist-conc");
  // A base of its own, so rmi could delete its blobs (busybox:latest would keep them).
  REQUIRE(f.hoist().import_busybox("conc/base:1").exit_code == 0);
  REQUIRE(f.hoist().run({"rmi", "busybox:latest"}).exit_code == 0);
  const std::string ctx = work.path() + "/ctx";
  write_context(ctx, "FROM conc/base:1\nRUN sleep 1; echo done > /done\nCOPY files /files\n", 10, "rmi");
  crash_test::Background build(f.hoist().root(), {"build", "--progress", "plain", "-t", "conc/child", ctx});
  // The build resolves FROM in its first moments; its RUN sleeps a second after that.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CHECK_FALSE(build.exited());
  auto rmi = f.hoist().run({"rmi", "conc/base:1"});
  INFO(rmi.err);
  CHECK(rmi.exit_code == 0);
  auto r = build.wait();
  INFO(r.err);
  // Docker lets the build finish with the base it already resolved.
  CHECK(r.exit_code == 0);
  require_fsck_clean(f.hoist());
  auto run = f.hoist().run({"run", "--rm", "conc/child", "cat", "/done"});
  INFO(run.err);
  CHECK(run.out == "done\n");
  REQUIRE(f.hoist().run({"prune"}).exit_code == 0);
  require_fsck_clean(f.hoist());
  CHECK(f.hoist().run({"run", "--rm", "conc/child", "ls", "/files/f0"}).exit_code == 0);
}
