#pragma once
// A producer in a thread of its own, a few chunks ahead of its consumer: ReadAhead runs
// `produce` (for a layer: reading the blob and inflating it, layers/compress.h's
// DecompressingReader) in a thread that fills a ring of fixed buffers, while the caller
// takes the filled ones in order (for a layer: hashing them and applying the tar). On two
// cores the two halves overlap, so unpacking takes about as long as the slower half.
//
// Memory is bounded: kReadAheadChunks buffers of chunk_bytes (kReadAheadChunkBytes unless
// start() is told otherwise), whatever the
// stream's length or compression ratio. The producer waits while the ring is full. The
// buffers are page aligned: a producer may read a descriptor with O_DIRECT into them
// (decompress() reading a blob written past the page cache).

#include <cstddef>
#include <functional>
#include <memory>
#include <span>

#include "layers/error.h"

namespace layers {

inline constexpr size_t kReadAheadChunkBytes = 256 * 1024;
inline constexpr size_t kReadAheadChunks = 8;  // 2 MiB in all

class ReadAhead {
 public:
  // Fills up to out.size() bytes; 0 means the stream ended. Called in the producer thread
  // only, never again after it returned 0 or an Error.
  using Producer = std::function<Result<size_t>(std::span<std::byte>)>;

  // Starts the producer thread. `chunk_bytes`: a multiple of 4096 (the page); bigger
  // chunks for a producer whose every call waits for a disk (a direct read of 1 MiB took
  // 1.1 ms here, of 256 KiB 0.65 ms).
  static Result<ReadAhead> start(Producer produce, size_t chunk_bytes = kReadAheadChunkBytes);
  ReadAhead(ReadAhead&&) noexcept;
  ReadAhead& operator=(ReadAhead&&) noexcept;
  ~ReadAhead();  // stops the producer (after the chunk it is filling) and joins it

  // The next chunk, in order; valid until the next call. Empty at the end of the stream.
  // The producer's Error comes after the chunks it filled before it. Once at the end or
  // at the Error, every further call returns the same.
  Result<std::span<const std::byte>> next();

 private:
  struct Impl;
  explicit ReadAhead(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace layers
