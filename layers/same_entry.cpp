#include "layers/same_entry.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "layers/overlay_xattr.h"
#include "layers/unique_fd.h"

namespace layers {
namespace {

Result<std::string> link_target(const std::string& path, size_t size) {
  std::string target(size + 1, '\0');
  ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
  if (n < 0) return Error::from_errno("readlink " + layers::quoted(path));
  target.resize(size_t(n));
  return target;
}

}  // namespace

Result<Xattrs> layer_xattrs(const std::string& path) {
  Xattrs out;
  ssize_t len = ::llistxattr(path.c_str(), nullptr, 0);
  if (len < 0) {
    if (errno == ENOTSUP) return out;
    return Error::from_errno("listing xattrs of " + layers::quoted(path));
  }
  std::string names(size_t(len), '\0');
  len = ::llistxattr(path.c_str(), names.data(), names.size());
  if (len < 0) return Error::from_errno("listing xattrs of " + layers::quoted(path));
  names.resize(size_t(len));
  for (size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    if (!is_layer_xattr(name)) continue;
    ssize_t vlen = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (vlen < 0) {
      if (errno == ENODATA) continue;  // removed since listing
      return Error::from_errno("reading xattr " + name + " of " + layers::quoted(path));
    }
    std::string value(size_t(vlen), '\0');
    vlen = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (vlen < 0) return Error::from_errno("reading xattr " + name + " of " + layers::quoted(path));
    value.resize(size_t(vlen));
    out.emplace_back(std::move(name), std::move(value));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<bool> same_contents(const std::string& a, const std::string& b) {
  UniqueFd fa(::open(a.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fa) return Error::from_errno("opening " + layers::quoted(a));
  UniqueFd fb(::open(b.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fb) return Error::from_errno("opening " + layers::quoted(b));
  static thread_local char buf_a[65536], buf_b[65536];
  while (true) {
    ssize_t na = ::read(fa.get(), buf_a, sizeof buf_a);
    if (na < 0) return Error::from_errno("reading " + layers::quoted(a));
    size_t got = 0;
    while (got < size_t(na)) {
      ssize_t nb = ::read(fb.get(), buf_b + got, size_t(na) - got);
      if (nb < 0) return Error::from_errno("reading " + layers::quoted(b));
      if (nb == 0) return false;
      got += size_t(nb);
    }
    if (na == 0) {
      char extra;
      ssize_t nb = ::read(fb.get(), &extra, 1);
      if (nb < 0) return Error::from_errno("reading " + layers::quoted(b));
      return nb == 0;
    }
    if (std::memcmp(buf_a, buf_b, size_t(na)) != 0) return false;
  }
}

Result<bool> same_entry(const std::string& path, const std::string& lower) {
  struct stat a, b;
  if (::lstat(path.c_str(), &a) != 0) return Error::from_errno("lstat " + layers::quoted(path));
  if (::lstat(lower.c_str(), &b) != 0) return Error::from_errno("lstat " + layers::quoted(lower));
  if (a.st_mode != b.st_mode || a.st_uid != b.st_uid || a.st_gid != b.st_gid ||
      a.st_rdev != b.st_rdev)
    return false;
  if (!S_ISDIR(a.st_mode) &&
      (a.st_size != b.st_size || a.st_mtim.tv_sec != b.st_mtim.tv_sec ||
       a.st_mtim.tv_nsec != b.st_mtim.tv_nsec))
    return false;
  auto xa = layer_xattrs(path);
  if (!xa) return std::move(xa).error();
  auto xb = layer_xattrs(lower);
  if (!xb) return std::move(xb).error();
  if (*xa != *xb) return false;
  if (S_ISLNK(a.st_mode)) {
    auto ta = link_target(path, size_t(a.st_size));
    if (!ta) return std::move(ta).error();
    auto tb = link_target(lower, size_t(b.st_size));
    if (!tb) return std::move(tb).error();
    return *ta == *tb;
  }
  if (S_ISREG(a.st_mode)) return same_contents(path, lower);
  return true;
}

}  // namespace layers
