#include "layers/read_ahead.h"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "layers/direct_io.h"

namespace layers {

// Chunks are numbered from 0 in stream order; chunk k lives in buffers[k % kReadAheadChunks].
// The consumer holds chunk `head` (once taken) until its next call; the producer fills
// chunk `tail`, which is never one the consumer may still read (tail - head < the ring).
struct ReadAhead::Impl {
  Producer produce;
  size_t chunk_bytes = kReadAheadChunkBytes;
  std::vector<AlignedBuffer> buffers;  // chunk_bytes each
  std::vector<size_t> lengths;

  std::mutex mu;
  std::condition_variable changed;
  uint64_t head = 0, tail = 0;
  bool is_holding = false;  // the consumer holds chunk `head`
  bool is_ended = false;    // the producer returned 0
  bool is_stopping = false;  // the consumer went away
  std::optional<Error> error;
  std::thread thread;

  void run() {
    for (;;) {
      uint64_t k;
      {
        std::unique_lock lock(mu);
        changed.wait(lock, [&] { return is_stopping || tail - head < kReadAheadChunks; });
        if (is_stopping) return;
        k = tail;
      }
      const std::span<std::byte> buffer(buffers[k % kReadAheadChunks].get(), chunk_bytes);
      size_t filled = 0;
      bool is_end = false;
      std::optional<Error> failed;
      while (filled < buffer.size()) {
        auto n = produce(buffer.subspan(filled));
        if (!n) {
          failed = std::move(n).error();
          break;
        }
        if (*n == 0) {
          is_end = true;
          break;
        }
        filled += *n;
      }
      std::lock_guard lock(mu);
      lengths[k % kReadAheadChunks] = filled;
      if (filled > 0) ++tail;
      error = std::move(failed);
      is_ended = is_end;
      changed.notify_all();
      if (error || is_ended) return;
    }
  }
};

ReadAhead::ReadAhead(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ReadAhead::ReadAhead(ReadAhead&&) noexcept = default;
ReadAhead& ReadAhead::operator=(ReadAhead&&) noexcept = default;

ReadAhead::~ReadAhead() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->is_stopping = true;
  }
  impl_->changed.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<ReadAhead> ReadAhead::start(Producer produce, size_t chunk_bytes) {
  if (chunk_bytes == 0 || chunk_bytes % 4096 != 0)
    return Error(ErrorKind::InvalidInput, "read-ahead chunks of " + std::to_string(chunk_bytes) + " bytes, not a multiple of 4096");
  auto impl = std::make_unique<Impl>();
  impl->chunk_bytes = chunk_bytes;
  impl->produce = std::move(produce);
  for (size_t i = 0; i < kReadAheadChunks; ++i) {
    impl->buffers.push_back(make_aligned_buffer(chunk_bytes));
    if (!impl->buffers.back()) return Error(ErrorKind::Io, "out of memory for read-ahead buffers");
  }
  impl->lengths.assign(kReadAheadChunks, 0);
  try {
    Impl* self = impl.get();
    impl->thread = std::thread([self] { self->run(); });
  } catch (const std::system_error& e) {
    return Error(ErrorKind::Io, std::string("starting a read-ahead thread: ") + e.what());
  }
  return ReadAhead(std::move(impl));
}

Result<std::span<const std::byte>> ReadAhead::next() {
  Impl& s = *impl_;
  std::unique_lock lock(s.mu);
  if (s.is_holding) {
    ++s.head;
    s.is_holding = false;
    s.changed.notify_all();
  }
  s.changed.wait(lock, [&] { return s.tail > s.head || s.error || s.is_ended; });
  if (s.tail > s.head) {
    s.is_holding = true;
    const size_t slot = s.head % kReadAheadChunks;
    return std::span<const std::byte>(s.buffers[slot].get(), s.lengths[slot]);
  }
  if (s.error) return *s.error;
  return std::span<const std::byte>();
}

}  // namespace layers
