#include "runtime/sandbox/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "layers/unique_fd.h"

namespace runtime::sandbox {

using layers::Error;
using layers::ErrorKind;
using layers::quoted;
using layers::Result;
using layers::UniqueFd;

namespace {

Result<void> write_file(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Error::from_errno("opening " + quoted(path));
  if (::write(fd.get(), text.data(), text.size()) != ssize_t(text.size()))
    return Error::from_errno("writing " + quoted(path));
  return {};
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Our cgroup's directory in the pids hierarchy: v1 "N:pids:/path" under
// /sys/fs/cgroup/pids, else v2 "0::/path" under the unified mount when it delegates pids.
Result<std::string> own_pids_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::string v1, v2;
  bool has_v2 = false;
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    std::stringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');) {
      if (c == "pids") v1 = path;
    }
    if (controllers.empty() && line.compare(0, a, "0") == 0) {
      v2 = path;
      has_v2 = true;
    }
  }
  struct stat st;
  if (!v1.empty() && ::stat("/sys/fs/cgroup/pids", &st) == 0) return "/sys/fs/cgroup/pids" + v1;
  if (has_v2) {
    for (const char* mount : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
      const std::string dir = std::string(mount) + v2;
      if (::stat((dir + "/cgroup.subtree_control").c_str(), &st) != 0) continue;
      if (read_text(dir + "/cgroup.subtree_control").find("pids") != std::string::npos) return dir;
    }
  }
  return Error(ErrorKind::Unsupported,
               "no pids cgroup controller is delegated to hoist's cgroup here");
}

}  // namespace

Result<PidsCgroup> PidsCgroup::create(long max) {
  auto parent = own_pids_cgroup();
  if (!parent) return std::move(parent).error();
  static std::atomic<int> counter{0};
  const std::string dir =
      *parent + "/hoist-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  if (::mkdir(dir.c_str(), 0755) != 0)
    return Error::from_errno("creating cgroup " + quoted(dir));
  PidsCgroup cgroup(dir);
  if (auto r = write_file(dir + "/pids.max", std::to_string(max)); !r) return std::move(r).error();
  return cgroup;
}

PidsCgroup::~PidsCgroup() {
  if (dir_.empty()) return;
  // The last processes may still be on their way out: a few tries.
  for (int i = 0; i < 50; ++i) {
    if (::rmdir(dir_.c_str()) == 0 || errno != EBUSY) return;
    ::usleep(10000);
  }
}

Result<void> PidsCgroup::enter_dir(const std::string& dir) {
  return write_file(dir + "/cgroup.procs", "0");
}

}  // namespace runtime::sandbox
