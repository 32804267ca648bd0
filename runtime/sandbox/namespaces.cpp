#include "runtime/sandbox/namespaces.h"

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "layers/unique_fd.h"

namespace runtime::sandbox {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

Result<void> enter_namespaces(Network network) {
  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
  if (network != Network::Host) flags |= CLONE_NEWNET;
  if (::unshare(flags) != 0) return Error::from_errno("unshare (new namespaces)");
  return {};
}

Result<void> set_hostname(const std::string& hostname) {
  if (hostname.size() > 64)
    return Error(ErrorKind::InvalidInput, "hostname " + layers::quoted(hostname) + " is too long");
  if (::sethostname(hostname.data(), hostname.size()) != 0)
    return Error::from_errno("sethostname " + layers::quoted(hostname));
  // Docker leaves the domain name unset; clear whatever the host's was.
  if (::setdomainname("(none)", 6) != 0) return Error::from_errno("setdomainname");
  return {};
}

Result<void> bring_up_loopback() {
  layers::UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return Error::from_errno("socket for configuring lo");
  struct ifreq req {};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0) return Error::from_errno("reading lo's flags");
  req.ifr_flags |= IFF_UP;
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &req) != 0) return Error::from_errno("bringing lo up");
  return {};
}

}  // namespace runtime::sandbox
