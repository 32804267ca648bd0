#include "builder/root_copy.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>
#include <utility>

#include "builder/dir_listing.h"
#include "layers/blob_store.h"
#include "layers/overlay_xattr.h"
#include "layers/tar_apply.h"
#include "layers/unique_fd.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;

using layers::Result;
using layers::UniqueFd;

namespace {

constexpr int kMaxDepth = 512;

Result<std::vector<std::string>> list_dir(const std::string& path) {
  layers::UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return Error::from_errno("opening directory " + layers::quoted(path));
  return list_dir_names(dir.get(), path);
}

Result<void> remove_entry(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);  // does not follow symlinks
  if (ec) return Error::from_errno(ec.value(), "removing " + layers::quoted(path));
  return {};
}

Result<void> empty_dir(const std::string& path) {
  auto names = list_dir(path);
  if (!names) return std::move(names).error();
  for (const auto& name : *names)
    if (auto r = remove_entry(path + "/" + name); !r) return r;
  return {};
}

// A 0:0 character device, or (kernel >= 6.7 "xwhiteout") an empty file marked with
// trusted.overlay.whiteout, as layers/overlay_diff.h reads them.
bool is_whiteout(const std::string& path, const struct stat& st) {
  if (S_ISCHR(st.st_mode) && st.st_rdev == ::makedev(0, 0)) return true;
  return S_ISREG(st.st_mode) && st.st_size == 0 &&
         ::lgetxattr(path.c_str(), layers::overlay_xattr("whiteout").c_str(), nullptr, 0) >= 0;
}

bool is_opaque(const std::string& dir) {
  char value[2];
  return ::lgetxattr(dir.c_str(), layers::overlay_xattr("opaque").c_str(), value, sizeof value) == 1 &&
         value[0] == 'y';
}

Result<void> copy_xattrs(int from_fd, int to_fd, const std::string& shown) {
  ssize_t len = ::flistxattr(from_fd, nullptr, 0);
  if (len < 0) {
    if (errno == ENOTSUP) return {};
    return Error::from_errno("listing xattrs of " + layers::quoted(shown));
  }
  std::string names(size_t(len), '\0');
  len = ::flistxattr(from_fd, names.data(), names.size());
  if (len < 0) return Error::from_errno("listing xattrs of " + layers::quoted(shown));
  names.resize(size_t(len));
  for (size_t start = 0; start < names.size();) {
    std::string name = names.c_str() + start;
    start += name.size() + 1;
    if (!layers::is_layer_xattr(name)) continue;  // overlay's bookkeeping stays behind
    ssize_t vlen = ::fgetxattr(from_fd, name.c_str(), nullptr, 0);
    if (vlen < 0)
      return Error::from_errno("reading xattr " + name + " of " + layers::quoted(shown));
    std::string value(size_t(vlen), '\0');
    vlen = ::fgetxattr(from_fd, name.c_str(), value.data(), value.size());
    if (vlen < 0)
      return Error::from_errno("reading xattr " + name + " of " + layers::quoted(shown));
    if (::fsetxattr(to_fd, name.c_str(), value.data(), size_t(vlen), 0) != 0)
      return Error::from_errno("setting xattr " + name + " on " + layers::quoted(shown));
  }
  return {};
}

// Owner, mode, xattrs, times, in that order: chown clears setuid bits and capabilities.
Result<void> copy_metadata(int from_fd, int to_fd, const struct stat& st,
                           const std::string& shown) {
  if (::fchown(to_fd, st.st_uid, st.st_gid) != 0)
    return Error::from_errno("chown " + layers::quoted(shown));
  if (::fchmod(to_fd, st.st_mode & 07777) != 0)
    return Error::from_errno("chmod " + layers::quoted(shown));
  if (auto r = copy_xattrs(from_fd, to_fd, shown); !r) return r;
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(to_fd, times) != 0)
    return Error::from_errno("setting times of " + layers::quoted(shown));
  return {};
}

// Shares the extents where the filesystem can, else copies in the kernel, else by hand.
Result<void> copy_data(int from, int to, off_t size, const std::string& shown) {
  if (::ioctl(to, FICLONE, from) == 0) return {};
  off_t done = 0;
  bool use_read_write = false;
  while (done < size) {
    ssize_t n = -1;
    if (!use_read_write) {
      n = ::copy_file_range(from, nullptr, to, nullptr, size_t(size - done), 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        use_read_write = true;
        continue;
      }
    } else {
      char buf[65536];
      n = ::read(from, buf, sizeof buf);
      for (ssize_t off = 0; n > 0 && off < n;) {
        ssize_t w = ::write(to, buf + off, size_t(n - off));
        if (w < 0) return Error::from_errno("writing " + layers::quoted(shown));
        off += w;
      }
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("copying into " + layers::quoted(shown));
    if (n == 0) break;  // the source shrank; layers never change, so this is not expected
    done += n;
  }
  return {};
}

class LayerApplier {
 public:
  LayerApplier(std::string root, std::string layer)
      : root_(std::move(root)), layer_(std::move(layer)) {}

  Result<void> apply_dir(const std::string& rel, int depth) {
    if (depth > kMaxDepth)
      return Error(ErrorKind::InvalidInput, layers::quoted(rel) + " is nested deeper than " +
                                                std::to_string(kMaxDepth) + " directories");
    auto names = list_dir(src(rel));
    if (!names) return std::move(names).error();
    for (const auto& name : *names)
      if (auto r = apply_entry(rel.empty() ? name : rel + "/" + name, depth); !r) return r;
    return {};
  }

 private:
  std::string src(const std::string& rel) const {
    return rel.empty() ? layer_ : layer_ + "/" + rel;
  }
  std::string dst(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  Result<void> apply_entry(const std::string& rel, int depth) {
    const std::string from = src(rel), to = dst(rel);
    struct stat st, existing;
    if (::lstat(from.c_str(), &st) != 0) return Error::from_errno("lstat " + layers::quoted(from));
    const bool exists = ::lstat(to.c_str(), &existing) == 0;
    if (is_whiteout(from, st)) return exists ? remove_entry(to) : Result<void>();
    if (S_ISDIR(st.st_mode)) {
      if (exists && S_ISDIR(existing.st_mode)) {
        if (is_opaque(from))
          if (auto r = empty_dir(to); !r) return r;
      } else {
        if (exists)
          if (auto r = remove_entry(to); !r) return r;
        if (::mkdir(to.c_str(), 0700) != 0) return Error::from_errno("mkdir " + layers::quoted(to));
      }
      if (auto r = apply_dir(rel, depth + 1); !r) return r;
      UniqueFd from_fd(::open(from.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!from_fd) return Error::from_errno("opening " + layers::quoted(from));
      UniqueFd to_fd(::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!to_fd) return Error::from_errno("opening " + layers::quoted(to));
      return copy_metadata(from_fd.get(), to_fd.get(), st, to);
    }
    if (exists)
      if (auto r = remove_entry(to); !r) return r;
    if (S_ISREG(st.st_mode)) return copy_file(rel, st);
    if (S_ISLNK(st.st_mode)) {
      std::string target(size_t(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(from.c_str(), target.data(), target.size());
      if (n < 0) return Error::from_errno("readlink " + layers::quoted(from));
      target.resize(size_t(n));
      if (::symlink(target.c_str(), to.c_str()) != 0)
        return Error::from_errno("symlink " + layers::quoted(to));
      if (::lchown(to.c_str(), st.st_uid, st.st_gid) != 0)
        return Error::from_errno("chown " + layers::quoted(to));
      const struct timespec times[2] = {st.st_atim, st.st_mtim};
      if (::utimensat(AT_FDCWD, to.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        return Error::from_errno("setting times of " + layers::quoted(to));
      return {};
    }
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
      if (::mknod(to.c_str(), st.st_mode, st.st_rdev) != 0)
        return Error::from_errno("mknod " + layers::quoted(to));
      if (::lchown(to.c_str(), st.st_uid, st.st_gid) != 0)
        return Error::from_errno("chown " + layers::quoted(to));
      if (::chmod(to.c_str(), st.st_mode & 07777) != 0)
        return Error::from_errno("chmod " + layers::quoted(to));
      const struct timespec times[2] = {st.st_atim, st.st_mtim};
      if (::utimensat(AT_FDCWD, to.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        return Error::from_errno("setting times of " + layers::quoted(to));
      return {};
    }
    return {};  // a socket: layers cannot hold one
  }

  Result<void> copy_file(const std::string& rel, const struct stat& st) {
    const std::string from = src(rel), to = dst(rel);
    const std::pair<dev_t, ino_t> key{st.st_dev, st.st_ino};
    if (st.st_nlink > 1) {
      auto it = linked_.find(key);
      if (it != linked_.end()) {
        if (::link(dst(it->second).c_str(), to.c_str()) != 0)
          return Error::from_errno("link " + layers::quoted(to));
        return {};
      }
    }
    UniqueFd in(::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!in) return Error::from_errno("opening " + layers::quoted(from));
    UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return Error::from_errno("creating " + layers::quoted(to));
    if (auto r = copy_data(in.get(), out.get(), st.st_size, to); !r) return r;
    if (auto r = copy_metadata(in.get(), out.get(), st, to); !r) return r;
    if (st.st_nlink > 1) linked_.emplace(key, rel);
    return {};
  }

  std::string root_, layer_;
  std::map<std::pair<dev_t, ino_t>, std::string> linked_;  // source inode -> first copy
};

}  // namespace

Result<void> apply_unpacked_layer(const std::string& root, const std::string& layer_dir) {
  LayerApplier applier(root, layer_dir);
  if (auto r = applier.apply_dir("", 0); !r)
    return std::move(r).error().context("copying layer " + layers::quoted(layer_dir) + " into " +
                                        layers::quoted(root));
  return {};
}

Result<RootCopy> RootCopy::create(const std::string& scratch_dir) {
  auto dir = runtime::sandbox::TempDir::create_in(scratch_dir, "rootfs-");
  if (!dir) return std::move(dir).error();
  std::string root = dir->path() + "/root";
  if (::mkdir(root.c_str(), 0755) != 0 || ::chmod(root.c_str(), 0755) != 0)
    return Error::from_errno("creating " + layers::quoted(root));
  return RootCopy(std::move(*dir), std::move(root));
}

Result<void> RootCopy::clear() {
  diff_ids_.clear();
  index_.reset();
  is_valid_ = false;
  if (auto r = empty_dir(root_); !r) return r;
  is_valid_ = true;
  return {};
}

Result<void> RootCopy::sync(const layers::Store& store,
                            const std::vector<layers::Descriptor>& image_layers,
                            const std::vector<layers::Digest>& diff_ids) {
  if (auto r = runtime::check_layer_count(image_layers, diff_ids); !r) return std::move(r).error();
  const bool is_prefix = is_valid_ && diff_ids_.size() <= diff_ids.size() &&
                         std::equal(diff_ids_.begin(), diff_ids_.end(), diff_ids.begin());
  if (!is_prefix)
    if (auto r = clear(); !r) return std::move(r).error().context("emptying the RUN root copy");
  if (is_prefix && diff_ids_.size() == diff_ids.size() && index_) return {};
  for (size_t i = diff_ids_.size(); i < diff_ids.size(); ++i) {
    is_valid_ = false;  // half applied until the layer is complete
    const std::string unpacked = store.unpacked_path(diff_ids[i]);
    struct stat st;
    if (::lstat(unpacked.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      if (auto r = apply_unpacked_layer(root_, unpacked); !r) return r;
    } else {
      auto fd = store.blobs().open_read(image_layers[i].digest);
      if (!fd)
        return std::move(fd).error().context("reading layer " + image_layers[i].digest.str());
      auto applied = layers::unpack_layer(root_, fd->get());
      if (!applied)
        return std::move(applied).error().context("unpacking layer " +
                                                  image_layers[i].digest.str());
      if (*applied != diff_ids[i])
        return Error(ErrorKind::Corrupt, "layer " + image_layers[i].digest.str() + " holds " +
                                             applied->str() + ", not its diff_id " +
                                             diff_ids[i].str());
    }
    diff_ids_.push_back(diff_ids[i]);
    is_valid_ = true;
  }
  auto index = layers::TreeIndex::snapshot(root_);
  if (!index) return std::move(index).error();
  index_ = std::move(*index);
  return {};
}

void RootCopy::record(std::vector<layers::Digest> diff_ids, layers::TreeIndex after) {
  diff_ids_ = std::move(diff_ids);
  index_ = std::move(after);
  is_valid_ = true;
}

}  // namespace builder
