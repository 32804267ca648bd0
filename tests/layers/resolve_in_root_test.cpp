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

namespace fs = std::filesystem;

TEST_CASE("open_in_root: openat2 and the walk agree, and stay beneath the root",
          "[layers][resolve_in_root]") {
  char tmpl[] = "/tmp/hoist-resolve-XXXXXX";
  REQUIRE(::mkdtemp(tmpl));
  const std::string outer = tmpl;
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
  fs::remove_all(outer);
}
