#pragma once
// The index of one layer's entries: what COPY and WORKDIR ask of a base image (does a
// path exist, is it a directory, whose is it) answered from the layer tar's headers, so a
// stage without RUN never unpacks its base (runtime::LayerView mixes indexed and unpacked
// layers). It is read through layers/layer_entries.h, the reader every layer's bytes go
// through, and answers lookups as the layer unpacked alone in overlay form would
// (runtime/layer_dirs.h): a whiteout ".wh.x" hides "x" of the layers below, an opaque
// marker hides everything below its directory that this layer does not have, parents the
// tar leaves out are directories (0755, 0:0, mtime 0, as the applier makes them), and a later
// entry replaces an earlier one of the same name (a non-directory its children too).
//
// The store keeps each layer's index beside its blob (Store::layer_index), as text with
// a checksum: a file that does not parse or check out is recomputed, never trusted.

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "layers/digest.h"
#include "layers/error.h"

namespace layers {

struct IndexedEntry {
  uint32_t mode = 0;  // st_mode: type and permission bits (a hardlink: its target's)
  uint32_t uid = 0, gid = 0;
  int64_t size = 0;
  int64_t mtime_sec = 0, mtime_nsec = 0;
  std::string link_target;  // a symlink's
  std::string hardlink;     // a hardlink's target path in this layer, where its data is
  bool is_implicit = false;  // a parent the tar leaves out

  struct stat to_stat() const;
};

class LayerIndex {
 public:
  // What this layer alone says of a path.
  enum class Presence { Absent, Present, Hidden };

  // Reads the layer tar from `fd` (plain, gzip or zstd). Corrupt when its uncompressed
  // stream does not hash to `diff_id`, or is damaged; InvalidInput naming the entry for a name
  // the applier refuses (normalize_entry_name: absolute, "..", too long), or too many entries.
  static Result<LayerIndex> of_layer(int fd, const Digest& diff_id);

  // The stored form, and back. parse() checks the checksum and every field: Corrupt for
  // anything else, or for an index of another diff_id than `diff_id`.
  std::string serialize() const;
  static Result<LayerIndex> parse(std::string_view text, const Digest& diff_id);

  // `rel` ('/'-separated, relative, cleaned) in this layer: Present with its entry,
  // Hidden (a whiteout, an opaque parent, a non-directory parent above), or Absent.
  // Symlinks are never followed, as runtime::LayerView's lookup does not follow them.
  Presence look(const std::string& rel, const IndexedEntry** found) const;

  // The content of the regular file `rel` of this layer (Present, not a symlink), read
  // from the layer tar at `fd` (what of_layer read): nullopt when this layer does not
  // have it as a regular file. InvalidInput when larger than `max_bytes`; Corrupt when
  // the tar is not this index's layer.
  Result<std::optional<std::string>> read_file(int fd, const std::string& rel, size_t max_bytes) const;

  const Digest& diff_id() const { return diff_id_; }
  size_t size() const { return entries_.size(); }
  // Every path this layer has (the parents its tar leaves out too), with its entry.
  const std::map<std::string, IndexedEntry>& entries() const { return entries_; }

 private:
  void add(const std::string& path, IndexedEntry entry);
  void add_whiteout(const std::string& path);
  void add_parents(const std::string& path);
  void erase_below(const std::string& path);

  Digest diff_id_ = Digest::of("");
  std::map<std::string, IndexedEntry> entries_;
  std::set<std::string> whiteouts_;  // paths hidden below this layer
  std::set<std::string> opaque_;     // directories whose lower contents are hidden
};

}  // namespace layers
