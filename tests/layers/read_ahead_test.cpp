// layers/read_ahead and layers/parallel_for: the threads behind unpacking several layers,
// each with its inflate a few chunks ahead of the applier.

#include <catch2/catch.hpp>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "layers/parallel_for.h"
#include "layers/read_ahead.h"

namespace {

// A producer of `total` bytes (byte i is i % 251), in pieces of at most `piece`, failing
// with `fail_at` bytes given when that is set.
layers::ReadAhead::Producer counting(uint64_t total, size_t piece, std::optional<uint64_t> fail_at = {}) {
  auto given = std::make_shared<uint64_t>(0);
  return [=](std::span<std::byte> out) -> layers::Result<size_t> {
    if (fail_at && *given >= *fail_at) return layers::Error(layers::ErrorKind::Corrupt, "broken at " + std::to_string(*given));
    uint64_t end = std::min<uint64_t>(total, *given + std::min(out.size(), piece));
    if (fail_at) end = std::min(end, *fail_at);
    size_t n = 0;
    for (; *given < end; ++*given) out[n++] = std::byte(*given % 251);
    return n;
  };
}

// Takes every chunk to the end: how many bytes, whether byte i was i % 251 throughout, and
// the biggest chunk.
struct Drained {
  uint64_t seen = 0;
  bool in_order = true;
  size_t biggest = 0;
};
Drained drain(layers::ReadAhead& ahead) {
  Drained d;
  for (;;) {
    auto chunk = ahead.next();
    REQUIRE(chunk);
    if (chunk->empty()) break;
    d.biggest = std::max(d.biggest, chunk->size());
    for (std::byte b : *chunk) d.in_order = d.in_order && b == std::byte(d.seen++ % 251);
  }
  return d;
}

}  // namespace

TEST_CASE("ReadAhead: every byte in order, across many turns of the ring", "[layers][read_ahead]") {
  const uint64_t total = GENERATE(uint64_t(0), uint64_t(1), uint64_t(layers::kReadAheadChunkBytes),
                                  uint64_t(layers::kReadAheadChunkBytes) * layers::kReadAheadChunks * 5 + 17);
  const size_t piece = GENERATE(size_t(1000), size_t(1) << 20);
  CAPTURE(total, piece);
  auto ahead = layers::ReadAhead::start(counting(total, piece));
  REQUIRE(ahead);
  const Drained d = drain(*ahead);
  CHECK(d.biggest <= layers::kReadAheadChunkBytes);
  CHECK(d.in_order);
  CHECK(d.seen == total);
  auto after_end = ahead->next();  // libarchive may ask again at the end
  REQUIRE(after_end);
  CHECK(after_end->empty());
}

TEST_CASE("ReadAhead: chunks of a size of the caller's, page aligned", "[layers][read_ahead]") {
  const size_t chunk_bytes = size_t(1) << 20;
  const uint64_t total = uint64_t(chunk_bytes) * layers::kReadAheadChunks * 2 + 4097;
  std::set<uintptr_t> misaligned;
  auto produce = counting(total, chunk_bytes);
  auto ahead = layers::ReadAhead::start([&](std::span<std::byte> out) {
    // What an O_DIRECT read wants: a page-aligned buffer (the first call for each chunk).
    if (out.size() == chunk_bytes && reinterpret_cast<uintptr_t>(out.data()) % 4096 != 0)
      misaligned.insert(reinterpret_cast<uintptr_t>(out.data()));
    return produce(out);
  }, chunk_bytes);
  REQUIRE(ahead);
  const Drained d = drain(*ahead);
  CHECK(d.in_order);
  CHECK(d.seen == total);
  CHECK(d.biggest == chunk_bytes);
  CHECK(misaligned.empty());

  for (size_t bad : {size_t(0), size_t(1000), size_t(4096) + 1}) {
    auto refused = layers::ReadAhead::start(counting(10, 10), bad);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind() == layers::ErrorKind::InvalidInput);
  }
}

TEST_CASE("ReadAhead: the producer's error comes after the bytes before it", "[layers][read_ahead]") {
  const uint64_t fail_at = layers::kReadAheadChunkBytes * 3 + 5;
  auto ahead = layers::ReadAhead::start(counting(fail_at * 2, 4096, fail_at));
  REQUIRE(ahead);
  uint64_t seen = 0;
  for (;;) {
    auto chunk = ahead->next();
    if (!chunk) {
      CHECK(chunk.error().kind() == layers::ErrorKind::Corrupt);
      CHECK(chunk.error().message() == "broken at " + std::to_string(fail_at));
      auto again = ahead->next();
      REQUIRE_FALSE(again);
      CHECK(again.error().message() == chunk.error().message());
      break;
    }
    REQUIRE_FALSE(chunk->empty());
    seen += chunk->size();
  }
  CHECK(seen == fail_at);
}

TEST_CASE("ReadAhead: a consumer that stops early stops the producer", "[layers][read_ahead]") {
  // An endless producer: the destructor must not wait for its end.
  auto ahead = layers::ReadAhead::start(counting(UINT64_MAX, 1 << 20));
  REQUIRE(ahead);
  auto chunk = ahead->next();
  REQUIRE(chunk);
  CHECK(chunk->size() == layers::kReadAheadChunkBytes);
}

TEST_CASE("for_each_index: every item once; the lowest failing item's error", "[layers][read_ahead]") {
  const int threads = GENERATE(1, 2, 8);
  CAPTURE(threads);
  std::atomic<int> ran{0};
  std::mutex mu;
  std::set<size_t> done;
  auto all = layers::for_each_index(100, threads, [&](size_t i) -> layers::Result<void> {
    ++ran;
    std::lock_guard lock(mu);
    done.insert(i);
    return {};
  });
  CHECK(all);
  CHECK(ran == 100);
  CHECK(done.size() == 100);

  for (int attempt = 0; attempt < 20; ++attempt) {
    auto failed = layers::for_each_index(50, threads, [&](size_t i) -> layers::Result<void> {
      if (i == 7 || i == 3 || i == 30) return layers::Error(layers::ErrorKind::Corrupt, "item " + std::to_string(i));
      return {};
    });
    REQUIRE_FALSE(failed);
    CHECK(failed.error().message() == "item 3");
  }
  CHECK(layers::for_each_index(0, threads, [](size_t) -> layers::Result<void> { return {}; }));
}
