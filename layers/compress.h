#pragma once
// Layer compression in one pass: LayerEncoder takes the uncompressed tar stream, hashes it
// (the diff_id), compresses it, hashes the compressed bytes (the digest) and hands them to
// a sink, so nothing is staged on disk. LayerDecoder goes the other way for input whose
// compression is unknown (gzip, zstd or plain, told apart by magic bytes).
//
// Output is reproducible: gzip has a fixed level and a fixed header (no name, no mtime,
// OS byte 255 "unknown") and is compressed in fixed blocks on all cores (layers/
// parallel_gzip.h), zstd a fixed level and always its multi-threaded mode; neither's
// output depends on the number of threads. The same input bytes give the same
// digest on every machine with the same zlib/zstd versions.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "layers/digest.h"
#include "layers/error.h"

namespace layers {

enum class Compression { None, Gzip, Zstd };

// "none", "gzip", "zstd".
std::string_view compression_name(Compression c);
// Accepts "gzip", "zstd", and "none" or "uncompressed"; anything else is InvalidInput
// naming the value and the choices (for `--compression`).
Result<Compression> parse_compression(std::string_view name);
// The OCI layer media type: application/vnd.oci.image.layer.v1.tar[+gzip|+zstd].
std::string_view oci_layer_media_type(Compression c);
// The compression a layer media type names: OCI and Docker v2 layer types (including the
// "foreign"/non-distributable ones); NotFound for a media type that is not a layer.
Result<Compression> compression_of_media_type(std::string_view media_type);

// Receives bytes as they are produced. Returning an Error stops the producer, which
// returns that error (with its own context added).
using ByteSink = std::function<Result<void>(std::span<const std::byte>)>;

struct LayerDigests {
  Digest diff_id;     // sha256 of the uncompressed tar
  Digest digest;      // sha256 of the bytes given to the sink (== diff_id for None)
  uint64_t size = 0;  // bytes given to the sink
  uint64_t uncompressed_size = 0;
};

// Compresses and hashes a stream. Call write() any number of times, then finish() once;
// the encoder is unusable after finish() or after any call returned an Error.
class LayerEncoder {
 public:
  // `threads` is the number of compressing threads (gzip and zstd); 0 picks the number of
  // CPUs. The output is the same for any number. Ignored for None. Negative is InvalidInput.
  static Result<LayerEncoder> create(Compression compression, ByteSink out, int threads = 0);
  LayerEncoder(LayerEncoder&&) noexcept;
  LayerEncoder& operator=(LayerEncoder&&) noexcept;
  ~LayerEncoder();

  Result<void> write(std::span<const std::byte> data);
  // Flushes the compressor, then returns both digests and sizes.
  Result<LayerDigests> finish();

  Compression compression() const;

 private:
  struct Impl;
  explicit LayerEncoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Looks at the first bytes of a stream: gzip (1f 8b), zstd (28 b5 2f fd), else None.
// xz and bzip2 are recognised only to be refused by LayerDecoder as Unsupported.
Compression detect_compression(std::span<const std::byte> head);

// Decompresses a stream whose compression is found from its first bytes, passing the
// plain bytes to the sink. Concatenated gzip members and zstd frames are decoded in turn.
// Damaged or truncated input is Corrupt; xz/bzip2 input is Unsupported.
class LayerDecoder {
 public:
  static Result<LayerDecoder> create(ByteSink out);
  LayerDecoder(LayerDecoder&&) noexcept;
  LayerDecoder& operator=(LayerDecoder&&) noexcept;
  ~LayerDecoder();

  Result<void> write(std::span<const std::byte> data);
  // Corrupt if the input stopped in the middle of a gzip member or zstd frame.
  Result<void> finish();

  // What the input turned out to be; None until enough bytes were seen.
  Compression compression() const;
  uint64_t compressed_bytes() const;    // bytes given to write()
  uint64_t uncompressed_bytes() const;  // bytes given to the sink

 private:
  struct Impl;
  explicit LayerDecoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads `fd` to its end through a LayerDecoder. Returns what the compression was.
// The fd is not closed.
Result<Compression> decompress(int fd, ByteSink out);

// The pull-style twin of LayerDecoder: reads compressed bytes from `fd` as needed and hands
// out plain bytes in the caller's buffer, so memory stays bounded whatever the compression
// ratio (a small zstd frame can expand to gigabytes). For consumers that pull, such as
// libarchive's read callback. Does not own the fd.
class DecompressingReader {
 public:
  static Result<DecompressingReader> open(int fd);
  DecompressingReader(DecompressingReader&&) noexcept;
  DecompressingReader& operator=(DecompressingReader&&) noexcept;
  ~DecompressingReader();

  // Fills up to out.size() bytes (at least one unless at the end); 0 means the stream
  // ended cleanly. Corrupt for damaged or truncated input, Unsupported for xz/bzip2,
  // Io for a failed read. Do not call again after an error.
  Result<size_t> read(std::span<std::byte> out);

  Compression compression() const;    // valid after the first read()
  uint64_t compressed_bytes() const;  // read from the fd so far

 private:
  struct Impl;
  explicit DecompressingReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace layers
