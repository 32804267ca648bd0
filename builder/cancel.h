#pragma once
// Stopping a build: Ctrl-C (build() routes SIGINT and SIGTERM here) or a failing stage
// requests it. Every stage checks is_requested() before each step and stops with
// Cancelled; a running RUN is stopped at once by the sandbox, which watches fd()
// (runtime::sandbox::SandboxSpec::cancel_fd) and tears the container down.

#include <atomic>

#include "layers/error.h"
#include "layers/unique_fd.h"

namespace builder {

class CancelToken {
 public:
  // Makes the eventfd behind fd(); Io when the process has no fd left.
  layers::Result<void> open();
  // Async-signal-safe: a signal handler may call it.
  void request() noexcept;
  bool is_requested() const noexcept { return requested_.load(); }
  // Readable from the first request() on (and stays so); -1 before open().
  int fd() const { return fd_.get(); }

 private:
  std::atomic<bool> requested_{false};
  layers::UniqueFd fd_;
};

}  // namespace builder
