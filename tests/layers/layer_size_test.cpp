// A layer's size as docker shows it: regular files' data, hardlinked files once.

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "layers/layer_entries.h"
#include "layers/layer_size.h"
#include "layers/store.h"
#include "layers/unique_fd.h"
#include "tests/layers/tree_compare.h"

#include "tests/support/files.h"

namespace {

// file "a" (5 bytes), "dir/", hardlink "b" -> "a", symlink "s" -> "abc", FIFO "p".
std::string sample_tar(bool gzip) {
  std::string bytes;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_open2(
      a, &bytes, nullptr,
      [](archive*, void* out, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
        return la_ssize_t(n);
      },
      nullptr, nullptr);
  auto add = [&](const char* name, mode_t type, const std::string& data, const char* symlink,
                 const char* hardlink) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, 0644);
    if (symlink) archive_entry_set_symlink(e, symlink);
    if (hardlink) archive_entry_set_hardlink(e, hardlink);
    archive_entry_set_size(e, la_int64_t(data.size()));
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    if (!data.empty()) archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  };
  add("a", AE_IFREG, "hello", nullptr, nullptr);
  add("dir/", AE_IFDIR, "", nullptr, nullptr);
  add("b", AE_IFREG, "", nullptr, "a");
  add("s", AE_IFLNK, "", "abc", nullptr);
  add("p", AE_IFIFO, "", nullptr, nullptr);
  archive_write_close(a);
  archive_write_free(a);
  return bytes;
}

}  // namespace

TEST_CASE("layer content size counts regular files once, nothing else", "[layers][size]") {
  bool gzip = GENERATE(false, true);
  CAPTURE(gzip);
  auto fd = hoist_test::memfd_of(sample_tar(gzip));
  auto size = layers::layer_content_size(fd.get());
  REQUIRE(size);
  CHECK(*size == 5);
}

// layer_content_size is a walk of layers/layer_entries.h; its listing is checked here too.
TEST_CASE("layer entries: each entry with its metadata, a file's content digest", "[layers][size]") {
  bool gzip = GENERATE(false, true);
  CAPTURE(gzip);
  auto fd = hoist_test::memfd_of(sample_tar(gzip));
  std::vector<layers::LayerEntry> entries;
  auto walked = layers::for_each_layer_entry(fd.get(), true, [&](const layers::LayerEntry& e) -> layers::Result<void> {
    entries.push_back(e);
    return {};
  });
  REQUIRE(walked);
  REQUIRE(entries.size() == 5);
  CHECK(entries[0].path == "a");
  CHECK(entries[0].mode == (S_IFREG | 0644));
  CHECK(entries[0].size == 5);
  CHECK(entries[0].content == layers::Digest::of("hello"));
  CHECK(entries[1].path == "dir");
  CHECK((entries[1].mode & S_IFMT) == S_IFDIR);
  CHECK(entries[2].hardlink == "a");
  CHECK_FALSE(entries[2].content);
  CHECK(entries[3].link_target == "abc");
  CHECK((entries[4].mode & S_IFMT) == S_IFIFO);
}

TEST_CASE("layer content size: damaged data is Corrupt", "[layers][size]") {
  auto fd = hoist_test::memfd_of(std::string(2048, 'G'));
  auto size = layers::layer_content_size(fd.get());
  REQUIRE_FALSE(size);
  CHECK(size.error().kind() == layers::ErrorKind::Corrupt);
}

TEST_CASE("store: content sizes are measured once, remembered, and pruned with the blob",
          "[layers][size][store]") {
  namespace fs = std::filesystem;
  tests::TempDir dir;
  auto store = layers::Store::open(dir.path());
  REQUIRE(store);
  std::string tar = sample_tar(true);
  auto digest = store->blobs().put_bytes(tar);
  REQUIRE(digest);
  layers::Descriptor layer{"application/vnd.oci.image.layer.v1.tar+gzip", *digest,
                           int64_t(tar.size())};
  CHECK(store->layer_content_size(layer) == 5);
  const std::string remembered = dir.path() + "/hoist-sizes/" + std::string(digest->hex());
  REQUIRE(fs::exists(remembered));
  // The remembered value is what counts from now on.
  REQUIRE(layers::write_file_atomic(remembered, "1234"));
  CHECK(store->layer_content_size(layer) == 1234);
  // A blob that cannot be read counts its compressed size.
  layers::Descriptor missing{layer.media_type, layers::Digest::of("nothing"), 77};
  CHECK(store->layer_content_size(missing) == 77);
  // gc removes the blob (no tag reaches it) and what was remembered about it.
  auto gc = store->gc();
  REQUIRE(gc);
  CHECK_FALSE(fs::exists(remembered));
}
