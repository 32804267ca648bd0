#include "layers/layer_entries.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <memory>

#include "layers/archive_handles.h"
#include "layers/compress.h"
#include "layers/tar_apply.h"

namespace layers {
namespace {

struct Source {
  DecompressingReader reader;
  std::vector<std::byte> buffer = std::vector<std::byte>(128 * 1024);
  std::optional<Error> error;
  Sha256* hash = nullptr;  // of the uncompressed stream (the diff_id), when asked for

  static la_ssize_t read_cb(archive* a, void* self_ptr, const void** out) {
    auto* self = static_cast<Source*>(self_ptr);
    auto n = self->reader.read(self->buffer);
    if (!n) {
      self->error = std::move(n).error();
      archive_set_error(a, EIO, "layer input failed");
      return -1;
    }
    if (self->hash) self->hash->update(std::span<const std::byte>(self->buffer.data(), *n));
    *out = self->buffer.data();
    return la_ssize_t(*n);
  }
};

// The name as the applier reads it: UTF-8 when the tar recorded it so (PAX), raw bytes otherwise.
std::string tar_name(const char* utf8, const char* raw) { return utf8 ? utf8 : raw ? raw : ""; }

std::string clean_name(std::string name) {
  while (name.starts_with("./")) name.erase(0, 2);
  while (name.starts_with('/')) name.erase(0, 1);
  while (name.size() > 1 && name.ends_with('/')) name.pop_back();
  return name;
}

// The walk of walk_layer; with `stream_hash`, every byte of the uncompressed stream goes
// into it, to the stream's end (past the tar's end marker, as the applier reads); without,
// the walk stops at the end marker.
Result<void> walk(int fd, const LayerWalk& how, const std::function<Result<void>(const LayerEntry&)>& visit,
                  Sha256* stream_hash) {
  auto reader = DecompressingReader::open(fd);
  if (!reader) return std::move(reader).error();
  Source source{std::move(*reader)};
  source.hash = stream_hash;
  ArchiveReadPtr a(archive_read_new());
  if (!a) return Error(ErrorKind::Io, "libarchive: out of memory");
  archive_read_support_format_tar(a.get());
  archive_read_support_format_empty(a.get());
  auto failed = [&](std::string_view what) -> Error {
    if (source.error) return source.error->context(what);
    const char* msg = archive_error_string(a.get());
    return Error(ErrorKind::Corrupt, std::string(what) + ": " + (msg ? msg : "libarchive error"));
  };
  if (archive_read_open(a.get(), &source, nullptr, &Source::read_cb, nullptr) != ARCHIVE_OK)
    return failed("reading the layer");
  uint64_t count = 0;
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return failed("reading the layer");
    if (++count > kDefaultMaxUnpackEntries)
      return Error(ErrorKind::InvalidInput, "the layer has more than " + std::to_string(kDefaultMaxUnpackEntries) + " entries");
    LayerEntry entry;
    entry.tar_name = tar_name(archive_entry_pathname_utf8(e), archive_entry_pathname(e));
    entry.path = clean_name(entry.tar_name);
    entry.mode = static_cast<uint32_t>(archive_entry_mode(e));
    entry.uid = static_cast<uint32_t>(archive_entry_uid(e));
    entry.gid = static_cast<uint32_t>(archive_entry_gid(e));
    entry.mtime_sec = archive_entry_mtime(e);
    entry.mtime_nsec = archive_entry_mtime_nsec(e);
    if (const char* hard = archive_entry_hardlink(e)) {
      entry.tar_hardlink = tar_name(archive_entry_hardlink_utf8(e), hard);
      entry.hardlink = clean_name(entry.tar_hardlink);
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
      const char* target = archive_entry_symlink_utf8(e);
      if (!target) target = archive_entry_symlink(e);
      entry.link_target = target ? target : "";
    } else if (archive_entry_filetype(e) == AE_IFCHR || archive_entry_filetype(e) == AE_IFBLK) {
      entry.rdev_major = archive_entry_rdevmajor(e);
      entry.rdev_minor = archive_entry_rdevminor(e);
    } else if (archive_entry_filetype(e) == AE_IFREG) {
      entry.size = archive_entry_size(e);
    }
    archive_entry_xattr_reset(e);
    const char* xname = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK)
      entry.xattrs.emplace_back(xname ? xname : "", std::string(static_cast<const char*>(value), size));
    std::sort(entry.xattrs.begin(), entry.xattrs.end());
    const bool is_file = entry.hardlink.empty() && archive_entry_filetype(e) == AE_IFREG;
    const bool wants_data = is_file && how.wants_data && how.wants_data(entry);
    if (wants_data && uint64_t(entry.size) > how.max_data)
      return Error(ErrorKind::InvalidInput, quoted(entry.path) + " in the layer is larger than " +
                                                std::to_string(how.max_data) + " bytes");
    if ((how.hash_content || wants_data) && is_file) {
      Sha256 hash;
      std::string data;
      const void* block = nullptr;
      size_t length = 0;
      la_int64_t offset = 0;
      for (;;) {
        int d = archive_read_data_block(a.get(), &block, &length, &offset);
        if (d == ARCHIVE_EOF) break;
        if (d < ARCHIVE_WARN) return failed("reading " + quoted(entry.path) + " in the layer");
        if (how.hash_content) hash.update(std::span<const std::byte>(static_cast<const std::byte*>(block), length));
        if (wants_data) {
          // Blocks of a sparse file come with gaps: the holes read as zeros.
          if (uint64_t(offset) + length > how.max_data)
            return Error(ErrorKind::InvalidInput, quoted(entry.path) + " in the layer is larger than " +
                                                      std::to_string(how.max_data) + " bytes");
          if (data.size() < size_t(offset)) data.resize(size_t(offset), '\0');
          data.replace(size_t(offset), std::min(data.size() - size_t(offset), length), static_cast<const char*>(block),
                       length);
        }
      }
      if (how.hash_content) entry.content = hash.finish();
      if (wants_data) {
        if (data.size() < size_t(entry.size)) data.resize(size_t(entry.size), '\0');
        entry.data = std::move(data);
      }
    }
    if (auto v = visit(entry); !v) return std::move(v).error();
  }
  // The tar may end before the stream does (padding after the end marker); the diff_id
  // covers all of it, as the applier's does.
  while (stream_hash) {
    auto n = source.reader.read(source.buffer);
    if (!n) return std::move(n).error().context("reading the layer");
    if (*n == 0) break;
    stream_hash->update(std::span<const std::byte>(source.buffer.data(), *n));
  }
  return {};
}

}  // namespace

Result<Digest> walk_layer(int fd, const LayerWalk& how, const std::function<Result<void>(const LayerEntry&)>& visit) {
  Sha256 stream;
  if (auto r = walk(fd, how, visit, &stream); !r) return std::move(r).error();
  return stream.finish();
}

Result<void> for_each_layer_entry(int fd, bool hash_content,
                                  const std::function<Result<void>(const LayerEntry&)>& visit) {
  LayerWalk how;
  how.hash_content = hash_content;
  return walk(fd, how, visit, nullptr);
}

}  // namespace layers
