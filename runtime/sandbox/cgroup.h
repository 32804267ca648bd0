#pragma once
// A pids limit for a container: a child cgroup of hoist's own, in the pids controller
// (cgroup v1 hierarchy "pids", or the v2 unified one where hoist's cgroup delegates
// "pids" to its children), with pids.max set. Docker sets none by default (--pids-limit);
// the sandbox bounds a fork bomb in a RUN step or `hoist run` this way where cgroups allow.

#include <sys/types.h>

#include <string>
#include <utility>

#include "layers/error.h"

namespace runtime::sandbox {

class PidsCgroup {
 public:
  // Creates the cgroup ("hoist-PID-N" beside hoist's own processes) with pids.max = `max`.
  // Unsupported, saying why, where there is no pids controller hoist may use here.
  static layers::Result<PidsCgroup> create(long max);
  PidsCgroup(PidsCgroup&& other) noexcept : dir_(std::exchange(other.dir_, {})) {}
  PidsCgroup(const PidsCgroup&) = delete;
  PidsCgroup& operator=(const PidsCgroup&) = delete;
  // Removes the cgroup (it must be empty by then: the container's processes are gone).
  ~PidsCgroup();

  // Moves the calling process into the cgroup at `dir`; its children are born there.
  static layers::Result<void> enter_dir(const std::string& dir);
  const std::string& dir() const { return dir_; }

 private:
  explicit PidsCgroup(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace runtime::sandbox
