#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "layers/overlay_diff.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using layers::DiffEntry;

namespace {

// The shared temp dir (tests/support/temp_dir.h), under the name and `path` this file uses.
struct Scratch {
  hoist_test::TempDir dir{"hoist-overlay-diff"};
  const std::string& path = dir.path();
};

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

using Entry = std::pair<std::string, DiffEntry::Kind>;

std::vector<Entry> entries_of(const layers::TreeDiff& diff) {
  std::vector<Entry> out;
  for (const auto& e : diff.entries) out.emplace_back(e.path, e.kind);
  return out;
}

constexpr auto Add = DiffEntry::Kind::AddOrChange;
constexpr auto Del = DiffEntry::Kind::Delete;
constexpr auto Opq = DiffEntry::Kind::Opaque;

}  // namespace

TEST_CASE("overlay diff: hand-made upper dir maps onto OCI changes", "[layers][overlay_diff]") {
  Scratch s;
  const std::string u = s.path;
  fs::create_directories(u + "/etc/apt");
  write_file(u + "/etc/apt/sources.list", "deb x");
  REQUIRE(::mknod((u + "/etc/motd").c_str(), S_IFCHR | 0, makedev(0, 0)) == 0);
  fs::create_directories(u + "/var/cache");
  REQUIRE(::setxattr((u + "/var/cache").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0);
  write_file(u + "/var/cache/new", "n");
  fs::create_directories(u + "/usr");
  REQUIRE(::setxattr((u + "/usr").c_str(), "trusted.overlay.opaque", "x", 1, 0) == 0);
  write_file(u + "/usr/gone", "");
  REQUIRE(::setxattr((u + "/usr/gone").c_str(), "trusted.overlay.whiteout", "", 0, 0) == 0);
  fs::create_symlink("/nowhere", u + "/link");
  // A character device that is not 0:0 is a real device node, not a whiteout.
  REQUIRE(::mknod((u + "/tty").c_str(), S_IFCHR | 0600, makedev(5, 0)) == 0);

  auto diff = layers::diff_overlay_upper(u + "/");
  REQUIRE(diff);
  CHECK(diff->source_root == u);
  CHECK(entries_of(*diff) == std::vector<Entry>{
                                 {"etc", Add},
                                 {"etc/apt", Add},
                                 {"etc/apt/sources.list", Add},
                                 {"etc/motd", Del},
                                 {"link", Add},
                                 {"tty", Add},
                                 {"usr", Add},
                                 {"usr/gone", Del},
                                 {"var", Add},
                                 {"var/cache", Add},
                                 {"var/cache", Opq},
                                 {"var/cache/new", Add},
                             });
}

TEST_CASE("overlay diff: redirect and metacopy are refused", "[layers][overlay_diff]") {
  auto xattr = GENERATE(as<std::string>{}, "trusted.overlay.redirect", "trusted.overlay.metacopy");
  CAPTURE(xattr);
  Scratch s;
  fs::create_directories(s.path + "/a/moved");
  REQUIRE(::setxattr((s.path + "/a/moved").c_str(), xattr.c_str(), "/old", 4, 0) == 0);
  auto diff = layers::diff_overlay_upper(s.path);
  REQUIRE_FALSE(diff);
  CHECK(diff.error().kind() == layers::ErrorKind::Unsupported);
  CHECK(diff.error().message().find("\"a/moved\"") != std::string::npos);
}

TEST_CASE("overlay diff: a missing upper dir is NotFound", "[layers][overlay_diff]") {
  auto diff = layers::diff_overlay_upper("/nonexistent/hoist/upper");
  REQUIRE_FALSE(diff);
  CHECK(diff.error().kind() == layers::ErrorKind::NotFound);
}

TEST_CASE("overlay diff: changes made through a real overlay mount", "[layers][overlay_diff]") {
  Scratch s;
  const std::string lower = s.path + "/lower", upper = s.path + "/upper",
                    work = s.path + "/work", merged = s.path + "/merged";
  for (const auto& d : {lower + "/keep", lower + "/replace/sub", upper, work, merged})
    fs::create_directories(d);
  write_file(lower + "/keep/old", "old");
  write_file(lower + "/keep/gone", "bye");
  write_file(lower + "/replace/sub/deep", "deep");
  const std::string options = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work +
                              ",redirect_dir=off,metacopy=off";
  if (::mount("overlay", merged.c_str(), "overlay", 0, options.c_str()) != 0)
    HOIST_SKIP("overlay mount unavailable here: " << std::strerror(errno));
  struct Unmount {
    std::string at;
    ~Unmount() { ::umount2(at.c_str(), MNT_DETACH); }
  } unmount{merged};

  write_file(merged + "/keep/new", "new");
  fs::remove(merged + "/keep/gone");
  fs::remove_all(merged + "/replace");
  fs::create_directory(merged + "/replace");
  write_file(merged + "/replace/fresh", "f");
  REQUIRE(::umount2(merged.c_str(), 0) == 0);

  auto diff = layers::diff_overlay_upper(upper);
  REQUIRE(diff);
  CHECK(entries_of(*diff) == std::vector<Entry>{
                                 {"keep", Add},
                                 {"keep/gone", Del},
                                 {"keep/new", Add},
                                 {"replace", Add},
                                 {"replace", Opq},
                                 {"replace/fresh", Add},
                             });
  // The lower layer is untouched.
  CHECK(fs::exists(lower + "/keep/gone"));
  CHECK_FALSE(fs::exists(lower + "/keep/new"));
}

TEST_CASE("overlay diff: copy-ups equal to the lower are dropped, real changes stay",
          "[layers][overlay_diff][same_entry]") {
  // A lower layer and an upper dir as a copy-up leaves it (same mode, owner, mtime, bytes),
  // then one change per row made to the upper's copy.
  auto [change, kept] = GENERATE(table<std::string, std::vector<std::string>>({
      {"none", {}},
      {"bytes", {"etc", "etc/passwd"}},            // same size and mtime, other bytes
      {"mtime", {"etc", "etc/passwd"}},            // a real touch
      {"mode", {"etc", "etc/passwd"}},
      {"owner", {"etc", "etc/passwd"}},
      {"xattr", {"etc", "etc/passwd"}},            // user.* travels in the layer
      {"trusted-xattr", {}},                       // overlay's bookkeeping does not
      {"hard-link", {"etc", "etc/passwd"}},        // a link the command made
      {"dir-mode", {"etc"}},
      {"opaque", {"etc", "etc", "etc/passwd"}},    // (AddOrChange, Opaque, child)
  }));
  CAPTURE(change);
  Scratch s;
  const std::string lower = s.path + "/lower", upper = s.path + "/upper";
  write_file((fs::create_directories(lower + "/etc"), lower + "/etc/passwd"), "root:x:0:0\n");
  REQUIRE(::chmod((lower + "/etc/passwd").c_str(), 0644) == 0);
  fs::create_directories(upper + "/etc");
  REQUIRE(::chmod((lower + "/etc").c_str(), 0755) == 0);
  REQUIRE(::chmod((upper + "/etc").c_str(), 0755) == 0);
  write_file(upper + "/etc/passwd", change == "bytes" ? "root:x:1:0\n" : "root:x:0:0\n");
  REQUIRE(::chmod((upper + "/etc/passwd").c_str(), change == "mode" ? 0600 : 0644) == 0);
  fs::last_write_time(upper + "/etc/passwd", fs::last_write_time(lower + "/etc/passwd"));
  if (change == "mtime")
    fs::last_write_time(upper + "/etc/passwd", fs::last_write_time(lower + "/etc/passwd") + std::chrono::seconds(1));
  if (change == "owner") REQUIRE(::chown((upper + "/etc/passwd").c_str(), 1, 1) == 0);
  if (change == "xattr")
    REQUIRE(::setxattr((upper + "/etc/passwd").c_str(), "user.note", "x", 1, 0) == 0);
  if (change == "trusted-xattr")
    REQUIRE(::setxattr((upper + "/etc/passwd").c_str(), "trusted.overlay.origin", "x", 1, 0) == 0);
  if (change == "hard-link") fs::create_hard_link(upper + "/etc/passwd", s.path + "/elsewhere");
  if (change == "dir-mode") REQUIRE(::chmod((upper + "/etc").c_str(), 0700) == 0);
  if (change == "opaque")
    REQUIRE(::setxattr((upper + "/etc").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0);

  auto diff = layers::diff_overlay_upper(upper);
  REQUIRE(diff);
  auto dropped = layers::drop_unchanged_copy_ups(*diff, [&](const std::string& rel) {
    struct stat st;
    return ::lstat((lower + "/" + rel).c_str(), &st) == 0 ? lower + "/" + rel : std::string();
  });
  REQUIRE(dropped);
  std::vector<std::string> paths;
  for (const auto& e : diff->entries) paths.push_back(e.path);
  CHECK(paths == kept);
  if (kept.empty()) CHECK(*dropped == std::vector<std::string>{"etc/passwd", "etc"});
}
