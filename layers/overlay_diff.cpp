#include "layers/overlay_diff.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>

#include "layers/overlay_xattr.h"
#include "layers/same_entry.h"
#include "layers/unique_fd.h"

namespace layers {
namespace {

// Reads xattr `name` of `path` (not following a final symlink). Empty when absent.
Result<std::string> get_xattr(const std::string& path, const char* name) {
  char buf[256];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof buf);
  if (n >= 0) return std::string(buf, size_t(n));
  if (errno == ENODATA || errno == ENOTSUP) return std::string();
  if (errno == ERANGE) return std::string(sizeof buf, '?');  // present; value unimportant
  return Error::from_errno("reading xattr " + std::string(name) + " of " + quoted(path));
}

Result<bool> has_xattr(const std::string& path, const char* name) {
  ssize_t n = ::lgetxattr(path.c_str(), name, nullptr, 0);
  if (n >= 0) return true;
  if (errno == ENODATA || errno == ENOTSUP) return false;
  return Error::from_errno("reading xattr " + std::string(name) + " of " + quoted(path));
}

// Refuses entries that only make sense together with a lower layer.
Result<void> refuse_lower_references(const std::string& path, const std::string& rel) {
  for (const std::string& name : {overlay_xattr("redirect"), overlay_xattr("metacopy")}) {
    auto has = has_xattr(path, name.c_str());
    if (!has) return std::move(has).error();
    if (*has) {
      return Error(ErrorKind::Unsupported,
                   quoted(rel) + " carries " + name +
                       " (overlay mounted with redirect_dir or metacopy; cannot make a layer)");
    }
  }
  return {};
}

class UpperWalker {
 public:
  explicit UpperWalker(std::string root) : root_(std::move(root)) {}

  Result<void> walk(int dir_fd, const std::string& rel, int depth) {
    if (depth > kMaxOverlayDiffDepth) {
      return Error(ErrorKind::InvalidInput,
                   quoted(rel) + " is nested deeper than " + std::to_string(kMaxOverlayDiffDepth) +
                       " directories");
    }
    auto names = list(dir_fd, rel);
    if (!names) return std::move(names).error();
    for (const std::string& name : *names) {
      std::string child_rel = rel.empty() ? name : rel + "/" + name;
      std::string child_path = root_ + "/" + child_rel;
      struct stat st;
      if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return Error::from_errno("lstat " + quoted(child_path));

      if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
        out_.entries.push_back({child_rel, DiffEntry::Kind::Delete});
        continue;
      }
      if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
        if (auto r = refuse_lower_references(child_path, child_rel); !r) return r;
      }
      if (S_ISREG(st.st_mode) && st.st_size == 0) {
        auto xwhiteout = has_xattr(child_path, overlay_xattr("whiteout").c_str());
        if (!xwhiteout) return std::move(xwhiteout).error();
        if (*xwhiteout) {
          out_.entries.push_back({child_rel, DiffEntry::Kind::Delete});
          continue;
        }
      }
      out_.entries.push_back({child_rel, DiffEntry::Kind::AddOrChange});
      if (!S_ISDIR(st.st_mode)) continue;

      auto opaque = get_xattr(child_path, overlay_xattr("opaque").c_str());
      if (!opaque) return std::move(opaque).error();
      // "y" hides the lower directory; "x" (kernel >= 6.7) only marks a directory holding
      // xwhiteouts, which we already turn into Deletes one by one.
      if (*opaque == "y") out_.entries.push_back({child_rel, DiffEntry::Kind::Opaque});

      UniqueFd child(::openat(dir_fd, name.c_str(),
                              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!child) return Error::from_errno("opening directory " + quoted(child_path));
      if (auto r = walk(child.get(), child_rel, depth + 1); !r) return r;
    }
    return {};
  }

  TreeDiff take() && { return std::move(out_); }
  TreeDiff& diff() { return out_; }

 private:
  Result<std::vector<std::string>> list(int dir_fd, const std::string& rel) {
    int dup_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return Error::from_errno("dup of directory fd for " + quoted(rel));
    DIR* dir = ::fdopendir(dup_fd);
    if (!dir) {
      ::close(dup_fd);
      return Error::from_errno("opendir " + quoted(root_ + "/" + rel));
    }
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* ent = ::readdir(dir)) {
      std::string_view name = ent->d_name;
      if (name == "." || name == "..") continue;
      names.emplace_back(name);
      errno = 0;
    }
    int err = errno;
    ::closedir(dir);
    if (err != 0) return Error::from_errno(err, "reading directory " + quoted(root_ + "/" + rel));
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string root_;
  TreeDiff out_;
};

}  // namespace

Result<TreeDiff> diff_overlay_upper(const std::string& upper_dir) {
  std::string root = upper_dir;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Error::from_errno("opening overlay upper dir " + quoted(root));
  UpperWalker walker(root);
  walker.diff().source_root = root;
  if (auto r = walker.walk(fd.get(), "", 0); !r)
    return std::move(r).error().context("reading overlay upper dir " + quoted(root));
  return std::move(walker).take();
}

Result<std::vector<std::string>> drop_unchanged_copy_ups(
    TreeDiff& diff, const std::function<std::string(const std::string& rel)>& lower_path) {
  auto is_under = [](const std::string& path, const std::string& dir) {
    return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
  };
  std::vector<std::string> opaque;
  for (const DiffEntry& e : diff.entries)
    if (e.kind == DiffEntry::Kind::Opaque) opaque.push_back(e.path);
  auto in_opaque = [&](const std::string& path) {
    return std::any_of(opaque.begin(), opaque.end(), [&](const std::string& dir) {
      return path == dir || is_under(path, dir);
    });
  };

  // Which AddOrChange entries equal their lower counterpart (directories: by metadata only).
  std::vector<bool> same(diff.entries.size(), false);
  for (size_t i = 0; i < diff.entries.size(); ++i) {
    const DiffEntry& e = diff.entries[i];
    if (e.kind != DiffEntry::Kind::AddOrChange || in_opaque(e.path)) continue;
    const std::string lower = lower_path(e.path);
    if (lower.empty()) continue;
    const std::string upper = diff.source_root + "/" + e.path;
    struct stat st;
    if (::lstat(upper.c_str(), &st) != 0) return Error::from_errno("lstat " + quoted(upper));
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) continue;
    auto equal = same_entry(upper, lower);
    if (!equal) return std::move(equal).error().context("comparing " + quoted(e.path) + " with the lower layers");
    same[i] = *equal;
  }
  // Walk order puts a directory before what it holds: going backwards, a directory is
  // decided after everything beneath it.
  std::vector<bool> keep(diff.entries.size(), true);
  std::vector<std::string> dropped;
  for (size_t i = diff.entries.size(); i-- > 0;) {
    if (!same[i]) continue;
    const std::string& path = diff.entries[i].path;
    bool holds_kept = false;
    for (size_t j = i + 1; j < diff.entries.size() && !holds_kept; ++j) {
      if (!is_under(diff.entries[j].path, path)) {
        if (diff.entries[j].path == path) continue;  // (its own Opaque entry: not here)
        break;
      }
      holds_kept = keep[j];
    }
    if (holds_kept) continue;
    keep[i] = false;
    dropped.push_back(path);
  }
  std::vector<DiffEntry> kept;
  for (size_t i = 0; i < diff.entries.size(); ++i)
    if (keep[i]) kept.push_back(std::move(diff.entries[i]));
  diff.entries = std::move(kept);
  return dropped;
}

}  // namespace layers
