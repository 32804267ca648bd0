#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "layers/blob_store.h"
#include "layers/compressed_layers.h"
#include "layers/store.h"
#include "layers/tar_writer.h"
#include "tests/support/fail_syscall.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace {

// The shared temp dir (tests/support/temp_dir.h), under the name and `path` this file uses.
struct TempDir {
  hoist_test::TempDir dir{"hoist-blob-test"};
  const std::string& path = dir.path();
};

size_t count_files(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

// The one file in `dir` (a writer's temp file).
std::string only_file(const std::string& dir) {
  std::string found;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file()) found = e.path().string();
  return found;
}

// How many of the first `bytes` of `path` are in the page cache, in pages (mincore).
size_t resident_pages(const std::string& path, size_t bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return SIZE_MAX;
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return SIZE_MAX;
  const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in((bytes + page - 1) / page);
  size_t n = SIZE_MAX;
  if (::mincore(map, bytes, in.data()) == 0) {
    n = 0;
    for (unsigned char c : in) n += c & 1;
  }
  ::munmap(map, bytes);
  return n;
}

// Bytes 0..n-1 of a pattern that a piece boundary cannot hide.
std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char((i * 131 + i / 4093) & 0xff);
  return s;
}

}  // namespace

TEST_CASE("blob store: put_bytes names the blob by its digest", "[layers][blob_store]") {
  TempDir dir;
  auto store = layers::BlobStore::open(dir.path);
  REQUIRE(store);
  auto d = store->put_bytes("hello world");
  REQUIRE(d);
  CHECK(*d == layers::Digest::of("hello world"));
  CHECK(store->has(*d));
  CHECK(store->path_of(*d) == dir.path + "/blobs/sha256/" + std::string(d->hex()));
  auto size = store->size(*d);
  REQUIRE(size);
  CHECK(*size == 11);
  auto text = store->read_all(*d, 100);
  REQUIRE(text);
  CHECK(*text == "hello world");
  // Writing it again is a no-op.
  auto again = store->put_bytes("hello world");
  REQUIRE(again);
  CHECK(*again == *d);
  CHECK(count_files(store->blobs_dir()) == 1);
  CHECK(count_files(store->tmp_dir()) == 0);
}

TEST_CASE("blob store: streamed writes commit, verify, or vanish", "[layers][blob_store]") {
  TempDir dir;
  auto store = layers::BlobStore::open(dir.path);
  REQUIRE(store);
  const std::string part1(100000, 'a'), part2 = "tail";
  const auto expected = layers::Digest::of(part1 + part2);

  SECTION("the expected digest commits") {
    auto w = store->begin_write();
    REQUIRE(w);
    REQUIRE(w->write(part1));
    REQUIRE(w->write(part2));
    CHECK(w->bytes_written() == part1.size() + part2.size());
    CHECK(count_files(store->tmp_dir()) == 1);
    CHECK(count_files(store->blobs_dir()) == 0);
    auto d = w->commit(expected);
    REQUIRE(d);
    CHECK(*d == expected);
    CHECK(store->has(expected));
    CHECK(count_files(store->tmp_dir()) == 0);
    struct stat st {};
    REQUIRE(::stat(store->path_of(expected).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0644);
    CHECK(store->verify(expected));
  }
  SECTION("a writer whose caller hashes names the blob by the digest given, and wants one") {
    auto w = store->begin_write(layers::Hashing::ByCaller);
    REQUIRE(w);
    REQUIRE(w->write(part1));
    REQUIRE(w->write(part2));
    CHECK(w->bytes_written() == part1.size() + part2.size());
    auto d = w->commit(expected);
    REQUIRE(d);
    CHECK(*d == expected);
    CHECK(store->verify(expected));
    auto unnamed = store->begin_write(layers::Hashing::ByCaller);
    REQUIRE(unnamed);
    REQUIRE(unnamed->write(part2));
    auto refused = unnamed->commit();
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind() == layers::ErrorKind::InvalidInput);
    CHECK(count_files(store->tmp_dir()) == 0);
  }
  SECTION("a wrong digest is Corrupt and leaves nothing behind") {
    auto w = store->begin_write();
    REQUIRE(w);
    REQUIRE(w->write(part1));
    auto d = w->commit(expected);
    REQUIRE_FALSE(d);
    CHECK(d.error().kind() == layers::ErrorKind::Corrupt);
    CHECK_THAT(d.error().message(), Catch::Contains(expected.str()));
    CHECK(count_files(store->tmp_dir()) == 0);
    CHECK(count_files(store->blobs_dir()) == 0);
    CHECK_FALSE(w->write(part2));  // spent
  }
  SECTION("an abandoned writer removes its temp file") {
    {
      auto w = store->begin_write();
      REQUIRE(w);
      REQUIRE(w->write(part1));
    }
    CHECK(count_files(store->tmp_dir()) == 0);
    CHECK(count_files(store->blobs_dir()) == 0);
  }
}

TEST_CASE("blob store: reading checks limits and content", "[layers][blob_store]") {
  TempDir dir;
  auto store = layers::BlobStore::open(dir.path);
  REQUIRE(store);
  auto d = store->put_bytes("0123456789");
  REQUIRE(d);
  auto too_big = store->read_all(*d, 5);
  REQUIRE_FALSE(too_big);
  CHECK(too_big.error().kind() == layers::ErrorKind::InvalidInput);

  auto missing = store->open_read(layers::Digest::of("nope"));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind() == layers::ErrorKind::NotFound);

  // Damage the blob behind the store's back: reads and verify notice.
  std::ofstream(store->path_of(*d), std::ios::trunc) << "0123456780";
  auto damaged = store->read_all(*d, 100);
  REQUIRE_FALSE(damaged);
  CHECK(damaged.error().kind() == layers::ErrorKind::Corrupt);
  auto verified = store->verify(*d);
  REQUIRE_FALSE(verified);
  CHECK(verified.error().kind() == layers::ErrorKind::Corrupt);
}

TEST_CASE("blob store: listing separates blobs from strays", "[layers][blob_store]") {
  TempDir dir;
  auto store = layers::BlobStore::open(dir.path);
  REQUIRE(store);
  auto d = store->put_bytes("x");
  REQUIRE(d);
  std::ofstream(store->blobs_dir() + "/not-a-digest") << "junk";
  auto listing = store->list();
  REQUIRE(listing);
  CHECK(listing->blobs == std::vector<layers::Digest>{*d});
  CHECK(listing->strays == std::vector<std::string>{"not-a-digest"});
  REQUIRE(store->remove(*d));
  CHECK_FALSE(store->has(*d));
  CHECK(store->remove(*d).error().kind() == layers::ErrorKind::NotFound);
}

TEST_CASE("blob store: only dead temp files are swept", "[layers][blob_store]") {
  TempDir dir;
  auto store = layers::BlobStore::open(dir.path);
  REQUIRE(store);
  auto live = store->begin_write();
  REQUIRE(live);
  REQUIRE(live->write("still writing"));
  // What a SIGKILLed writer leaves: a temp file nobody holds a lock on.
  std::ofstream(store->tmp_dir() + "/blob-dead01") << "half a blob";
  auto removed = store->remove_dead_temp_files();
  REQUIRE(removed);
  CHECK(*removed == 1);
  CHECK(count_files(store->tmp_dir()) == 1);
  auto d = live->commit();
  REQUIRE(d);
  CHECK(*d == layers::Digest::of("still writing"));
}

TEST_CASE("blob store: copy_from copies a blob between stores, verified", "[layers][blob_store]") {
  TempDir from_dir, to_dir;
  auto from = layers::BlobStore::open(from_dir.path);
  auto to = layers::BlobStore::open(to_dir.path);
  REQUIRE(from);
  REQUIRE(to);
  auto good = from->put_bytes("good bytes");
  auto bad = from->put_bytes("bad bytes");
  REQUIRE(good);
  REQUIRE(bad);
  REQUIRE(to->copy_from(*from, *good));
  CHECK(to->has(*good));
  CHECK(to->verify(*good));

  // A blob whose bytes are not its name never lands.
  std::ofstream(from->path_of(*bad), std::ios::trunc) << "tampered";
  auto copied = to->copy_from(*from, *bad);
  REQUIRE_FALSE(copied);
  CHECK(copied.error().kind() == layers::ErrorKind::Corrupt);
  CHECK_FALSE(to->has(*bad));
  // Missing in the source: NotFound.
  auto missing = to->copy_from(*from, layers::Digest::of("nowhere"));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind() == layers::ErrorKind::NotFound);
}

TEST_CASE("blob store: a blob written past the page cache", "[layers][blob_store]") {
  TempDir dir;
  auto store = layers::BlobStore::open(dir.path);
  REQUIRE(store);
  const size_t piece = layers::kDirectPiece;

  SECTION("has its bytes whatever the sizes of the writes and of the blob") {
    for (size_t size : {size_t(0), size_t(100), piece, piece + 1, 3 * piece + 12345}) {
      CAPTURE(size);
      const std::string data = pattern(size);
      auto w = store->begin_write(layers::Hashing::ByWriter, layers::PageCache::Bypass);
      REQUIRE(w);
      // Odd pieces, then one write of more than a piece.
      size_t at = 0;
      for (size_t n = 7777; at < size && at < piece; at += n) REQUIRE(w->write(std::string_view(data).substr(at, n)));
      if (at < size) REQUIRE(w->write(std::string_view(data).substr(at)));
      CHECK(w->bytes_written() == size);
      auto d = w->commit(layers::Digest::of(data));
      REQUIRE(d);
      auto back = store->read_all(*d, size + 1);
      REQUIRE(back);
      CHECK(*back == data);
      CHECK(count_files(store->tmp_dir()) == 0);
    }
  }
  SECTION("its whole pieces are on disk as soon as written, not in the cache") {
    struct statfs fs {};
    REQUIRE(::statfs(dir.path.c_str(), &fs) == 0);
    if (fs.f_type == TMPFS_MAGIC) HOIST_SKIP("the temp dir is on tmpfs, whose files are the page cache");
    auto w = store->begin_write(layers::Hashing::ByWriter, layers::PageCache::Bypass);
    REQUIRE(w);
    REQUIRE(w->write(pattern(4 * piece)));
    const std::string temp = only_file(store->tmp_dir());
    REQUIRE_FALSE(temp.empty());
    CHECK(resident_pages(temp, 4 * piece) == 0);
    // A reader following the writer (a push uploading a layer as it is compressed) reads
    // past the cache too, what is on the file: the first three pieces at least (the fourth
    // may still be on its way), never what the writer holds.
    REQUIRE(w->write(std::string_view(pattern(5 * piece)).substr(4 * piece, 100)));
    auto reader = w->open_reader();
    REQUIRE(reader);
    CHECK(layers::has_direct_io(reader->get()));
    const uint64_t on_file = w->bytes_on_file();
    CHECK(on_file >= 3 * piece);
    CHECK(on_file <= 4 * piece);
    CHECK(on_file % piece == 0);
    auto head = layers::make_aligned_buffer(3 * piece);
    REQUIRE(head);
    REQUIRE(::pread(reader->get(), head.get(), 3 * piece, 0) == ssize_t(3 * piece));
    CHECK(std::string_view(reinterpret_cast<const char*>(head.get()), 3 * piece) == pattern(3 * piece));
    const std::string whole = pattern(4 * piece) + pattern(5 * piece).substr(4 * piece, 100);
    REQUIRE(w->commit(layers::Digest::of(whole)));
    CHECK(resident_pages(store->path_of(layers::Digest::of(whole)), 4 * piece) == 0);
    // After commit, the whole blob, its short end too.
    auto all = layers::make_aligned_buffer(5 * piece);
    REQUIRE(all);
    REQUIRE(::pread(reader->get(), all.get(), 5 * piece, 0) == ssize_t(whole.size()));
    CHECK(std::string_view(reinterpret_cast<const char*>(all.get()), whole.size()) == whole);

    // The same through the cache, for contrast: there it stays.
    auto cached = store->begin_write(layers::Hashing::ByWriter, layers::PageCache::Use);
    REQUIRE(cached);
    REQUIRE(cached->write(pattern(4 * piece) + "x"));
    CHECK(resident_pages(only_file(store->tmp_dir()), 4 * piece) == 4 * piece / size_t(::sysconf(_SC_PAGESIZE)));
  }
  SECTION("a piece its thread fails to write fails the next write or the commit, and nothing lands") {
    // Every write(2) failing: the writer's thread meets it on the first full piece.
    const std::string data = pattern(3 * piece + 5);
    const std::string root = dir.path;
    auto seen = hoist_test::in_child_failing(SYS_write, ENOSPC, [&] {
      auto s = layers::BlobStore::open(root);
      if (!s) return 1;
      auto w = s->begin_write(layers::Hashing::ByWriter, layers::PageCache::Bypass);
      if (!w) return 2;
      auto wrote = w->write(data);  // the second piece waits for the first, and meets its error
      if (wrote) return 3;
      if (wrote.error().sys_errno() != ENOSPC) return 4;
      auto committed = w->commit(layers::Digest::of(data));
      return committed ? 5 : 0;  // the commit meets the same error
    });
    if (!seen) HOIST_SKIP("seccomp is not available to make write fail");
    CHECK(*seen == 0);
    CHECK_FALSE(store->has(layers::Digest::of(data)));
    CHECK(count_files(store->tmp_dir()) == 0);
  }
  SECTION("where direct I/O is refused, through the cache") {
    // fcntl failing is what begin_write meets on a filesystem without direct I/O.
    const std::string data = pattern(2 * piece + 5);
    const std::string root = dir.path;
    auto seen = hoist_test::in_child_failing(SYS_fcntl, EINVAL, [&] {
      auto s = layers::BlobStore::open(root);
      if (!s) return 1;
      auto w = s->begin_write(layers::Hashing::ByWriter, layers::PageCache::Bypass);
      if (!w) return 2;
      if (!w->write(data)) return 3;
      return w->commit(layers::Digest::of(data)) ? 0 : 4;
    });
    if (!seen) HOIST_SKIP("seccomp is not available to make fcntl fail");
    REQUIRE(*seen == 0);
    const layers::Digest d = layers::Digest::of(data);
    // Written through the cache, it is still there (checked before reading it here).
    CHECK(resident_pages(store->path_of(d), 2 * piece) == 2 * piece / size_t(::sysconf(_SC_PAGESIZE)));
    auto back = store->read_all(d, data.size());
    REQUIRE(back);
    CHECK(*back == data);
  }
}

TEST_CASE("blob store: a layer is compressed from its blob read past the page cache", "[layers][blob_store]") {
  TempDir dir;
  struct statfs fs {};
  REQUIRE(::statfs(dir.path.c_str(), &fs) == 0);
  if (fs.f_type == TMPFS_MAGIC) HOIST_SKIP("the temp dir is on tmpfs, whose files are the page cache");
  const std::string src = dir.path + "/src";
  std::filesystem::create_directories(src);
  std::ofstream(src + "/big", std::ios::binary) << pattern(3 * layers::kDirectPiece + 7);
  auto store = layers::Store::open(dir.path + "/store");
  REQUIRE(store);
  // Stored as a build stores a layer (builder/run_step.cpp): past the cache.
  auto w = store->blobs().begin_write(layers::Hashing::ByCaller, layers::PageCache::Bypass);
  REQUIRE(w);
  auto digests = layers::write_layer({.source_root = src, .entries = {{"big"}}}, {.compression = layers::Compression::None},
                                     [&](std::span<const std::byte> b) { return w->write(b); });
  REQUIRE(digests);
  REQUIRE(w->commit(digests->digest));
  layers::Descriptor layer{.media_type = std::string(layers::oci_layer_media_type(layers::Compression::None)),
                           .digest = digests->digest,
                           .size = int64_t(digests->size)};
  const std::string path = store->blobs().path_of(layer.digest);
  const size_t whole = 3 * layers::kDirectPiece;  // the pieces written with O_DIRECT
  REQUIRE(resident_pages(path, whole) == 0);
  auto packed = layers::compressed_layer(*store, layer, layers::Compression::Gzip);
  REQUIRE(packed);
  CHECK(packed->digest != layer.digest);
  // Read once to be compressed, and not kept in memory for it.
  CHECK(resident_pages(path, whole) == 0);
}
