#pragma once
// Network::Default: the container's own network namespace, joined to the outside by
// slirp4netns (user-mode TCP/IP, as rootless Docker and BuildKit use). The namespace holds
// lo and tap0 (10.0.2.100/24, gateway 10.0.2.2, DNS forwarder 10.0.2.3). slirp4netns runs
// with --disable-host-loopback: 10.0.2.2 does not lead to the host's 127.0.0.1, so a RUN
// step cannot reach services listening on the host's loopback; other addresses of the
// host and the outside world are reached through it. No listening socket on the host is
// opened for the container.

#include <sys/types.h>

#include <string>

#include "layers/error.h"
#include "layers/unique_fd.h"

namespace runtime::sandbox {

// slirp4netns's absolute path from PATH. Unsupported, saying to install slirp4netns or pass
// --network host, when it is not there (the sandbox never falls back to the host's network).
layers::Result<std::string> find_slirp4netns();

// In the namespace owner (before it unshares its network namespace), `prepare` forks a
// helper that stays in the caller's network namespace and waits; after the unshare,
// `start` lets it exec slirp4netns against the owner's (the caller's) new namespace and
// waits until tap0 is configured. slirp4netns exits when the owner's exit fd closes (the
// owner exits) or the owner dies (PDEATHSIG).
class Slirp {
 public:
  static layers::Result<Slirp> prepare(const std::string& binary);
  layers::Result<void> start();
  // The fd that keeps slirp4netns alive: the owner must keep it open until the container
  // is gone.
  int exit_fd() const { return exit_write_.get(); }

 private:
  layers::UniqueFd go_write_, ready_read_, err_read_, exit_write_;
};

}  // namespace runtime::sandbox
