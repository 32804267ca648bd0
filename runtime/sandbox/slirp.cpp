#include "runtime/sandbox/slirp.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "runtime/sandbox/process.h"

namespace runtime::sandbox {

using layers::Error;
using layers::ErrorKind;
using layers::Result;
using layers::UniqueFd;

namespace {

struct PipeFds {
  UniqueFd read, write;
};

Result<PipeFds> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Error::from_errno("pipe for slirp4netns");
  return PipeFds{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace

Result<std::string> find_slirp4netns() {
  // slirp4netns opens the tun device as hoist's user: rootless, a host that keeps it root's
  // (mode 0600; udev makes it 0666) cannot give a container this network.
  if (::access("/dev/net/tun", R_OK | W_OK) != 0)
    return Error(ErrorKind::Unsupported,
                 "the default network (a network namespace of its own) needs /dev/net/tun, "
                 "which this user cannot open (" + std::string(std::strerror(errno)) +
                     "): pass --network none or --network host (or make it mode 0666, as udev does)");
  if (auto found = find_host_program("slirp4netns")) return *found;
  return Error(ErrorKind::Unsupported,
               "the default network (a network namespace of its own) needs slirp4netns, which "
               "is not installed: install it (apt-get install slirp4netns) or pass "
               "--network host");
}

Result<Slirp> Slirp::prepare(const std::string& binary) {
  auto go = make_pipe(), ready = make_pipe(), err = make_pipe(), exit = make_pipe();
  for (auto* p : {&go, &ready, &err, &exit}) {
    if (!*p) return std::move(*p).error();
  }
  const pid_t owner = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork (slirp4netns)");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != owner) ::_exit(1);
    go->write.reset();
    char byte;
    while (true) {
      ssize_t n = ::read(go->read.get(), &byte, 1);
      if (n == 1) break;
      if (n < 0 && errno == EINTR) continue;
      ::_exit(1);  // the owner gave up
    }
    reset_signal_state();
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);  // slirp4netns reports its progress on stdout
    ::dup2(err->write.get(), 2);
    const int ready_fd = ready->write.get(), exit_fd = exit->read.get();
    ::fcntl(ready_fd, F_SETFD, 0);
    ::fcntl(exit_fd, F_SETFD, 0);
    const std::string ready_arg = "--ready-fd=" + std::to_string(ready_fd);
    const std::string exit_arg = "--exit-fd=" + std::to_string(exit_fd);
    const std::string target = std::to_string(owner);
    const char* argv[] = {binary.c_str(), "--configure", "--mtu=65520",
                          "--disable-host-loopback", ready_arg.c_str(), exit_arg.c_str(),
                          target.c_str(), "tap0", nullptr};
    ::execv(binary.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  Slirp slirp;
  slirp.go_write_ = std::move(go->write);
  slirp.ready_read_ = std::move(ready->read);
  slirp.err_read_ = std::move(err->read);
  slirp.exit_write_ = std::move(exit->write);
  return slirp;
}

Result<void> Slirp::start() {
  const char byte = 1;
  if (::write(go_write_.get(), &byte, 1) != 1) return Error::from_errno("starting slirp4netns");
  go_write_.reset();
  char ready = 0;
  ssize_t n;
  while ((n = ::read(ready_read_.get(), &ready, 1)) < 0 && errno == EINTR) {
  }
  ready_read_.reset();
  if (n == 1 && ready == '1') {
    err_read_.reset();
    return {};
  }
  // It exited without reporting ready: its stderr says why.
  std::string why = read_helper_messages(err_read_.get());
  return Error(ErrorKind::Io, "slirp4netns could not set up the container's network" +
                                  (why.empty() ? std::string() : ": " + why));
}

}  // namespace runtime::sandbox
