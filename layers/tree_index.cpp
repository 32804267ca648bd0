#include "layers/tree_index.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_map>

#include "layers/same_entry.h"
#include "layers/unique_fd.h"

namespace layers {
namespace {

constexpr int kMaxDepth = 512;

// Depth first, names byte-wise within a directory: compare as if '/' sorted before
// every other byte.
bool walk_order_less(const std::string& a, const std::string& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    if (a[i] == '/') return true;
    if (b[i] == '/') return false;
    return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  }
  return a.size() < b.size();
}

Result<std::vector<std::string>> list_dir(int dir_fd, const std::string& shown) {
  int dup_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return Error::from_errno("dup of directory fd for " + quoted(shown));
  DIR* dir = ::fdopendir(dup_fd);
  if (!dir) {
    ::close(dup_fd);
    return Error::from_errno("opendir " + quoted(shown));
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* ent = ::readdir(dir)) {
    std::string_view name = ent->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return Error::from_errno(err, "reading directory " + quoted(shown));
  std::sort(names.begin(), names.end());
  return names;
}

Result<void> walk(int dir_fd, const std::string& root, const std::string& rel, int depth,
                  std::vector<IndexEntry>* out) {
  if (depth > kMaxDepth) {
    return Error(ErrorKind::InvalidInput, quoted(rel) + " is nested deeper than " +
                                              std::to_string(kMaxDepth) + " directories");
  }
  auto names = list_dir(dir_fd, root + "/" + rel);
  if (!names) return std::move(names).error();
  for (const std::string& name : *names) {
    IndexEntry e;
    e.path = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return Error::from_errno("lstat " + quoted(root + "/" + e.path));
    e.mode = st.st_mode;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.size = uint64_t(st.st_size);
    e.mtime_sec = st.st_mtim.tv_sec;
    e.mtime_nsec = st.st_mtim.tv_nsec;
    e.ctime_sec = st.st_ctim.tv_sec;
    e.ctime_nsec = st.st_ctim.tv_nsec;
    e.ino = st.st_ino;
    e.nlink = uint64_t(st.st_nlink);
    e.rdev = st.st_rdev;
    auto xattrs = layer_xattrs(root + "/" + e.path);
    if (!xattrs) return std::move(xattrs).error();
    e.xattrs = std::move(*xattrs);
    if (S_ISLNK(st.st_mode)) {
      std::string target(size_t(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
      if (n < 0) return Error::from_errno("readlink " + quoted(root + "/" + e.path));
      target.resize(size_t(n));
      e.link_target = std::move(target);
    }
    const std::string child_rel = e.path;
    out->push_back(std::move(e));
    if (!S_ISDIR(st.st_mode)) continue;
    UniqueFd child(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child) return Error::from_errno("opening directory " + quoted(root + "/" + child_rel));
    if (auto r = walk(child.get(), root, child_rel, depth + 1, out); !r) return r;
  }
  return {};
}

Result<bool> is_changed(const IndexEntry& old_e, const IndexEntry& new_e, const std::string& root,
                        const std::string& original_root) {
  if (old_e.mode != new_e.mode || old_e.uid != new_e.uid || old_e.gid != new_e.gid ||
      old_e.rdev != new_e.rdev || old_e.link_target != new_e.link_target ||
      old_e.xattrs != new_e.xattrs) {
    return true;
  }
  // Directory sizes and mtimes follow their entries, which are diffed on their own.
  if (S_ISDIR(new_e.mode)) return false;
  if (old_e.size != new_e.size || old_e.mtime_sec != new_e.mtime_sec ||
      old_e.mtime_nsec != new_e.mtime_nsec) {
    return true;
  }
  const bool same_ctime = old_e.ctime_sec == new_e.ctime_sec && old_e.ctime_nsec == new_e.ctime_nsec;
  if (old_e.ino == new_e.ino) {
    if (same_ctime) return false;
    // A new name linked to this inode: the layer must carry the file for the link to hold
    // (overlay copies it up for the same reason).
    if (new_e.nlink > old_e.nlink) return true;
    // Only another name of it went away (its Delete says so), or it was touched in place
    // and left as it was (chmod/chown/touch -d to the same values, an xattr set and
    // removed): every piece of metadata equals the index's, so it is no change, as an
    // overlay copy-up of it is none (layers/same_entry.h). Its bytes are not kept to
    // compare: a write whose mtime was put back to the nanosecond is not seen here.
    return false;
  }
  // Replaced by a file that looks the same: only the bytes can tell.
  if (!S_ISREG(new_e.mode)) return true;
  if (original_root.empty()) return true;
  auto same = same_contents(original_root + "/" + new_e.path, root + "/" + new_e.path);
  if (!same) return std::move(same).error();
  return !*same;
}

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace

Result<TreeIndex> TreeIndex::snapshot(const std::string& root_dir) {
  std::string root = root_dir;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Error::from_errno("opening " + quoted(root));
  TreeIndex index;
  index.root_ = root;
  if (auto r = walk(fd.get(), root, "", 0, &index.entries_); !r)
    return std::move(r).error().context("indexing " + quoted(root));
  index.by_path_.resize(index.entries_.size());
  for (size_t i = 0; i < index.by_path_.size(); ++i) index.by_path_[i] = i;
  std::sort(index.by_path_.begin(), index.by_path_.end(), [&](size_t a, size_t b) {
    return index.entries_[a].path < index.entries_[b].path;
  });
  return index;
}

const IndexEntry* TreeIndex::find(const std::string& path) const {
  auto it = std::lower_bound(by_path_.begin(), by_path_.end(), path,
                             [&](size_t i, const std::string& p) { return entries_[i].path < p; });
  if (it == by_path_.end() || entries_[*it].path != path) return nullptr;
  return &entries_[*it];
}

Result<IndexDiff> diff_and_reindex(const TreeIndex& before, const std::string& original_root,
                                   const std::vector<std::string>& ignored) {
  auto is_ignored = [&](const std::string& path) {
    return std::find(ignored.begin(), ignored.end(), path) != ignored.end();
  };
  auto after = TreeIndex::snapshot(before.root());
  if (!after) return std::move(after).error();

  // Directories that were replaced (a directory where a non-directory was, or a new inode
  // for a directory): overlay makes them opaque, and so do we, listing all they hold.
  std::set<std::string> opaque;
  for (const IndexEntry& e : after->entries()) {
    if (!S_ISDIR(e.mode)) continue;
    const IndexEntry* old_e = before.find(e.path);
    if (old_e && (!S_ISDIR(old_e->mode) || old_e->ino != e.ino)) opaque.insert(e.path);
  }
  auto under_opaque = [&](const std::string& path) {
    for (std::string p = parent_of(path); !p.empty(); p = parent_of(p))
      if (opaque.count(p)) return true;
    return false;
  };

  std::set<std::string> changed, deleted;
  for (const IndexEntry& e : after->entries()) {
    if (is_ignored(e.path)) continue;
    const IndexEntry* old_e = before.find(e.path);
    if (!old_e || opaque.count(e.path) || under_opaque(e.path)) {
      changed.insert(e.path);
      continue;
    }
    auto differs = is_changed(*old_e, e, before.root(), original_root);
    if (!differs) return std::move(differs).error().context("comparing " + quoted(e.path));
    if (*differs) changed.insert(e.path);
  }
  for (const IndexEntry& e : before.entries()) {
    if (after->find(e.path) || is_ignored(e.path)) continue;
    // A deleted directory is one whiteout; its children go with it. So do the children of
    // a directory that became a file, or that was replaced (opaque).
    const std::string parent = parent_of(e.path);
    if (!parent.empty()) {
      const IndexEntry* now = after->find(parent);
      if (!now || !S_ISDIR(now->mode) || opaque.count(parent) || under_opaque(parent)) continue;
    }
    deleted.insert(e.path);
  }

  // Parents of every change, as a copy-up would have them (only those that still exist
  // as directories; a changed parent is already listed).
  std::set<std::string> parents;
  auto add_parents = [&](const std::string& path) {
    for (std::string p = parent_of(path); !p.empty(); p = parent_of(p)) {
      if (!parents.insert(p).second) break;
    }
  };
  for (const auto& p : changed) add_parents(p);
  for (const auto& p : deleted) add_parents(p);

  IndexDiff out;
  TreeDiff& diff = out.diff;
  diff.source_root = before.root();
  for (const auto& p : parents) {
    if (!changed.count(p)) diff.entries.push_back({p, DiffEntry::Kind::AddOrChange});
  }
  for (const auto& p : changed) diff.entries.push_back({p, DiffEntry::Kind::AddOrChange});
  for (const auto& p : opaque) diff.entries.push_back({p, DiffEntry::Kind::Opaque});
  for (const auto& p : deleted) diff.entries.push_back({p, DiffEntry::Kind::Delete});
  // Walk order; for one path, AddOrChange before Opaque, as overlay_diff lists them.
  std::stable_sort(diff.entries.begin(), diff.entries.end(),
                   [](const DiffEntry& a, const DiffEntry& b) {
                     return walk_order_less(a.path, b.path);
                   });
  out.after = std::move(*after);
  return out;
}

Result<TreeDiff> diff_against_index(const TreeIndex& before, const std::string& original_root) {
  auto result = diff_and_reindex(before, original_root);
  if (!result) return std::move(result).error();
  return std::move(result->diff);
}

}  // namespace layers
