// The context memo (builder/context_memo.h): a rebuild stats the context and hashes only
// the files whose stat changed, and the cache keys are the same with or without the memo.
// `hoist --debug build` says "context: N files, M hashed in all"; the tests count that.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <set>
#include <thread>

#include "builder/context_memo.h"
#include "tests/builder/build_fixture.h"

using build_test::BuildFixture;
using build_test::count_lines_with;
using hoist_test::read_file;
using hoist_test::write_file;

namespace {

constexpr int kDataFiles = 20;

const char* kMemoDockerfile =
    "FROM busybox:latest\n"
    "COPY data /data\n"
    "COPY a.txt /a.txt\n";

struct Built {
  int files = -1, hashed = -1;  // from "context: N files, M hashed in all"
  std::string image_id;
  std::string keys;  // the "debug: cache key" lines, in order
  std::string err;
};

Built build(const BuildFixture& f) {
  f.write("Dockerfile", kMemoDockerfile);
  const std::string iid = f.out_dir() + "/iid";
  auto r = f.hoist().run(
      {"--debug", "build", "--progress", "plain", "--iidfile", iid, "-t", "t", f.context()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  Built b;
  b.err = r.err;
  b.image_id = read_file(iid);
  std::smatch m;
  REQUIRE(std::regex_search(r.err, m,
                            std::regex("debug: context: ([0-9]+) files, ([0-9]+) hashed in all")));
  b.files = std::stoi(m[1]);
  b.hashed = std::stoi(m[2]);
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line);)
    if (auto at = line.find("debug: cache key "); at != std::string::npos)
      b.keys += line.substr(at) + "\n";
  return b;
}

// A file written less than the memo's margin (100 ms) before a build is hashed but not
// remembered (a write in the same clock tick would not change its stat). Waiting past it
// after writing makes the counts below exact; nothing here is timed.
void settle() {
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
}

std::string memo_path(const BuildFixture& f) {
  std::string found;
  for (const auto& e : std::filesystem::directory_iterator(f.hoist().root() + "/hoist-cache")) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("context-") && name.ends_with(".memo")) {
      REQUIRE(found.empty());  // one context, one memo
      found = e.path().string();
    }
  }
  return found;
}

void set_mtime(const std::string& path, timespec mtime) {
  timespec times[2] = {mtime, mtime};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

timespec mtime_of(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mtim;
}

}  // namespace

TEST_CASE("context memo: a rebuild hashes only the files whose stat changed",
          "[builder][cache][context_memo]") {
  BuildFixture f;
  for (int i = 0; i < kDataFiles; ++i)
    f.write("data/f" + std::to_string(i), "file " + std::to_string(i) + "\n");
  f.write("a.txt", "a\n");
  const int total = kDataFiles + 1;
  settle();

  const Built cold = build(f);
  CHECK(cold.files == total);
  CHECK(cold.hashed == total);
  CHECK_THAT(cold.err,
             Catch::Contains("debug: context: " + std::to_string(kDataFiles) + " files, " +
                             std::to_string(kDataFiles) + " hashed"));  // the COPY data step
  REQUIRE_FALSE(memo_path(f).empty());

  // Nothing changed: every file is stat'ed, none is read.
  const Built again = build(f);
  CHECK(again.files == total);
  CHECK(again.hashed == 0);
  CHECK(again.keys == cold.keys);
  CHECK(again.image_id == cold.image_id);
  CHECK(count_lines_with(again.err, "CACHED") == 2);

  // One file's content: that file is read, and its step runs.
  f.write("data/f3", "file 3, longer now\n");
  settle();
  const Built one = build(f);
  CHECK(one.hashed == 1);
  CHECK(one.image_id != cold.image_id);
  CHECK(build_test::step_outcome(one.err, "COPY data /data") == "DONE");
  CHECK(build_test::step_outcome(one.err, "COPY a.txt /a.txt") == "DONE");  // after a changed step
  CHECK(build(f).hashed == 0);

  // A touch keeps the content: the file is read again, and the cache still hits.
  set_mtime(f.context() + "/a.txt", timespec{1'000'000'000, 0});
  settle();
  const Built touched = build(f);
  CHECK(touched.hashed == 1);
  CHECK(touched.image_id == one.image_id);
  CHECK(touched.keys == one.keys);
  CHECK(count_lines_with(touched.err, "CACHED") == 2);

  // The same size and the mtime put back (touch -d): ctime still tells.
  const std::string f5 = f.context() + "/data/f5";
  const timespec before = mtime_of(f5);
  f.write("data/f5", "FILE 5\n");
  set_mtime(f5, before);
  settle();
  const Built restored = build(f);
  CHECK(restored.hashed == 1);
  CHECK(restored.image_id != touched.image_id);
  CHECK(build_test::step_outcome(restored.err, "COPY data /data") == "DONE");

  // A deleted memo: everything is hashed again, to the same keys.
  REQUIRE(std::filesystem::remove(memo_path(f)));
  const Built deleted = build(f);
  CHECK(deleted.hashed == total);
  CHECK(deleted.keys == restored.keys);
  CHECK(deleted.image_id == restored.image_id);
  CHECK(build(f).hashed == 0);

  // A damaged memo is never trusted: truncated, or one digest changed.
  const std::string memo = memo_path(f);
  const std::string text = read_file(memo);
  write_file(memo, text.substr(0, text.size() / 2));
  const Built truncated = build(f);
  CHECK(truncated.hashed == total);
  CHECK(truncated.keys == restored.keys);
  std::string forged = read_file(memo);
  const size_t digest_at = forged.find('\n', forged.find("dir ")) + 1;  // the first entry's digest
  forged[digest_at] = forged[digest_at] == '0' ? '1' : '0';
  write_file(memo, forged);
  const Built corrupt = build(f);
  CHECK(corrupt.hashed == total);
  CHECK(corrupt.keys == restored.keys);
  CHECK(corrupt.image_id == restored.image_id);
}

TEST_CASE("context memo: a file with a recent or future time is hashed every time (racy-git)",
          "[builder][cache][context_memo]") {
  BuildFixture f;
  f.write("data/x", "x\n");
  f.write("a.txt", "a\n");
  settle();
  REQUIRE(build(f).hashed == 2);
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  set_mtime(f.context() + "/a.txt", timespec{now.tv_sec + 3600, 0});
  // Its mtime is never older than a build's start, so it is never remembered.
  CHECK(build(f).hashed == 1);
  CHECK(build(f).hashed == 1);
}

TEST_CASE("context memo: no memo is kept of a context read from stdin",
          "[builder][cache][context_memo]") {
  BuildFixture f;
  f.write("Dockerfile", kMemoDockerfile);
  f.write("data/x", "x\n");
  f.write("a.txt", "a\n");
  const std::string tar = f.out_dir() + "/context.tar";
  auto packed = hoist_test::run_program({"tar", "-cf", tar, "-C", f.context(), "."});
  REQUIRE(packed.exit_code == 0);
  auto r = hoist_test::run_program(
      {"sh", "-c", "exec \"$0\" --debug build --progress plain -t t - < \"$1\"",
       hoist_test::hoist_bin(), tar},
      {"HOIST_ROOT=" + f.hoist().root()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, !Catch::Contains("hashed in all"));
  CHECK(memo_path(f).empty());
}

TEST_CASE("context memo: the file format is read strictly", "[builder][context_memo]") {
  using builder::ContextMemo;
  ContextMemo::Entries entries;
  ContextMemo::Entry e;
  e.stamp = {1, 2, S_IFREG | 0644, 3, 4, 5, 6, 7};
  const layers::Digest x = layers::Digest::of("x");
  e.hex = x.hex();
  entries["a b\nc"] = e;  // any byte but NUL in a name
  e.stamp.ino = 9;
  entries["d/e"] = e;
  const std::string text = ContextMemo::format("/ctx", entries);
  auto back = ContextMemo::parse("/ctx", text);
  REQUIRE(back);
  REQUIRE(back->size() == 2);
  CHECK(back->at("a b\nc").stamp == entries.at("a b\nc").stamp);
  CHECK(back->at("d/e").hex == x.hex());

  // Written in path order (the order a walk looks them up), whatever the map's order.
  ContextMemo::Entries many;
  std::vector<std::string> names;
  for (int i = 0; i < 200; ++i) names.push_back("d/f" + std::to_string(1000 + i));
  for (auto it = names.rbegin(); it != names.rend(); ++it) many[*it] = e;
  const std::string many_text = ContextMemo::format("/ctx", many);
  size_t previous = 0;
  for (const auto& name : names) {
    const size_t at = many_text.find(":" + name + "\n");
    REQUIRE(at != std::string::npos);
    CHECK(at > previous);
    previous = at;
  }

  CHECK_FALSE(ContextMemo::parse("/other", text));  // another directory's
  for (size_t n = 0; n < text.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(ContextMemo::parse("/ctx", text.substr(0, n)));  // truncated anywhere
    std::string flipped = text;
    flipped[n] ^= 0x01;
    CHECK_FALSE(ContextMemo::parse("/ctx", flipped));  // any byte changed
  }
}

TEST_CASE("context memo: two builds of one context at once keep each other's files",
          "[builder][cache][context_memo]") {
  BuildFixture f;
  for (int i = 0; i < 10; ++i) {
    f.write("data/a" + std::to_string(i), "a" + std::to_string(i) + "\n");
    f.write("data/b" + std::to_string(i), "b" + std::to_string(i) + "\n");
  }
  f.write("a.txt", "a\n");
  f.write("Dockerfile",
          "FROM busybox:latest AS a\nCOPY data/a* /a/\n"
          "FROM busybox:latest AS b\nCOPY data/b* /b/\n");
  settle();
  // Each target reads its half of the context; both save the memo, under its lock.
  std::vector<pid_t> pids;
  for (const char* target : {"a", "b"}) {
    const std::string out = f.out_dir() + "/" + target;
    pids.push_back(hoist_test::spawn_program(
        {hoist_test::hoist_bin(), "build", "--progress", "plain", "--target", target, "-t", target,
         f.context()},
        {"HOIST_ROOT=" + f.hoist().root()}, "/dev/null", out + ".out", out + ".err", false));
  }
  for (pid_t pid : pids) {
    REQUIRE(pid > 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    INFO(read_file(f.out_dir() + "/a.err") + read_file(f.out_dir() + "/b.err"));
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  // Whichever saved last kept the other's entries: neither half is read again.
  for (const char* target : {"a", "b"}) {
    auto r = f.hoist().run(
        {"--debug", "build", "--progress", "plain", "--target", target, "-t", target, f.context()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains("debug: context: 10 files, 0 hashed in all"));
  }
}

TEST_CASE("context memo: hoist prune removes the memos of context directories that are gone",
          "[builder][context_memo][prune]") {
  BuildFixture f;
  f.write("a.txt", "a\n");
  f.write("data/f0", "0\n");
  // A second context, built into the same store, then removed.
  hoist_test::TempDir scratch("hoist-ctx-gone");
  const std::string gone = scratch.path() + "/ctx";
  write_file(gone + "/Dockerfile", kMemoDockerfile);
  write_file(gone + "/a.txt", "gone\n");
  write_file(gone + "/data/f0", "gone\n");
  settle();
  build(f);
  auto other = f.hoist().run({"build", "--progress", "plain", "-t", "gone", gone});
  INFO(other.err);
  REQUIRE(other.exit_code == 0);
  const std::string cache = f.hoist().root() + "/hoist-cache";
  auto memos = [&] {
    std::set<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(cache))
      if (e.path().extension() == ".memo") names.insert(e.path().filename().string());
    return names;
  };
  const auto both = memos();
  REQUIRE(both.size() == 2);
  // A memo that does not say whose it is stays (it reads as empty anyway).
  const std::string unreadable = "context-" + std::string(64, '0') + ".memo";
  write_file(cache + "/" + unreadable, "not a memo\n");

  auto kept = f.hoist().run({"prune"});
  INFO(kept.err);
  REQUIRE(kept.exit_code == 0);
  CHECK_THAT(kept.out, Catch::Contains("Deleted 0 context memos"));
  CHECK(memos().size() == 3);

  std::filesystem::remove_all(gone);
  auto pruned = f.hoist().run({"prune"});
  INFO(pruned.err);
  REQUIRE(pruned.exit_code == 0);
  CHECK_THAT(pruned.out, Catch::Contains("Deleted 1 context memos"));
  const auto left = memos();
  CHECK(left.size() == 2);
  CHECK(left.count(unreadable) == 1);
  // What is left of the two is the memo of f's context, which a rebuild still uses.
  CHECK(build(f).hashed == 0);
}
