// layers/resolve_in_root: both ways of resolving (openat2 where the kernel has it, and the
// component-wise walk every path takes without it) agree, and neither leaves the root.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "layers/resolve_in_root.h"
#include "layers/unique_fd.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;

TEST_CASE("open_in_root: openat2 and the walk agree, and stay beneath the root",
          "[layers][resolve_in_root]") {
  hoist_test::TempDir dir("hoist-resolve");
  const std::string outer = dir.path();
  const std::string root = outer + "/root";
  fs::create_directories(root + "/run");
  fs::create_directories(outer + "/outside");
  std::ofstream(outer + "/outside/secret") << "secret";
  std::ofstream(root + "/run/x") << "inside";
  REQUIRE(::symlink("/run", (root + "/abs").c_str()) == 0);        // inside, from the root
  REQUIRE(::symlink("../outside", (root + "/up").c_str()) == 0);   // climbs out
  REQUIRE(::symlink((outer + "/outside").c_str(), (root + "/host").c_str()) == 0);
  REQUIRE(::symlink("up2", (root + "/chain").c_str()) == 0);
  REQUIRE(::symlink("abs/../../..", (root + "/up2").c_str()) == 0);
  REQUIRE(::symlink("loop", (root + "/loop").c_str()) == 0);
  layers::UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(root_fd);

  auto [rel, want_errno] = GENERATE(table<std::string, int>({
      {"run/x", 0},
      {"abs/x", 0},
      {"up/secret", EXDEV},
      {"../outside/secret", EXDEV},
      {"chain/outside/secret", EXDEV},
      {"host/secret", ENOENT},  // the host path, resolved inside the root: not there
      {"loop/x", ELOOP},
  }));
  CAPTURE(rel);
  for (bool by_walk : {false, true}) {
    CAPTURE(by_walk);
    errno = 0;
    int fd = by_walk ? layers::open_in_root_by_walk(root_fd.get(), rel, O_RDONLY)
                     : layers::open_in_root(root_fd.get(), rel, O_RDONLY);
    int err = errno;
    layers::UniqueFd owned(fd);
    if (want_errno == 0) {
      REQUIRE(fd >= 0);
      char buf[16] = {};
      CHECK(::read(fd, buf, sizeof buf) == 6);
      CHECK(std::string(buf) == "inside");
    } else {
      CHECK(fd < 0);
      CHECK(err == want_errno);
    }
  }
}

namespace {

// Forces the walk for one scope (as where openat2 is missing), then goes back.
struct WalkForced {
  explicit WalkForced(bool forced) { layers::force_walk_for_testing(forced); }
  ~WalkForced() { layers::force_walk_for_testing(false); }
};

// What a descriptor names: "file:CONTENT", "dir:ENTRY" (one marker file in each test
// directory), "link" for a symlink opened itself.
std::string what_is(int fd) {
  struct stat st;
  REQUIRE(::fstat(fd, &st) == 0);
  if (S_ISLNK(st.st_mode)) return "link";
  if (S_ISDIR(st.st_mode)) {
    layers::UniqueFd marker(::openat(fd, "marker", O_RDONLY | O_CLOEXEC));
    if (!marker) return "dir:?";
    char buf[32] = {};
    return "dir:" + std::string(buf, size_t(std::max<ssize_t>(0, ::read(marker.get(), buf, sizeof buf))));
  }
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  return "file:" + std::string(buf, size_t(std::max<ssize_t>(0, n)));
}

}  // namespace

TEST_CASE("open_in_root_clamped and open_beneath_no_symlinks: openat2 and the walk agree",
          "[layers][resolve_in_root]") {
  hoist_test::TempDir dir("hoist-resolve");
  const std::string outer = dir.path();
  const std::string root = outer + "/root";
  fs::create_directories(root + "/d/sub");
  fs::create_directories(outer + "/outside");
  std::ofstream(outer + "/outside/secret") << "secret";
  std::ofstream(outer + "/outside/marker") << "outside";
  std::ofstream(root + "/marker") << "root";
  std::ofstream(root + "/d/marker") << "d";
  std::ofstream(root + "/d/f") << "f";
  std::ofstream(root + "/secret") << "root-secret";
  REQUIRE(::symlink("/d", (root + "/abs").c_str()) == 0);
  REQUIRE(::symlink("../../..", (root + "/up").c_str()) == 0);
  REQUIRE(::symlink((outer + "/outside").c_str(), (root + "/host").c_str()) == 0);
  REQUIRE(::symlink("d/f", (root + "/lastlink").c_str()) == 0);
  REQUIRE(::symlink("loop", (root + "/loop").c_str()) == 0);
  REQUIRE(::symlink("/proc/self/cwd", (root + "/magic").c_str()) == 0);
  layers::UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(root_fd);

  // clamped: symlinks resolved with the root as "/", ".." stopping at it. no_symlinks: any
  // symlink is ELOOP, a climb out or an absolute path EXDEV. "E<n>" is a failure with errno n.
  auto [rel, flags, clamped, no_symlinks] = GENERATE(table<std::string, int, std::string, std::string>({
      {"d/f", O_RDONLY, "file:f", "file:f"},
      {"", O_PATH, "dir:root", "dir:root"},
      {"d/sub/../f", O_RDONLY, "file:f", "file:f"},
      {"abs/f", O_RDONLY, "file:f", "E" + std::to_string(ELOOP)},
      {"up/secret", O_RDONLY, "file:root-secret", "E" + std::to_string(ELOOP)},
      {"../outside/secret", O_RDONLY, "E" + std::to_string(ENOENT), "E" + std::to_string(EXDEV)},
      {"../secret", O_RDONLY, "file:root-secret", "E" + std::to_string(EXDEV)},
      {"/d/f", O_RDONLY, "file:f", "E" + std::to_string(EXDEV)},
      {"host/secret", O_RDONLY, "E" + std::to_string(ENOENT), "E" + std::to_string(ELOOP)},
      {"host", O_PATH | O_NOFOLLOW, "link", "link"},
      {"lastlink", O_RDONLY, "file:f", "E" + std::to_string(ELOOP)},
      {"lastlink", O_RDONLY | O_NOFOLLOW, "E" + std::to_string(ELOOP), "E" + std::to_string(ELOOP)},
      {"loop/x", O_RDONLY, "E" + std::to_string(ELOOP), "E" + std::to_string(ELOOP)},
      {"magic/marker", O_RDONLY, "E" + std::to_string(ENOENT), "E" + std::to_string(ELOOP)},  // text resolved inside
  }));
  CAPTURE(rel, flags);
  for (bool walk : {false, true}) {
    CAPTURE(walk);
    WalkForced forced(walk);
    CHECK(layers::takes_walk() == walk);
    for (bool is_clamped : {true, false}) {
      CAPTURE(is_clamped);
      errno = 0;
      int fd = is_clamped ? layers::open_in_root_clamped(root_fd.get(), rel, uint64_t(flags))
                          : layers::open_beneath_no_symlinks(root_fd.get(), rel, uint64_t(flags));
      const int err = errno;
      layers::UniqueFd owned(fd);
      const std::string got = fd >= 0 ? what_is(fd) : "E" + std::to_string(err);
      CHECK(got == (is_clamped ? clamped : no_symlinks));
    }
  }
}

TEST_CASE("resolving beneath a root never follows a magic link, with openat2 or without",
          "[layers][resolve_in_root]") {
  // /proc/self as the root: "cwd" and "root" are magic links (they name objects, not
  // paths), "status" a plain file.
  layers::UniqueFd proc_self(::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(proc_self);
  for (bool walk : {false, true}) {
    CAPTURE(walk);
    WalkForced forced(walk);
    for (const char* rel : {"cwd", "root/etc", "cwd/."}) {
      CAPTURE(rel);
      errno = 0;
      layers::UniqueFd fd(layers::open_in_root_clamped(proc_self.get(), rel, O_PATH));
      CHECK_FALSE(fd);
      CHECK(errno == ELOOP);
      errno = 0;
      layers::UniqueFd in_root(layers::open_in_root(proc_self.get(), rel, O_PATH));
      CHECK_FALSE(in_root);
      CHECK(errno == ELOOP);
    }
    layers::UniqueFd status(layers::open_in_root_clamped(proc_self.get(), "status", O_RDONLY));
    CHECK(status);
  }
}
