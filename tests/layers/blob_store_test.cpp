#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "layers/blob_store.h"
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
