#include "builder/cancel.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace builder {

layers::Result<void> CancelToken::open() {
  fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd_) return layers::Error::from_errno("creating the build's cancel eventfd");
  return {};
}

void CancelToken::request() noexcept {
  requested_.store(true);
  if (!fd_) return;
  const uint64_t one = 1;
  (void)!::write(fd_.get(), &one, sizeof one);
}

}  // namespace builder
