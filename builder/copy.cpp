#include "builder/copy.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "builder/context.h"
#include "builder/dir_listing.h"
#include "layers/resolve_in_root.h"
#include "layers/same_entry.h"
#include "runtime/sandbox/temp_dir.h"
#include "layers/tar_apply.h"
#include "layers/unique_fd.h"
#include "layers/rel_path.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

using layers::has_wildcard;

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
      std::string target = dest_is_dir ? layers::join_under(dest_rel, base) : dest_rel;
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
      std::string target = dest_is_dir ? layers::join_under(dest_rel, file.name) : dest_rel;
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
    for (size_t i = 0; i < first; ++i) prefix = layers::join_under(prefix, parts[i]);
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
        auto listed = list_dir_names(dir.get(), dir_rel.empty() ? "." : dir_rel);
        if (!listed) return std::move(listed).error();
        for (auto& name : *listed)
          if (::fnmatch(parts[i].c_str(), name.c_str(), 0) == 0) names.push_back(std::move(name));
      }
      for (const auto& name : names) {
        struct stat st;
        if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (!last && !S_ISDIR(st.st_mode)) continue;
        next.push_back(layers::join_under(dir_rel, name));
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
      const std::string dest = layers::join_under(dest_rel, rel);
      if (!added.insert(dest).second) return {};
      const std::string physical = layers::join_under(*base_rel, rel);
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
        so_far = layers::join_under(so_far, components[i]);
        if (auto r = add(so_far, true); !r) return r;
      }
      struct stat st;
      const std::string physical = layers::join_under(*base_rel, rel);
      layers::UniqueFd entry(layers::open_in_root_clamped(root_fd_, physical, O_PATH | O_NOFOLLOW));
      if (!entry || ::fstat(entry.get(), &st) != 0) return Error::from_errno("reading " + layers::quoted(physical));
      entry.reset();
      if (special_kind(st.st_mode)) continue;  // left out, as when walking a directory
      if (auto r = add(rel, false); !r) return r;
      if (S_ISDIR(st.st_mode))
        if (auto r = walk(plan, physical, layers::join_under(dest_rel, rel), hasher); !r) return r;
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
      auto names = list_dir_names(dir.get(), dir_rel.empty() ? "." : dir_rel);
      if (!names) return std::move(names).error();
      for (auto& name : *names) {
        struct stat st;
        if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        children.emplace_back(std::move(name), S_ISDIR(st.st_mode));
      }
    }  // closed before descending
    for (const auto& [name, is_dir] : children) {
      components.push_back(name);
      const std::string rel = layers::join_under(dir_rel, name);
      std::string below;
      for (const auto& c : components) below = layers::join_under(below, c);
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
      std::string rel = layers::join_under(dir_rel, name);
      std::string child_dest = layers::join_under(dest, name);
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
          plan.items.push_back({CopyItem::Kind::Entry, std::move(child.rel), std::move(child.dest), false, *child.st});
          continue;
        }
        plan.items.push_back({CopyItem::Kind::Entry, child.rel, child.dest, false, *child.st});
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

// The entries a plan's layer holds, resolved by the copy rules without writing anything
// (std::map keeps them sorted byte-wise, parents before children, as a layer lists them):
//  - each Entry item in order: a later source replaces an earlier one at the same path; a
//    directory over a directory keeps the first one's metadata; a path through an earlier
//    non-directory is refused; a file over a directory is refused;
//  - an ExtractTar item: the archive is extracted by the one tar applier into a staging
//    directory, and its entries land at the destination as the applier would put them over
//    what is there (an entry replaces whatever was at its path, a directory over a directory
//    only takes the new metadata), with their own owners, modes, times and xattrs, and
//    their hardlinks kept;
//  - missing parents: the image's metadata where it has the directory, else 0755, 0:0,
//    dated now.
class CopyResolver {
 public:
  // Where a regular file's bytes come from.
  struct Source {
    const CopyItem* item = nullptr;  // an Entry item's source, else
    std::string staged;              // an extracted file's host path
    dev_t dev = 0;                   // the file as resolved: checked when it is opened
    ino_t ino = 0;
  };
  struct Node {
    layers::GivenEntry entry;
    Source source;
    bool made = false;  // a parent made for a child (no item's own)
  };

  CopyResolver(const CopyPlan& plan, const runtime::LayerView& image, std::string staging_parent)
      : plan_(plan), image_(image), staging_parent_(std::move(staging_parent)) {
    ::clock_gettime(CLOCK_REALTIME, &now_);
  }

  Result<void> add(const CopyItem& item) {
    return item.kind == CopyItem::Kind::ExtractTar ? add_archive(item) : add_entry(item);
  }

  // After every item: an extracted file sharing its inode with others holds the bytes at
  // the first of their paths still in the layer; the others are hardlinks to it.
  void link_hardlinks() {
    std::map<std::pair<dev_t, ino_t>, std::string> first;
    for (auto& [path, node] : nodes) {
      if (node.source.staged.empty() || node.entry.st.st_nlink < 2) continue;
      auto [it, is_first] = first.try_emplace(std::pair{node.source.dev, node.source.ino}, path);
      if (!is_first) node.entry.hardlink = it->second;
    }
  }

  // Opens the bytes of a regular file: an Entry item's as the plan resolved it, an
  // extracted one's in the staging directory; either checked to be the file resolved.
  Result<layers::UniqueFd> open_data(const Source& source) const {
    struct stat expected {};
    expected.st_mode = S_IFREG;
    expected.st_dev = source.dev;
    expected.st_ino = source.ino;
    if (source.item && !source.item->is_file_source)
      return open_source_data(plan_.source_root->get(), source.item->source, expected);
    return open_file_data(source.item ? source.item->source : source.staged, expected);
  }

  std::map<std::string, Node> nodes;

 private:
  Result<void> add_entry(const CopyItem& item) {
    struct stat st;
    std::optional<SourceEntry> entry;
    if (item.is_file_source) {
      if (::lstat(item.source.c_str(), &st) != 0) return Error::from_errno("reading " + layers::quoted(item.source));
      if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return Error(ErrorKind::InvalidInput, layers::quoted(item.source) + " is not a regular file or directory");
    } else if (item.listed && (S_ISREG(item.listed->st_mode) || S_ISDIR(item.listed->st_mode))) {
      st = *item.listed;  // opened (a file) when its bytes are read, and checked then
    } else {
      auto opened = open_source_entry(plan_.source_root->get(), item.source);
      if (!opened) return std::move(opened).error();
      st = opened->st;
      entry.emplace(std::move(*opened));
    }
    if (item.dest.empty()) {
      // The destination is the root: the copied directory's metadata does not apply to "/".
      if (S_ISDIR(st.st_mode)) return {};
      return Error(ErrorKind::InvalidInput, "cannot copy a file over the root directory");
    }
    if (auto r = make_parents(item.dest); !r) return r;
    const std::string shown = "/" + item.dest;
    auto here = nodes.find(item.dest);
    if (S_ISDIR(st.st_mode)) {
      if (here != nodes.end() && !S_ISDIR(here->second.entry.st.st_mode))
        return Error(ErrorKind::InvalidInput, "cannot copy a directory to " + layers::quoted(shown) +
                                                  ": an earlier source put a non-directory there");
      if (here != nodes.end() && !here->second.made) return {};  // listed twice: the first stays
      nodes[item.dest] = Node{{item.dest, copied(st)}};
      return {};
    }
    if (special_kind(st.st_mode)) return {};  // never listed by plan_copy; swapped in since
    if (here != nodes.end() && S_ISDIR(here->second.entry.st.st_mode))
      return Error(ErrorKind::InvalidInput, "cannot copy " + layers::quoted(item.source) + " to " +
                                                layers::quoted(shown) + ": an earlier source put a directory there");
    // A later source may land on the same path: the last one wins, as in Docker.
    Node node{{item.dest, copied(st)}};
    if (S_ISREG(st.st_mode)) {
      node.entry.st.st_size = st.st_size;
      node.source = {&item, {}, st.st_dev, st.st_ino};
    } else if (S_ISLNK(st.st_mode)) {
      auto link = read_source_link(*entry, item.source);
      if (!link) return std::move(link).error();
      node.entry.link_target = std::move(*link);
    } else {
      node.entry.st.st_rdev = st.st_rdev;
    }
    nodes[item.dest] = std::move(node);
    return {};
  }

  Result<void> add_archive(const CopyItem& item) {
    if (!item.dest.empty()) {
      if (auto here = nodes.find(item.dest); here != nodes.end() && !S_ISDIR(here->second.entry.st.st_mode))
        return Error(ErrorKind::InvalidInput, "cannot extract into " + layers::quoted("/" + item.dest) +
                                                  ": an earlier source put a non-directory there");
      if (auto r = make_parents(item.dest + "/-"); !r) return r;  // the destination too
    }
    if (staging_parent_.empty())
      return Error(ErrorKind::InvalidInput, "extracting an archive needs a staging directory");
    auto staging = runtime::sandbox::TempDir::create_in(staging_parent_, "add-");
    if (!staging) return std::move(staging).error();
    const std::string root = staging->path() + "/x";
    if (::mkdir(root.c_str(), 0755) != 0) return Error::from_errno("creating " + layers::quoted(root));
    staging_.push_back(std::move(*staging));
    auto r = extract_tar(item.source, root);
    // A full disk names the filesystem that filled up: the staging dir is in the store.
    if (!r && (r.error().sys_errno() == ENOSPC || r.error().sys_errno() == EDQUOT))
      return std::move(r).error().context("extracting into " + layers::quoted(root));
    if (!r) return r;
    layers::UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd) return Error::from_errno("opening " + layers::quoted(root));
    return add_staged(root_fd.get(), root, "", item.dest);
  }

  // The extracted entries below staging `root`/`rel`, at `dest`/`rel`, parents first.
  Result<void> add_staged(int root_fd, const std::string& root, const std::string& rel, const std::string& dest) {
    auto children = list_dir_entries(root_fd, rel);
    if (!children) return std::move(children).error();
    for (const auto& [name, st] : *children) {
      const std::string child = layers::join_under(rel, name);
      if (auto r = put_staged(root_fd, child, layers::join_under(dest, child), root + "/" + child, st); !r) return r;
      if (S_ISDIR(st.st_mode))
        if (auto r = add_staged(root_fd, root, child, dest); !r) return r;
    }
    return {};
  }

  // One extracted entry (`rel` beneath the staging root `root_fd`, host path `path`) at
  // `at`, over what is there as the tar applier puts it.
  Result<void> put_staged(int root_fd, const std::string& rel, const std::string& at, const std::string& path,
                          const struct stat& st) {
    if (auto r = make_parents(at); !r) return r;
    Node node{{at, st}};
    node.entry.st.st_size = S_ISREG(st.st_mode) ? st.st_size : 0;
    auto xattrs = layers::layer_xattrs(path);
    if (!xattrs) return std::move(xattrs).error();
    node.entry.xattrs = std::move(*xattrs);
    if (S_ISREG(st.st_mode)) {
      node.source = {nullptr, path, st.st_dev, st.st_ino};
    } else if (S_ISLNK(st.st_mode)) {
      auto link = open_source_entry(root_fd, rel);
      if (!link) return std::move(link).error();
      auto target = read_source_link(*link, rel);
      if (!target) return std::move(target).error();
      node.entry.link_target = std::move(*target);
    }
    auto here = nodes.find(at);
    if (here != nodes.end() && S_ISDIR(here->second.entry.st.st_mode)) {
      if (S_ISDIR(st.st_mode)) {  // the contents merge; the metadata is the archive's
        here->second = std::move(node);
        return {};
      }
      // A non-directory replaces the directory and everything in it.
      const std::string below = at + "/";
      for (auto it = nodes.lower_bound(below); it != nodes.end() && it->first.starts_with(below);) it = nodes.erase(it);
    }
    nodes[at] = std::move(node);
    return {};
  }

  // A copied entry's metadata: its type, mode (or --chmod's; a symlink's is 0777), mtime,
  // owned by --chown's ids.
  struct stat copied(const struct stat& source) const {
    struct stat st {};
    const mode_t type = source.st_mode & S_IFMT;
    st.st_mode = type | (S_ISLNK(source.st_mode) ? 0777 : plan_.mode.value_or(source.st_mode & 07777));
    st.st_uid = plan_.uid;
    st.st_gid = plan_.gid;
    st.st_mtim = source.st_mtim;
    return st;
  }

  // The directories leading to `rel`, made where missing: with the image's metadata when
  // it has them, else 0755, 0:0, dated now.
  Result<void> make_parents(const std::string& rel) {
    auto parts = layers::path_components(rel);
    if (parts.empty()) return {};
    parts.pop_back();
    std::string so_far;
    for (const auto& part : parts) {
      so_far = layers::join_under(so_far, part);
      auto [it, inserted] = nodes.try_emplace(so_far);
      Node& node = it->second;
      if (!inserted) {
        if (!S_ISDIR(node.entry.st.st_mode))
          return Error(ErrorKind::InvalidInput, "cannot copy into " + layers::quoted("/" + so_far) +
                                                    ": an earlier source made it a non-directory");
        continue;
      }
      node.made = true;
      node.entry.path = so_far;
      struct stat& st = node.entry.st;
      if (auto have = image_.lookup(so_far); have && S_ISDIR(have->st_mode)) {
        st.st_mode = S_IFDIR | (have->st_mode & 07777);
        st.st_uid = have->st_uid;
        st.st_gid = have->st_gid;
        st.st_mtim = have->st_mtim;
      } else {
        st.st_mode = S_IFDIR | 0755;
        st.st_mtim = now_;
      }
    }
    return {};
  }

  const CopyPlan& plan_;
  const runtime::LayerView& image_;
  const std::string staging_parent_;
  std::vector<runtime::sandbox::TempDir> staging_;  // what open_data reads extracted files from
  timespec now_{};
};

Result<std::shared_ptr<CopyResolver>> resolve(const CopyPlan& plan, const runtime::LayerView& image,
                                              const std::string& staging_parent) {
  auto resolver = std::make_shared<CopyResolver>(plan, image, staging_parent);
  for (const auto& item : plan.items)
    if (auto r = resolver->add(item); !r) return std::move(r).error();
  resolver->link_hardlinks();
  return resolver;
}

// The directory `rel` of the tree being written, opened with no symlink followed.
Result<layers::UniqueFd> open_written_dir(int root_fd, const std::string& rel) {
  layers::UniqueFd fd(layers::open_beneath_no_symlinks(root_fd, rel, O_PATH | O_DIRECTORY));
  if (!fd) return Error::from_errno("opening " + layers::quoted("/" + rel) + " in the tree being written");
  return fd;
}

// Owner, mode (not a symlink's) and mtime of `name` in `dir`, as `e` has them.
Result<void> set_metadata(int dir, const std::string& name, const layers::GivenEntry& e) {
  const std::string shown = "/" + e.path;
  if (::fchownat(dir, name.c_str(), e.st.st_uid, e.st.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
    return Error::from_errno("chown " + layers::quoted(shown));
  if (!S_ISLNK(e.st.st_mode) && ::fchmodat(dir, name.c_str(), e.st.st_mode & 07777, 0) != 0)
    return Error::from_errno("chmod " + layers::quoted(shown));
  timespec times[2] = {e.st.st_mtim, e.st.st_mtim};
  if (::utimensat(dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
    return Error::from_errno("setting times of " + layers::quoted(shown));
  return {};
}

// Writes one resolved entry beneath `root_fd`, where its parent already is. Directories are
// made 0700 here and given their metadata last (writing their children moves their mtime).
// A tree holds no archive's entries (execute_copy refuses archives), so no hardlinks and
// no xattrs.
Result<void> write_node(const CopyResolver& resolver, const CopyResolver::Node& node, int root_fd) {
  const layers::GivenEntry& e = node.entry;
  auto [parent_rel, name] = layers::split_parent(e.path);
  auto parent = open_written_dir(root_fd, parent_rel);
  if (!parent) return std::move(parent).error();
  const int dir = parent->get();
  const std::string shown = "/" + e.path;
  if (S_ISDIR(e.st.st_mode)) {
    if (::mkdirat(dir, name.c_str(), 0700) != 0) return Error::from_errno("creating " + layers::quoted(shown));
    return {};
  }
  if (S_ISREG(e.st.st_mode)) {
    auto in = resolver.open_data(node.source);
    if (!in) return std::move(in).error();
    layers::UniqueFd out(::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return Error::from_errno("creating " + layers::quoted(shown));
    if (auto r = copy_fd_data(in->get(), out.get(), shown); !r) return r;
  } else if (S_ISLNK(e.st.st_mode)) {
    if (::symlinkat(e.link_target.c_str(), dir, name.c_str()) != 0)
      return Error::from_errno("creating link " + layers::quoted(shown));
  } else if (::mknodat(dir, name.c_str(), e.st.st_mode & S_IFMT, e.st.st_rdev) != 0) {
    return Error::from_errno("creating " + layers::quoted(shown));
  }
  return set_metadata(dir, name, e);
}

Result<void> write_tree(const CopyResolver& resolver, const std::string& scratch) {
  layers::UniqueFd root(::open(scratch.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return Error::from_errno("opening " + layers::quoted(scratch));
  for (const auto& [path, node] : resolver.nodes)
    if (auto r = write_node(resolver, node, root.get()); !r) return r;
  // Directories last, deepest first, so writing their children does not move their mtime.
  for (auto it = resolver.nodes.rbegin(); it != resolver.nodes.rend(); ++it) {
    if (!S_ISDIR(it->second.entry.st.st_mode)) continue;
    auto [parent_rel, name] = layers::split_parent(it->first);
    auto parent = open_written_dir(root.get(), parent_rel);
    if (!parent) return std::move(parent).error();
    if (auto r = set_metadata(parent->get(), name, it->second.entry); !r) return r;
  }
  return {};
}

}  // namespace

Result<CopyLayer> copy_layer(const CopyPlan& plan, const runtime::LayerView& image, const std::string& staging_dir) {
  auto resolved = resolve(plan, image, staging_dir);
  if (!resolved) return std::move(resolved).error();
  std::shared_ptr<CopyResolver> resolver = std::move(*resolved);
  // Moved out of the resolver's map, which goes: one copy of each entry in memory.
  CopyLayer layer;
  auto sources = std::make_shared<std::vector<CopyResolver::Source>>();
  layer.entries.reserve(resolver->nodes.size());
  sources->reserve(resolver->nodes.size());
  for (auto& [path, node] : resolver->nodes) {
    layer.entries.push_back(std::move(node.entry));
    sources->push_back(std::move(node.source));
  }
  resolver->nodes.clear();
  layer.open_data = [resolver, sources](size_t index) { return resolver->open_data((*sources)[index]); };
  return layer;
}

Result<void> execute_copy(const CopyPlan& plan, const runtime::LayerView& image, const std::string& scratch) {
  auto resolver = resolve(plan, image, "");
  if (!resolver) return std::move(resolver).error();
  auto r = write_tree(**resolver, scratch);
  // A full disk names the filesystem that filled up: the scratch dir is in the store.
  if (!r && (r.error().sys_errno() == ENOSPC || r.error().sys_errno() == EDQUOT))
    return std::move(r).error().context("writing the layer's files in " + layers::quoted(scratch));
  return r;
}

}  // namespace builder
