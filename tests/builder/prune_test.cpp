// hoist prune: what dead builds, containers and writers left is swept; nothing in use is.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "builder/leftovers.h"
#include "layers/store.h"
#include "tests/builder/build_fixture.h"
#include "tests/builder/hoist_runner.h"

namespace fs = std::filesystem;
using hoist_test::HoistRunner;

namespace {

const std::string kDeadId(64, 'd');
const std::string kLiveId(64, 'e');
const std::string kStoppedId(64, 'f');

void touch(const std::string& path, const std::string& content = "x") {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << content;
}

// An fd holding an exclusive flock on `path` (created), as a live writer holds it.
int hold_lock(const std::string& path) {
  touch(path, "");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX) == 0);
  return fd;
}

}  // namespace

TEST_CASE("prune sweeps dead build scratch and container temp dirs, never live ones",
          "[builder][prune]") {
  HoistRunner hoist;
  REQUIRE(hoist.import_busybox().exit_code == 0);
  const std::string root = hoist.root();
  const std::string containers = root + "/hoist-containers";

  // Dead: a killed build's scratch, a container whose creator or remover died, a stopped
  // container's sandbox scratch, an unreferenced unpacked layer, a hoist-tmp temp dir.
  touch(root + "/hoist-build/run-abc123/root/etc/passwd");
  touch(containers + "/.tmp-" + kDeadId + "/config.json", "{}");
  touch(containers + "/.tmp-" + kDeadId + "/lock", "");
  touch(containers + "/.rm-" + kDeadId + "/upper/file");
  touch(containers + "/" + kStoppedId + "/config.json", "{}");
  touch(containers + "/" + kStoppedId + "/upper/kept");
  touch(containers + "/" + kStoppedId + "/hoist-run-XYZ123/etc/hosts");
  touch(root + "/hoist-unpacked/" + std::string(64, 'a') + "/bin/sh");
  touch(root + "/hoist-tmp/scratch-dead/file");
  // Live: a container being created and a running one (their locks held), with scratch.
  int creating = hold_lock(containers + "/.tmp-" + kLiveId + "/lock");
  int running = hold_lock(containers + "/" + kLiveId + "/lock");
  touch(containers + "/" + kLiveId + "/hoist-run-LIVE12/etc/hosts");

  auto pruned = hoist.run({"prune"});
  INFO(pruned.err);
  REQUIRE(pruned.exit_code == 0);
  CHECK_THAT(pruned.out, Catch::Contains("1 unpacked layers"));
  // hoist-build/run-abc123, .tmp-dead, .rm-dead, stopped/hoist-run-*, hoist-tmp's dir.
  CHECK_THAT(pruned.out, Catch::Contains("5 temp files"));

  CHECK(fs::is_empty(root + "/hoist-build"));
  CHECK_FALSE(fs::exists(containers + "/.tmp-" + kDeadId));
  CHECK_FALSE(fs::exists(containers + "/.rm-" + kDeadId));
  CHECK_FALSE(fs::exists(containers + "/" + kStoppedId + "/hoist-run-XYZ123"));
  CHECK(fs::exists(containers + "/" + kStoppedId + "/config.json"));  // the container stays
  CHECK(fs::exists(containers + "/" + kStoppedId + "/upper/kept"));
  CHECK_FALSE(fs::exists(root + "/hoist-unpacked/" + std::string(64, 'a')));
  CHECK_FALSE(fs::exists(root + "/hoist-tmp/scratch-dead"));
  CHECK(fs::exists(containers + "/.tmp-" + kLiveId + "/lock"));
  CHECK(fs::exists(containers + "/" + kLiveId + "/hoist-run-LIVE12/etc/hosts"));
  ::close(creating);
  ::close(running);

  // Once their holders are gone, what was live is leftovers too; busybox stays whole.
  auto again = hoist.run({"prune"});
  REQUIRE(again.exit_code == 0);
  CHECK_THAT(again.out, Catch::StartsWith("Deleted 0 blobs, 0 unpacked layers, 2 temp files"));
  CHECK_FALSE(fs::exists(containers + "/.tmp-" + kLiveId));
  CHECK_FALSE(fs::exists(containers + "/" + kLiveId + "/hoist-run-LIVE12"));
  CHECK(fs::exists(containers + "/" + kLiveId + "/lock"));
  CHECK(hoist.run({"fsck"}).exit_code == 0);
  CHECK(hoist.run({"run", "--rm", "busybox", "true"}).exit_code == 0);
  auto third = hoist.run({"prune"});
  REQUIRE(third.exit_code == 0);
  CHECK_THAT(third.out, Catch::StartsWith("Deleted 0 blobs, 0 unpacked layers, 0 temp files"));
}

TEST_CASE("prune waits for a build or run holding the gc lock", "[builder][prune]") {
  HoistRunner hoist;
  REQUIRE(hoist.import_busybox().exit_code == 0);
  touch(hoist.root() + "/hoist-build/run-live/file");
  auto store = layers::Store::open(hoist.root());
  REQUIRE(store);
  {
    // While a build holds the shared gc lock, the sweep (as rmi's gc(false) does) steps
    // aside rather than touch its scratch.
    auto build_lock = store->gc_shared_lock();
    REQUIRE(build_lock);
    auto skipped = store->gc(false, [&] { return builder::sweep_leftovers(hoist.root()); });
    REQUIRE(skipped);
    CHECK_FALSE(*skipped);
    CHECK(fs::exists(hoist.root() + "/hoist-build/run-live/file"));
  }
  auto swept = store->gc(true, [&] { return builder::sweep_leftovers(hoist.root()); });
  REQUIRE(swept);
  REQUIRE(*swept);
  CHECK((*swept)->temp_files_removed == 1);
  CHECK_FALSE(fs::exists(hoist.root() + "/hoist-build/run-live"));
}

TEST_CASE("prune -a is refused by name, and removes nothing", "[builder][prune]") {
  HoistRunner hoist;
  REQUIRE(hoist.import_busybox().exit_code == 0);
  for (const char* flag : {"-a", "--all"}) {
    CAPTURE(flag);
    auto r = hoist.run({"prune", flag});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("hoist prune --all is not supported") && Catch::Contains("hoist rmi"));
  }
  CHECK_THAT(hoist.run({"images"}).out, Catch::Contains("busybox"));
}

TEST_CASE("prune removes build cache records whose layers are gone, and their --explain inputs",
          "[builder][prune][cache]") {
  build_test::BuildFixture f;
  f.write("a.txt", "a\n");
  // COPY makes a layer (a record with a layer, and its inputs file); ENV makes none.
  auto built = f.build("FROM busybox:latest\nENV X=1\nCOPY a.txt /a.txt\n", "pruned");
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  const std::string cache = f.hoist().root() + "/hoist-cache";
  auto names = [&](std::string_view suffix) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(cache)) {
      const std::string name = e.path().filename().string();
      if (name.size() == 64 + suffix.size() && name.ends_with(suffix)) out.insert(name);
    }
    return out;
  };
  const auto records = names(".json"), inputs = names(".inputs.json");
  REQUIRE(records.size() >= 2);
  REQUIRE(!inputs.empty());
  // Files that are not records stay, whatever is in them; a record that does not parse goes,
  // with its inputs.
  touch(cache + "/notes.json", "{");
  const std::string broken = std::string(64, '9');
  touch(cache + "/" + broken + ".json", "{");
  touch(cache + "/" + broken + ".inputs.json", "{}");

  SECTION("while the image is tagged, every record stays but the broken one") {
    auto r = f.hoist().run({"prune"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(names(".json") == records);
    CHECK(names(".inputs.json") == inputs);
    CHECK_FALSE(fs::exists(cache + "/" + broken + ".json"));
    CHECK_FALSE(fs::exists(cache + "/" + broken + ".inputs.json"));
    CHECK(fs::exists(cache + "/notes.json"));
  }
  SECTION("once the image is removed, the COPY's record and inputs go, ENV's record stays") {
    REQUIRE(f.hoist().run({"rmi", "pruned"}).exit_code == 0);
    auto r = f.hoist().run({"prune"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("build cache records"));
    const auto left = names(".json");
    CHECK(left.size() == records.size() - 1);  // the COPY's; ENV's holds no layer
    const auto inputs_left = names(".inputs.json");
    CHECK(inputs_left.size() == inputs.size() - 1);
    for (const auto& name : records)
      if (!left.count(name)) CHECK(inputs_left.count(name.substr(0, 64) + ".inputs.json") == 0);
    CHECK(fs::exists(cache + "/notes.json"));
    // The same build again: a miss for COPY, which runs and records again.
    auto again = f.build("FROM busybox:latest\nENV X=1\nCOPY a.txt /a.txt\n", "pruned");
    INFO(again.err);
    CHECK(again.exit_code == 0);
  }
}
