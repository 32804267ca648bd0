#pragma once
// A directory diff: what one layer changes. It is the contract between whoever finds the
// changes (the overlay upper dir of a RUN, a COPY into a scratch dir, a tree comparison)
// and the tar writer that turns them into an OCI layer.

#include <string>
#include <string_view>
#include <vector>

namespace layers {

// The names a layer's tar gives deletions (OCI image-spec, "Whiteouts"): the tar writer
// writes them, the applier and the layer index read them.
inline constexpr std::string_view kWhiteoutPrefix = ".wh.";          // ".wh.<name>": <name> deleted
inline constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";  // reserved for markers
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";    // the directory is opaque

struct DiffEntry {
  enum class Kind {
    AddOrChange,  // write the entry found at source_root/path (file, dir, link, device)
    Delete,       // a whiteout: ".wh.<name>" beside where path was
    Opaque,       // directory `path` hides everything lower layers had beneath it:
                  // ".wh..wh..opq" inside it (the directory itself is AddOrChange too)
  };
  // Relative to the root, '/'-separated, no leading "/" or "./", no ".." components.
  std::string path;
  Kind kind = Kind::AddOrChange;
};

struct TreeDiff {
  std::string source_root;  // where AddOrChange entries are read from (lstat, no following)
  std::vector<DiffEntry> entries;
};

}  // namespace layers
