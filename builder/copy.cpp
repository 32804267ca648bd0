#include "builder/copy.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <set>

#include "builder/context.h"
#include "builder/dir_listing.h"
#include "layers/resolve_in_root.h"
#include "layers/tar_apply.h"
#include "layers/unique_fd.h"
#include "layers/rel_path.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

bool has_wildcard(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

std::string join_rel(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "/" + b;
}

// The names in the directory open at `dir_fd` (not "." and ".."), sorted.
Result<std::vector<std::string>> list_dir(int dir_fd, const std::string& what) {
  int dup = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return Error::from_errno("listing " + layers::quoted(what));
  std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(dup), ::closedir);
  if (!d) {
    ::close(dup);
    return Error::from_errno("listing " + layers::quoted(what));
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

const char* special_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a named pipe (FIFO)";
  if (S_ISSOCK(mode)) return "a socket";
  return nullptr;
}

// Sources are read beneath the source root only: every component of a source path (the
// last too) and of a wildcard's fixed prefix is resolved inside it as BuildKit's
// rootPath does (continuity's fs.RootPath: an absolute symlink starts at the root, ".."
// stops there), so `link/secret` with link -> /home/me reads ROOT/home/me/secret, never
// the host's. Below a wildcard and while walking a directory symlinks are not followed
// (copied as links). Items name entries by their physical path beneath the root, which
// execute_copy opens again the same way.
class Planner {
 public:
  Planner(const CopyRequest& request, const runtime::LayerView& image) : request_(request), image_(image) {
    if (!request.excludes.empty()) {
      std::string text;
      for (const auto& e : request.excludes) text += e + "\n";
      excludes_ = parser::IgnoreRules::from_text(text, "--exclude");
    }
  }

  Result<CopyPlan> run() {
    std::string dest = request_.dest;
    if (dest.empty()) return Error(ErrorKind::InvalidInput, "no destination given");
    if (!dest.starts_with('/')) {
      std::string workdir = request_.workdir.empty() ? "/" : request_.workdir;
      dest = workdir + (workdir.ends_with('/') ? "" : "/") + dest;
    }
    bool dest_is_dir = dest.ends_with('/') || dest.ends_with("/.") || dest == "/.";
    std::string dest_rel = parser::clean_path(dest);
    while (dest_rel.starts_with('/')) dest_rel.erase(0, 1);
    if (dest_rel == ".") dest_rel.clear();
    // Symlinks in the destination are followed inside the image, as BuildKit follows them
    // (`COPY f /link/` with link -> /real writes /real/f and keeps the link).
    auto resolved_dest = image_.resolve(dest_rel);
    if (!resolved_dest) return std::move(resolved_dest).error().context("destination " + layers::quoted(dest));
    dest_rel = *resolved_dest;
    if (dest_rel.empty()) dest_is_dir = true;
    if (!dest_is_dir) {
      if (auto st = image_.lookup(dest_rel); st && S_ISDIR(st->st_mode)) dest_is_dir = true;
    }
    // BuildKit copies the source root's contents, filtered by the source patterns, there.
    if (request_.parents) dest_is_dir = true;

    CopyPlan plan;
    if (!request_.sources.empty()) {
      layers::UniqueFd root(::open(request_.source_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!root) return Error::from_errno("opening the source root " + layers::quoted(request_.source_root));
      plan.source_root = std::make_shared<layers::UniqueFd>(std::move(root));
      root_fd_ = plan.source_root->get();
      listings_.emplace(plan.source_root);
    }

    // Resolve every source argument to the matches it names: (argument, path).
    std::vector<std::pair<std::string, std::string>> matches;
    for (const auto& source : request_.sources) {
      std::string clean = parser::clean_path("/" + source);  // clamps nothing: checked below
      std::string raw = parser::clean_path(source);
      if (raw == ".." || raw.starts_with("../"))
        return Error(ErrorKind::InvalidInput, "source " + layers::quoted(source) + " is outside the build context");
      while (clean.starts_with('/')) clean.erase(0, 1);
      if (clean == ".") clean.clear();
      if (request_.parents) continue;  // matched by add_with_parents below
      if (has_wildcard(clean)) {
        std::vector<std::string> found;
        if (auto r = glob(clean, found); !r) return std::move(r).error().context("source " + layers::quoted(source));
        if (found.empty())
          return Error(ErrorKind::NotFound, "no source files were specified: " + layers::quoted(source) + " matches nothing");
        for (auto& f : found) matches.emplace_back(source, std::move(f));
      } else {
        if (is_excluded(clean))
          return Error(ErrorKind::NotFound, "source " + layers::quoted(source) + ": not found (excluded by .dockerignore)");
        matches.emplace_back(source, clean);
      }
    }
    const size_t given = request_.sources.size() + request_.file_sources.size();
    if ((given > 1 || matches.size() + request_.file_sources.size() > 1) && !dest_is_dir &&
        !request_.dest.ends_with('/'))
      return Error(ErrorKind::InvalidInput,
                   "when using COPY with more than one source file, the destination must be a "
                   "directory and end with a /");

    plan.uid = request_.uid;
    plan.gid = request_.gid;
    if (request_.chmod) {
      auto mode = parse_chmod(*request_.chmod);
      if (!mode) return std::move(mode).error();
      plan.mode = *mode;
    }
    ContentHasher hasher(request_.memo);
    if (request_.parents) {
      std::set<std::string> added;
      for (const auto& source : request_.sources)
        if (auto r = add_with_parents(plan, source, dest_rel, hasher, added); !r)
          return std::move(r).error().context("source " + layers::quoted(source));
    }
    for (const auto& [source, match] : matches) {
      const std::string what = "source " + layers::quoted(source);
      layers::UniqueFd fd(layers::open_in_root_clamped(root_fd_, match, O_PATH));
      if (!fd) {
        if (errno == ENOENT || errno == ENOTDIR)
          return Error(ErrorKind::NotFound, what + ": not found in the build context (symlinks in it are "
                                                   "resolved inside it, as BuildKit does)");
        return Error::from_errno(what);
      }
      auto resolved = path_in_root(root_fd_, fd.get());
      if (!resolved) return std::move(resolved).error().context(what);
      if (is_excluded(*resolved))
        return Error(ErrorKind::NotFound, what + ": not found (" + layers::quoted(*resolved) + " is excluded by .dockerignore)");
      struct stat st;
      if (::fstat(fd.get(), &st) != 0) return Error::from_errno(what);
      fd.reset();
      if (const char* kind = special_kind(st.st_mode))
        return Error(ErrorKind::InvalidInput, what + " is " + kind +
                                                  ": only regular files, directories, symlinks and "
                                                  "device nodes can be copied");
      if (S_ISDIR(st.st_mode)) {
        // The destination directory takes the source directory's metadata only when
        // the image does not have it yet; an existing one keeps its own.
        auto existing = image_.lookup(dest_rel);
        if (!dest_rel.empty() && !(existing && S_ISDIR(existing->st_mode))) {
          if (auto r = hasher.add(dest_rel, root_fd_, *resolved); !r) return std::move(r).error().context(what);
          plan.items.push_back({CopyItem::Kind::Entry, *resolved, dest_rel});
        } else {
          hasher.add_text(dest_rel);
        }
        if (auto r = walk(plan, *resolved, dest_rel, hasher); !r) return std::move(r).error().context(what);
        continue;
      }
      std::string base = match.substr(match.rfind('/') == std::string::npos ? 0 : match.rfind('/') + 1);
      std::string target = dest_is_dir ? join_rel(dest_rel, base) : dest_rel;
      if (target.empty()) return Error(ErrorKind::InvalidInput, "cannot copy a file over the root directory");
      if (request_.is_add && S_ISREG(st.st_mode)) {
        // The archive is read through this descriptor (by its /proc/self/fd name), so
        // what is extracted is the file that was resolved and hashed here.
        auto data = open_source_data(root_fd_, *resolved, st);
        if (!data) return std::move(data).error().context(what);
        std::string by_fd = "/proc/self/fd/" + std::to_string(data->get());
        if (is_tar_archive(by_fd)) {
          hasher.add_text("extract");
          if (auto r = hasher.add(dest_rel, root_fd_, *resolved); !r) return std::move(r).error().context(what);
          plan.held.push_back(std::make_shared<layers::UniqueFd>(std::move(*data)));
          plan.items.push_back({CopyItem::Kind::ExtractTar, by_fd, dest_rel});
          continue;
        }
      }
      if (auto r = hasher.add(target, root_fd_, *resolved); !r) return std::move(r).error().context(what);
      plan.items.push_back({CopyItem::Kind::Entry, *resolved, target});
    }
    EntryList file_entries;  // after the hasher's: a file source's entry wins over a path's
    for (const auto& file : request_.file_sources) {
      std::string target = dest_is_dir ? join_rel(dest_rel, file.name) : dest_rel;
      if (target.empty()) return Error(ErrorKind::InvalidInput, "cannot copy a file over the root directory");
      hasher.add_text("file " + target);
      hasher.add_text(file.key);
      file_entries.emplace_back("<<" + file.name, EntryInput{S_IFREG, layers::Digest::of(file.key).str()});
      plan.items.push_back({CopyItem::Kind::Entry, file.host_path, target, /*is_file_source=*/true});
    }
    hasher.add_text(request_.chmod.value_or(""));
    hasher.add_text(std::to_string(request_.uid) + ":" + std::to_string(request_.gid));
    plan.content = hasher.finish();
    plan.entries = std::move(hasher.entries());
    std::move(file_entries.begin(), file_entries.end(), std::back_inserter(plan.entries));
    plan.files = hasher.files();
    plan.files_hashed = hasher.hashed();
    return plan;
  }

 private:
  bool is_excluded(const std::string& rel) const {
    if (rel.empty()) return false;
    if (request_.ignore && request_.ignore->excludes(rel)) return true;
    return false;
  }

  // The matches of the wildcard path `clean`, as BuildKit's ResolveWildcards finds them:
  // the components before the first wildcard are resolved inside the root (symlinks
  // followed), those from it on are matched against real entries (symlinks not followed
  // on the way; the last component may be one, followed when the match is resolved).
  Result<void> glob(const std::string& clean, std::vector<std::string>& out) const {
    auto parts = layers::path_components(clean);
    size_t first = 0;
    while (first < parts.size() && !has_wildcard(parts[first])) ++first;
    std::string prefix;
    for (size_t i = 0; i < first; ++i) prefix = join_rel(prefix, parts[i]);
    layers::UniqueFd base(layers::open_in_root_clamped(root_fd_, prefix, O_PATH | O_DIRECTORY));
    if (!base) return {};  // nothing beneath: no matches
    auto base_rel = path_in_root(root_fd_, base.get());
    if (!base_rel) return std::move(base_rel).error();
    return match_below(parts, first, *base_rel, out);
  }

  // Matches `parts[i..]` beneath the real directory `dir_rel`, appending full matches.
  Result<void> match_below(const std::vector<std::string>& parts, size_t i, const std::string& dir_rel,
                           std::vector<std::string>& out) const {
    if (i == parts.size()) {
      if (!is_excluded(dir_rel)) out.push_back(dir_rel);
      return {};
    }
    const bool last = i + 1 == parts.size();
    std::vector<std::string> next;
    {
      layers::UniqueFd dir(layers::open_in_root_clamped(root_fd_, dir_rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
      if (!dir) return {};
      std::vector<std::string> names;
      if (!has_wildcard(parts[i])) {
        names.push_back(parts[i]);
      } else {
        auto listed = list_dir(dir.get(), dir_rel.empty() ? "." : dir_rel);
        if (!listed) return std::move(listed).error();
        for (auto& name : *listed)
          if (::fnmatch(parts[i].c_str(), name.c_str(), 0) == 0) names.push_back(std::move(name));
      }
      for (const auto& name : names) {
        struct stat st;
        if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (!last && !S_ISDIR(st.st_mode)) continue;
        next.push_back(join_rel(dir_rel, name));
      }
    }  // closed before descending: the depth of a pattern costs no descriptors
    for (const auto& rel : next)
      if (auto r = match_below(parts, i + 1, rel, out); !r) return r;
    return {};
  }

  // COPY --parents: what `source` matches, at its path below the pivot (the part of the
  // source before "/./", else the root), under `dest_rel`, with the directories on the way.
  // BuildKit copies the pivot directory's contents with the rest as an include pattern.
  Result<void> add_with_parents(CopyPlan& plan, const std::string& source, const std::string& dest_rel,
                                ContentHasher& hasher, std::set<std::string>& added) {
    const size_t pivot = source.find("/./");
    std::string from = parser::clean_path("/" + (pivot == std::string::npos ? "" : source.substr(0, pivot)));
    std::string pattern = parser::clean_path("/" + (pivot == std::string::npos ? source : source.substr(pivot + 3)));
    while (from.starts_with('/')) from.erase(0, 1);
    while (pattern.starts_with('/')) pattern.erase(0, 1);
    if (from == ".") from.clear();
    if (pattern == ".") pattern.clear();
    layers::UniqueFd base(layers::open_in_root_clamped(root_fd_, from, O_PATH | O_DIRECTORY));
    if (!base) return Error(ErrorKind::NotFound, layers::quoted("/" + from) + ": not found or not a directory");
    auto base_rel = path_in_root(root_fd_, base.get());
    if (!base_rel) return std::move(base_rel).error();
    base.reset();

    std::vector<std::string> found;  // below the pivot
    const std::vector<std::string> parts = layers::path_components(pattern);
    if (parts.empty()) found.emplace_back();  // the pivot directory itself
    else if (auto r = match_pattern(parts, *base_rel, {}, found); !r) return r;
    if (found.empty())
      return Error(ErrorKind::NotFound, has_wildcard(pattern) ? "matches nothing" : "not found");

    // One entry per destination path, parents first: `rel` below the pivot.
    auto add = [&](const std::string& rel, bool is_parent) -> Result<void> {
      const std::string dest = join_rel(dest_rel, rel);
      if (!added.insert(dest).second) return {};
      const std::string physical = join_rel(*base_rel, rel);
      if (is_parent || rel.empty()) {
        // A directory the image has keeps its metadata, as a directory source's does.
        if (auto existing = image_.lookup(dest); dest.empty() || (existing && S_ISDIR(existing->st_mode))) {
          hasher.add_text(dest);
          return {};
        }
      }
      if (auto r = hasher.add(dest, root_fd_, physical); !r) return r;
      plan.items.push_back({CopyItem::Kind::Entry, physical, dest});
      return {};
    };
    // The destination stands for the pivot directory, as for `COPY dir /newdir`.
    if (auto r = add("", true); !r) return r;
    for (const std::string& rel : found) {
      std::string so_far;
      const auto components = layers::path_components(rel);
      for (size_t i = 0; i + 1 < components.size(); ++i) {
        so_far = join_rel(so_far, components[i]);
        if (auto r = add(so_far, true); !r) return r;
      }
      struct stat st;
      const std::string physical = join_rel(*base_rel, rel);
      layers::UniqueFd entry(layers::open_in_root_clamped(root_fd_, physical, O_PATH | O_NOFOLLOW));
      if (!entry || ::fstat(entry.get(), &st) != 0) return Error::from_errno("reading " + layers::quoted(physical));
      entry.reset();
      if (special_kind(st.st_mode)) continue;  // left out, as when walking a directory
      if (auto r = add(rel, false); !r) return r;
      if (S_ISDIR(st.st_mode))
        if (auto r = walk(plan, physical, join_rel(dest_rel, rel), hasher); !r) return r;
    }
    return {};
  }

  // Whether the path `components` matches `parts`, where a "**" part matches any number
  // of components (none included) and the others one, by Go's filepath.Match rules.
  static bool matches(const std::vector<std::string>& parts, size_t i, const std::vector<std::string>& components,
                      size_t j, bool prefix_only) {
    if (j == components.size() && prefix_only) return i < parts.size();
    if (i == parts.size()) return j == components.size();
    if (parts[i] == "**")
      return matches(parts, i + 1, components, j, prefix_only) ||
             (j < components.size() && matches(parts, i, components, j + 1, prefix_only));
    if (j == components.size()) return false;
    return ::fnmatch(parts[i].c_str(), components[j].c_str(), 0) == 0 &&
           matches(parts, i + 1, components, j + 1, prefix_only);
  }

  // Below the real directory `dir_rel` (reached by `components` from the pivot): appends
  // each entry that matches `parts` (its path below the pivot), and descends only into real
  // directories that may hold a match. A matched directory is taken whole, not descended.
  Result<void> match_pattern(const std::vector<std::string>& parts, const std::string& dir_rel,
                             std::vector<std::string> components, std::vector<std::string>& out) const {
    std::vector<std::pair<std::string, bool>> children;  // name, is a real directory
    {
      layers::UniqueFd dir(layers::open_in_root_clamped(root_fd_, dir_rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
      if (!dir) return {};
      auto names = list_dir(dir.get(), dir_rel.empty() ? "." : dir_rel);
      if (!names) return std::move(names).error();
      for (auto& name : *names) {
        struct stat st;
        if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        children.emplace_back(std::move(name), S_ISDIR(st.st_mode));
      }
    }  // closed before descending
    for (const auto& [name, is_dir] : children) {
      components.push_back(name);
      const std::string rel = join_rel(dir_rel, name);
      std::string below;
      for (const auto& c : components) below = join_rel(below, c);
      const bool excluded = is_excluded(rel) || excludes_.excludes(below);
      if (matches(parts, 0, components, 0, false)) {
        if (!excluded) out.push_back(below);
      } else if (is_dir && matches(parts, 0, components, 0, true) &&
                 (!excluded || (request_.ignore && request_.ignore->may_include_below(rel)))) {
        if (auto r = match_pattern(parts, rel, components, out); !r) return r;
      }
      components.pop_back();
    }
    return {};
  }

  // Adds everything beneath the directory `dir_rel` (a physical path beneath the root)
  // to `dest`. Named pipes and sockets are left out, as BuildKit's copy leaves them.
  Result<void> walk(CopyPlan& plan, const std::string& dir_rel, const std::string& dest, ContentHasher& hasher) {
    auto children = listings_->take(dir_rel);
    if (!children) return std::move(children).error();
    // The entries kept, in order; the directories among them are named to the prefetcher
    // before this directory's files are hashed, so their listing overlaps the hashing.
    struct Kept {
      const struct stat* st;
      std::string rel, dest;
      bool is_added;  // else an excluded directory entered for an exception below it
    };
    std::vector<Kept> kept;
    kept.reserve(children->size());
    std::vector<std::string> subdirs;
    for (const auto& [name, st] : *children) {
      std::string rel = join_rel(dir_rel, name);
      std::string child_dest = join_rel(dest, name);
      bool excluded = is_excluded(rel) || excludes_.excludes(rel) ||
                      excludes_.excludes(std::string_view(child_dest).substr(std::min(child_dest.size(), dest.size() + (dest.empty() ? 0 : 1))));
      if (excluded) {
        // An exception further down (`!keep/this`) may still want something inside.
        bool may = S_ISDIR(st.st_mode) && request_.ignore && request_.ignore->may_include_below(rel);
        if (!may) continue;
      }
      if (special_kind(st.st_mode)) continue;
      if (S_ISDIR(st.st_mode)) subdirs.push_back(rel);
      kept.push_back({&st, std::move(rel), std::move(child_dest), !excluded});
    }
    listings_->ahead(subdirs);
    for (Kept& child : kept) {
      const bool is_dir = S_ISDIR(child.st->st_mode);
      if (child.is_added) {
        if (auto r = hasher.add(child.dest, root_fd_, child.rel, child.st); !r) return r;
        if (!is_dir) {
          plan.items.push_back({CopyItem::Kind::Entry, std::move(child.rel), std::move(child.dest)});
          continue;
        }
        plan.items.push_back({CopyItem::Kind::Entry, child.rel, child.dest});
      }
      if (is_dir)
        if (auto r = walk(plan, child.rel, child.dest, hasher); !r) return r;
    }
    return {};
  }

  const CopyRequest& request_;
  const runtime::LayerView& image_;
  parser::IgnoreRules excludes_;
  int root_fd_ = -1;
  std::optional<ListingPrefetcher> listings_;  // of the source root, for walk()
};

Result<void> set_owner_mode_time(int dir_fd, const std::string& name, const struct stat& st, uid_t uid,
                                 gid_t gid, std::optional<uint32_t> mode) {
  if (::fchownat(dir_fd, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
    return Error::from_errno("chown " + layers::quoted(name));
  if (!S_ISLNK(st.st_mode)) {
    mode_t m = mode ? *mode : (st.st_mode & 07777);
    if (::fchmodat(dir_fd, name.c_str(), m, 0) != 0) return Error::from_errno("chmod " + layers::quoted(name));
  }
  timespec times[2] = {st.st_mtim, st.st_mtim};
  if (::utimensat(dir_fd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
    return Error::from_errno("setting times of " + layers::quoted(name));
  return {};
}

Result<void> copy_fd_data(int in, int out, const std::string& what) {
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("reading " + layers::quoted(what));
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return Error::from_errno("writing " + layers::quoted(what));
      }
      done += w;
    }
  }
  return {};
}

// `rel` split into its parent ("" for the top) and its last component.
std::pair<std::string, std::string> split_parent(const std::string& rel) {
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

// The directory `rel` of the tree being written. A symlink anywhere on the way is
// refused: one copied from a source (`sub -> /etc`) must never redirect a later write.
Result<layers::UniqueFd> open_written_dir(int scratch_fd, const std::string& rel) {
  layers::UniqueFd fd(layers::open_beneath_no_symlinks(scratch_fd, rel, O_PATH | O_DIRECTORY));
  if (!fd) {
    if (errno == ELOOP || errno == ENOTDIR)
      return Error(ErrorKind::InvalidInput, "cannot copy into " + layers::quoted("/" + rel) +
                                                ": an earlier source made it a non-directory");
    return Error::from_errno("opening " + layers::quoted("/" + rel) + " in the layer being written");
  }
  return fd;
}

// Creates the directories leading to `rel` (not `rel` itself) in the scratch tree, with
// the image's metadata where it has them.
Result<void> make_parents(int scratch_fd, const std::string& rel, const runtime::LayerView& image,
                          std::set<std::string>& made) {
  std::string so_far;
  auto parts = layers::path_components(rel);
  if (parts.empty()) return {};
  parts.pop_back();
  for (const auto& part : parts) {
    std::string parent = so_far;
    so_far = join_rel(so_far, part);
    if (made.count(so_far)) continue;
    auto dir = open_written_dir(scratch_fd, parent);
    if (!dir) return std::move(dir).error();
    if (::mkdirat(dir->get(), part.c_str(), 0755) != 0 && errno != EEXIST)
      return Error::from_errno("creating " + layers::quoted("/" + so_far));
    struct stat here;
    if (::fstatat(dir->get(), part.c_str(), &here, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(here.st_mode))
      return Error(ErrorKind::InvalidInput, "cannot copy into " + layers::quoted("/" + so_far) +
                                                ": an earlier source made it a non-directory");
    made.insert(so_far);
    if (auto st = image.lookup(so_far); st && S_ISDIR(st->st_mode)) {
      if (::fchownat(dir->get(), part.c_str(), st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) != 0)
        return Error::from_errno("chown " + layers::quoted("/" + so_far));
      if (::fchmodat(dir->get(), part.c_str(), st->st_mode & 07777, 0) != 0)
        return Error::from_errno("chmod " + layers::quoted("/" + so_far));
    }
  }
  return {};
}

// The image's own mtimes for parents it already has, set last (children touch them).
Result<void> restore_parent_times(int scratch_fd, const std::set<std::string>& made, const runtime::LayerView& image) {
  for (auto it = made.rbegin(); it != made.rend(); ++it) {
    if (auto st = image.lookup(*it); st && S_ISDIR(st->st_mode)) {
      timespec times[2] = {st->st_mtim, st->st_mtim};
      auto [parent, name] = split_parent(*it);
      auto dir = open_written_dir(scratch_fd, parent);
      if (!dir) return std::move(dir).error();
      if (::utimensat(dir->get(), name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        return Error::from_errno("setting times of " + layers::quoted("/" + *it));
    }
  }
  return {};
}

// Writes one Entry item at its destination (whose parents exist): a directory is
// created (its metadata is set later, in `dir_times`), anything else replaces what an
// earlier source left there. Sources are read as open_source_entry reads them; only a
// regular file is ever opened for reading.
Result<void> write_entry(const CopyPlan& plan, const CopyItem& item, int scratch_fd,
                         std::vector<std::pair<std::string, struct stat>>& dir_times, std::set<std::string>& made) {
  struct stat st;
  std::optional<SourceEntry> entry;
  if (item.is_file_source) {
    if (::lstat(item.source.c_str(), &st) != 0) return Error::from_errno("reading " + layers::quoted(item.source));
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
      return Error(ErrorKind::InvalidInput, layers::quoted(item.source) + " is not a regular file or directory");
  } else {
    auto opened = open_source_entry(plan.source_root->get(), item.source);
    if (!opened) return std::move(opened).error();
    st = opened->st;
    entry.emplace(std::move(*opened));
  }
  if (item.dest.empty()) {
    // The destination is the root: the copied directory's metadata does not apply to "/".
    if (S_ISDIR(st.st_mode)) return {};
    return Error(ErrorKind::InvalidInput, "cannot copy a file over the root directory");
  }
  auto [parent_rel, name] = split_parent(item.dest);
  auto parent = open_written_dir(scratch_fd, parent_rel);
  if (!parent) return std::move(parent).error();
  const std::string shown = "/" + item.dest;
  if (S_ISDIR(st.st_mode)) {
    if (::mkdirat(parent->get(), name.c_str(), 0755) != 0 && errno != EEXIST)
      return Error::from_errno("creating " + layers::quoted(shown));
    struct stat here;
    if (::fstatat(parent->get(), name.c_str(), &here, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(here.st_mode))
      return Error(ErrorKind::InvalidInput, "cannot copy a directory to " + layers::quoted(shown) +
                                                ": an earlier source put a non-directory there");
    made.erase(item.dest);
    dir_times.emplace_back(item.dest, st);
    return {};
  }
  if (special_kind(st.st_mode)) return {};  // never listed by plan_copy; swapped in since
  // A later source may land on the same path: the last one wins, as in Docker.
  ::unlinkat(parent->get(), name.c_str(), 0);
  if (S_ISREG(st.st_mode)) {
    layers::UniqueFd in;
    if (item.is_file_source) {
      in.reset(::open(item.source.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      if (!in) return Error::from_errno("opening " + layers::quoted(item.source));
    } else {
      auto data = open_source_data(plan.source_root->get(), item.source, st);
      if (!data) return std::move(data).error();
      in = std::move(*data);
    }
    layers::UniqueFd out(::openat(parent->get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return Error::from_errno("creating " + layers::quoted(shown));
    if (auto r = copy_fd_data(in.get(), out.get(), item.source); !r) return r;
  } else if (S_ISLNK(st.st_mode)) {
    auto link = read_source_link(*entry, item.source);
    if (!link) return std::move(link).error();
    if (::symlinkat(link->c_str(), parent->get(), name.c_str()) != 0)
      return Error::from_errno("creating link " + layers::quoted(shown));
  } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
    if (::mknodat(parent->get(), name.c_str(), st.st_mode, st.st_rdev) != 0)
      return Error::from_errno("creating " + layers::quoted(shown));
  } else {
    return {};
  }
  return set_owner_mode_time(parent->get(), name, st, plan.uid, plan.gid, plan.mode);
}

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

// Extracts a tar archive beneath `target_dir` (inside the layer's scratch) with the one
// tar applier every layer goes through (layers/tar_apply.h), as an archive rather than a
// layer: any compression libarchive reads, ".wh.*" names kept as ordinary files (moby's
// archive.Untar, which docker and BuildKit use for ADD, interprets no whiteouts), a
// leading "/" dropped. An entry that would leave `target_dir` (".." or a symlink out of
// it, a hardlink to outside) is refused naming it, and the tar bomb limits apply.
Result<void> extract_tar(const std::string& archive_path, const std::string& target_dir) {
  layers::UniqueFd fd(::open(archive_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::from_errno("opening archive " + layers::quoted(archive_path));
  layers::UnpackOptions options;
  options.whiteouts = layers::WhiteoutMode::Keep;
  options.any_compression = true;
  auto r = layers::unpack_layer(target_dir, fd.get(), options);
  if (!r) return std::move(r).error().context("extracting archive " + layers::quoted(archive_path));
  return {};
}

}  // namespace

Result<uint32_t> parse_chmod(std::string_view text) {
  if (text.empty() || text.size() > 4 || text.find_first_not_of("01234567") != std::string_view::npos)
    return Error(ErrorKind::InvalidInput, "invalid --chmod " + layers::quoted(text) + ": want an octal mode like 0755");
  return static_cast<uint32_t>(std::stoul(std::string(text), nullptr, 8));
}

bool is_tar_archive(const std::string& path) {
  std::unique_ptr<archive, ArchiveReadFree> a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) return false;
  archive_entry* entry = nullptr;
  return archive_read_next_header(a.get(), &entry) == ARCHIVE_OK;
}

Result<CopyPlan> plan_copy(const CopyRequest& request, const runtime::LayerView& image) {
  return Planner(request, image).run();
}

namespace {

Result<void> write_copy(const CopyPlan& plan, const runtime::LayerView& image, const std::string& scratch) {
  std::set<std::string> made;
  std::vector<std::pair<std::string, struct stat>> dir_times;
  layers::UniqueFd root(::open(scratch.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return Error::from_errno("opening " + layers::quoted(scratch));
  for (const auto& item : plan.items) {
    if (auto r = make_parents(root.get(), item.dest, image, made); !r) return r;
    std::string target = item.dest.empty() ? scratch : scratch + "/" + item.dest;
    if (item.kind == CopyItem::Kind::ExtractTar && !item.dest.empty()) {
      // Never extract through a symlink an earlier source put at the destination.
      struct stat here;
      if (::fstatat(root.get(), item.dest.c_str(), &here, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(here.st_mode))
        return Error(ErrorKind::InvalidInput, "cannot extract into " + layers::quoted("/" + item.dest) +
                                                  ": an earlier source put a non-directory there");
    }
    if (item.kind == CopyItem::Kind::ExtractTar) {
      if (!item.dest.empty() && ::mkdir(target.c_str(), 0755) != 0 && errno != EEXIST)
        return Error::from_errno("creating " + layers::quoted(target));
      // The root is no parent whose time restore_parent_times could set ("" names no entry).
      if (!item.dest.empty()) made.insert(item.dest);
      if (auto r = extract_tar(item.source, target); !r) return r;
      continue;
    }
    if (auto r = write_entry(plan, item, root.get(), dir_times, made); !r) return r;
  }
  // Directories last, deepest first, so writing their children does not move their mtime.
  for (auto it = dir_times.rbegin(); it != dir_times.rend(); ++it) {
    auto [parent_rel, name] = split_parent(it->first);
    auto parent = open_written_dir(root.get(), parent_rel);
    if (!parent) return std::move(parent).error();
    if (auto r = set_owner_mode_time(parent->get(), name, it->second, plan.uid, plan.gid, plan.mode); !r) return r;
  }
  return restore_parent_times(root.get(), made, image);
}

}  // namespace

Result<void> execute_copy(const CopyPlan& plan, const runtime::LayerView& image, const std::string& scratch) {
  auto r = write_copy(plan, image, scratch);
  // A full disk names the filesystem that filled up: the scratch dir is in the store.
  if (!r && (r.error().sys_errno() == ENOSPC || r.error().sys_errno() == EDQUOT))
    return std::move(r).error().context("writing the layer's files in " + layers::quoted(scratch));
  return r;
}

}  // namespace builder
