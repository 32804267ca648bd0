#include "layers/layer_index.h"

#include <charconv>

#include "layers/diff.h"
#include "layers/layer_entries.h"
#include "layers/tar_apply.h"
#include "layers/rel_path.h"

namespace layers {
namespace {

constexpr std::string_view kMagic = "hoist-layer-index 1 ";

// The stored form: a record per line, numbers in decimal, strings as LENGTH:BYTES (names
// are bytes and may hold anything but NUL), and a last line with the sha256 of the rest.
void put_string(std::string& out, std::string_view s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
}

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}
  bool at_end() const { return pos_ == text_.size(); }
  bool literal(std::string_view s) {
    if (text_.substr(pos_, s.size()) != s) return false;
    pos_ += s.size();
    return true;
  }
  template <typename T>
  bool number(T& value) {
    auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), value);
    if (ec != std::errc()) return false;
    pos_ = size_t(end - text_.data());
    return true;
  }
  bool string(std::string& value) {
    size_t length = 0;
    if (!number(length) || !literal(":") || length > text_.size() - pos_) return false;
    value.assign(text_.substr(pos_, length));
    pos_ += length;
    return true;
  }
  std::optional<char> kind() {
    if (pos_ >= text_.size()) return std::nullopt;
    return text_[pos_++];
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

// A path as the index keeps it: normalized as the applier normalizes tar names.
bool is_clean(const std::string& path) {
  auto normal = normalize_entry_name(path, false);
  return normal && *normal == path && !path.empty();
}

}  // namespace

struct stat IndexedEntry::to_stat() const {
  struct stat st {};
  st.st_mode = mode;
  st.st_uid = uid;
  st.st_gid = gid;
  st.st_size = size;
  st.st_nlink = 1;
  st.st_mtim.tv_sec = mtime_sec;
  st.st_mtim.tv_nsec = mtime_nsec;
  return st;
}

void LayerIndex::erase_below(const std::string& path) {
  for (auto it = entries_.upper_bound(path); it != entries_.end() && is_below(it->first, path);)
    it = entries_.erase(it);
  for (auto it = whiteouts_.upper_bound(path); it != whiteouts_.end() && is_below(*it, path);)
    it = whiteouts_.erase(it);
  for (auto it = opaque_.upper_bound(path); it != opaque_.end() && is_below(*it, path);) it = opaque_.erase(it);
}

void LayerIndex::add_parents(const std::string& path) {
  std::string parent = split_parent(path).first;
  while (!parent.empty()) {
    auto it = entries_.find(parent);
    if (it != entries_.end() && S_ISDIR(it->second.mode)) break;
    if (it == entries_.end()) {
      IndexedEntry dir;
      dir.mode = S_IFDIR | 0755;
      dir.is_implicit = true;
      entries_.emplace(parent, dir);
      whiteouts_.erase(parent);
    }
    parent = split_parent(parent).first;
  }
}

void LayerIndex::add(const std::string& path, IndexedEntry entry) {
  add_parents(path);
  whiteouts_.erase(path);
  auto it = entries_.find(path);
  // A directory over a directory keeps what is beneath; anything else replaces it whole.
  if (it != entries_.end() && !(S_ISDIR(it->second.mode) && S_ISDIR(entry.mode))) erase_below(path);
  if (!S_ISDIR(entry.mode)) opaque_.erase(path);
  entries_.insert_or_assign(path, std::move(entry));
}

void LayerIndex::add_whiteout(const std::string& path) {
  add_parents(path);
  entries_.erase(path);
  erase_below(path);
  opaque_.erase(path);
  whiteouts_.insert(path);
}

Result<LayerIndex> LayerIndex::of_layer(int fd, const Digest& diff_id) {
  LayerIndex index;
  index.diff_id_ = diff_id;
  auto walked = walk_layer(fd, {}, [&](const LayerEntry& e) -> Result<void> {
    // The tar's own name through the applier's check: what a RUN's unpack would refuse
    // (an absolute name, "..", a name past PATH_MAX or NAME_MAX) is refused here, the same way.
    auto rel = normalize_entry_name(e.tar_name, false);
    if (!rel) return Error(ErrorKind::InvalidInput, "entry " + quoted(e.tar_name) + ": " + rel.error().message());
    if (rel->empty()) return {};  // "./": the root's own metadata is the caller's, as in the applier
    auto [parent, base] = split_parent(*rel);
    if (base.starts_with(kWhiteoutPrefix)) {
      if (base == kOpaqueMarker) {
        if (!parent.empty()) index.add_parents(join_under(parent, "x"));
        index.opaque_.insert(parent);
      } else if (!base.starts_with(kWhiteoutMetaPrefix)) {
        std::string target = base.substr(kWhiteoutPrefix.size());
        if (target.empty() || target == "." || target == "..")
          return Error(ErrorKind::InvalidInput, "entry " + quoted(e.tar_name) + ": whiteout of " + quoted(target));
        index.add_whiteout(join_under(parent, target));
      }
      return {};  // other aufs metadata is skipped, as the applier skips it
    }
    IndexedEntry entry;
    entry.mode = e.mode;
    entry.uid = e.uid;
    entry.gid = e.gid;
    entry.size = e.size;
    entry.mtime_sec = e.mtime_sec;
    entry.mtime_nsec = e.mtime_nsec;
    entry.link_target = e.link_target;
    if (S_ISLNK(e.mode))
      if (auto r = check_symlink_target(e.link_target); !r)
        return Error(ErrorKind::InvalidInput, "entry " + quoted(e.tar_name) + ": " + r.error().message());
    if (!e.hardlink.empty()) {
      // The link shares its target's inode: its metadata and data are the target's.
      auto target = normalize_entry_name(e.tar_hardlink, false);
      if (!target)
        return Error(ErrorKind::InvalidInput, "entry " + quoted(e.tar_name) + ": hardlink target " +
                                                  quoted(e.tar_hardlink) + ": " + target.error().message());
      const auto found = index.entries_.find(*target);
      if (found == index.entries_.end() || S_ISDIR(found->second.mode))
        return Error(ErrorKind::InvalidInput, "entry " + quoted(e.tar_name) + ": hardlink to " + quoted(e.hardlink) +
                                                  ", which is not a non-directory earlier in the layer");
      entry = found->second;
      entry.hardlink = found->second.hardlink.empty() ? *target : found->second.hardlink;
    }
    index.add(*rel, std::move(entry));
    return {};
  });
  if (!walked) return std::move(walked).error().context("indexing layer " + diff_id.str());
  if (*walked != diff_id)
    return Error(ErrorKind::Corrupt, "layer " + diff_id.str() + " has content " + walked->str() + ", not its diff_id");
  return index;
}

LayerIndex::Presence LayerIndex::look(const std::string& rel, const IndexedEntry** found) const {
  static const IndexedEntry kRoot{S_IFDIR | 0755};
  if (rel.empty()) {
    if (found) *found = &kRoot;
    return Presence::Present;
  }
  std::string so_far;
  size_t start = 0;
  for (;;) {
    size_t slash = rel.find('/', start);
    std::string parent = so_far;
    so_far = rel.substr(0, slash);
    auto it = entries_.find(so_far);
    if (it == entries_.end()) {
      if (whiteouts_.count(so_far)) return Presence::Hidden;
      // Missing here; an opaque directory still hides the lower layers' entry.
      return opaque_.count(parent) ? Presence::Hidden : Presence::Absent;
    }
    if (slash == std::string::npos) {
      if (found) *found = &it->second;
      return Presence::Present;
    }
    // A non-directory on the way (a file, or a symlink overlayfs would not follow in this
    // layer alone) hides whatever lower layers have beneath that name.
    if (!S_ISDIR(it->second.mode)) return Presence::Hidden;
    start = slash + 1;
  }
}

Result<std::optional<std::string>> LayerIndex::read_file(int fd, const std::string& rel, size_t max_bytes) const {
  const IndexedEntry* entry = nullptr;
  if (look(rel, &entry) != Presence::Present || !S_ISREG(entry->mode)) return std::optional<std::string>();
  const std::string& target = entry->hardlink.empty() ? rel : entry->hardlink;
  LayerWalk how;
  how.max_data = max_bytes;
  how.wants_data = [&](const LayerEntry& e) {
    auto name = normalize_entry_name(e.tar_name, false);
    return name && *name == target;
  };
  std::optional<std::string> data;  // the last entry of that name wins, as when unpacked
  auto walked = walk_layer(fd, how, [&](const LayerEntry& e) -> Result<void> {
    if (e.data) data = e.data;
    return {};
  });
  if (!walked) return std::move(walked).error().context("reading " + quoted(rel) + " in layer " + diff_id_.str());
  if (*walked != diff_id_)
    return Error(ErrorKind::Corrupt, "layer " + diff_id_.str() + " has content " + walked->str() + ", not its diff_id");
  return data;
}

std::string LayerIndex::serialize() const {
  std::string body;
  for (const auto& [path, e] : entries_) {
    body += "E ";
    put_string(body, path);
    for (int64_t n : {int64_t(e.mode), int64_t(e.uid), int64_t(e.gid), e.size, e.mtime_sec, e.mtime_nsec,
                      int64_t(e.is_implicit)})
      body += " " + std::to_string(n);
    body += ' ';
    put_string(body, e.link_target);
    body += ' ';
    put_string(body, e.hardlink);
    body += '\n';
  }
  for (const auto& path : whiteouts_) {
    body += "W ";
    put_string(body, path);
    body += '\n';
  }
  for (const auto& path : opaque_) {
    body += "O ";
    put_string(body, path);
    body += '\n';
  }
  std::string text = std::string(kMagic) + diff_id_.str() + "\n" + body;
  return text + "sum " + Digest::of(text).str() + "\n";
}

Result<LayerIndex> LayerIndex::parse(std::string_view text, const Digest& diff_id) {
  auto corrupt = [](std::string_view why) { return Error(ErrorKind::Corrupt, "layer index: " + std::string(why)); };
  const size_t sum_at = text.rfind("sum ");
  if (sum_at == std::string_view::npos || (sum_at > 0 && text[sum_at - 1] != '\n')) return corrupt("no checksum");
  const std::string_view body = text.substr(0, sum_at);
  if (text.substr(sum_at) != "sum " + Digest::of(body).str() + "\n") return corrupt("checksum mismatch");
  Reader in(body);
  if (!in.literal(kMagic) || !in.literal(diff_id.str()) || !in.literal("\n"))
    return corrupt("not the index of " + diff_id.str());
  LayerIndex index;
  index.diff_id_ = diff_id;
  while (!in.at_end()) {
    auto kind = in.kind();
    std::string path;
    if (!kind || !in.literal(" ") || !in.string(path) || !(is_clean(path) || (*kind == 'O' && path.empty())))
      return corrupt("a bad record");
    if (*kind == 'W' || *kind == 'O') {
      if (!in.literal("\n")) return corrupt("a bad record");
      (*kind == 'W' ? index.whiteouts_ : index.opaque_).insert(path);
      continue;
    }
    IndexedEntry e;
    int implicit = 0;
    if (*kind != 'E' || !in.literal(" ") || !in.number(e.mode) || !in.literal(" ") || !in.number(e.uid) ||
        !in.literal(" ") || !in.number(e.gid) || !in.literal(" ") || !in.number(e.size) || !in.literal(" ") ||
        !in.number(e.mtime_sec) || !in.literal(" ") || !in.number(e.mtime_nsec) || !in.literal(" ") ||
        !in.number(implicit) || !in.literal(" ") || !in.string(e.link_target) || !in.literal(" ") ||
        !in.string(e.hardlink) || !in.literal("\n") || implicit < 0 || implicit > 1)
      return corrupt("a bad record");
    e.is_implicit = implicit == 1;
    index.entries_.insert_or_assign(path, std::move(e));
  }
  return index;
}

}  // namespace layers
