#pragma once
// The entries of a layer tar with their metadata, read with libarchive as the layer
// applier reads them (layers/tar_apply.h), without writing anything: for `hoist diff`,
// for counting a layer's size (layers/layer_size.h) and for the layer index COPY consults
// instead of an unpacked base (layers/layer_index.h).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "layers/digest.h"
#include "layers/error.h"

namespace layers {

struct LayerEntry {
  std::string path;         // as in the tar, without a leading "./" or "/" or a trailing "/"
  std::string tar_name;     // exactly as in the tar: what the applier checks (normalize_entry_name)
  uint32_t mode = 0;        // file type and permission bits, as st_mode
  uint32_t uid = 0, gid = 0;
  int64_t size = 0;         // regular files
  int64_t mtime_sec = 0, mtime_nsec = 0;
  std::string link_target;  // a symlink's target
  std::string hardlink;     // a hardlink's target path (then mode is of a regular file)
  std::string tar_hardlink; // the same exactly as in the tar
  uint64_t rdev_major = 0, rdev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;  // every xattr in the tar, sorted
  std::optional<Digest> content;  // a regular file's sha256, when asked for
  std::optional<std::string> data;  // a regular file's bytes, when LayerWalk::wants_data says so
};

struct LayerWalk {
  bool hash_content = false;  // each regular file's data is read and hashed (content)
  // When set and true for a regular file (not a hardlink), its data is read into `data`;
  // one larger than max_data bytes is InvalidInput naming it.
  std::function<bool(const LayerEntry&)> wants_data;
  size_t max_data = 0;
};

// Calls `visit` for each entry of the layer tar read from `fd` (plain, gzip or zstd) in
// tar order, reads the stream to its end (past the tar's end marker, as the applier does),
// and returns the sha256 of the whole uncompressed stream (the layer's diff_id, for the
// caller to check). More than
// kDefaultMaxUnpackEntries entries is InvalidInput; damaged compression or tar data is
// Corrupt; an error from `visit` stops the walk and is returned. Names are bytes, as
// tar_apply reads them (UTF-8 when the tar says so).
Result<Digest> walk_layer(int fd, const LayerWalk& how, const std::function<Result<void>(const LayerEntry&)>& visit);

// walk_layer with `hash_content` only, stopping at the tar's end marker, hashing no stream.
Result<void> for_each_layer_entry(int fd, bool hash_content,
                                  const std::function<Result<void>(const LayerEntry&)>& visit);

}  // namespace layers
