#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "layers/blob_store.h"
#include "layers/tar_writer.h"
#include "layers/unpacked_cache.h"
#include "tests/layers/tree_compare.h"
#include "tests/support/fail_syscall.h"
#include "tests/support/files.h"
#include "tests/support/skip.h"

using layers::DiffEntry;
namespace fs = std::filesystem;

namespace {

void put_file(const std::string& path, std::string_view content) {
  std::ofstream(path, std::ios::binary) << content;
}

// Writes the layer of `diff` to `path`; returns its diff_id.
layers::Digest write_layer_file(const layers::TreeDiff& diff, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  auto d = layers::write_layer(
      diff, {.compression = layers::Compression::Gzip}, [&](std::span<const std::byte> b) {
        out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
        return layers::Result<void>();
      });
  if (!d) FAIL(d.error().describe());
  return d->diff_id;
}

std::function<layers::Result<layers::UniqueFd>()> opener(const std::string& path, int* calls) {
  return [path, calls]() -> layers::Result<layers::UniqueFd> {
    ++*calls;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return layers::Error::from_errno("open " + path);
    return layers::UniqueFd(fd);
  };
}

struct TwoLayers {
  tests::TempDir work;
  layers::Digest lower_id = layers::Digest::of("");
  layers::Digest upper_id = layers::Digest::of("");

  TwoLayers() {
    const std::string lower = work / "lower-src", upper = work / "upper-src";
    fs::create_directories(lower + "/opaque");
    fs::create_directories(lower + "/etc");
    put_file(lower + "/opaque/hidden", "lower");
    put_file(lower + "/etc/deleted", "lower");
    put_file(lower + "/etc/kept", "lower");
    auto lower_diff = layers::diff_of_directory(lower);
    REQUIRE(lower_diff);
    lower_id = write_layer_file(*lower_diff, work / "lower.tar.gz");

    fs::create_directories(upper + "/opaque");
    put_file(upper + "/opaque/new", "upper");
    upper_id = write_layer_file({.source_root = upper,
                                 .entries = {{"opaque"},
                                             {"opaque", DiffEntry::Kind::Opaque},
                                             {"opaque/new"},
                                             {"etc/deleted", DiffEntry::Kind::Delete}}},
                                work / "upper.tar.gz");
  }
};

}  // namespace

TEST_CASE("unpacked layers: cached by diff_id, whiteouts in overlay form",
          "[layers][unpacked_cache]") {
  TwoLayers layers_;
  auto cache = layers::UnpackedLayers::open(layers_.work / "unpacked");
  REQUIRE(cache);
  int calls = 0;
  auto upper =
      cache->get_or_unpack(layers_.upper_id, opener(layers_.work / "upper.tar.gz", &calls));
  if (!upper) FAIL(upper.error().describe());
  CHECK(*upper == cache->path_of(layers_.upper_id));
  CHECK(calls == 1);

  struct stat st;
  REQUIRE(::lstat((*upper + "/etc/deleted").c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  CHECK(st.st_rdev == makedev(0, 0));
  char value[4] = {};
  CHECK(::lgetxattr((*upper + "/opaque").c_str(), "trusted.overlay.opaque", value, 3) == 1);
  CHECK(std::string(value) == "y");
  CHECK(fs::exists(*upper + "/opaque/new"));

  // Cached: the blob is not opened again.
  auto again =
      cache->get_or_unpack(layers_.upper_id, opener(layers_.work / "upper.tar.gz", &calls));
  REQUIRE(again);
  CHECK(calls == 1);
}

TEST_CASE("unpacked layers: content that is not the diff_id is Corrupt and leaves nothing",
          "[layers][unpacked_cache]") {
  TwoLayers layers_;
  auto cache = layers::UnpackedLayers::open(layers_.work / "unpacked");
  REQUIRE(cache);
  int calls = 0;
  // The lower layer's bytes offered as the upper layer.
  auto r = cache->get_or_unpack(layers_.upper_id, opener(layers_.work / "lower.tar.gz", &calls));
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == layers::ErrorKind::Corrupt);
  CHECK(fs::is_empty(cache->dir()));
  CHECK_FALSE(cache->has(layers_.upper_id));
}

TEST_CASE("unpacked layers: a layer whose files could not be synced to disk is not named",
          "[layers][unpacked_cache]") {
  // A named directory is trusted for good (nothing checks it again), so its files' data must
  // be on disk before its name: a power cut after an unsynced rename leaves zero-byte files
  // under a valid name. With the sync failing (EIO, as a dying disk gives), the layer is
  // refused and nothing is named. A small layer is synced file by file (fsync), a big one
  // (more than kSyncEachEntries files) with one syncfs: each path is made to fail.
  TwoLayers layers_;
  const std::string big_src = layers_.work / "big-src";
  for (size_t i = 0; i <= layers::kSyncEachEntries; ++i)
    hoist_test::write_file(big_src + "/f" + std::to_string(i), "data " + std::to_string(i));
  auto big_diff = layers::diff_of_directory(big_src);
  REQUIRE(big_diff);
  const layers::Digest big_id = write_layer_file(*big_diff, layers_.work / "big.tar.gz");

  struct Case {
    const char* name;
    long syscall;
    layers::Digest diff_id;
    std::string tar;
    std::string file;  // a file the layer holds
  };
  const Case cases[] = {
      {"fsync", SYS_fsync, layers_.upper_id, layers_.work / "upper.tar.gz", "opaque/new"},
      {"syncfs", SYS_syncfs, big_id, layers_.work / "big.tar.gz", "f0"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    auto cache = layers::UnpackedLayers::open(layers_.work / ("unpacked-" + std::string(c.name)));
    REQUIRE(cache);
    auto seen = hoist_test::in_child_failing(c.syscall, EIO, [&] {
      int calls = 0;
      auto r = cache->get_or_unpack(c.diff_id, opener(c.tar, &calls));
      if (r) return 1;  // named without its sync
      if (r.error().kind() != layers::ErrorKind::Io) return 2;
      if (r.error().describe().find(c.name) == std::string::npos) return 3;
      return 0;
    });
    if (!seen) HOIST_SKIP("seccomp filter unavailable here; the failing sync not checked");
    CHECK(*seen == 0);
    CHECK(fs::is_empty(cache->dir()));  // neither the name nor the scratch directory
    CHECK_FALSE(cache->has(c.diff_id));

    // Where the sync works, the same call names it.
    int calls = 0;
    auto r = cache->get_or_unpack(c.diff_id, opener(c.tar, &calls));
    if (!r) FAIL(r.error().describe());
    CHECK(fs::exists(*r + "/" + c.file));
  }
}

TEST_CASE("unpacked layers: stacked as overlay lowerdirs they give the image's view",
          "[layers][unpacked_cache]") {
  TwoLayers layers_;
  auto cache = layers::UnpackedLayers::open(layers_.work / "unpacked");
  REQUIRE(cache);
  int calls = 0;
  auto lower =
      cache->get_or_unpack(layers_.lower_id, opener(layers_.work / "lower.tar.gz", &calls));
  auto upper =
      cache->get_or_unpack(layers_.upper_id, opener(layers_.work / "upper.tar.gz", &calls));
  REQUIRE(lower);
  REQUIRE(upper);
  const std::string merged = layers_.work / "merged";
  fs::create_directories(merged);
  std::string options = "lowerdir=" + *upper + ":" + *lower;
  if (::mount("overlay", merged.c_str(), "overlay", 0, options.c_str()) != 0) {
    HOIST_SKIP("overlay mount unavailable here (" << std::strerror(errno) << "); view not checked");
  }
  bool has_deleted = fs::exists(merged + "/etc/deleted");
  bool has_kept = fs::exists(merged + "/etc/kept");
  bool has_hidden = fs::exists(merged + "/opaque/hidden");
  bool has_new = fs::exists(merged + "/opaque/new");
  ::umount2(merged.c_str(), MNT_DETACH);
  CHECK_FALSE(has_deleted);
  CHECK(has_kept);
  CHECK_FALSE(has_hidden);
  CHECK(has_new);
}

TEST_CASE("unpacked layers: threads unpacking the same layers at once all get the one directory",
          "[layers][unpacked_cache]") {
  TwoLayers layers_;
  auto cache = layers::UnpackedLayers::open(layers_.work / "unpacked");
  REQUIRE(cache);
  constexpr int kThreads = 6;
  std::vector<std::optional<layers::Result<std::string>>> got(kThreads);
  std::vector<int> calls(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      const bool upper = t % 2;
      got[t] = cache->get_or_unpack(upper ? layers_.upper_id : layers_.lower_id,
                                    opener(layers_.work / (upper ? "upper.tar.gz" : "lower.tar.gz"), &calls[t]));
    });
  for (auto& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    CAPTURE(t);
    REQUIRE(*got[t]);
    CHECK(**got[t] == cache->path_of(t % 2 ? layers_.upper_id : layers_.lower_id));
  }
  CHECK(fs::exists(cache->path_of(layers_.lower_id) + "/etc/kept"));
  CHECK(fs::exists(cache->path_of(layers_.upper_id) + "/opaque/new"));
  // The losers' copies are gone: only the two layers' directories are left.
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(cache->dir())) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  std::vector<std::string> want{std::string(layers_.lower_id.hex()), std::string(layers_.upper_id.hex())};
  std::sort(want.begin(), want.end());
  CHECK(names == want);
}
