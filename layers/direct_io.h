#pragma once
// Direct I/O (O_DIRECT) for big blobs written or read once (layers/blob_store.h, PageCache):
// the flag on an open descriptor, and the page-aligned buffers its reads and writes need.

#include <fcntl.h>

#include <cstddef>
#include <cstdlib>
#include <memory>

namespace layers {

// Sets (or clears) O_DIRECT on `fd`. False, errno set, where it is refused: a filesystem
// without direct I/O.
inline bool set_direct_io(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) == 0;
}

// Whether `fd` has O_DIRECT now.
inline bool has_direct_io(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_DIRECT);
}

struct FreeAligned {
  void operator()(std::byte* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<std::byte[], FreeAligned>;

// `size` bytes (a multiple of 4096) aligned to a page, as O_DIRECT wants them; null when
// out of memory.
inline AlignedBuffer make_aligned_buffer(size_t size) {
  return AlignedBuffer(static_cast<std::byte*>(std::aligned_alloc(4096, size)));
}

}  // namespace layers
