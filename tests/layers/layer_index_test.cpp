// layers/layer_index: a layer's entries from its tar headers, looked up as the layer
// unpacked alone would show them; stored with a checksum, recomputed when damaged.

#include "layers/layer_index.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "layers/store.h"
#include "layers/tar_apply.h"
#include "layers/unique_fd.h"
#include "tests/support/canary.h"
#include "tests/support/files.h"
#include "tests/support/hostile_layers.h"
#include "tests/support/temp_dir.h"

namespace {

std::string sample_layer() {
  return hoist_test::TarWriter()
      .dir("etc", 0750, 0, 42)
      .file("etc/passwd", "root:x:0:0::/root:/bin/sh\nweb:x:33:33::/:/bin/false\n")
      .hardlink("etc/passwd-", "etc/passwd")
      .symlink("link", "/etc")
      .file("deep/implicit/f", "x")  // parents left out of the tar
      .file(".wh.gone", "")
      .dir("opaque")
      .file("opaque/.wh..wh..opq", "")
      .file("opaque/mine", "y")
      .file("replaced", "a")
      .dir("replaced", 0700)
      .finish();
}

}  // namespace

TEST_CASE("layer index: lookups answer as the layer unpacked alone", "[layers][layer_index]") {
  const std::string tar = sample_layer();
  auto fd = hoist_test::memfd_of(tar);
  auto index = layers::LayerIndex::of_layer(fd.get(), layers::Digest::of(tar));
  REQUIRE(index);
  using P = layers::LayerIndex::Presence;
  auto [path, presence, mode] = GENERATE(table<std::string, P, uint32_t>({
      {"", P::Present, S_IFDIR | 0755},
      {"etc", P::Present, S_IFDIR | 0750},
      {"etc/passwd", P::Present, S_IFREG | 0644},
      {"etc/passwd-", P::Present, S_IFREG | 0644},
      {"etc/shadow", P::Absent, 0},
      {"link", P::Present, S_IFLNK | 0777},
      {"link/passwd", P::Hidden, 0},  // never followed
      {"deep", P::Present, S_IFDIR | 0755},
      {"deep/implicit", P::Present, S_IFDIR | 0755},
      {"gone", P::Hidden, 0},
      {"gone/below", P::Hidden, 0},
      {"opaque/mine", P::Present, S_IFREG | 0644},
      {"opaque/lower", P::Hidden, 0},
      {"replaced", P::Present, S_IFDIR | 0700},
      {"other", P::Absent, 0},
  }));
  CAPTURE(path);
  const layers::IndexedEntry* entry = nullptr;
  CHECK(index->look(path, &entry) == presence);
  if (presence == P::Present) {
    REQUIRE(entry);
    CHECK(entry->mode == mode);
    if (path == "etc") CHECK(entry->to_stat().st_gid == 42);
    if (path == "link") CHECK(entry->link_target == "/etc");
  }
}

TEST_CASE("layer index: small files are read from the tar, hardlinks through their target", "[layers][layer_index]") {
  const std::string tar = sample_layer();
  auto fd = hoist_test::memfd_of(tar);
  auto index = layers::LayerIndex::of_layer(fd.get(), layers::Digest::of(tar));
  REQUIRE(index);
  for (const char* path : {"etc/passwd", "etc/passwd-"}) {
    CAPTURE(path);
    REQUIRE(::lseek(fd.get(), 0, SEEK_SET) == 0);
    auto text = index->read_file(fd.get(), path, 1 << 20);
    REQUIRE(text);
    REQUIRE(text->has_value());
    CHECK(**text == "root:x:0:0::/root:/bin/sh\nweb:x:33:33::/:/bin/false\n");
  }
  REQUIRE(::lseek(fd.get(), 0, SEEK_SET) == 0);
  auto link = index->read_file(fd.get(), "link", 1 << 20);  // a symlink is not a file to read
  REQUIRE(link);
  CHECK(!link->has_value());
  REQUIRE(::lseek(fd.get(), 0, SEEK_SET) == 0);
  auto big = index->read_file(fd.get(), "etc/passwd", 8);
  REQUIRE(!big);
  CHECK(big.error().kind() == layers::ErrorKind::InvalidInput);
}

TEST_CASE("layer index: a layer that is not its diff_id, or climbs out, is refused", "[layers][layer_index]") {
  const std::string tar = sample_layer();
  auto fd = hoist_test::memfd_of(tar);
  auto wrong = layers::LayerIndex::of_layer(fd.get(), layers::Digest::of("something else"));
  REQUIRE(!wrong);
  CHECK(wrong.error().kind() == layers::ErrorKind::Corrupt);
  const std::string climbing = hoist_test::TarWriter().file("a/../../x").finish();
  auto fd2 = hoist_test::memfd_of(climbing);
  auto refused = layers::LayerIndex::of_layer(fd2.get(), layers::Digest::of(climbing));
  REQUIRE(!refused);
  CHECK(refused.error().kind() == layers::ErrorKind::InvalidInput);
}

TEST_CASE("layer index: names the applier refuses are refused when indexing, naming the entry", "[layers][layer_index][hostile]") {
  // Each tar once unpacked by the applier, once indexed: both refuse, InvalidInput, and both
  // messages name `entry` (walk_layer's cleaned names drop a leading "/", so the index must
  // check the names as the tar has them, through the applier's normalize_entry_name).
  const std::string long_part(NAME_MAX + 1, 'n');
  auto [what, tar, entry] = GENERATE_COPY(table<std::string, std::string, std::string>({
      {"absolute name", hoist_test::TarWriter().file("/etc/hoist-pwned").finish(), "/etc/hoist-pwned"},
      {"absolute directory", hoist_test::TarWriter().dir("/opt").file("opt/f").finish(), "/opt"},
      {"leading ..", hoist_test::TarWriter().file("../x").finish(), "../x"},
      {".. inside", hoist_test::TarWriter().dir("a").file("a/../../x").finish(), "a/../../x"},
      {"component past NAME_MAX", hoist_test::TarWriter().file("d/" + long_part).finish(), long_part},
      {"absolute hardlink target", hoist_test::TarWriter().file("a").hardlink("b", "/a").finish(), "\"/a\""},
      {"symlink target past PATH_MAX", hoist_test::TarWriter().symlink("l", std::string(PATH_MAX, 't')).finish(), "\"l\""},
  }));
  CAPTURE(what);
  auto fd = hoist_test::memfd_of(tar);
  auto index = layers::LayerIndex::of_layer(fd.get(), layers::Digest::of(tar));
  REQUIRE(!index);
  CHECK(index.error().kind() == layers::ErrorKind::InvalidInput);
  CHECK_THAT(index.error().message(), Catch::Contains(entry));

  hoist_test::TempDir root("hoist-layer-index-apply");
  auto again = hoist_test::memfd_of(tar);
  layers::UnpackOptions options;
  options.restore_owners = ::geteuid() == 0;
  auto applied = layers::unpack_layer(root.path(), again.get(), options);
  REQUIRE(!applied);
  CHECK(applied.error().kind() == layers::ErrorKind::InvalidInput);
  CHECK_THAT(applied.error().message(), Catch::Contains(entry));
}

TEST_CASE("layer index: parents a tar leaves out are dated 0, in the index and unpacked", "[layers][layer_index]") {
  // A COPY onto the base copies a parent's time into its layer: an indexed base and an
  // unpacked one must give the same time, never the time of the unpacking.
  const std::string tar = hoist_test::TarWriter()
                              .file("deep/implicit/f")
                              .file("named/f")
                              .dir("named")  // named after its child: the tar's time (1600000000)
                              .finish();
  auto fd = hoist_test::memfd_of(tar);
  auto index = layers::LayerIndex::of_layer(fd.get(), layers::Digest::of(tar));
  REQUIRE(index);
  hoist_test::TempDir root("hoist-layer-index-times");
  auto again = hoist_test::memfd_of(tar);
  layers::UnpackOptions options;
  options.restore_owners = ::geteuid() == 0;
  REQUIRE(layers::unpack_layer(root.path(), again.get(), options));
  for (auto [path, mtime] : {std::pair<std::string, int64_t>{"deep", 0}, {"deep/implicit", 0}, {"named", 1600000000}}) {
    CAPTURE(path);
    const layers::IndexedEntry* entry = nullptr;
    REQUIRE(index->look(path, &entry) == layers::LayerIndex::Presence::Present);
    CHECK(entry->mtime_sec == mtime);
    struct stat st {};
    REQUIRE(::lstat((root.path() + "/" + path).c_str(), &st) == 0);
    CHECK(st.st_mtim.tv_sec == mtime);
    CHECK(st.st_mtim.tv_nsec == 0);
  }
}

TEST_CASE("layer index: the stored form round-trips, and damage is detected", "[layers][layer_index]") {
  const std::string tar = sample_layer();
  const auto diff_id = layers::Digest::of(tar);
  auto fd = hoist_test::memfd_of(tar);
  auto index = layers::LayerIndex::of_layer(fd.get(), diff_id);
  REQUIRE(index);
  const std::string text = index->serialize();
  auto back = layers::LayerIndex::parse(text, diff_id);
  REQUIRE(back);
  CHECK(back->serialize() == text);
  CHECK(!layers::LayerIndex::parse(text, layers::Digest::of("other")));
  for (size_t at : {size_t(0), text.size() / 2, text.size() - 2}) {
    std::string damaged = text;
    damaged[at] ^= 1;
    CAPTURE(at);
    auto r = layers::LayerIndex::parse(damaged, diff_id);
    REQUIRE(!r);
    CHECK(r.error().kind() == layers::ErrorKind::Corrupt);
  }
  CHECK(!layers::LayerIndex::parse(text.substr(0, text.size() / 2), diff_id));
}

TEST_CASE("layer index: the store keeps it beside the blob and remakes a damaged one", "[layers][layer_index]") {
  hoist_test::TempDir dir("hoist-layer-index");
  auto store = layers::Store::open(dir.path() + "/store");
  REQUIRE(store);
  const std::string tar = sample_layer();
  auto digest = store->blobs().put_bytes(tar);
  REQUIRE(digest);
  const layers::Descriptor layer{std::string(layers::media_type::kOciLayer), *digest, int64_t(tar.size())};
  const auto diff_id = layers::Digest::of(tar);
  auto first = store->layer_index(layer, diff_id);
  REQUIRE(first);
  const std::string path = dir.path() + "/store/hoist-index/" + std::string(digest->hex());
  const std::string stored = hoist_test::read_file(path);
  CHECK(stored == first->serialize());

  hoist_test::write_file(path, "E 4:etc/ 0 0 0 0 0 0 0 0: 0:\n");  // garbage, no checksum
  auto again = store->layer_index(layer, diff_id);
  REQUIRE(again);
  CHECK(again->serialize() == stored);
  CHECK(hoist_test::read_file(path) == stored);

  auto gc = store->gc(true);
  REQUIRE(gc);
  CHECK(hoist_test::read_file(path).empty());  // the blob nothing references went, and its index
}

TEST_CASE("layer index: hostile layers are indexed or refused, and nothing is written", "[layers][layer_index][hostile]") {
  hoist_test::TempDir scratch("hoist-layer-index");
  auto canary = hoist_test::Canary::plant(scratch.path() + "/canary");
  for (const auto& c : hoist_test::hostile_cases(canary.dir())) {
    CAPTURE(c.name);
    for (const auto& tar : c.layers) {
      auto fd = hoist_test::memfd_of(tar);
      auto index = layers::LayerIndex::of_layer(fd.get(), layers::Digest::of(tar));
      if (!index) {
        CHECK((index.error().kind() == layers::ErrorKind::InvalidInput ||
               index.error().kind() == layers::ErrorKind::Corrupt));
        continue;
      }
      // Lookups never leave the index: the canary's own path is just a name in it.
      const layers::IndexedEntry* entry = nullptr;
      (void)index->look(canary.dir().substr(1) + "/file1", &entry);
    }
  }
  CHECK(canary.changes() == std::vector<std::string>{});
}
