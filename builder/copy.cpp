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
#include <set>

#include "builder/context.h"
#include "layers/tar_apply.h"
#include "layers/unique_fd.h"

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

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

Result<std::vector<std::string>> list_dir(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return Error::from_errno("listing " + layers::quoted(dir));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

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
    if (dest_rel.empty()) dest_is_dir = true;
    if (!dest_is_dir) {
      if (auto st = image_.lookup(dest_rel); st && S_ISDIR(st->st_mode)) dest_is_dir = true;
    }

    // Resolve every source argument to the matches it names.
    std::vector<std::string> matches;  // relative to source_root
    for (const auto& source : request_.sources) {
      std::string clean = parser::clean_path("/" + source);  // clamps nothing: checked below
      std::string raw = parser::clean_path(source);
      if (raw == ".." || raw.starts_with("../"))
        return Error(ErrorKind::InvalidInput, "source " + layers::quoted(source) + " is outside the build context");
      while (clean.starts_with('/')) clean.erase(0, 1);
      if (clean == ".") clean.clear();
      size_t before = matches.size();
      if (has_wildcard(clean)) {
        if (auto r = glob(split_path(clean), 0, "", matches); !r) return std::move(r).error();
        if (matches.size() == before)
          return Error(ErrorKind::NotFound, "no source files were specified: " + layers::quoted(source) + " matches nothing");
      } else {
        struct stat st;
        if (is_excluded(clean) || ::lstat(host(clean).c_str(), &st) != 0)
          return Error(ErrorKind::NotFound, "source " + layers::quoted(source) + ": not found");
        matches.push_back(clean);
      }
    }
    const size_t given = request_.sources.size() + request_.file_sources.size();
    if ((given > 1 || matches.size() + request_.file_sources.size() > 1) && !dest_is_dir &&
        !request_.dest.ends_with('/'))
      return Error(ErrorKind::InvalidInput,
                   "when using COPY with more than one source file, the destination must be a "
                   "directory and end with a /");

    CopyPlan plan;
    plan.uid = request_.uid;
    plan.gid = request_.gid;
    if (request_.chmod) {
      auto mode = parse_chmod(*request_.chmod);
      if (!mode) return std::move(mode).error();
      plan.mode = *mode;
    }
    ContentHasher hasher;
    for (const auto& match : matches) {
      std::string path = host(match);
      struct stat st;
      if (::stat(path.c_str(), &st) != 0) return Error::from_errno("source " + layers::quoted(match));
      // A symlink named as a source is followed, but only inside the source root.
      std::string resolved = path;
      struct stat lst;
      if (::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
        char buf[PATH_MAX];
        if (!::realpath(path.c_str(), buf)) return Error::from_errno("resolving " + layers::quoted(match));
        char root_buf[PATH_MAX];
        if (!::realpath(request_.source_root.c_str(), root_buf)) return Error::from_errno("resolving the source root");
        std::string root = root_buf;
        resolved = buf;
        if (resolved != root && !resolved.starts_with(root + "/"))
          return Error(ErrorKind::InvalidInput, "source " + layers::quoted(match) + " is a symlink leading outside the build context");
      }
      if (S_ISDIR(st.st_mode)) {
        // The destination directory takes the source directory's metadata only when
        // the image does not have it yet; an existing one keeps its own.
        auto existing = image_.lookup(dest_rel);
        if (!dest_rel.empty() && !(existing && S_ISDIR(existing->st_mode)))
          add(plan, CopyItem::Kind::Entry, resolved, dest_rel, hasher);
        else
          hasher.add_text(dest_rel);
        if (auto r = walk(plan, resolved, match, dest_rel, hasher); !r) return r.error();
      } else {
        std::string base = match.substr(match.rfind('/') == std::string::npos ? 0 : match.rfind('/') + 1);
        std::string target = dest_is_dir ? join_rel(dest_rel, base) : dest_rel;
        if (target.empty()) return Error(ErrorKind::InvalidInput, "cannot copy a file over the root directory");
        if (request_.is_add && is_tar_archive(resolved)) {
          hasher.add_text("extract");
          if (auto r = hasher.add(dest_rel, resolved); !r) return r.error();
          plan.items.push_back({CopyItem::Kind::ExtractTar, resolved, dest_rel});
        } else {
          if (auto r = hasher.add(target, resolved); !r) return r.error();
          plan.items.push_back({CopyItem::Kind::Entry, resolved, target});
        }
      }
    }
    for (const auto& file : request_.file_sources) {
      std::string target = dest_is_dir ? join_rel(dest_rel, file.name) : dest_rel;
      if (target.empty()) return Error(ErrorKind::InvalidInput, "cannot copy a file over the root directory");
      hasher.add_text("file " + target);
      hasher.add_text(file.key);
      plan.items.push_back({CopyItem::Kind::Entry, file.host_path, target});
    }
    hasher.add_text(request_.chmod.value_or(""));
    hasher.add_text(std::to_string(request_.uid) + ":" + std::to_string(request_.gid));
    plan.content = hasher.finish();
    return plan;
  }

 private:
  std::string host(const std::string& rel) const {
    return rel.empty() ? request_.source_root : request_.source_root + "/" + rel;
  }

  bool is_excluded(const std::string& rel) const {
    if (rel.empty()) return false;
    if (request_.ignore && request_.ignore->excludes(rel)) return true;
    return false;
  }

  // Matches `parts[i..]` beneath `dir_rel`, appending full matches.
  Result<void> glob(const std::vector<std::string>& parts, size_t i, const std::string& dir_rel,
                    std::vector<std::string>& out) const {
    if (i == parts.size()) {
      if (!is_excluded(dir_rel)) out.push_back(dir_rel);
      return {};
    }
    if (!has_wildcard(parts[i])) {
      std::string next = join_rel(dir_rel, parts[i]);
      struct stat st;
      if (::lstat(host(next).c_str(), &st) != 0) return {};
      if (i + 1 < parts.size() && !S_ISDIR(st.st_mode)) return {};
      return glob(parts, i + 1, next, out);
    }
    struct stat st;
    if (::stat(host(dir_rel).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return {};
    auto names = list_dir(host(dir_rel));
    if (!names) return std::move(names).error();
    for (const auto& name : *names) {
      if (::fnmatch(parts[i].c_str(), name.c_str(), 0) != 0) continue;
      std::string next = join_rel(dir_rel, name);
      if (i + 1 < parts.size()) {
        if (::lstat(host(next).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      }
      if (auto r = glob(parts, i + 1, next, out); !r) return r;
    }
    return {};
  }

  void add(CopyPlan& plan, CopyItem::Kind kind, const std::string& source, const std::string& dest,
           ContentHasher& hasher) {
    (void)hasher.add(dest, source);
    plan.items.push_back({kind, source, dest});
  }

  // Adds everything beneath the directory `dir_host` (context path `dir_rel`) to `dest`.
  Result<void> walk(CopyPlan& plan, const std::string& dir_host, const std::string& dir_rel,
                    const std::string& dest, ContentHasher& hasher) {
    auto names = list_dir(dir_host);
    if (!names) return std::move(names).error();
    for (const auto& name : *names) {
      std::string rel = join_rel(dir_rel, name);
      std::string child_host = dir_host + "/" + name;
      std::string child_dest = join_rel(dest, name);
      struct stat st;
      if (::lstat(child_host.c_str(), &st) != 0) return Error::from_errno("reading " + layers::quoted(child_host));
      bool excluded = is_excluded(rel) || excludes_.excludes(rel) ||
                      excludes_.excludes(child_dest.substr(std::min(child_dest.size(), dest.size() + (dest.empty() ? 0 : 1))));
      if (excluded) {
        // An exception further down (`!keep/this`) may still want something inside.
        bool may = S_ISDIR(st.st_mode) && request_.ignore && request_.ignore->may_include_below(rel);
        if (!may) continue;
      }
      if (S_ISSOCK(st.st_mode)) continue;
      if (!excluded) {
        if (auto r = hasher.add(child_dest, child_host); !r) return r;
        plan.items.push_back({CopyItem::Kind::Entry, child_host, child_dest});
      }
      if (S_ISDIR(st.st_mode))
        if (auto r = walk(plan, child_host, rel, child_dest, hasher); !r) return r;
    }
    return {};
  }

  const CopyRequest& request_;
  const runtime::LayerView& image_;
  parser::IgnoreRules excludes_;
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

Result<void> copy_file_data(const std::string& from, const std::string& to) {
  layers::UniqueFd in(::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in) return Error::from_errno("opening " + layers::quoted(from));
  layers::UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return Error::from_errno("creating " + layers::quoted(to));
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("reading " + layers::quoted(from));
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out.get(), buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return Error::from_errno("writing " + layers::quoted(to));
      }
      done += w;
    }
  }
  return {};
}

// Creates the directories leading to `rel` (not `rel` itself) in `scratch`, with the
// image's metadata where it has them.
Result<void> make_parents(const std::string& scratch, const std::string& rel, const runtime::LayerView& image,
                          std::set<std::string>& made) {
  std::string so_far;
  auto parts = split_path(rel);
  if (parts.empty()) return {};
  parts.pop_back();
  for (const auto& part : parts) {
    so_far = join_rel(so_far, part);
    if (made.count(so_far)) continue;
    std::string path = scratch + "/" + so_far;
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return Error::from_errno("creating " + layers::quoted(path));
    made.insert(so_far);
    if (auto st = image.lookup(so_far); st && S_ISDIR(st->st_mode)) {
      if (::lchown(path.c_str(), st->st_uid, st->st_gid) != 0) return Error::from_errno("chown " + layers::quoted(path));
      if (::chmod(path.c_str(), st->st_mode & 07777) != 0) return Error::from_errno("chmod " + layers::quoted(path));
    }
  }
  return {};
}

// The image's own mtimes for parents it already has, set last (children touch them).
Result<void> restore_parent_times(const std::string& scratch, const std::set<std::string>& made,
                                  const runtime::LayerView& image) {
  for (auto it = made.rbegin(); it != made.rend(); ++it) {
    if (auto st = image.lookup(*it); st && S_ISDIR(st->st_mode)) {
      timespec times[2] = {st->st_mtim, st->st_mtim};
      std::string path = scratch + "/" + *it;
      if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        return Error::from_errno("setting times of " + layers::quoted(path));
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

Result<void> execute_copy(const CopyPlan& plan, const runtime::LayerView& image, const std::string& scratch) {
  std::set<std::string> made;
  std::vector<std::pair<std::string, struct stat>> dir_times;
  layers::UniqueFd root(::open(scratch.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return Error::from_errno("opening " + layers::quoted(scratch));
  for (const auto& item : plan.items) {
    if (auto r = make_parents(scratch, item.dest, image, made); !r) return r;
    std::string target = item.dest.empty() ? scratch : scratch + "/" + item.dest;
    if (item.kind == CopyItem::Kind::ExtractTar) {
      if (!item.dest.empty() && ::mkdir(target.c_str(), 0755) != 0 && errno != EEXIST)
        return Error::from_errno("creating " + layers::quoted(target));
      made.insert(item.dest);
      if (auto r = extract_tar(item.source, target); !r) return r;
      continue;
    }
    struct stat st;
    if (::lstat(item.source.c_str(), &st) != 0) return Error::from_errno("reading " + layers::quoted(item.source));
    if (S_ISDIR(st.st_mode)) {
      if (!item.dest.empty() && ::mkdir(target.c_str(), 0755) != 0 && errno != EEXIST)
        return Error::from_errno("creating " + layers::quoted(target));
      made.erase(item.dest);
      dir_times.emplace_back(item.dest, st);
    } else {
      // A later source may land on the same path: the last one wins, as in Docker.
      ::unlinkat(root.get(), item.dest.c_str(), 0);
      if (S_ISREG(st.st_mode)) {
        if (auto r = copy_file_data(item.source, target); !r) return r;
      } else if (S_ISLNK(st.st_mode)) {
        std::vector<char> link(static_cast<size_t>(st.st_size) + 1);
        ssize_t n = ::readlink(item.source.c_str(), link.data(), link.size());
        if (n < 0) return Error::from_errno("reading link " + layers::quoted(item.source));
        if (::symlink(std::string(link.data(), static_cast<size_t>(n)).c_str(), target.c_str()) != 0)
          return Error::from_errno("creating link " + layers::quoted(target));
      } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        if (::mknod(target.c_str(), st.st_mode, st.st_rdev) != 0) return Error::from_errno("creating " + layers::quoted(target));
      } else {
        continue;
      }
      if (auto r = set_owner_mode_time(root.get(), item.dest, st, plan.uid, plan.gid, plan.mode); !r) return r;
    }
  }
  // Directories last, deepest first, so writing their children does not move their mtime.
  for (auto it = dir_times.rbegin(); it != dir_times.rend(); ++it) {
    std::string name = it->first.empty() ? "." : it->first;
    if (it->first.empty()) {
      // The destination is the root: the copied directory's metadata does not apply to "/".
      continue;
    }
    if (auto r = set_owner_mode_time(root.get(), name, it->second, plan.uid, plan.gid, plan.mode); !r) return r;
  }
  return restore_parent_times(scratch, made, image);
}

}  // namespace builder
