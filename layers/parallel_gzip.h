#pragma once
// gzip on all cores, as pigz does, with output that does not depend on the number of
// threads (so layer digests stay reproducible).
//
// The input is cut into blocks of kGzipBlockBytes. Each block is coded on its own and
// ends byte-aligned; the last one ends the stream. A quick pass over the block first
// looks for repeats (8 bytes or longer, within deflate's 32 KiB window), and the block is:
//   Deflate      repeats cover at least 1/8 of it: level 6, with the 32 KiB of input before
//                it as the dictionary, ending with a sync flush (an empty stored block);
//   Repeats      long repeats (64 bytes on average) leave at most 1/16 of it uncovered (a
//                line over and over): level 1, no dictionary. Level 6 finds the same
//                258-byte matches there three times slower (`yes` text: 0.26% of its size
//                at level 6, 0.52% at level 1);
//   Rle          else, runs of one byte cover 1/32 of it (a tar of small files: zeros pad
//                every header): zlib's Z_RLE;
//   HuffmanOnly  else: zlib's Z_HUFFMAN_ONLY;
//   Stored       else, when its byte entropy is 7.95 bits or more (noise, compressed files):
//                copied into stored blocks.
// LZ77's match search is most of deflate's time and finds nothing worth coding in the last
// three, so they cost a fraction of it (a block so coded is at most about 3% larger than
// level 6 would make it, and often smaller: chance matches code no shorter than literals).
// The blocks' outputs, in order, form one deflate stream inside one gzip member with a
// fixed header (no name, no mtime, OS 255), and the trailer's CRC-32 is the blocks' CRCs
// combined (crc32_combine). Each block's bytes (and how it is coded) depend only on its
// input and the 32 KiB before it, so 1 thread and N threads write the same bytes. Any gzip reader reads it.
//
// Memory is bounded: at most a few blocks per thread are in flight.

#include <cstddef>
#include <memory>
#include <span>

#include "layers/compress.h"
#include "layers/error.h"

namespace layers {

inline constexpr size_t kGzipBlockBytes = 128 * 1024;

// How a block is coded (above); Stored last.
enum class GzipCoding { Deflate, Repeats, Rle, HuffmanOnly, Stored };
// The coding of a block with these bytes (what the block probe decides; for tests).
GzipCoding gzip_block_coding(std::span<const std::byte> input);

class ParallelGzip {
 public:
  // `threads` compressing threads; 1 compresses in the caller's thread, 0 is invalid here
  // (LayerEncoder resolves 0 to the number of CPUs). `out` is called in the caller's
  // thread only (from write() and finish()), in order.
  //
  // `seen`, when set, is given the input, all of it, in order, each block before its
  // output goes to `out`: with several threads it is called from a thread of its own, so
  // work on the input there (LayerEncoder's diff_id hash) does not hold up the caller,
  // which cuts blocks, hands them out and emits them. Its error ends the stream as a
  // compression error would.
  static Result<ParallelGzip> create(int threads, ByteSink out, ByteSink seen = {});
  ParallelGzip(ParallelGzip&&) noexcept;
  ParallelGzip& operator=(ParallelGzip&&) noexcept;
  ~ParallelGzip();  // stops the workers; unfinished output is dropped

  Result<void> write(std::span<const std::byte> data);
  // Compresses what is left and writes the trailer.
  Result<void> finish();

 private:
  struct Impl;
  explicit ParallelGzip(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace layers
