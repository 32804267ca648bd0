#include "layers/tar_apply.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <climits>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "layers/archive_handles.h"
#include "layers/diff.h"
#include "layers/compress.h"
#include "layers/overlay_xattr.h"
#include "layers/read_ahead.h"
#include "layers/resolve_in_root.h"
#include "layers/unique_fd.h"
#include "layers/rel_path.h"

namespace layers {
namespace {

constexpr size_t kChunk = 128 * 1024;
// Files at least this big have their writeback started as soon as they are written
// (UnpackOptions::start_writeback).
constexpr int64_t kStartWritebackBytes = int64_t(256) << 10;

Error refused(std::string_view entry, std::string_view why) {
  return Error(ErrorKind::InvalidInput, "entry " + layers::quoted(entry) + ": " + std::string(why));
}

std::string proc_path(int dir_fd, const std::string& base) {
  return "/proc/self/fd/" + std::to_string(dir_fd) + "/" + base;
}

class Unpacker {
 public:
  // Reads the plain tar from `ahead` when it is set (a thread reading and decompressing
  // the layer, a few chunks ahead of this one, which hashes and applies), else the raw
  // bytes of `raw_fd` (libarchive then finds the compression itself).
  Unpacker(const UnpackOptions& options, std::optional<ReadAhead> ahead, int raw_fd)
      : options_(options), ahead_(std::move(ahead)), raw_fd_(raw_fd) {}

  Result<Digest> run(const std::string& root) {
    int fd = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Error::from_errno("opening " + layers::quoted(root));
    root_fd_.reset(fd);

    ArchiveReadPtr a(archive_read_new());
    if (!a) return Error(ErrorKind::Io, "libarchive: out of memory");
    archive_read_support_format_tar(a.get());
    archive_read_support_format_empty(a.get());
    if (!ahead_) archive_read_support_filter_all(a.get());
    if (archive_read_open(a.get(), this, nullptr, &Unpacker::read_cb, nullptr) != ARCHIVE_OK)
      return archive_error(a.get(), "reading the layer");

    for (;;) {
      archive_entry* entry = nullptr;
      int r = archive_read_next_header(a.get(), &entry);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_WARN) warn(a.get());
      if (r < ARCHIVE_WARN) return archive_error(a.get(), "reading the layer");
      std::string name = entry_name(entry);
      if (auto r = check_limits(entry, name); !r) return std::move(r).error();
      auto applied = apply(a.get(), entry, name);
      if (!applied) return std::move(applied).error();
    }
    if (auto r = set_directory_times(); !r) return std::move(r).error();
    // The tar may end before the stream does (padding after the end marker); the diff_id
    // covers all of it.
    for (;;) {
      auto bytes = read_input();
      if (!bytes) return std::move(bytes).error().context("reading the layer");
      if (bytes->empty()) break;
      hash_.update(*bytes);
    }
    return hash_.finish();
  }

 private:
  static la_ssize_t read_cb(archive* a, void* self_ptr, const void** out) {
    auto* self = static_cast<Unpacker*>(self_ptr);
    auto bytes = self->read_input();
    if (!bytes) {
      self->input_error_ = std::move(bytes).error();
      archive_set_error(a, EIO, "layer input failed");
      return -1;
    }
    self->hash_.update(*bytes);
    *out = bytes->data();
    return la_ssize_t(bytes->size());
  }

  bool is_archive() const { return options_.whiteouts == WhiteoutMode::Keep; }

  // The next bytes of input, valid until the next call; empty at the end.
  Result<std::span<const std::byte>> read_input() {
    if (ahead_) return ahead_->next();
    for (;;) {
      ssize_t n = ::read(raw_fd_, buffer_.data(), buffer_.size());
      if (n >= 0) return std::span<const std::byte>(buffer_.data(), size_t(n));
      if (errno != EINTR) return Error::from_errno("reading the archive");
    }
  }

  // Tar bombs: counted from the headers, before anything of the entry is written.
  Result<void> check_limits(archive_entry* e, const std::string& name) {
    if (++entries_ > options_.max_entries)
      return refused(name, "the layer has more than " + std::to_string(options_.max_entries) +
                               " entries (the unpack limit max_entries)");
    if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e)) {
      la_int64_t size = archive_entry_size(e);
      if (size < 0) return refused(name, "negative size");
      bytes_ += uint64_t(size);
      if (bytes_ > options_.max_bytes)
        return refused(name, "the layer's files add up to more than " +
                                 std::to_string(options_.max_bytes) +
                                 " bytes (the unpack limit max_bytes)");
    }
    return {};
  }

  Error archive_error(archive* a, std::string_view what) {
    if (input_error_) return input_error_->context(what);
    const char* msg = archive_error_string(a);
    return Error(ErrorKind::Corrupt, std::string(what) + ": " + (msg ? msg : "libarchive error"));
  }

  void warn(std::string_view message) {
    if (options_.warn) options_.warn(message);
  }
  void warn(archive* a) {
    const char* msg = archive_error_string(a);
    if (msg) warn(msg);
  }

  static std::string entry_name(archive_entry* e) {
    // UTF-8 when the tar recorded it so (PAX); raw bytes otherwise.
    const char* p = archive_entry_pathname_utf8(e);
    if (!p) p = archive_entry_pathname(e);
    return p ? p : "";
  }

  static std::string link_name(archive_entry* e, bool is_hardlink) {
    const char* p = is_hardlink ? archive_entry_hardlink_utf8(e) : archive_entry_symlink_utf8(e);
    if (!p) p = is_hardlink ? archive_entry_hardlink(e) : archive_entry_symlink(e);
    return p ? p : "";
  }

  Result<UniqueFd> open_in_root(const std::string& entry, const std::string& rel, uint64_t flags) {
    int fd = layers::open_in_root(root_fd_.get(), rel, flags);
    if (fd >= 0) return UniqueFd(fd);
    if (errno == EXDEV)
      return refused(entry, layers::quoted(rel) + " leads outside the root (\"..\" above it)");
    if (errno == ELOOP)
      return refused(entry,
                     layers::quoted(rel) + " resolves through a symlink loop or a magic link");
    return Error::from_errno("entry " + layers::quoted(entry) + ": opening " + layers::quoted(rel));
  }

  // The parent directory of an entry, creating missing ones (0755, root-owned, as docker
  // does for parents a tar leaves out). In a layer (not an archive) they are dated 0 at the
  // end, as the layer index has them (layers/layer_index.h), unless an entry of the layer
  // names them: a COPY onto the base copies a parent's time into its layer, so the time
  // must not be when the base happened to be unpacked.
  Result<UniqueFd> parent_dir(const std::string& entry, const std::string& parent) {
    auto fd = open_in_root(entry, parent, O_PATH | O_DIRECTORY);
    if (fd || fd.error().sys_errno() != ENOENT) return fd;
    UniqueFd dir;
    std::string prefix;
    for (const auto& part : path_components(parent)) {
      std::string next = join_under(prefix, part);
      auto sub = open_in_root(entry, next, O_PATH | O_DIRECTORY);
      if (!sub && sub.error().sys_errno() == ENOENT) {
        int base_fd = dir ? dir.get() : root_fd_.get();
        bool existed = false;
        if (::mkdirat(base_fd, part.c_str(), 0755) != 0) {
          if (errno != EEXIST)
            return Error::from_errno("entry " + layers::quoted(entry) + ": creating " +
                                     layers::quoted(next));
          existed = true;
        } else if (!is_archive()) {
          implicit_dirs_.insert(next);
        }
        sub = open_in_root(entry, next, O_PATH | O_DIRECTORY);
        // Still missing though something is there: a symlink to nothing (docker fails too).
        if (!sub && existed && sub.error().sys_errno() == ENOENT)
          return refused(entry, layers::quoted(next) + " is a symlink to a missing directory");
      }
      if (!sub) return sub;
      dir = std::move(*sub);
      prefix = next;
    }
    return dir;
  }

  // Removes `name` in `dir_fd` and, for a directory, everything beneath it, never
  // following a symlink. Missing is fine.
  Result<void> remove_at(int dir_fd, const std::string& name, const std::string& shown) {
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return {};
      return Error::from_errno("stat " + layers::quoted(shown));
    }
    if (S_ISDIR(st.st_mode)) {
      if (auto r = clear_dir(dir_fd, name, shown, nullptr); !r) return r;
      if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0)
        return Error::from_errno("removing " + layers::quoted(shown));
      return {};
    }
    if (::unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT)
      return Error::from_errno("removing " + layers::quoted(shown));
    return {};
  }

  // Empties directory `name` in `dir_fd`. With `keep_under` set (an opaque whiteout), what
  // this layer wrote survives: its files stay, its directories are cleared recursively of
  // everything else (docker's rule).
  Result<void> clear_dir(int dir_fd, const std::string& name, const std::string& shown,
                         const std::string* keep_under) {
    int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Error::from_errno("opening " + layers::quoted(shown));
    DIR* d = ::fdopendir(fd);
    if (!d) {
      ::close(fd);
      return Error::from_errno("listing " + layers::quoted(shown));
    }
    std::vector<std::pair<std::string, bool>> children;
    while (dirent* de = ::readdir(d)) {
      std::string child = de->d_name;
      if (child == "." || child == "..") continue;
      bool is_dir = de->d_type == DT_DIR;
      if (de->d_type == DT_UNKNOWN) {  // some filesystems leave the type to stat
        struct stat st;
        is_dir =
            ::fstatat(::dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      }
      children.emplace_back(child, is_dir);
    }
    UniqueFd self(::dup(::dirfd(d)));
    ::closedir(d);
    if (!self) return Error::from_errno("listing " + layers::quoted(shown));
    for (const auto& [child, is_dir] : children) {
      std::string child_shown = shown.empty() ? child : shown + "/" + child;
      if (keep_under) {
        std::string child_rel = join_under(*keep_under, child);
        if (unpacked_.count(child_rel)) {
          if (is_dir)
            if (auto r = clear_dir(self.get(), child, child_shown, &child_rel); !r) return r;
          continue;
        }
      }
      if (auto r = remove_at(self.get(), child, child_shown); !r) return r;
    }
    return {};
  }

  Result<void> apply(archive* a, archive_entry* e, const std::string& name) {
    auto rel = normalize_entry_name(name, is_archive());
    if (!rel) return refused(name, rel.error().message());
    if (rel->empty()) return {};  // "./": the root's own metadata is the caller's
    auto [parent, base] = split_parent(*rel);
    if (options_.only) {
      // What the entry writes or, as a whiteout, removes.
      std::string touched = *rel;
      if (options_.whiteouts != WhiteoutMode::Keep && base.starts_with(kWhiteoutPrefix))
        touched = base == kOpaqueMarker ? parent : join_under(parent, base.substr(kWhiteoutPrefix.size()));
      if (!options_.only(touched)) return {};
    }

    if (base.starts_with(kWhiteoutPrefix)) {
      if (options_.whiteouts == WhiteoutMode::Overlay) return overlay_whiteout(name, parent, base);
      if (options_.whiteouts == WhiteoutMode::Apply) return apply_whiteout(name, parent, base);
      // WhiteoutMode::Keep: an ordinary name.
    }

    auto dir = parent_dir(name, parent);
    if (!dir) return std::move(dir).error();
    const char* hardlink = archive_entry_hardlink(e);
    Result<void> r;
    if (hardlink) {
      r = make_hardlink(name, dir->get(), base, link_name(e, true));
    } else {
      switch (archive_entry_filetype(e)) {
        case AE_IFDIR:
          r = make_dir(name, *rel, dir->get(), base, e);
          break;
        case AE_IFREG:
          r = make_file(a, name, dir->get(), base, e);
          break;
        case AE_IFLNK:
          r = make_symlink(name, dir->get(), base, e);
          break;
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
          r = make_node(name, dir->get(), base, e);
          break;
        default:
          return refused(name, "unsupported entry type");
      }
    }
    if (!r) return r;
    unpacked_.insert(*rel);
    return {};
  }

  Result<void> apply_whiteout(const std::string& entry, const std::string& parent,
                              const std::string& base) {
    if (base.starts_with(kWhiteoutMetaPrefix) && base != kOpaqueMarker) {
      warn("skipping " + layers::quoted(entry) + " (aufs metadata)");
      return {};
    }
    auto dir = open_in_root(entry, parent, O_PATH | O_DIRECTORY);
    if (!dir) {
      // Nothing below to hide when the directory does not exist.
      if (dir.error().sys_errno() == ENOENT || dir.error().sys_errno() == ENOTDIR) return {};
      return std::move(dir).error();
    }
    if (base == kOpaqueMarker) {
      auto r = clear_dir(dir->get(), ".", parent, &parent);
      if (!r) return std::move(r).error().context("entry " + layers::quoted(entry));
      return {};
    }
    std::string target = base.substr(kWhiteoutPrefix.size());
    if (target.empty() || target == "." || target == "..")
      return refused(entry, "whiteout of " + layers::quoted(target));
    auto r = remove_at(dir->get(), target, join_under(parent, target));
    if (!r) return std::move(r).error().context("entry " + layers::quoted(entry));
    return {};
  }

  // overlayfs' own whiteouts, in this layer's directory, for the kernel to apply at mount.
  Result<void> overlay_whiteout(const std::string& entry, const std::string& parent,
                                const std::string& base) {
    if (base.starts_with(kWhiteoutMetaPrefix) && base != kOpaqueMarker) {
      warn("skipping " + layers::quoted(entry) + " (aufs metadata)");
      return {};
    }
    auto dir = parent_dir(entry, parent);
    if (!dir) return std::move(dir).error();
    if (base == kOpaqueMarker) {
      UniqueFd fd(::openat(dir->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!fd) return Error::from_errno("entry " + layers::quoted(entry) + ": opening");
      if (::fsetxattr(fd.get(), overlay_xattr("opaque").c_str(), "y", 1, 0) != 0)
        return Error::from_errno("entry " + layers::quoted(entry) + ": marking opaque");
      return {};
    }
    std::string target = base.substr(kWhiteoutPrefix.size());
    if (target.empty() || target == "." || target == "..")
      return refused(entry, "whiteout of " + layers::quoted(target));
    if (auto r = clear_path(entry, dir->get(), target, false); !r) return std::move(r).error();
    if (::mknodat(dir->get(), target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0)
      return Error::from_errno("entry " + layers::quoted(entry) + ": making a whiteout");
    return {};
  }

  // Replaces whatever is at `base` unless it is a directory and `keep_dir` is set.
  // Returns whether a directory was kept.
  Result<bool> clear_path(const std::string& entry, int dir_fd, const std::string& base,
                          bool keep_dir) {
    struct stat st;
    if (::fstatat(dir_fd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return false;
      return Error::from_errno("entry " + layers::quoted(entry) + ": stat");
    }
    if (keep_dir && S_ISDIR(st.st_mode)) return true;
    auto r = remove_at(dir_fd, base, entry);
    if (!r) return std::move(r).error().context("entry " + layers::quoted(entry));
    return false;
  }

  Result<void> set_owner_mode_xattrs(const std::string& entry, int fd, archive_entry* e) {
    if (options_.restore_owners &&
        ::fchown(fd, uid_t(archive_entry_uid(e)), gid_t(archive_entry_gid(e))) != 0)
      return Error::from_errno("entry " + layers::quoted(entry) + ": chown");
    // After chown, which clears set-uid/set-gid bits.
    if (::fchmod(fd, archive_entry_perm(e)) != 0)
      return Error::from_errno("entry " + layers::quoted(entry) + ": chmod");
    archive_entry_xattr_reset(e);
    const char* xname;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
      if (!is_layer_xattr(xname)) {
        warn("entry " + layers::quoted(entry) + ": skipping xattr " + layers::quoted(xname));
        continue;
      }
      if (::fsetxattr(fd, xname, value, size, 0) != 0)
        return Error::from_errno("entry " + layers::quoted(entry) + ": setting xattr " + xname);
    }
    return {};
  }

  static timespec mtime_of(archive_entry* e) {
    return {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
  }

  Result<void> make_dir(const std::string& entry, const std::string& rel, int dir_fd,
                        const std::string& base, archive_entry* e) {
    auto kept = clear_path(entry, dir_fd, base, true);
    if (!kept) return std::move(kept).error();
    if (!*kept && ::mkdirat(dir_fd, base.c_str(), 0700) != 0)
      return Error::from_errno("entry " + layers::quoted(entry) + ": mkdir");
    int fd = ::openat(dir_fd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Error::from_errno("entry " + layers::quoted(entry) + ": opening");
    UniqueFd dir(fd);
    if (auto r = set_owner_mode_xattrs(entry, dir.get(), e); !r) return r;
    dir_times_.emplace_back(rel, mtime_of(e));
    implicit_dirs_.erase(rel);
    return {};
  }

  Result<void> make_file(archive* a, const std::string& entry, int dir_fd, const std::string& base,
                         archive_entry* e) {
    if (auto r = clear_path(entry, dir_fd, base, false); !r) return std::move(r).error();
    int fd =
        ::openat(dir_fd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return Error::from_errno("entry " + layers::quoted(entry) + ": creating");
    UniqueFd file(fd);
    for (;;) {
      const void* block;
      size_t size;
      la_int64_t offset;
      int r = archive_read_data_block(a, &block, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_WARN) warn(a);
      if (r < ARCHIVE_WARN)
        return archive_error(a, "entry " + layers::quoted(entry) + ": reading data");
      auto* p = static_cast<const char*>(block);
      while (size > 0) {
        ssize_t n = ::pwrite(file.get(), p, size, offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::from_errno("entry " + layers::quoted(entry) + ": writing");
        p += n;
        size -= size_t(n);
        offset += n;
      }
    }
    // Sparse entries end in a hole that no data block covers.
    if (::ftruncate(file.get(), archive_entry_size(e)) != 0)
      return Error::from_errno("entry " + layers::quoted(entry) + ": truncate");
    // A hint (an error here shows again at the caller's sync, which reports it), for big
    // files only: small ones are left to that sync, which writes them in one batch (a
    // writeback per 4 KiB file made a pull of 20,000 of them take 1.9 s instead of 1.0).
    if (options_.start_writeback && archive_entry_size(e) >= kStartWritebackBytes)
      (void)::sync_file_range(file.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
    if (auto r = set_owner_mode_xattrs(entry, file.get(), e); !r) return r;
    timespec times[2] = {mtime_of(e), mtime_of(e)};
    if (::futimens(file.get(), times) != 0)
      return Error::from_errno("entry " + layers::quoted(entry) + ": setting times");
    return {};
  }

  // Owner, mode and times of something not opened (a symlink or device node), by name in
  // its parent. Never follows a symlink.
  Result<void> set_metadata_at(const std::string& entry, int dir_fd, const std::string& base,
                               archive_entry* e, bool is_symlink) {
    if (options_.restore_owners &&
        ::fchownat(dir_fd, base.c_str(), uid_t(archive_entry_uid(e)), gid_t(archive_entry_gid(e)),
                   AT_SYMLINK_NOFOLLOW) != 0)
      return Error::from_errno("entry " + layers::quoted(entry) + ": chown");
    if (!is_symlink) {
      // The node was just made by mknodat in this directory, and is not a symlink.
      if (::fchmodat(dir_fd, base.c_str(), archive_entry_perm(e), 0) != 0)
        return Error::from_errno("entry " + layers::quoted(entry) + ": chmod");
      archive_entry_xattr_reset(e);
      const char* xname;
      const void* value;
      size_t size;
      // /proc/self/fd/N names the parent already resolved in the root; the l* call does
      // not follow the final component.
      while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
        if (!is_layer_xattr(xname)) {
          warn("entry " + layers::quoted(entry) + ": skipping xattr " + layers::quoted(xname));
          continue;
        }
        if (::lsetxattr(proc_path(dir_fd, base).c_str(), xname, value, size, 0) != 0)
          return Error::from_errno("entry " + layers::quoted(entry) + ": setting xattr " + xname);
      }
    }
    timespec times[2] = {mtime_of(e), mtime_of(e)};
    if (::utimensat(dir_fd, base.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
      return Error::from_errno("entry " + layers::quoted(entry) + ": setting times");
    return {};
  }

  Result<void> make_symlink(const std::string& entry, int dir_fd, const std::string& base,
                            archive_entry* e) {
    if (auto r = clear_path(entry, dir_fd, base, false); !r) return std::move(r).error();
    // The target is stored, never followed here; resolution stays the reader's business.
    std::string target = link_name(e, false);
    if (auto r = check_symlink_target(target); !r) return refused(entry, r.error().message());
    if (::symlinkat(target.c_str(), dir_fd, base.c_str()) != 0)
      return Error::from_errno("entry " + layers::quoted(entry) + ": symlink");
    return set_metadata_at(entry, dir_fd, base, e, true);
  }

  Result<void> make_node(const std::string& entry, int dir_fd, const std::string& base,
                         archive_entry* e) {
    if (auto r = clear_path(entry, dir_fd, base, false); !r) return std::move(r).error();
    mode_t type = archive_entry_filetype(e) == AE_IFCHR   ? S_IFCHR
                  : archive_entry_filetype(e) == AE_IFBLK ? S_IFBLK
                                                          : S_IFIFO;
    dev_t rdev = type == S_IFIFO ? 0 : archive_entry_rdev(e);
    if (::mknodat(dir_fd, base.c_str(), type | 0600, rdev) != 0)
      return Error::from_errno("entry " + layers::quoted(entry) + ": mknod");
    return set_metadata_at(entry, dir_fd, base, e, false);
  }

  Result<void> make_hardlink(const std::string& entry, int dir_fd, const std::string& base,
                             const std::string& target_name) {
    auto target = normalize_entry_name(target_name, is_archive());
    if (!target)
      return refused(entry, "hardlink target " + layers::quoted(target_name) + ": " +
                                target.error().message());
    if (target->empty()) return refused(entry, "hardlink to the root");
    // O_PATH | O_NOFOLLOW: a target that is itself a symlink is linked as the symlink.
    auto fd = open_in_root(entry, *target, O_PATH | O_NOFOLLOW);
    if (!fd) {
      if (fd.error().kind() == ErrorKind::NotFound)
        return refused(entry, "hardlink target " + layers::quoted(*target) + " does not exist");
      return std::move(fd).error();
    }
    struct stat st;
    if (::fstat(fd->get(), &st) != 0) return Error::from_errno("entry " + layers::quoted(entry));
    if (S_ISDIR(st.st_mode)) return refused(entry, "hardlink to a directory");
    struct stat existing;
    if (::fstatat(dir_fd, base.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0 &&
        existing.st_dev == st.st_dev && existing.st_ino == st.st_ino)
      return {};  // already this inode (a link to itself)
    if (auto r = clear_path(entry, dir_fd, base, false); !r) return std::move(r).error();
    if (::linkat(fd->get(), "", dir_fd, base.c_str(), AT_EMPTY_PATH) == 0) return {};
    // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link of the same fd does not.
    if (errno == ENOENT || errno == EPERM) {
      std::string via = "/proc/self/fd/" + std::to_string(fd->get());
      if (::linkat(AT_FDCWD, via.c_str(), dir_fd, base.c_str(), AT_SYMLINK_FOLLOW) == 0) return {};
    }
    if (errno == EXDEV) return refused(entry, "hardlink target is on another filesystem");
    return Error::from_errno("entry " + layers::quoted(entry) + ": link to " +
                             layers::quoted(*target));
  }

  // Directory mtimes go last: creating children changed them.
  Result<void> set_directory_times() {
    for (const auto& rel : implicit_dirs_) dir_times_.emplace_back(rel, timespec{0, 0});
    for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
      const auto& [rel, mtime] = *it;
      UniqueFd fd(layers::open_in_root(root_fd_.get(), rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
      if (!fd) {
        // Removed or replaced (by a file, a symlink) later in the same layer: nothing to date.
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV) continue;
        return Error::from_errno("entry " + layers::quoted(rel) + ": opening");
      }
      timespec times[2] = {mtime, mtime};
      if (::futimens(fd.get(), times) != 0)
        return Error::from_errno("entry " + layers::quoted(rel) + ": setting times");
    }
    return {};
  }

  const UnpackOptions& options_;
  std::optional<ReadAhead> ahead_;
  int raw_fd_ = -1;
  uint64_t entries_ = 0;
  uint64_t bytes_ = 0;
  std::vector<std::byte> buffer_ = std::vector<std::byte>(kChunk);
  Sha256 hash_;
  std::optional<Error> input_error_;
  UniqueFd root_fd_;
  std::set<std::string> unpacked_;
  std::vector<std::pair<std::string, timespec>> dir_times_;
  std::set<std::string> implicit_dirs_;  // parents this layer made and none of its entries names
};

}  // namespace

// Tar name -> clean relative path ("" for the root itself). Leading "./" and repeated or
// trailing slashes are tolerated, as every tar reader does; absolute names and ".." are not.
// A refusal's message is the reason alone; callers say which entry it was.
// With `is_archive` (WhiteoutMode::Keep) a leading "/" is dropped instead, as moby's
// archive.Untar joins every name to the destination.
Result<void> check_symlink_target(std::string_view target) {
  if (target.size() >= PATH_MAX)
    return Error(ErrorKind::InvalidInput, "symlink target longer than PATH_MAX (" + std::to_string(PATH_MAX) + " bytes)");
  return {};
}

Result<std::string> normalize_entry_name(std::string_view name, bool is_archive) {
  if (name.empty()) return Error(ErrorKind::InvalidInput, "empty name");
  if (name.front() == '/' && !is_archive) return Error(ErrorKind::InvalidInput, "absolute path");
  if (name.size() > PATH_MAX)
    return Error(ErrorKind::InvalidInput, "name longer than PATH_MAX (" + std::to_string(PATH_MAX) + " bytes)");
  std::string out;
  size_t start = 0;
  while (start < name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string_view::npos) slash = name.size();
    std::string_view part = name.substr(start, slash - start);
    start = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return Error(ErrorKind::InvalidInput, "\"..\" leads outside the root");
    if (part.size() > NAME_MAX)
      return Error(ErrorKind::InvalidInput,
                   "a component longer than NAME_MAX (" + std::to_string(NAME_MAX) + " bytes)");
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

Result<Digest> unpack_layer(const std::string& root, int tar_fd, const UnpackOptions& options) {
  std::optional<ReadAhead> ahead;
  if (!options.any_compression) {
    auto opened = DecompressingReader::open(tar_fd);
    if (!opened) return std::move(opened).error();
    auto reader = std::make_shared<DecompressingReader>(std::move(*opened));
    auto started = ReadAhead::start([reader](std::span<std::byte> out) { return reader->read(out); });
    if (!started) return std::move(started).error();
    ahead = std::move(*started);
  }
  Unpacker unpacker(options, std::move(ahead), tar_fd);
  auto r = unpacker.run(root);
  if (!r) return std::move(r).error().context("unpacking a layer into " + layers::quoted(root));
  return r;
}

}  // namespace layers
