#include "layers/resolve_in_root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <deque>
#include <vector>

#include "layers/unique_fd.h"

namespace layers {
namespace {

constexpr int kMaxSymlinks = 40;  // as the kernel's MAXSYMLINKS

int openat2_retrying(int root_fd, const std::string& rel, uint64_t flags, uint64_t resolve) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = resolve;
  const char* path = rel.empty() ? "." : rel.c_str();
  for (;;) {
    long fd = ::syscall(SYS_openat2, root_fd, path, &how, sizeof how);
    if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) return int(fd);
  }
}

// The kernel's fast path: refuses (EXDEV) any step out of `root_fd`, which includes every
// absolute symlink, even one pointing back inside under chroot semantics.
int openat2_beneath(int root_fd, const std::string& rel, uint64_t flags) {
  return openat2_retrying(root_fd, rel, flags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
}

void push_components(std::deque<std::string>& pending, const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  pending.insert(pending.begin(), parts.begin(), parts.end());
}

// The slow path: one component at a time, never handing the kernel a "/" or a ".." and
// never letting it follow a symlink, so every descriptor held is a directory inside the
// root (the stack's bottom is the root itself).
int walk_in_root(int root_fd, const std::string& rel, uint64_t flags) {
  std::vector<UniqueFd> stack;
  std::deque<std::string> pending;
  push_components(pending, rel);
  int links = 0;
  const bool follow_last = !(flags & O_NOFOLLOW);
  auto current = [&] { return stack.empty() ? root_fd : stack.back().get(); };

  while (!pending.empty()) {
    std::string name = std::move(pending.front());
    pending.pop_front();
    const bool last = pending.empty();
    if (name == ".") {
      if (last) break;
      continue;
    }
    if (name == "..") {
      if (stack.empty()) {
        errno = EXDEV;
        return -1;
      }
      stack.pop_back();
      if (last) break;
      continue;
    }
    if (last && !follow_last) return ::openat(current(), name.c_str(), int(flags) | O_CLOEXEC);

    struct stat st;
    if (::fstatat(current(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
    if (S_ISLNK(st.st_mode)) {
      if (++links > kMaxSymlinks) {
        errno = ELOOP;
        return -1;
      }
      std::string target(size_t(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(current(), name.c_str(), target.data(), target.size());
      if (n < 0) return -1;
      if (size_t(n) >= target.size()) {  // grew since the stat: retry the component
        pending.push_front(std::move(name));
        --links;
        continue;
      }
      target.resize(size_t(n));
      if (target.empty()) {
        errno = ENOENT;
        return -1;
      }
      if (target.front() == '/') stack.clear();  // absolute: from the root
      push_components(pending, target);
      if (pending.empty()) break;  // "/" itself
      continue;
    }
    if (last) return ::openat(current(), name.c_str(), int(flags) | O_NOFOLLOW | O_CLOEXEC);
    int fd = ::openat(current(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    stack.emplace_back(fd);
  }
  // The path ended at a directory already held ("", ".", "..", or a symlink to one).
  return ::openat(current(), ".", int(flags & ~uint64_t(O_NOFOLLOW)) | O_CLOEXEC);
}

}  // namespace

int open_in_root_clamped(int root_fd, const std::string& rel, uint64_t flags) {
  return openat2_retrying(root_fd, rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

int open_beneath_no_symlinks(int root_fd, const std::string& rel, uint64_t flags) {
  return openat2_retrying(root_fd, rel, flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
}

int open_in_root(int root_fd, const std::string& rel, uint64_t flags) {
  // Kernels before 5.6 have no openat2 (ENOSYS), and some seccomp profiles refuse it
  // (EPERM): then every path takes the walk, which never needs it.
  static std::atomic<bool> has_openat2{true};
  if (has_openat2.load(std::memory_order_relaxed)) {
    int fd = openat2_beneath(root_fd, rel, flags);
    if (fd >= 0) return fd;
    if (errno == ENOSYS || errno == EPERM) {
      has_openat2.store(false, std::memory_order_relaxed);
    } else if (errno != EXDEV) {
      return fd;
    }
    // EXDEV: stopped by an absolute symlink or a climb out; the walk tells them apart.
  }
  return walk_in_root(root_fd, rel, flags);
}

int open_in_root_by_walk(int root_fd, const std::string& rel, uint64_t flags) {
  return walk_in_root(root_fd, rel, flags);
}

}  // namespace layers
