#include "tests/registry/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

namespace registry_test {

namespace {

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Reads one request: headers, then Content-Length bytes of body.
bool read_request(int fd, std::string* out) {
  char buf[65536];
  size_t header_end = std::string::npos;
  while (header_end == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    out->append(buf, static_cast<size_t>(n));
    if ((*out)[0] == 0x16) return false;  // a TLS ClientHello: we speak plain HTTP only
    header_end = out->find("\r\n\r\n");
  }
  size_t length = 0;
  std::string lower = out->substr(0, header_end);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto p = lower.find("\r\ncontent-length:"); p != std::string::npos)
    length = std::stoul(lower.substr(p + 17));
  while (out->size() < header_end + 4 + length) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    out->append(buf, static_cast<size_t>(n));
  }
  return true;
}

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

FaultProxy::FaultProxy(int upstream_port, Fault fault, int count, std::string path_match)
    : upstream_port_(upstream_port),
      fault_(fault),
      count_(count),
      path_match_(std::move(path_match)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  ::listen(listen_fd_, 64);
  acceptor_ = std::thread([this] {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      workers_.emplace_back([this, fd] {
        serve(fd);
        ::close(fd);
      });
    }
  });
}

FaultProxy::~FaultProxy() {
  stopping_ = true;
  acceptor_.join();
  std::lock_guard lock(mu_);
  for (auto& t : workers_) t.join();
  ::close(listen_fd_);
}

bool FaultProxy::take_fault(const std::string& request_line) {
  if (fault_ == Fault::None || request_line.find(path_match_) == std::string::npos) return false;
  std::lock_guard lock(mu_);
  if (count_ == 0) return false;
  if (count_ > 0) --count_;
  ++applied_;
  return true;
}

void FaultProxy::serve(int fd) {
  std::string request;
  if (!read_request(fd, &request)) return;
  const std::string request_line = request.substr(0, request.find("\r\n"));
  const bool faulty = take_fault(request_line);
  if (faulty && fault_ == Fault::Drop) return;
  if (faulty && (fault_ == Fault::Status500 || fault_ == Fault::Status429)) {
    std::string reply =
        fault_ == Fault::Status500
            ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            : "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: "
              "0\r\nConnection: close\r\n\r\n";
    write_all(fd, reply.data(), reply.size());
    return;
  }
  int up = connect_to(upstream_port_);
  if (up < 0) return;
  write_all(up, request.data(), request.size());
  std::string reply;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(up, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(up);
  size_t body = reply.find("\r\n\r\n");
  if (faulty && body != std::string::npos) {
    body += 4;
    if (fault_ == Fault::Truncate && reply.size() > body + 1) {
      reply.resize(body + (reply.size() - body) / 2);
    } else if (fault_ == Fault::Corrupt && reply.size() > body) {
      reply[body + (reply.size() - body) / 2] ^= 0x5a;
    }
  }
  write_all(fd, reply.data(), reply.size());
}

}  // namespace registry_test
