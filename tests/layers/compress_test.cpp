#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "layers/compress.h"
#include "layers/parallel_gzip.h"

using layers::Compression;

namespace {

std::vector<std::byte> sample_bytes(size_t n, uint32_t seed) {
  // Half compressible text, half noise, so both codecs do real work.
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  for (size_t i = 0; i < n; ++i)
    out[i] = (i / 4096) % 2 ? std::byte(rng() & 0xff) : std::byte("hoist layer "[i % 12]);
  return out;
}

struct Encoded {
  layers::LayerDigests digests;
  std::vector<std::byte> bytes;
};

// Writes `input` in uneven chunks, as a tar writer would.
Encoded encode(Compression c, std::span<const std::byte> input, int threads = 0) {
  Encoded e{.digests = {.diff_id = layers::Digest::of(""), .digest = layers::Digest::of("")}};
  auto enc = layers::LayerEncoder::create(
      c,
      [&](std::span<const std::byte> b) -> layers::Result<void> {
        e.bytes.insert(e.bytes.end(), b.begin(), b.end());
        return {};
      },
      threads);
  REQUIRE(enc);
  size_t pos = 0, step = 1;
  while (pos < input.size()) {
    size_t n = std::min(step, input.size() - pos);
    REQUIRE(enc->write(input.subspan(pos, n)));
    pos += n;
    step = step * 7 + 3;
  }
  auto d = enc->finish();
  REQUIRE(d);
  e.digests = *d;
  return e;
}

layers::Result<std::vector<std::byte>> decode(std::span<const std::byte> input, size_t chunk) {
  std::vector<std::byte> out;
  auto dec =
      layers::LayerDecoder::create([&](std::span<const std::byte> b) -> layers::Result<void> {
        out.insert(out.end(), b.begin(), b.end());
        return {};
      });
  if (!dec) return dec.error();
  for (size_t pos = 0; pos < input.size(); pos += chunk)
    if (auto r = dec->write(input.subspan(pos, std::min(chunk, input.size() - pos))); !r)
      return std::move(r).error();
  if (auto r = dec->finish(); !r) return std::move(r).error();
  return out;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("hoist-compress-" + std::to_string(::getpid()) + "-" + name))
      .string();
}

void write_file(const std::string& path, std::span<const std::byte> bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  if (!chars.empty()) std::memcpy(out.data(), chars.data(), chars.size());  // data() may be null when empty
  return out;
}

// libarchive's gzip filter over the raw format: the bytes it decompresses.
std::vector<std::byte> libarchive_gunzip(std::span<const std::byte> packed) {
  archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_raw(a);
  REQUIRE(archive_read_open_memory(a, packed.data(), packed.size()) == ARCHIVE_OK);
  archive_entry* e = nullptr;
  REQUIRE(archive_read_next_header(a, &e) == ARCHIVE_OK);
  std::vector<std::byte> out, buf(65536);
  for (la_ssize_t n; (n = archive_read_data(a, buf.data(), buf.size())) > 0;)
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  archive_read_free(a);
  return out;
}

}  // namespace

TEST_CASE("compress: names and media types", "[layers][compress]") {
  auto [name, c, media_type] = GENERATE(table<std::string, Compression, std::string>({
      {"none", Compression::None, "application/vnd.oci.image.layer.v1.tar"},
      {"gzip", Compression::Gzip, "application/vnd.oci.image.layer.v1.tar+gzip"},
      {"zstd", Compression::Zstd, "application/vnd.oci.image.layer.v1.tar+zstd"},
  }));
  CAPTURE(name);
  auto parsed = layers::parse_compression(name);
  REQUIRE(parsed);
  CHECK(*parsed == c);
  CHECK(layers::compression_name(c) == name);
  CHECK(layers::oci_layer_media_type(c) == media_type);
  auto back = layers::compression_of_media_type(media_type);
  REQUIRE(back);
  CHECK(*back == c);
}

TEST_CASE("compress: unknown names and media types are refused", "[layers][compress]") {
  auto bad = layers::parse_compression("xz");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind() == layers::ErrorKind::InvalidInput);
  CHECK(bad.error().message().find("\"xz\"") != std::string::npos);
  CHECK(*layers::compression_of_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip") ==
        Compression::Gzip);
  CHECK(layers::compression_of_media_type("application/vnd.oci.image.config.v1+json")
            .error()
            .kind() == layers::ErrorKind::NotFound);
  CHECK_FALSE(layers::LayerEncoder::create(Compression::Zstd, nullptr, -1));
}

TEST_CASE("compress: encode then decode gives the input back, with both digests",
          "[layers][compress]") {
  auto [c, size] = GENERATE(table<Compression, size_t>({
      {Compression::None, 0},
      {Compression::None, 300000},
      {Compression::Gzip, 0},
      {Compression::Gzip, 1},
      {Compression::Gzip, 1000000},
      {Compression::Zstd, 0},
      {Compression::Zstd, 1000000},
  }));
  CAPTURE(layers::compression_name(c), size);
  auto input = sample_bytes(size, 42);
  auto e = encode(c, input);
  CHECK(e.digests.diff_id == layers::Digest::of(input));
  CHECK(e.digests.uncompressed_size == input.size());
  CHECK(e.digests.digest == layers::Digest::of(e.bytes));
  CHECK(e.digests.size == e.bytes.size());
  if (c == Compression::None) CHECK(e.bytes == input);
  if (c != Compression::None) CHECK(layers::detect_compression(e.bytes) == c);

  for (size_t chunk : {size_t(1), size_t(5), size_t(65536)}) {
    if (chunk == 1 && e.bytes.size() > 100000) continue;
    CAPTURE(chunk);
    auto back = decode(e.bytes, chunk);
    REQUIRE(back);
    CHECK(*back == input);
  }
}

TEST_CASE("compress: the real gzip and zstd tools read what we write", "[layers][compress]") {
  auto [c, tool] = GENERATE(table<Compression, std::string>({
      {Compression::Gzip, "gzip"},
      {Compression::Zstd, "zstd"},
  }));
  CAPTURE(tool);
  auto input = sample_bytes(700000, 7);
  auto e = encode(c, input, 2);
  std::string packed = temp_path("packed"), plain = temp_path("plain");
  write_file(packed, e.bytes);
  std::string cmd = tool + " -dc < " + packed + " > " + plain;
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(read_file(plain) == input);
  std::remove(packed.c_str());
  std::remove(plain.c_str());
}

TEST_CASE("compress: output is deterministic", "[layers][compress]") {
  auto input = sample_bytes(400000, 3);
  SECTION("gzip header has no name, no mtime, OS 255") {
    auto a = encode(Compression::Gzip, input);
    auto b = encode(Compression::Gzip, input);
    CHECK(a.digests.digest == b.digests.digest);
    REQUIRE(a.bytes.size() > 10);
    CHECK(a.bytes[3] == std::byte{0});  // FLG: no FNAME, FCOMMENT, FEXTRA, FHCRC
    for (int i = 4; i < 8; ++i) CHECK(a.bytes[i] == std::byte{0});  // MTIME
    CHECK(a.bytes[9] == std::byte{255});                            // OS
  }
  SECTION("zstd gives the same bytes for any number of threads") {
    auto one = encode(Compression::Zstd, input, 1);
    auto two = encode(Compression::Zstd, input, 2);
    auto autoo = encode(Compression::Zstd, input, 0);
    CHECK(one.digests.digest == two.digests.digest);
    CHECK(one.digests.digest == autoo.digests.digest);
    CHECK(one.digests.diff_id == two.digests.diff_id);
  }
}

TEST_CASE("compress: the decoder refuses damaged, truncated and unsupported input",
          "[layers][compress]") {
  auto input = sample_bytes(200000, 9);
  auto gz = encode(Compression::Gzip, input).bytes;
  auto zst = encode(Compression::Zstd, input).bytes;

  auto truncated_gz = std::vector<std::byte>(gz.begin(), gz.begin() + gz.size() / 2);
  auto truncated_zst = std::vector<std::byte>(zst.begin(), zst.begin() + zst.size() / 2);
  auto trailing_garbage = gz;
  for (char ch : std::string("garbage!")) trailing_garbage.push_back(std::byte(ch));
  auto flipped = gz;
  flipped[gz.size() / 2] ^= std::byte{0x55};
  flipped[gz.size() / 2 + 1] ^= std::byte{0x55};
  std::vector<std::byte> xz{std::byte{0xfd}, std::byte{'7'}, std::byte{'z'}, std::byte{'X'},
                            std::byte{'Z'},  std::byte{0},   std::byte{0}};

  auto [name, bytes, kind] =
      GENERATE_COPY(table<std::string, std::vector<std::byte>, layers::ErrorKind>({
          {"truncated gzip", truncated_gz, layers::ErrorKind::Corrupt},
          {"truncated zstd", truncated_zst, layers::ErrorKind::Corrupt},
          {"gzip then garbage", trailing_garbage, layers::ErrorKind::Corrupt},
          {"damaged gzip", flipped, layers::ErrorKind::Corrupt},
          {"xz", xz, layers::ErrorKind::Unsupported},
      }));
  CAPTURE(name);
  auto r = decode(bytes, 4096);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind() == kind);
}

TEST_CASE("compress: concatenated gzip members decode to the concatenation", "[layers][compress]") {
  auto a = sample_bytes(5000, 1), b = sample_bytes(7000, 2);
  auto both = encode(Compression::Gzip, a).bytes;
  auto second = encode(Compression::Gzip, b).bytes;
  both.insert(both.end(), second.begin(), second.end());
  auto out = decode(both, 999);
  REQUIRE(out);
  auto expected = a;
  expected.insert(expected.end(), b.begin(), b.end());
  CHECK(*out == expected);
}

TEST_CASE("compress: short and empty plain input pass through", "[layers][compress]") {
  for (std::string text : {"", "a", "abcde", "plain tar bytes"}) {
    CAPTURE(text);
    auto bytes = std::as_bytes(std::span(text.data(), text.size()));
    auto out = decode(bytes, 2);
    REQUIRE(out);
    CHECK(std::string(reinterpret_cast<const char*>(out->data()), out->size()) == text);
  }
}

TEST_CASE("compress: a sink error stops the encoder and comes back", "[layers][compress]") {
  int calls = 0;
  auto enc = layers::LayerEncoder::create(
      Compression::Gzip, [&](std::span<const std::byte>) -> layers::Result<void> {
        ++calls;
        return layers::Error(layers::ErrorKind::Io, "disk full");
      });
  REQUIRE(enc);
  auto input = sample_bytes(1000000, 5);
  auto w = enc->write(input);
  auto f = w ? enc->finish().has_value() : false;
  CHECK_FALSE(f);
  if (!w) CHECK(w.error().message() == "disk full");
  CHECK(calls == 1);
  CHECK_FALSE(enc->write(input));
}

TEST_CASE("compress: decompress reads a file descriptor to its end", "[layers][compress]") {
  auto input = sample_bytes(300000, 11);
  auto zst = encode(Compression::Zstd, input).bytes;
  std::string path = temp_path("fd.zst");
  write_file(path, zst);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  std::vector<std::byte> out;
  auto c = layers::decompress(fd, [&](std::span<const std::byte> b) -> layers::Result<void> {
    out.insert(out.end(), b.begin(), b.end());
    return {};
  });
  ::close(fd);
  std::remove(path.c_str());
  REQUIRE(c);
  CHECK(*c == Compression::Zstd);
  CHECK(out == input);
}

TEST_CASE("compress: the pull reader gives back what was encoded, in small reads",
          "[layers][compress]") {
  auto [c, size, read_size] = GENERATE(table<Compression, size_t, size_t>({
      {Compression::None, 0, 7},
      {Compression::None, 100000, 7},
      {Compression::Gzip, 0, 7},
      {Compression::Gzip, 500000, 7},
      {Compression::Gzip, 500000, 200000},
      {Compression::Zstd, 500000, 7},
      {Compression::Zstd, 500000, 200000},
  }));
  CAPTURE(layers::compression_name(c), size, read_size);
  auto input = sample_bytes(size, 13);
  auto packed = encode(c, input).bytes;
  if (c == Compression::Gzip) {  // two members, as `cat a.gz b.gz` makes
    auto second = encode(c, input).bytes;
    packed.insert(packed.end(), second.begin(), second.end());
    input.insert(input.end(), input.begin(), input.end());
  }
  std::string path = temp_path("pull");
  write_file(path, packed);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::remove(path.c_str());
  REQUIRE(fd >= 0);
  auto reader = layers::DecompressingReader::open(fd);
  REQUIRE(reader);
  std::vector<std::byte> out, buf(read_size);
  for (;;) {
    auto n = reader->read(buf);
    if (!n) FAIL(n.error().describe());
    if (*n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + ptrdiff_t(*n));
  }
  ::close(fd);
  CHECK(reader->compression() == (size == 0 && c == Compression::None ? Compression::None : c));
  CHECK(out == input);
  CHECK(reader->compressed_bytes() == packed.size());
}

TEST_CASE("compress: the pull reader refuses truncated input", "[layers][compress]") {
  auto c = GENERATE(Compression::Gzip, Compression::Zstd);
  CAPTURE(layers::compression_name(c));
  auto packed = encode(c, sample_bytes(300000, 17)).bytes;
  packed.resize(packed.size() - 3);
  std::string path = temp_path("pull-truncated");
  write_file(path, packed);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  std::remove(path.c_str());
  REQUIRE(fd >= 0);
  auto reader = layers::DecompressingReader::open(fd);
  REQUIRE(reader);
  std::vector<std::byte> buf(65536);
  layers::Result<size_t> n = size_t(1);
  while (n && *n > 0) n = reader->read(buf);
  ::close(fd);
  REQUIRE_FALSE(n);
  CHECK(n.error().kind() == layers::ErrorKind::Corrupt);
}

TEST_CASE("compress: parallel gzip gives the same bytes with 1 and N threads, read by gzip -d, libarchive and "
          "the decoder",
          "[layers][compress][parallel_gzip]") {
  // Around and across the block size (layers/parallel_gzip.h), text and noise mixed.
  const size_t size = GENERATE(size_t(0), size_t(1), layers::kGzipBlockBytes, 3 * layers::kGzipBlockBytes + 17,
                               size_t(1300000));
  CAPTURE(size);
  const auto input = sample_bytes(size, 11);
  const auto one = encode(Compression::Gzip, input, 1);
  CHECK(one.digests.diff_id == layers::Digest::of(input));
  for (int threads : {2, 3, 8, 0}) {
    CAPTURE(threads);
    const auto many = encode(Compression::Gzip, input, threads);
    CHECK(many.bytes == one.bytes);
    // The input's hash runs on a thread of its own beside the compressors (`seen`).
    CHECK(many.digests.diff_id == one.digests.diff_id);
    CHECK(many.digests.digest == one.digests.digest);
  }
  // gzip(1) checks the trailer's CRC-32 and size.
  std::string packed = temp_path("pgz"), plain = temp_path("pgz-plain");
  write_file(packed, one.bytes);
  REQUIRE(std::system(("gzip -dc < " + packed + " > " + plain).c_str()) == 0);
  CHECK(read_file(plain) == input);
  std::remove(packed.c_str());
  std::remove(plain.c_str());
  if (size > 0) CHECK(libarchive_gunzip(one.bytes) == input);  // the raw format wants data
  auto back = decode(one.bytes, 65536);
  REQUIRE(back);
  CHECK(*back == input);
  CHECK_FALSE(layers::ParallelGzip::create(0, nullptr));
}

TEST_CASE("compress: parallel gzip shows `seen` all its input, in order, before the output; its error ends the stream",
          "[layers][compress][parallel_gzip]") {
  const auto input = sample_bytes(5 * layers::kGzipBlockBytes + 999, 12);
  const int threads = GENERATE(1, 3);
  CAPTURE(threads);
  std::vector<std::byte> seen, out;
  std::mutex mu;  // `seen` runs on its own thread, `out` on the caller's
  size_t seen_when_out = 0;
  auto gz = layers::ParallelGzip::create(
      threads,
      [&](std::span<const std::byte> b) -> layers::Result<void> {
        std::lock_guard lock(mu);
        // A block's output goes out after its input was seen: at least as much input seen
        // as the output so far could come from (stored blocks: a little more than their input).
        seen_when_out = seen.size();
        out.insert(out.end(), b.begin(), b.end());
        return {};
      },
      [&](std::span<const std::byte> b) -> layers::Result<void> {
        std::lock_guard lock(mu);
        seen.insert(seen.end(), b.begin(), b.end());
        return {};
      });
  REQUIRE(gz);
  for (size_t pos = 0; pos < input.size(); pos += 10000)
    REQUIRE(gz->write(std::span(input).subspan(pos, std::min<size_t>(10000, input.size() - pos))));
  REQUIRE(gz->finish());
  CHECK(seen == input);
  CHECK(seen_when_out == input.size());  // the last output (the trailer) after all was seen
  CHECK(libarchive_gunzip(out) == input);

  SECTION("an error from `seen` comes back from write or finish, and nothing after it is emitted as done") {
    size_t calls = 0;
    auto failing = layers::ParallelGzip::create(
        threads, [](std::span<const std::byte>) -> layers::Result<void> { return {}; },
        [&](std::span<const std::byte>) -> layers::Result<void> {
          if (++calls == 2) return layers::Error(layers::ErrorKind::Io, "the hash went away");
          return {};
        });
    REQUIRE(failing);
    layers::Result<void> r;
    for (size_t pos = 0; r && pos < input.size(); pos += 10000)
      r = failing->write(std::span(input).subspan(pos, std::min<size_t>(10000, input.size() - pos)));
    if (r) r = failing->finish();
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "the hash went away");
  }
}

namespace {

// 128 KiB blocks of noise, of 16 random letters (4 bits a byte, no repeats worth coding),
// of text (words drawn from a few), of 512 zeros before every 4096 random letters (a tar
// of small files), and of one line over and over, in turn: each of parallel gzip's five
// codings (layers/parallel_gzip.h), in the order of `kBlockKindCodings`.
constexpr layers::GzipCoding kBlockKindCodings[] = {layers::GzipCoding::Stored, layers::GzipCoding::HuffmanOnly,
                                                    layers::GzipCoding::Deflate, layers::GzipCoding::Rle,
                                                    layers::GzipCoding::Repeats};
std::vector<std::byte> block_kinds(size_t blocks, uint32_t seed) {
  static const char* const words[] = {"layer ", "image ", "of ", "the ", "builds ", "digest ", "a ", "tar ",
                                      "store ", "pushes ", "registry ", "blob ", "index ", "and ", "runs ", "hoist "};
  std::mt19937 rng(seed);
  std::vector<std::byte> out(blocks * layers::kGzipBlockBytes + 17);
  const char* word = "";
  for (size_t i = 0; i < out.size(); ++i) {
    switch ((i / layers::kGzipBlockBytes) % 5) {
      case 0: out[i] = std::byte(rng() & 0xff); break;
      case 1: out[i] = std::byte('a' + (rng() & 0xf)); break;
      case 2:
        if (*word == '\0') word = words[rng() % 16];
        out[i] = std::byte(*word++);
        break;
      case 3: out[i] = i % 4608 < 512 ? std::byte(0) : std::byte('a' + rng() % 26); break;
      default: out[i] = std::byte("a layer of text, repeated\n"[i % 26]); break;
    }
  }
  return out;
}

size_t gzip_size(std::span<const std::byte> input, int threads) {
  return encode(Compression::Gzip, input, threads).bytes.size();
}

}  // namespace

TEST_CASE("compress: parallel gzip stores noise, Huffman-codes what does not repeat, deflates the rest (a line over and over at level 1)",
          "[layers][compress][parallel_gzip]") {
  const size_t blocks = 4;
  SECTION("noise is stored: the output is the input plus 5 bytes a 64 KiB chunk and the gzip frame") {
    std::mt19937 rng(5);
    std::vector<std::byte> noise(blocks * layers::kGzipBlockBytes);
    for (auto& b : noise) b = std::byte(rng() & 0xff);
    const size_t chunks = blocks * ((layers::kGzipBlockBytes + 65534) / 65535);
    CHECK(gzip_size(noise, 1) <= noise.size() + 5 * chunks + 10 + 8 + 8);
  }
  SECTION("16 random letters are Huffman-coded: half the size, under what level 6's search finds (0.57)") {
    std::mt19937 rng(6);
    std::vector<std::byte> letters(blocks * layers::kGzipBlockBytes);
    for (auto& b : letters) b = std::byte('a' + (rng() & 0xf));
    CHECK(gzip_size(letters, 1) < letters.size() * 52 / 100);
  }
  SECTION("a tar of 4 KiB files of random letters is run-length coded: under what level 6 makes (0.570)") {
    // Each file: a 512-byte tar header (its name, octal fields, zeros padding it), then
    // 4096 letters a-z. Z_RLE codes the headers' zeros and Huffman-codes the letters (0.548).
    std::mt19937 rng(7);
    std::string tar;
    for (int i = 0; tar.size() < blocks * layers::kGzipBlockBytes; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "data/d%04d/f%03d", i / 100, i % 100);
      std::string header(name);
      header.resize(100, '\0');
      header += std::string("0000644\0" "0000000\0" "0000000\0" "00000010000\0" "14000000000\0", 44);
      header += std::to_string(100000 + rng() % 99999) + std::string("\0 0", 3);
      header.resize(257, '\0');
      header += std::string("ustar\0" "00", 8);
      header.resize(512, '\0');
      tar += header;
      for (int j = 0; j < 4096; ++j) tar += char('a' + rng() % 26);
    }
    tar.resize(blocks * layers::kGzipBlockBytes);
    std::vector<std::byte> input(tar.size());
    std::memcpy(input.data(), tar.data(), tar.size());
    CHECK(gzip_size(input, 1) < input.size() * 56 / 100);
    const auto one = encode(Compression::Gzip, input, 1);
    CHECK(libarchive_gunzip(one.bytes) == input);
  }
  SECTION("one line over and over (long repeats only) is deflated at level 1: still under 1% of its size") {
    std::vector<std::byte> lines(blocks * layers::kGzipBlockBytes);
    for (size_t i = 0; i < lines.size(); ++i) lines[i] = std::byte("hoist-bench-layer\n"[i % 18]);
    CHECK(layers::gzip_block_coding(std::span(lines).first(layers::kGzipBlockBytes)) == layers::GzipCoding::Repeats);
    const auto packed = encode(Compression::Gzip, lines, 1);
    CHECK(packed.bytes.size() < lines.size() / 100);
    CHECK(libarchive_gunzip(packed.bytes) == lines);
  }
  SECTION("the block probe gives each kind of block its coding") {
    const auto input = block_kinds(10, 10);
    for (size_t block = 0; block < 10; ++block) {
      CAPTURE(block);
      CHECK(layers::gzip_block_coding(std::span(input).subspan(block * layers::kGzipBlockBytes,
                                                               layers::kGzipBlockBytes)) ==
            kBlockKindCodings[block % 5]);
    }
    // Text whose repeats are long but leave more than 1/16 of it new is deflated as usual.
    std::mt19937 rng(11);
    std::vector<std::byte> mixed(layers::kGzipBlockBytes);
    for (size_t i = 0; i < mixed.size(); ++i)
      mixed[i] = i % 1024 < 128 ? std::byte('a' + rng() % 26) : std::byte("a layer of text, repeated\n"[i % 26]);
    CHECK(layers::gzip_block_coding(mixed) == layers::GzipCoding::Deflate);
  }
  SECTION("all five in one stream: the same bytes for 1 and N threads, read back by gzip -d and the decoder") {
    const auto input = block_kinds(11, 9);
    const auto one = encode(Compression::Gzip, input, 1);
    CHECK(encode(Compression::Gzip, input, 3).bytes == one.bytes);
    // The same bytes on every machine: the probe reads its words little-endian everywhere,
    // and zlib's deflate depends only on its input and settings. Pinned, so a machine, or a
    // change, that codes any block otherwise shows here as another layer digest.
    CHECK(one.digests.digest.str() ==
          "sha256:61fe2f69794670d373f6f4d90d059906afd92a985e6ebfdeb280546a6122dc3f");
    std::string packed = temp_path("kinds"), plain = temp_path("kinds-plain");
    write_file(packed, one.bytes);
    REQUIRE(std::system(("gzip -t < " + packed + " && gzip -dc < " + packed + " > " + plain).c_str()) == 0);
    CHECK(read_file(plain) == input);
    std::remove(packed.c_str());
    std::remove(plain.c_str());
    CHECK(libarchive_gunzip(one.bytes) == input);
    auto back = decode(one.bytes, 4096);
    REQUIRE(back);
    CHECK(*back == input);
  }
}
