#include "builder/ssh_relay.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "layers/unique_fd.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;
using layers::UniqueFd;

namespace {

// A connected unix socket, or -1.
int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Copies what `from` has to `to`; false at EOF or on an error.
bool pump(int from, int to) {
  char buf[65536];
  ssize_t n = ::read(from, buf, sizeof buf);
  if (n <= 0) return n < 0 && errno == EINTR;
  for (ssize_t done = 0; done < n;) {
    ssize_t w = ::write(to, buf + done, static_cast<size_t>(n - done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    done += w;
  }
  return true;
}

// The relay process: accepts on `listener`, pairs each client with a new agent connection.
[[noreturn]] void relay_main(int listener, const std::string& agent) {
  struct Pair {
    int client, agent;
  };
  std::vector<Pair> pairs;
  while (true) {
    std::vector<pollfd> fds{{listener, POLLIN, 0}};
    for (const Pair& p : pairs) {
      fds.push_back({p.client, POLLIN, 0});
      fds.push_back({p.agent, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      ::_exit(1);
    }
    std::vector<Pair> kept;
    for (size_t i = 0; i < pairs.size(); ++i) {
      const pollfd& c = fds[1 + 2 * i];
      const pollfd& a = fds[2 + 2 * i];
      bool open = true;
      if (c.revents) open = pump(pairs[i].client, pairs[i].agent);
      if (open && a.revents) open = pump(pairs[i].agent, pairs[i].client);
      if (open) {
        kept.push_back(pairs[i]);
      } else {
        ::close(pairs[i].client);
        ::close(pairs[i].agent);
      }
    }
    pairs = std::move(kept);
    if (fds[0].revents & POLLIN) {
      int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        int upstream = connect_unix(agent);
        if (upstream < 0) ::close(client);
        else pairs.push_back({client, upstream});
      }
    }
  }
}

}  // namespace

Result<SshRelay> SshRelay::start(const std::string& agent, const std::string& dir, uint32_t mode, uint32_t uid,
                                 uint32_t gid) {
  const std::string path = dir + "/agent.sock";
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path || agent.size() >= sizeof addr.sun_path)
    return Error(ErrorKind::InvalidInput, "ssh agent socket path too long: " + layers::quoted(path.size() >= sizeof addr.sun_path ? path : agent));
  int probe = connect_unix(agent);
  if (probe < 0) return Error::from_errno("connecting to the ssh agent at " + layers::quoted(agent));
  ::close(probe);
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return Error::from_errno("socket");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Error::from_errno("binding " + layers::quoted(path));
  if (::chown(path.c_str(), uid, gid) != 0 || ::chmod(path.c_str(), mode & 07777) != 0)
    return Error::from_errno("setting the owner and mode of " + layers::quoted(path));
  if (::listen(listener.get(), 16) != 0) return Error::from_errno("listen on " + layers::quoted(path));
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork (ssh agent relay)");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    // Only the listener: another stage's sandbox (hoist build --jobs) may have had pipes
    // open at the fork, whose readers wait until every writer has gone.
    if (::dup2(listener.get(), 3) < 0) ::_exit(1);
    ::close_range(4, ~0U, 0);
    relay_main(3, agent);
  }
  return SshRelay(path, pid);
}

SshRelay::SshRelay(SshRelay&& other) noexcept : path_(std::move(other.path_)), pid_(other.pid_) { other.pid_ = -1; }

SshRelay::~SshRelay() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace builder
