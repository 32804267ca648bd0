// SIGKILL at random moments during the commands that write the store (build with COPY and
// with RUN, pull, push, import, save, tag, rmi, prune), in a bounded loop with a seeded
// PRNG. After every kill: `hoist fsck` is clean, every image that existed before the
// command still has its tag and digest, and rerunning the command succeeds.
//
// Each command's duration is measured once; kill delays are drawn uniformly from [0, 1.1 x]
// that duration, so kills land everywhere from exec to the final rename. The seed is
// printed; HOIST_CRASH_SEED=N reproduces a run, HOIST_CRASH_ROUNDS=N changes its length
// (default 23 rounds x 9 commands = 207 kills).

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "layers/store.h"
#include "tests/builder/build_fixture.h"
#include "tests/support/skip.h"
#include "tests/builder/crash_support.h"
#include "tests/support/registry_fixture.h"

using hoist_test::HoistRunner;
using hoist_test::RunResult;

namespace {

using Clock = std::chrono::steady_clock;

struct Command {
  std::string name;
  std::function<void(int)> setup;                   // before each run (not timed)
  std::function<std::vector<std::string>(int)> args;
  std::vector<std::string> changes;                 // tags the command may change or remove
  // Whether a rerun's result is right; default: exit 0.
  std::function<bool(const RunResult&, int)> rerun_ok;
};

struct Tally {
  int kills = 0, finished_first = 0, fsck_bad = 0, lost = 0, rerun_failed = 0, survivors = 0;
};

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t k = 0; k < 8 && i + k < n; ++k) out[i + k] = static_cast<char>(v >> (8 * k));
  }
  return out;
}

// A tar holding one file of `bytes` random bytes (incompressible: compression takes time).
std::string make_random_tar(const std::string& dir, const std::string& name, size_t bytes,
                            std::mt19937_64& rng) {
  std::string tree = dir + "/" + name + "-tree";
  std::filesystem::create_directories(tree + "/data");
  std::ofstream(tree + "/data/blob.bin", std::ios::binary) << random_bytes(rng, bytes);
  std::string tar = dir + "/" + name + ".tar";
  auto r = hoist_test::run_program({"tar", "-C", tree, "-cf", tar, "data"});
  REQUIRE(r.exit_code == 0);
  return tar;
}

std::map<std::string, std::string> tags_of(const std::string& root) {
  std::map<std::string, std::string> out;
  auto store = layers::Store::open(root);
  if (!store) return out;
  auto entries = store->list();
  if (!entries) return out;
  for (const auto& e : *entries)
    if (!e.name.empty()) out[e.name] = e.descriptor.digest.str();
  return out;
}

}  // namespace

TEST_CASE("crash: SIGKILL during build, pull, push, import, save, tag, rmi and prune leaves a "
          "consistent store and a command that reruns",
          "[builder][crash]") {
  if (hoist_test::run_program({"sh", "-c", "command -v docker-registry"}).exit_code != 0) {
    HOIST_SKIP("docker-registry is not installed (.ci/deps.sh --test installs it)");
  }
  uint64_t seed = static_cast<uint64_t>(std::random_device{}());
  if (const char* s = std::getenv("HOIST_CRASH_SEED")) seed = std::strtoull(s, nullptr, 10);
  int rounds = 23;
  if (const char* s = std::getenv("HOIST_CRASH_ROUNDS")) rounds = std::atoi(s);
  std::fprintf(stderr, "crash loop: HOIST_CRASH_SEED=%llu HOIST_CRASH_ROUNDS=%d\n",
               static_cast<unsigned long long>(seed), rounds);
  INFO("HOIST_CRASH_SEED=" << seed);
  std::mt19937_64 rng(seed);

  crash_test::become_subreaper();
  hoist_test::RegistryServer registry(hoist_test::RegistryServer::Options{});
  REQUIRE(registry.started());
  const std::string reg = registry.host();

  build_test::BuildFixture f;  // busybox:latest in a fresh store
  const HoistRunner& hoist = f.hoist();
  const std::string root = hoist.root();
  hoist_test::TempDir work("hoist-crash");
  const std::string& w = work.path();

  // Contexts: one COPY of many files, one RUN writing many files.
  const std::string copy_ctx = w + "/copy-ctx", run_ctx = w + "/run-ctx";
  std::filesystem::create_directories(copy_ctx + "/files");
  for (int i = 0; i < 400; ++i)
    std::ofstream(copy_ctx + "/files/f" + std::to_string(i), std::ios::binary)
        << random_bytes(rng, 2048);
  std::ofstream(copy_ctx + "/Dockerfile") << "FROM busybox:latest\nCOPY files /files\n";
  std::filesystem::create_directories(run_ctx);
  std::ofstream(run_ctx + "/Dockerfile")
      << "FROM busybox:latest\n"
         "RUN i=0; while [ $i -lt 200 ]; do echo $i > /f$i; i=$((i+1)); done; "
         "dd if=/dev/urandom of=/big bs=64k count=32 2>/dev/null\n";

  // Images that exist before any kill: keep:1 (a build), and one in the registry to pull.
  {
    auto r = hoist.run({"build", "--progress", "plain", "-t", "keep:1", copy_ctx});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  const std::string big_tar = make_random_tar(w, "big", 3 << 20, rng);
  const std::string pull_name = reg + "/crash/pullme:1";
  {
    HoistRunner other;
    REQUIRE(other.run({"import", big_tar, pull_name}).exit_code == 0);
    auto r = other.run({"push", "-q", pull_name});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  const std::string save_out = w + "/saved.tar";

  auto must = [&](const std::vector<std::string>& args) {
    auto r = hoist.run(args);
    INFO("hoist " << args.front() << ": " << r.err);
    REQUIRE(r.exit_code == 0);
  };
  auto has_tag = [&](const std::string& name) { return tags_of(root).count(name) > 0; };

  std::vector<Command> commands = {
      {"build (COPY 400 files)", nullptr,
       [&](int) { return std::vector<std::string>{"build", "--no-cache", "--progress", "plain", "-t", "crash/copy:1", copy_ctx}; },
       {"docker.io/crash/copy:1"}, nullptr},
      {"build (RUN)", nullptr,
       [&](int) { return std::vector<std::string>{"build", "--no-cache", "--progress", "plain", "-t", "crash/run:1", run_ctx}; },
       {"docker.io/crash/run:1"}, nullptr},
      {"pull",
       [&](int) {
         if (has_tag(pull_name)) must({"rmi", pull_name});  // rmi also drops its blobs
       },
       [&](int) { return std::vector<std::string>{"pull", "-q", pull_name}; }, {pull_name}, nullptr},
      {"push", [&](int i) { must({"tag", "keep:1", reg + "/crash/push" + std::to_string(i) + ":1"}); },
       [&](int i) { return std::vector<std::string>{"push", "-q", reg + "/crash/push" + std::to_string(i) + ":1"}; },
       {}, nullptr},
      {"import", nullptr, [&](int) { return std::vector<std::string>{"import", big_tar, "crash/imp:1"}; },
       {"docker.io/crash/imp:1"}, nullptr},
      {"save", nullptr, [&](int) { return std::vector<std::string>{"save", "-o", save_out, "keep:1"}; },
       {}, nullptr},
      {"tag", nullptr, [&](int i) { return std::vector<std::string>{"tag", "keep:1", "crash/tag" + std::to_string(i) + ":1"}; },
       {}, nullptr},
      {"rmi",
       [&](int i) {
         // A one-off image, so rmi also deletes blobs nothing else uses.
         std::mt19937_64 local(seed + static_cast<uint64_t>(i));
         auto tar = make_random_tar(w, "victim", 256 << 10, local);
         must({"import", tar, "crash/victim:1"});
       },
       [&](int) { return std::vector<std::string>{"rmi", "crash/victim:1"}; }, {"docker.io/crash/victim:1"},
       // Killed after the tag went: the rerun rightly finds nothing to remove.
       [&](const RunResult& r, int) {
         return r.exit_code == 0 || (!has_tag("docker.io/crash/victim:1") && r.err.find("No such image") != std::string::npos) ||
                (!has_tag("docker.io/crash/victim:1") && r.err.find("no such image") != std::string::npos);
       }},
      {"prune",
       [&](int i) {
         // Garbage to sweep: unreferenced blobs.
         auto store = layers::Store::open(root);
         REQUIRE(store);
         std::mt19937_64 local(seed ^ static_cast<uint64_t>(i));
         for (int k = 0; k < 4; ++k) REQUIRE(store->blobs().put_bytes(random_bytes(local, 256 << 10)));
       },
       [&](int) { return std::vector<std::string>{"prune"}; }, {}, nullptr},
  };

  // Each command's typical duration, measured once.
  std::vector<double> typical(commands.size());
  for (size_t c = 0; c < commands.size(); ++c) {
    if (commands[c].setup) commands[c].setup(0);
    auto start = Clock::now();
    auto r = hoist.run(commands[c].args(0));
    typical[c] = std::chrono::duration<double>(Clock::now() - start).count();
    INFO(commands[c].name << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    std::fprintf(stderr, "crash loop: %s takes %.0f ms\n", commands[c].name.c_str(), typical[c] * 1000);
  }

  std::vector<Tally> tally(commands.size());
  auto loop_start = Clock::now();
  for (int round = 1; round <= rounds; ++round) {
    for (size_t c = 0; c < commands.size(); ++c) {
      const Command& cmd = commands[c];
      if (cmd.setup) cmd.setup(round);
      auto before = tags_of(root);
      std::uniform_real_distribution<double> delay_dist(0.0, 1.1 * typical[c]);
      const double delay = delay_dist(rng);
      auto args = cmd.args(round);
      CAPTURE(cmd.name, round, delay);

      auto outcome = crash_test::run_and_kill(root, args, delay);
      Tally& t = tally[c];
      ++t.kills;
      if (outcome.finished_first) ++t.finished_first;
      if (!outcome.group_gone) ++t.survivors;
      CHECK(outcome.group_gone);

      auto fsck = hoist.run({"fsck"});
      if (fsck.exit_code != 0) ++t.fsck_bad;
      INFO("fsck: " << fsck.out << fsck.err);
      CHECK(fsck.exit_code == 0);

      auto after = tags_of(root);
      for (const auto& [name, digest] : before) {
        if (std::find(cmd.changes.begin(), cmd.changes.end(), name) != cmd.changes.end()) continue;
        auto it = after.find(name);
        bool intact = it != after.end() && it->second == digest;
        if (!intact) ++t.lost;
        INFO("image " << name << " before the kill");
        CHECK(intact);
      }

      auto rerun = hoist.run(args);
      bool ok = cmd.rerun_ok ? cmd.rerun_ok(rerun, round) : rerun.exit_code == 0;
      if (!ok) ++t.rerun_failed;
      INFO("rerun: " << rerun.err);
      CHECK(ok);
    }
  }
  double seconds = std::chrono::duration<double>(Clock::now() - loop_start).count();

  auto fsck = hoist.run({"fsck"});
  INFO(fsck.out);
  CHECK(fsck.exit_code == 0);
  auto prune = hoist.run({"prune"});
  INFO(prune.err);
  CHECK(prune.exit_code == 0);
  CHECK(hoist.run({"fsck"}).exit_code == 0);

  std::fprintf(stderr, "crash loop: seed %llu, %.1f s\n| command | kills | finished before the kill | fsck not clean | images lost | reruns failed | processes left |\n|---|---|---|---|---|---|---|\n",
               static_cast<unsigned long long>(seed), seconds);
  int total = 0;
  for (size_t c = 0; c < commands.size(); ++c) {
    const Tally& t = tally[c];
    total += t.kills;
    std::fprintf(stderr, "| %s | %d | %d | %d | %d | %d | %d |\n", commands[c].name.c_str(), t.kills,
                 t.finished_first, t.fsck_bad, t.lost, t.rerun_failed, t.survivors);
  }
  std::fprintf(stderr, "crash loop: %d kills\n", total);
  if (!std::getenv("HOIST_CRASH_ROUNDS")) CHECK(total >= 200);
}

namespace {

// Files and directories beneath `dir`; -1 when it is missing.
long count_entries(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return -1;
  long n = 0;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

}  // namespace

TEST_CASE("crash: prune killed while it removes an unpacked layer leaves no half-removed layer "
          "for the next run to use",
          "[builder][crash]") {
  uint64_t seed = static_cast<uint64_t>(std::random_device{}());
  if (const char* s = std::getenv("HOIST_CRASH_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::fprintf(stderr, "unpacked-layer kills: HOIST_CRASH_SEED=%llu\n", static_cast<unsigned long long>(seed));
  INFO("HOIST_CRASH_SEED=" << seed);
  std::mt19937_64 rng(seed);
  crash_test::become_subreaper();

  HoistRunner hoist;
  REQUIRE(hoist.import_busybox().exit_code == 0);
  hoist_test::TempDir work("hoist-crash");
  // busybox plus 3000 small files: removing its unpacked tree takes a while.
  const std::string tree = work.path() + "/tree";
  std::filesystem::create_directories(tree);
  REQUIRE(hoist_test::run_program({"tar", "-xf", hoist_test::busybox_rootfs_tar(), "-C", tree}).exit_code == 0);
  std::filesystem::create_directories(tree + "/data");
  for (int i = 0; i < 3000; ++i) std::ofstream(tree + "/data/f" + std::to_string(i)) << i;
  const std::string tar = work.path() + "/many.tar";
  REQUIRE(hoist_test::run_program({"tar", "-C", tree, "-cf", tar, "."}).exit_code == 0);
  const std::string name = "docker.io/crash/many:1";

  auto store = layers::Store::open(hoist.root());
  REQUIRE(store);
  std::string layer_dir;
  long full = -1;
  // Tags the image (again) and runs it, which unpacks its layer.
  auto prepare = [&] {
    if (!store->find_tag(name)) {
      auto r = hoist.run({"import", "-c", "CMD [\"sh\"]", tar, "crash/many:1"});
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
    }
    auto r = hoist.run({"run", "--rm", "crash/many:1", "sh", "-c", "ls /data | wc -l"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == "3000\n");
    auto d = store->find_tag(name);
    REQUIRE(d);
    auto image = store->load_image(*d);
    REQUIRE(image);
    layer_dir = store->unpacked_path(image->config.diff_ids.at(0));
  };
  prepare();
  full = count_entries(layer_dir);
  REQUIRE(full > 3000);  // run unpacked the layer into hoist-unpacked/

  // How long a prune takes to remove it.
  REQUIRE(store->remove_tag(name));
  auto start = std::chrono::steady_clock::now();
  REQUIRE(hoist.run({"prune"}).exit_code == 0);
  const double typical = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(count_entries(layer_dir) == -1);

  int partial_seen = 0;
  for (int round = 0; round < 8; ++round) {
    prepare();
    REQUIRE(count_entries(layer_dir) == full);
    REQUIRE(store->remove_tag(name));  // untagged, not yet swept
    const double delay = std::uniform_real_distribution<double>(0.0, 1.1 * typical)(rng);
    CAPTURE(round, delay);
    auto outcome = crash_test::run_and_kill(hoist.root(), {"prune"}, delay);
    CHECK(outcome.group_gone);
    long left = count_entries(layer_dir);
    if (left != -1 && left != full) ++partial_seen;
    // The layer is either whole under its name or not there at all.
    CHECK((left == -1 || left == full));
    CHECK(hoist.run({"fsck"}).exit_code == 0);
  }
  prepare();  // and a run after the last kill sees every file
  CHECK(partial_seen == 0);
}
