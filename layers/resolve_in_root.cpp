#include "layers/resolve_in_root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <deque>
#include <vector>

#include "layers/unique_fd.h"
#include "layers/rel_path.h"

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
  const std::vector<std::string> parts = path_components(path);
  pending.insert(pending.begin(), parts.begin(), parts.end());
}

// How the walk treats a ".." at the root and a symlink, one per openat2 resolve mode.
enum class Walk {
  Refuse,      // RESOLVE_BENEATH, symlinks resolved from the root: ".." above it is EXDEV
  Clamp,       // RESOLVE_IN_ROOT: ".." at the root stays there
  NoSymlinks,  // RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: any symlink met is ELOOP
};

// A symlink on procfs may be a magic link (/proc/self/fd/N, /proc/PID/root): the kernel's
// RESOLVE_NO_MAGICLINKS refuses those with ELOOP. The walk never lets the kernel follow a
// link, but their text names host objects, so every procfs symlink is refused alike.
bool is_on_procfs(int dir_fd) {
  struct statfs fs;
  return ::fstatfs(dir_fd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
}

// The slow path: one component at a time, never handing the kernel a "/" or a ".." and
// never letting it follow a symlink, so every descriptor held is a directory inside the
// root (the stack's bottom is the root itself).
int walk_in_root(int root_fd, const std::string& rel, uint64_t flags, Walk mode) {
  if (mode == Walk::NoSymlinks && !rel.empty() && rel.front() == '/') {
    errno = EXDEV;  // as RESOLVE_BENEATH refuses an absolute path
    return -1;
  }
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
        if (mode != Walk::Clamp) {
          errno = EXDEV;
          return -1;
        }
      } else {
        stack.pop_back();
      }
      if (last) break;
      continue;
    }
    if (last && !follow_last) return ::openat(current(), name.c_str(), int(flags) | O_CLOEXEC);

    struct stat st;
    if (::fstatat(current(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
    if (S_ISLNK(st.st_mode)) {
      if (mode == Walk::NoSymlinks || is_on_procfs(current())) {
        errno = ELOOP;
        return -1;
      }
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

std::atomic<bool> g_walk_forced{false};

// Whether this kernel (and seccomp policy) lets us call openat2: asked once, with a call
// that cannot fail otherwise. Kernels before 5.6 answer ENOSYS; seccomp profiles that do
// not know it answer EPERM or ENOSYS. Asking once keeps a file's own EPERM (O_NOATIME, an
// immutable file) from being taken for a missing syscall.
bool openat2_usable() {
  static const bool usable = [] {
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    long fd = ::syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
    if (fd >= 0) ::close(int(fd));
    return fd >= 0;
  }();
  return usable && !g_walk_forced.load(std::memory_order_relaxed);
}

}  // namespace

int open_in_root_clamped(int root_fd, const std::string& rel, uint64_t flags) {
  if (!openat2_usable()) return walk_in_root(root_fd, rel, flags, Walk::Clamp);
  return openat2_retrying(root_fd, rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

int open_beneath_no_symlinks(int root_fd, const std::string& rel, uint64_t flags) {
  if (!openat2_usable()) return walk_in_root(root_fd, rel, flags, Walk::NoSymlinks);
  return openat2_retrying(root_fd, rel, flags,
                          RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

int open_in_root(int root_fd, const std::string& rel, uint64_t flags) {
  if (openat2_usable()) {
    int fd = openat2_beneath(root_fd, rel, flags);
    // EXDEV: stopped by an absolute symlink or a climb out; the walk tells them apart.
    if (fd >= 0 || errno != EXDEV) return fd;
  }
  return walk_in_root(root_fd, rel, flags, Walk::Refuse);
}

int open_in_root_by_walk(int root_fd, const std::string& rel, uint64_t flags) {
  return walk_in_root(root_fd, rel, flags, Walk::Refuse);
}

void force_walk_for_testing(bool forced) { g_walk_forced.store(forced, std::memory_order_relaxed); }

bool takes_walk() { return !openat2_usable(); }

}  // namespace layers
