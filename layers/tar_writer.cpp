#include "layers/tar_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "layers/archive_handles.h"
#include "layers/diff.h"
#include "layers/read_ahead.h"
#include "layers/same_entry.h"
#include "layers/resolve_in_root.h"
#include "layers/unique_fd.h"

namespace layers {
namespace {

constexpr int kOutputBlock = 256 * 1024;

// One entry of the tar, before sorting.
struct TarItem {
  std::string name;    // tar path, without a trailing "/"
  std::string source;  // path under source_root for AddOrChange; empty for whiteouts
};

bool is_clean_relative(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = slash + 1;
  }
  return true;
}

// Opens `rel` beneath `root_fd` with no symlink followed anywhere: a symlink as the final
// component is opened as itself (O_PATH | O_NOFOLLOW), a symlink as a parent fails.
Result<UniqueFd> open_beneath(int root_fd, const std::string& rel, uint64_t flags) {
  UniqueFd fd(open_beneath_no_symlinks(root_fd, rel, flags | O_NOFOLLOW));
  if (fd) return fd;
  if (errno == ELOOP || errno == EXDEV)
    return Error(ErrorKind::InvalidInput, layers::quoted(rel) + " has a symlink as a parent directory");
  return Error::from_errno("opening " + layers::quoted(rel));
}

class LayerWriter {
 public:
  LayerWriter(const WriteOptions& options, LayerEncoder encoder) : options_(options), encoder_(std::move(encoder)) {}

  // The files' bytes come from `data`, one file after the other in entry order.
  Result<LayerDigests> run(const std::vector<GivenEntry>& entries, ReadAhead& data) {
    return stream([&]() -> Result<void> {
      std::span<const std::byte> chunk;
      for (const GivenEntry& entry : entries) {
        auto r = write_given(entry, data, chunk);
        if (!r) return std::move(r).error().context("writing " + layers::quoted(entry.path));
      }
      // Every byte was taken: what is left is the end, or an error (a vanished empty file).
      auto end = chunk.empty() ? data.next() : Result<std::span<const std::byte>>(chunk);
      if (!end) return std::move(end).error();
      if (!end->empty()) return Error(ErrorKind::Io, "the files' bytes outlast their entries");
      return {};
    });
  }

 private:
  // Opens the tar stream, lets `write_entries` write the entries, ends the stream.
  template <typename F>
  Result<LayerDigests> stream(F write_entries) {
    archive_.reset(archive_write_new());
    if (!archive_) return Error(ErrorKind::Io, "libarchive: out of memory");
    archive* a = archive_.get();
    // Names, link targets and symlink targets are given to libarchive as the filesystem's
    // bytes. hoist never calls setlocale, so libarchive runs in the C locale: ASCII names
    // stay in ustar fields and any other name gets a PAX path marked hdrcharset=BINARY
    // holding the same bytes. Either way the output does not depend on LANG.
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||

        archive_write_add_filter_none(a) != ARCHIVE_OK ||
        // The stream leaves libarchive in 256 KiB pieces, not its 10 KiB records: a call of
        // the sink and of sha256 each (a 512 MiB layer was 52,000 writes). Same bytes.
        archive_write_set_bytes_per_block(a, kOutputBlock) != ARCHIVE_OK ||
        // No padding to a record after the end marker: the tar ends where Go's does.
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK)
      return archive_error("setting up the tar writer");
    if (archive_write_open2(a, this, nullptr, &LayerWriter::write_cb, nullptr, nullptr) !=
        ARCHIVE_OK)
      return archive_error("starting the tar stream");
    if (auto r = write_entries(); !r) return std::move(r).error();
    if (archive_write_close(a) != ARCHIVE_OK) return archive_error("ending the tar stream");
    return encoder_.finish();
  }

  static la_ssize_t write_cb(archive* a, void* self_ptr, const void* buf, size_t n) {
    auto* self = static_cast<LayerWriter*>(self_ptr);
    auto r = self->encoder_.write({static_cast<const std::byte*>(buf), n});
    if (!r) {
      self->sink_error_ = std::move(r).error();
      archive_set_error(a, EIO, "layer output failed");
      return -1;
    }
    return la_ssize_t(n);
  }

  // The sink's own error when it was the cause; libarchive's message otherwise.
  Error archive_error(std::string_view what) {
    if (sink_error_) return *sink_error_;
    const char* msg = archive_error_string(archive_.get());
    return Error(ErrorKind::Io, std::string(what) + ": " + (msg ? msg : "libarchive error"));
  }

  int64_t clamp(int64_t mtime) const {
    if (options_.source_date_epoch && mtime > *options_.source_date_epoch)
      return *options_.source_date_epoch;
    return mtime;
  }

  // Writes `entry`; a regular file's bytes are the next st_size bytes of `data`, of which
  // `chunk` holds what the previous entry left.
  Result<void> write_given(const GivenEntry& entry, ReadAhead& data, std::span<const std::byte>& chunk) {
    if (!is_clean_relative(entry.path))
      return Error(ErrorKind::InvalidInput,
                   "layer entry " + layers::quoted(entry.path) + " is not a clean relative path");
    ArchiveEntryPtr e = entry_for(entry.path, entry.st);
    for (const auto& [name, value] : entry.xattrs)
      archive_entry_xattr_add_entry(e.get(), name.c_str(), value.data(), value.size());
    const bool has_data = entry.has_bytes();
    if (S_ISREG(entry.st.st_mode)) archive_entry_set_size(e.get(), has_data ? entry.st.st_size : 0);
    if (!entry.hardlink.empty()) archive_entry_set_hardlink(e.get(), entry.hardlink.c_str());
    if (S_ISLNK(entry.st.st_mode)) archive_entry_set_symlink(e.get(), entry.link_target.c_str());
    if (archive_write_header(archive_.get(), e.get()) < ARCHIVE_WARN)
      return archive_error("tar header");
    if (!has_data) return {};
    for (uint64_t left = uint64_t(entry.st.st_size); left > 0;) {
      if (chunk.empty()) {
        auto next = data.next();
        if (!next) return std::move(next).error();
        if (next->empty()) return Error(ErrorKind::Io, "the files' bytes ended before " + layers::quoted(entry.path));
        chunk = *next;
      }
      const size_t n = size_t(std::min<uint64_t>(left, chunk.size()));
      if (archive_write_data(archive_.get(), chunk.data(), n) < 0) return archive_error("tar data");
      chunk = chunk.subspan(n);
      left -= n;
    }
    return {};
  }

  // A header for `name` with st's type, permissions, owner, mtime (clamped) and, for a
  // device, its number. Size, link targets and xattrs are the caller's.
  ArchiveEntryPtr entry_for(const std::string& name, const struct stat& st) const {
    ArchiveEntryPtr e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_mode(e.get(), st.st_mode);
    archive_entry_set_uid(e.get(), st.st_uid);
    archive_entry_set_gid(e.get(), st.st_gid);
    archive_entry_set_mtime(e.get(), clamp(st.st_mtim.tv_sec), 0);
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) archive_entry_set_rdev(e.get(), st.st_rdev);
    return e;
  }

  const WriteOptions& options_;
  LayerEncoder encoder_;
  // Declared after encoder_ and sink_error_, so destroyed before them: archive_write_free
  // on a stream a failed write (a full disk) left open flushes through write_cb, which
  // uses both. The other way round it wrote an Error into a dead optional (leaked).
  std::optional<Error> sink_error_;
  ArchiveWritePtr archive_;
};

// The entry for `name`, the tree's entry `source` (beneath `root_fd`, nothing followed):
// its stat, layer xattrs, a symlink's target, and for the second and later names of one
// inode (in sorted order) a hardlink to the first. nullopt for a socket (left out).
Result<std::optional<GivenEntry>> tree_entry(int root_fd, const std::string& root, const std::string& name,
                                             const std::string& source,
                                             std::map<std::pair<dev_t, ino_t>, std::string>& first_link) {
  auto fd = open_beneath(root_fd, source, O_PATH);
  if (!fd) return std::move(fd).error();
  GivenEntry entry;
  entry.path = name;
  if (::fstat(fd->get(), &entry.st) != 0) return Error::from_errno("stat " + layers::quoted(source));
  if (S_ISSOCK(entry.st.st_mode)) return std::optional<GivenEntry>();
  auto xattrs = layer_xattrs(root + "/" + source);
  if (!xattrs) return std::move(xattrs).error();
  entry.xattrs = std::move(*xattrs);
  if (S_ISREG(entry.st.st_mode) && entry.st.st_nlink > 1) {
    auto [it, is_first] = first_link.try_emplace(std::pair{entry.st.st_dev, entry.st.st_ino}, name);
    if (!is_first) entry.hardlink = it->second;
  } else if (S_ISLNK(entry.st.st_mode)) {
    std::string target(size_t(entry.st.st_size) + 1, '\0');
    ssize_t n = ::readlinkat(fd->get(), "", target.data(), target.size());
    if (n < 0) return Error::from_errno("readlink " + layers::quoted(source));
    if (size_t(n) >= target.size())
      return Error(ErrorKind::Io, layers::quoted(source) + " changed while being read");
    target.resize(size_t(n));
    entry.link_target = std::move(target);
  }
  return std::optional<GivenEntry>(std::move(entry));
}

}  // namespace

// The tree's entries become given entries (their metadata read here, in order), and the
// files' bytes are read ahead in write_given_layer's thread, opened again beneath the root
// and checked to be the inode stat saw.
Result<LayerDigests> write_layer(const TreeDiff& diff, const WriteOptions& options, ByteSink out) {
  std::vector<TarItem> items;
  items.reserve(diff.entries.size());
  for (const DiffEntry& entry : diff.entries) {
    if (!is_clean_relative(entry.path))
      return Error(ErrorKind::InvalidInput,
                   "layer entry " + layers::quoted(entry.path) + " is not a clean relative path");
    switch (entry.kind) {
      case DiffEntry::Kind::AddOrChange:
        items.push_back({entry.path, entry.path});
        break;
      case DiffEntry::Kind::Opaque:
        items.push_back({entry.path + "/" + std::string(kOpaqueMarker), {}});
        break;
      case DiffEntry::Kind::Delete: {
        size_t slash = entry.path.rfind('/');
        std::string dir = slash == std::string::npos ? "" : entry.path.substr(0, slash + 1);
        std::string base = entry.path.substr(slash == std::string::npos ? 0 : slash + 1);
        items.push_back({dir + std::string(kWhiteoutPrefix) + base, {}});
        break;
      }
    }
  }
  std::sort(items.begin(), items.end(),
            [](const TarItem& a, const TarItem& b) { return a.name < b.name; });
  items.erase(std::unique(items.begin(), items.end(),
                          [](const TarItem& a, const TarItem& b) { return a.name == b.name; }),
              items.end());

  auto fail = [&](Error e) { return std::move(e).context("writing layer from " + layers::quoted(diff.source_root)); };
  UniqueFd root(::open(diff.source_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return fail(Error::from_errno("opening " + layers::quoted(diff.source_root)));
  std::vector<GivenEntry> entries;
  std::vector<const std::string*> sources;  // by entry: the tree path of a regular file's bytes
  entries.reserve(items.size());
  sources.reserve(items.size());
  std::map<std::pair<dev_t, ino_t>, std::string> first_link;
  for (const TarItem& item : items) {
    if (item.source.empty()) {  // a whiteout: an empty regular file, mode 0, 0:0, mtime 0
      GivenEntry& whiteout = entries.emplace_back();
      whiteout.path = item.name;
      whiteout.st.st_mode = S_IFREG;
      whiteout.is_marker = true;
      sources.push_back(nullptr);
      continue;
    }
    auto entry = tree_entry(root.get(), diff.source_root, item.name, item.source, first_link);
    if (!entry) return fail(std::move(entry).error().context("writing " + layers::quoted(item.name)));
    if (!*entry) continue;
    entries.push_back(std::move(**entry));
    sources.push_back(&item.source);
  }
  const DataOpener open_data = [&](size_t index) -> Result<UniqueFd> {
    const std::string& source = *sources[index];
    auto file = open_beneath(root.get(), source, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (!file) return std::move(file).error();
    struct stat now;
    if (::fstat(file->get(), &now) != 0) return Error::from_errno("stat " + layers::quoted(source));
    if (now.st_dev != entries[index].st.st_dev || now.st_ino != entries[index].st.st_ino)
      return Error(ErrorKind::Io, layers::quoted(source) + " was replaced while being read");
    return file;
  };
  auto r = write_given_layer(entries, open_data, options, std::move(out));
  if (!r) return fail(std::move(r).error());
  return r;
}

namespace {

// The bytes of every entry of `entries` that has_bytes(), one file after the
// other, each exactly its st_size: what write_given_layer's ReadAhead thread reads while
// the tar is written, so on two cores opening and reading many small files overlaps with
// the tar and its hash.
class FileBytes {
 public:
  FileBytes(const std::vector<GivenEntry>& entries, const DataOpener& open_data)
      : entries_(entries), open_data_(open_data) {}

  // Fills `out`; an Error after some bytes is kept for the next call, so the bytes of the
  // files before the failing one still reach the tar writer first.
  Result<size_t> fill(std::span<std::byte> out) {
    if (pending_) return *pending_;
    size_t filled = 0;
    auto r = fill_into(out, filled);
    if (r) return filled;
    if (filled == 0) return std::move(r).error();
    pending_ = std::move(r).error();
    return filled;
  }

 private:
  Result<void> fill_into(std::span<std::byte> out, size_t& filled) {
    while (filled < out.size()) {
      if (!file_) {
        while (next_ < entries_.size() && !entries_[next_].has_bytes()) ++next_;
        if (next_ == entries_.size()) break;
        current_ = next_++;
        auto fd = open_data_(current_);
        if (!fd) return std::move(fd).error();
        file_ = std::move(*fd);
        left_ = uint64_t(entries_[current_].st.st_size);
      }
      // With room for it, one byte more than the rest is asked for: a short read is the
      // file's end, and a byte too many shows it grew.
      std::span<std::byte> room = out.subspan(filled);
      const size_t want = room.size() > left_ ? size_t(left_) + 1 : room.size();
      ssize_t n = ::read(file_.get(), room.data(), want);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Error::from_errno("reading " + shown());
      }
      if (uint64_t(n) > left_) return Error(ErrorKind::Io, shown() + " grew while being read");
      if (n == 0 && left_ > 0) return Error(ErrorKind::Io, shown() + " shrank while being read");
      filled += size_t(n);
      left_ -= uint64_t(n);
      if (left_ > 0) continue;
      if (size_t(n) == want) {
        // Filled `out` exactly: whether more follows takes one read more.
        std::byte probe;
        ssize_t more;
        do more = ::read(file_.get(), &probe, 1);
        while (more < 0 && errno == EINTR);
        if (more < 0) return Error::from_errno("reading " + shown());
        if (more > 0) return Error(ErrorKind::Io, shown() + " grew while being read");
      }
      file_.reset();
    }
    return {};
  }

  std::string shown() const { return layers::quoted(entries_[current_].path); }

  const std::vector<GivenEntry>& entries_;
  const DataOpener& open_data_;
  size_t next_ = 0, current_ = 0;
  UniqueFd file_;
  uint64_t left_ = 0;
  std::optional<Error> pending_;
};

}  // namespace

Result<LayerDigests> write_given_layer(const std::vector<GivenEntry>& entries, const DataOpener& open_data,
                                       const WriteOptions& options, ByteSink out) {
  for (size_t i = 1; i < entries.size(); ++i)
    if (!(entries[i - 1].path < entries[i].path))
      return Error(ErrorKind::InvalidInput, "layer entries are not sorted by path: " +
                                                layers::quoted(entries[i - 1].path) + " before " +
                                                layers::quoted(entries[i].path));
  auto encoder = LayerEncoder::create(options.compression, std::move(out), options.threads);
  if (!encoder) return std::move(encoder).error();
  auto bytes = std::make_shared<FileBytes>(entries, open_data);
  auto data = ReadAhead::start([bytes](std::span<std::byte> out) { return bytes->fill(out); });
  if (!data) return std::move(data).error();
  LayerWriter writer(options, std::move(*encoder));
  return writer.run(entries, *data);
}

Result<TreeDiff> diff_of_directory(const std::string& root) {
  namespace fs = std::filesystem;
  TreeDiff diff;
  diff.source_root = root;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec);
  if (ec) return Error::from_errno(ec.value(), "listing " + layers::quoted(root));
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return Error::from_errno(ec.value(), "listing " + layers::quoted(root));
    std::string rel = it->path().lexically_relative(root).generic_string();
    diff.entries.push_back({rel, DiffEntry::Kind::AddOrChange});
  }
  if (ec) return Error::from_errno(ec.value(), "listing " + layers::quoted(root));
  return diff;
}

Result<LayerDigests> write_directory_layer(const std::string& root, const WriteOptions& options,
                                           ByteSink out) {
  auto diff = diff_of_directory(root);
  if (!diff) return std::move(diff).error();
  return write_layer(*diff, options, std::move(out));
}

Result<std::optional<int64_t>> source_date_epoch_from_env() {
  const char* text = std::getenv("SOURCE_DATE_EPOCH");
  if (!text || !*text) return std::optional<int64_t>();
  std::string_view s(text);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value < 0 || s.front() == '+')
    return Error(ErrorKind::InvalidInput, "SOURCE_DATE_EPOCH=" + layers::quoted(s) +
                                              " is not a number of seconds since 1970");
  return std::optional<int64_t>(value);
}

}  // namespace layers
