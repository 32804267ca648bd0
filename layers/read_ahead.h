#pragma once
// A producer in a thread of its own, a few chunks ahead of its consumer: ReadAhead runs
// `produce` (for a layer: reading the blob and inflating it, layers/compress.h's
// DecompressingReader) in a thread that fills a ring of fixed buffers, while the caller
// takes the filled ones in order (for a layer: hashing them and applying the tar). On two
// cores the two halves overlap, so unpacking takes about as long as the slower half.
//
// Memory is bounded: kReadAheadChunks buffers of kReadAheadChunkBytes, whatever the
// stream's length or compression ratio. The producer waits while the ring is full.

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

  // Starts the producer thread.
  static Result<ReadAhead> start(Producer produce);
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
