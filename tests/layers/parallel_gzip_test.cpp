#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "layers/compress.h"
#include "layers/parallel_gzip.h"

namespace {

// Compressible text and noise in stretches that do not line up with the blocks.
std::vector<std::byte> mixed_bytes(size_t n) {
  std::mt19937 rng(42);
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; ++i)
    out[i] = (i / 50000) % 2 ? std::byte(rng() & 0xff) : std::byte("parallel gzip block "[i % 20]);
  return out;
}

std::vector<std::byte> gzip_with(int threads, std::span<const std::byte> input) {
  std::vector<std::byte> out;
  auto gz = layers::ParallelGzip::create(threads, [&](std::span<const std::byte> b) -> layers::Result<void> {
    out.insert(out.end(), b.begin(), b.end());
    return {};
  });
  REQUIRE(gz);
  // Uneven writes, as a tar writer makes them.
  size_t pos = 0, step = 1;
  while (pos < input.size()) {
    size_t n = std::min(step, input.size() - pos);
    REQUIRE(gz->write(input.subspan(pos, n)));
    pos += n;
    step = step * 5 + 7;
  }
  REQUIRE(gz->finish());
  return out;
}

std::string temp_file(std::span<const std::byte> bytes) {
  char path[] = "/tmp/hoist-pgz-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  return path;
}

std::vector<std::byte> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto b = std::as_bytes(std::span(s));
  return {b.begin(), b.end()};
}

// libarchive's gzip filter over the raw format: the bytes it decompresses.
std::vector<std::byte> libarchive_gunzip(std::span<const std::byte> packed) {
  archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_raw(a);
  REQUIRE(archive_read_open_memory(a, packed.data(), packed.size()) == ARCHIVE_OK);
  archive_entry* e = nullptr;
  REQUIRE(archive_read_next_header(a, &e) == ARCHIVE_OK);
  std::vector<std::byte> out;
  std::vector<std::byte> buf(65536);
  for (la_ssize_t n; (n = archive_read_data(a, buf.data(), buf.size())) > 0;)
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  archive_read_free(a);
  return out;
}

}  // namespace

TEST_CASE("parallel gzip: the same bytes with 1 and N threads, read by gzip -d, libarchive and our decoder",
          "[layers][compress][parallel_gzip]") {
  const size_t size = GENERATE(size_t(0), size_t(1), layers::kGzipBlockBytes, 3 * layers::kGzipBlockBytes + 17,
                               size_t(1300000));
  CAPTURE(size);
  const auto input = mixed_bytes(size);
  const auto one = gzip_with(1, input);
  for (int threads : {2, 3, 8}) {
    CAPTURE(threads);
    CHECK(gzip_with(threads, input) == one);
  }
  REQUIRE(one.size() >= 18);
  CHECK(one[0] == std::byte{0x1f});
  CHECK(one[1] == std::byte{0x8b});
  CHECK(one[9] == std::byte{255});

  // gzip(1) checks the CRC and the size in the trailer.
  const std::string packed = temp_file(one), plain = packed + ".out";
  REQUIRE(std::system(("gzip -dc < " + packed + " > " + plain).c_str()) == 0);
  CHECK(read_whole(plain) == input);
  std::remove(packed.c_str());
  std::remove(plain.c_str());

  if (size > 0) CHECK(libarchive_gunzip(one) == input);  // raw format wants some data

  std::vector<std::byte> back;
  auto dec = layers::LayerDecoder::create([&](std::span<const std::byte> b) -> layers::Result<void> {
    back.insert(back.end(), b.begin(), b.end());
    return {};
  });
  REQUIRE(dec);
  REQUIRE(dec->write(one));
  REQUIRE(dec->finish());
  CHECK(back == input);
}

TEST_CASE("parallel gzip: the layer encoder's gzip does not depend on the thread count", "[layers][compress][parallel_gzip]") {
  const auto input = mixed_bytes(900000);
  std::optional<layers::Digest> first;
  for (int threads : {1, 2, 0}) {
    CAPTURE(threads);
    auto enc = layers::LayerEncoder::create(
        layers::Compression::Gzip, [](std::span<const std::byte>) -> layers::Result<void> { return {}; }, threads);
    REQUIRE(enc);
    REQUIRE(enc->write(input));
    auto d = enc->finish();
    REQUIRE(d);
    if (!first) first = d->digest;
    CHECK(d->digest == *first);
  }
  CHECK_FALSE(layers::ParallelGzip::create(0, nullptr));
}
