// libFuzzer target for layers::unpack_layer. Input: a layer as it could come from a
// registry (plain, gzip or zstd tar). Each input is unpacked into a fresh BASE/root; then
// BASE must hold exactly "root" and an unchanged "sentinel", or an entry escaped and the
// target aborts. Errors are expected; crashes, sanitizer reports and escapes are bugs.
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "layers/tar_apply.h"
#include "layers/unique_fd.h"
#include "scratch.h"

namespace {

const std::string& base_dir() {
  static const std::string base = [] {
    std::string b = hoist_fuzz::make_scratch_dir("hoist-tar-fuzz");
    FILE* f = std::fopen((b + "/sentinel").c_str(), "w");
    if (!f) std::abort();
    std::fputs("safe", f);
    std::fclose(f);
    return b;
  }();
  return base;
}

void check_nothing_escaped(const std::string& base) {
  DIR* d = ::opendir(base.c_str());
  if (!d) std::abort();
  while (dirent* de = ::readdir(d)) {
    std::string name = de->d_name;
    if (name == "." || name == ".." || name == "root" || name == "sentinel") continue;
    std::fprintf(stderr, "escaped: %s/%s appeared\n", base.c_str(), name.c_str());
    std::abort();
  }
  ::closedir(d);
  char buf[16] = {};
  FILE* f = std::fopen((base + "/sentinel").c_str(), "r");
  if (!f || std::fread(buf, 1, sizeof buf - 1, f) != 4 || std::strcmp(buf, "safe") != 0) {
    std::fprintf(stderr, "escaped: the sentinel changed\n");
    std::abort();
  }
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& base = base_dir();
  const std::string root = base + "/root";
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  if (::mkdir(root.c_str(), 0755) != 0) std::abort();

  layers::UniqueFd fd(::memfd_create("layer", MFD_CLOEXEC));
  if (!fd || ::write(fd.get(), data, size) != ssize_t(size) || ::lseek(fd.get(), 0, SEEK_SET) != 0)
    std::abort();
  auto r = layers::unpack_layer(root, fd.get());
  (void)r;

  check_nothing_escaped(base);
  std::filesystem::remove_all(root, ec);
  return 0;
}
