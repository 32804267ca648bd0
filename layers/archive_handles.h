#pragma once
// Owning handles for libarchive's objects, for the layers code that reads tars
// (tar_apply, layer_entries, image_archive) or writes them (tar_writer, image_archive).

#include <archive.h>
#include <archive_entry.h>

#include <memory>

namespace layers {

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveEntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ArchiveReadPtr = std::unique_ptr<archive, ArchiveReadFree>;
using ArchiveWritePtr = std::unique_ptr<archive, ArchiveWriteFree>;
using ArchiveEntryPtr = std::unique_ptr<archive_entry, ArchiveEntryFree>;

}  // namespace layers
