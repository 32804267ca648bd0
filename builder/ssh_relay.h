#pragma once
// RUN --mount=type=ssh: a socket of the step's own (mode, uid, gid as the mount asks) whose
// connections are relayed to an ssh agent of the host (hoist build --ssh), as BuildKit
// forwards the agent, so the host's socket keeps its own owner and mode. The relay is a
// child process that dies with hoist (PDEATHSIG) and is stopped when the step ends.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "layers/error.h"

namespace builder {

class SshRelay {
 public:
  // Listens on `dir`/agent.sock (created with `mode`, `uid`:`gid`) and relays each
  // connection to the agent socket `agent`.
  static layers::Result<SshRelay> start(const std::string& agent, const std::string& dir, uint32_t mode,
                                        uint32_t uid, uint32_t gid);
  SshRelay(SshRelay&& other) noexcept;
  SshRelay& operator=(SshRelay&&) = delete;
  SshRelay(const SshRelay&) = delete;
  ~SshRelay();

  const std::string& socket_path() const { return path_; }

 private:
  SshRelay(std::string path, pid_t pid) : path_(std::move(path)), pid_(pid) {}
  std::string path_;
  pid_t pid_ = -1;
};

}  // namespace builder
