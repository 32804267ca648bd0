// Every case of the generated hostile corpus (tests/support/hostile_layers.h) through the
// tar applier in its three modes: layers applied into one rootfs (Apply), each layer alone
// in its own directory (Overlay, as the unpacked-layer cache does), and the top tar as an
// ADD archive (Keep). The canary beside the roots must be untouched after every case.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <optional>

#include "layers/resolve_in_root.h"
#include "layers/tar_apply.h"
#include "layers/unique_fd.h"
#include "tests/support/files.h"
#include "tests/support/canary.h"
#include "tests/support/hostile_layers.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;

namespace {

// The first error unpacking `layers` (bottom first) with `options`, each into `root_of(i)`.
std::optional<layers::Error> unpack_all(const std::vector<std::string>& tars,
                                        const std::function<std::string(size_t)>& root_of,
                                        const layers::UnpackOptions& options) {
  for (size_t i = 0; i < tars.size(); ++i) {
    std::string root = root_of(i);
    fs::create_directories(root);
    auto fd = hoist_test::memfd_of(tars[i]);
    auto r = layers::unpack_layer(root, fd.get(), options);
    if (!r) return r.error();
  }
  return std::nullopt;
}

void check_outcome(const std::optional<layers::Error>& error, const hoist_test::Expected& want) {
  if (want.outcome == hoist_test::Outcome::Contained) {
    INFO((error ? error->message() : std::string()));
    CHECK_FALSE(error);
    return;
  }
  REQUIRE(error);
  CHECK(error->kind() == layers::ErrorKind::InvalidInput);
  CHECK_THAT(error->message(), Catch::Contains(want.entry));
}

}  // namespace

TEST_CASE("hostile corpus: every case through every unpack mode leaves the canary alone",
          "[layers][hostile][corpus]") {
  // Both ways of resolving beneath the root: openat2, and the walk taken without it.
  const bool walk = GENERATE(false, true);
  CAPTURE(walk);
  layers::force_walk_for_testing(walk);
  struct Reset {
    ~Reset() { layers::force_walk_for_testing(false); }
  } reset;
  REQUIRE(layers::takes_walk() == walk);
  hoist_test::TempDir scratch("hoist-hostile");
  auto canary = hoist_test::Canary::plant(scratch.path() + "/canary");
  const auto cases = hoist_test::hostile_cases(canary.dir());
  REQUIRE(cases.size() >= 25);
  int run = 0;
  for (const auto& c : cases) {
    for (int mode = 0; mode < 3; ++mode) {
      const char* mode_name[] = {"apply", "overlay", "archive"};
      CAPTURE(c.name, mode_name[mode]);
      const std::string base = scratch.path() + "/" + c.name + "-" + mode_name[mode];
      std::optional<layers::Error> error;
      if (mode == 0) {
        error = unpack_all(c.layers, [&](size_t) { return base; }, {});
        check_outcome(error, c.apply);
      } else if (mode == 1) {
        error = unpack_all(c.layers, [&](size_t i) { return base + "/" + std::to_string(i); },
                           {.whiteouts = layers::WhiteoutMode::Overlay});
        check_outcome(error, c.overlay);
      } else {
        layers::UnpackOptions options;
        options.whiteouts = layers::WhiteoutMode::Keep;
        options.any_compression = true;
        error = unpack_all({c.layers.back()}, [&](size_t) { return base; }, options);
        check_outcome(error, c.archive);
      }
      CHECK(canary.changes() == std::vector<std::string>{});
      ++run;
    }
  }
  CHECK(run == int(cases.size()) * 3);
}

TEST_CASE("hostile corpus: what the contained cases leave inside the root",
          "[layers][hostile][corpus]") {
  hoist_test::TempDir scratch("hoist-hostile");
  auto canary = hoist_test::Canary::plant(scratch.path() + "/canary");
  auto cases = hoist_test::hostile_cases(canary.dir());
  auto find = [&](const std::string& name) -> const hoist_test::HostileCase& {
    for (const auto& c : cases)
      if (c.name == name) return c;
    FAIL("no case " << name);
    throw;
  };
  auto apply = [&](const std::string& name, layers::WhiteoutMode mode) {
    std::string root = scratch.path() + "/" + name + "-" + std::to_string(int(mode));
    auto error = unpack_all(find(name).layers, [&](size_t) { return root; }, {.whiteouts = mode});
    INFO((error ? error->message() : ""));
    REQUIRE_FALSE(error);
    return root;
  };
  struct stat st;

  // The case, applied flat: nothing to delete beneath ROOT/CANARY, nothing made.
  std::string root = apply("whiteouts-under-symlink", layers::WhiteoutMode::Apply);
  REQUIRE(::lstat((root + "/a").c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));

  root = apply("symlink-absolute-inside", layers::WhiteoutMode::Apply);
  CHECK(::lstat((root + canary.dir() + "/pwned").c_str(), &st) == 0);

  root = apply("setuid", layers::WhiteoutMode::Apply);
  REQUIRE(::lstat((root + "/bin/su").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 04755);

  root = apply("duplicates", layers::WhiteoutMode::Apply);
  REQUIRE(::lstat((root + "/s").c_str(), &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  REQUIRE(::lstat((root + "/d").c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));

  root = apply("invalid-utf8", layers::WhiteoutMode::Apply);
  CHECK(::lstat((root + "/bad-\xff\xfe-name").c_str(), &st) == 0);

  root = apply("hardlink-to-escaping-symlink", layers::WhiteoutMode::Apply);
  REQUIRE(::lstat((root + "/h").c_str(), &st) == 0);
  CHECK(S_ISLNK(st.st_mode));

  if (::geteuid() != 0) {
    HOIST_SKIP("overlay whiteouts need root (mknod, trusted.* xattrs)");
  }
  root = apply("whiteout-of-symlink", layers::WhiteoutMode::Overlay);
  REQUIRE(::lstat((root + "/l").c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));
  char value[2];
  CHECK(::lgetxattr(root.c_str(), "trusted.overlay.opaque", value, sizeof value) == 1);
}

TEST_CASE("unpack limits: past max_entries or max_bytes is refused naming the limit",
          "[layers][hostile][limits]") {
  hoist_test::TempDir scratch("hoist-hostile");
  hoist_test::TarWriter many;
  for (int i = 0; i < 50; ++i) many.file("f" + std::to_string(i), "0123456789");
  const std::string tar = many.finish();
  auto [max_entries, max_bytes, refused, names] = GENERATE(table<uint64_t, uint64_t, bool, std::string>({
      {50, 500, false, ""},
      {49, 500, true, "max_entries"},
      {50, 499, true, "max_bytes"},
  }));
  CAPTURE(max_entries, max_bytes);
  std::string root = scratch.path() + "/r" + std::to_string(max_entries) + "-" + std::to_string(max_bytes);
  fs::create_directories(root);
  auto fd = hoist_test::memfd_of(tar);
  layers::UnpackOptions options;
  options.max_entries = max_entries;
  options.max_bytes = max_bytes;
  auto r = layers::unpack_layer(root, fd.get(), options);
  CHECK(bool(r) == !refused);
  if (refused) {
    REQUIRE_FALSE(r);
    CHECK(r.error().kind() == layers::ErrorKind::InvalidInput);
    CHECK_THAT(r.error().message(), Catch::Contains(names) && Catch::Contains("f49"));
  }
}
