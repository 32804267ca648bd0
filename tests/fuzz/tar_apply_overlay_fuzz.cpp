// libFuzzer target for layers::unpack_layer in WhiteoutMode::Overlay (a layer unpacked alone
// into its own directory, whiteouts kept as 0:0 character devices and opaque xattrs).
// Each input is unpacked into BASE/N/root, a fresh directory per input; then BASE/N must
// hold exactly "root" and an unchanged "sentinel", and BASE nothing but N, or an entry
// escaped and the target aborts. Errors are expected; crashes, sanitizer reports and
// escapes are bugs. Needs root (mknod, trusted.* xattrs), as Overlay mode does.
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
  static const std::string base = hoist_fuzz::make_scratch_dir("hoist-overlay-fuzz");
  return base;
}

// Aborts unless `dir` holds exactly `allowed` (one or two names).
void check_only(const std::string& dir, const std::string& a, const std::string& b) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) std::abort();
  while (dirent* de = ::readdir(d)) {
    std::string name = de->d_name;
    if (name == "." || name == ".." || name == a || name == b) continue;
    std::fprintf(stderr, "escaped: %s/%s appeared\n", dir.c_str(), name.c_str());
    std::abort();
  }
  ::closedir(d);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& base = base_dir();
  std::string tmpl = base + "/in-XXXXXX";
  if (!::mkdtemp(tmpl.data())) std::abort();
  const std::string dir = tmpl;
  const std::string name = dir.substr(base.size() + 1);
  const std::string root = dir + "/root";
  if (::mkdir(root.c_str(), 0755) != 0) std::abort();
  FILE* f = std::fopen((dir + "/sentinel").c_str(), "w");
  if (!f) std::abort();
  std::fputs("safe", f);
  std::fclose(f);

  layers::UniqueFd fd(::memfd_create("layer", MFD_CLOEXEC));
  if (!fd || ::write(fd.get(), data, size) != ssize_t(size) || ::lseek(fd.get(), 0, SEEK_SET) != 0)
    std::abort();
  layers::UnpackOptions options;
  options.whiteouts = layers::WhiteoutMode::Overlay;
  auto r = layers::unpack_layer(root, fd.get(), options);
  (void)r;

  check_only(dir, "root", "sentinel");
  check_only(base, name, name);
  char buf[16] = {};
  f = std::fopen((dir + "/sentinel").c_str(), "r");
  if (!f || std::fread(buf, 1, sizeof buf - 1, f) != 4 || std::strcmp(buf, "safe") != 0) {
    std::fprintf(stderr, "escaped: the sentinel changed\n");
    std::abort();
  }
  std::fclose(f);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
