#include "tests/registry/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <thread>

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

// Reads until `out` holds `size` bytes (or the peer stops sending).
bool read_until(int fd, std::string* out, size_t size);

// The length of a chunked body (Transfer-Encoding: chunked) starting at `out`[start], its
// last chunk and empty trailer included, reading from `fd` as far as needed.
bool read_chunked(int fd, std::string* out, size_t start, size_t* body_length) {
  size_t at = start;
  for (;;) {
    size_t eol;
    while ((eol = out->find("\r\n", at)) == std::string::npos) {
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      out->append(buf, static_cast<size_t>(n));
    }
    const size_t size = std::stoul(out->substr(at, eol - at), nullptr, 16);
    at = eol + 2 + size + 2;  // the data, then its CRLF (after the last chunk: the trailer's)
    if (!read_until(fd, out, at)) return false;
    if (size == 0) {
      *body_length = at - start;
      return true;
    }
  }
}

// Reads one request's headers (and whatever of the body came with them); `*body_length` is
// its Content-Length; `*is_chunked` says its body is chunked (Transfer-Encoding), and of a
// length read_chunked finds.
bool read_head(int fd, std::string* out, size_t* header_end, size_t* body_length, bool* is_chunked) {
  char buf[65536];
  *header_end = std::string::npos;
  while (*header_end == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    out->append(buf, static_cast<size_t>(n));
    if ((*out)[0] == 0x16) return false;  // a TLS ClientHello: we speak plain HTTP only
    *header_end = out->find("\r\n\r\n");
  }
  *body_length = 0;
  std::string lower = out->substr(0, *header_end);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto p = lower.find("\r\ncontent-length:"); p != std::string::npos)
    *body_length = std::stoul(lower.substr(p + 17));
  *is_chunked = lower.find("\r\ntransfer-encoding: chunked") != std::string::npos;
  return true;
}

// Reads until `out` holds `size` bytes (or the peer stops sending).
bool read_until(int fd, std::string* out, size_t size) {
  char buf[65536];
  while (out->size() < size) {
    ssize_t n = ::recv(fd, buf, std::min(sizeof buf, size - out->size()), 0);
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

// Sends `data` one byte a second until done, the client leaves or `stopping` is set.
void drip(int fd, const std::string& data, const std::atomic<bool>& stopping) {
  for (char c : data) {
    if (stopping || !write_all(fd, &c, 1)) return;
    for (int i = 0; i < 10 && !stopping; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Waits until the client closes the connection (or `stopping`), reading what it sends.
void wait_for_close(int fd, const std::atomic<bool>& stopping) {
  char buf[4096];
  while (!stopping) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if (::recv(fd, buf, sizeof buf, 0) <= 0) return;
  }
}

// Sends `head` then chunks of `chunk` until the client leaves (or `stopping`).
void send_endless(int fd, const std::string& head, const std::atomic<bool>& stopping) {
  if (!write_all(fd, head.data(), head.size())) return;
  const std::string chunk(64 << 10, ' ');
  while (!stopping) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if (!write_all(fd, chunk.data(), chunk.size())) return;
  }
}

bool has_authorization(const std::string& head) {
  std::string lower = head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("\r\nauthorization:") != std::string::npos;
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
  if (skip_ > 0) {
    --skip_;
    return false;
  }
  if (count_ == 0) return false;
  if (count_ > 0) count_ = count_ - 1;
  ++applied_;
  return true;
}

void FaultProxy::record(std::string line) {
  std::lock_guard lock(log_mu_);
  log_.push_back(std::move(line));
}

std::vector<std::string> FaultProxy::requests() const {
  std::lock_guard lock(log_mu_);
  return log_;
}

int FaultProxy::count_requests(const std::string& needle) const {
  std::lock_guard lock(log_mu_);
  int n = 0;
  // A line ends in " [auth]" when the request carried credentials; a needle that does not
  // ask about them matches either way.
  const bool asks_auth = needle.find("[auth]") != std::string::npos;
  for (std::string line : log_) {
    if (!asks_auth)
      for (size_t at; (at = line.find(" [auth]")) != std::string::npos;) line.erase(at, 7);
    if (line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

void FaultProxy::serve(int fd) {
  std::string request;
  size_t header_end = 0, body_length = 0;
  bool is_chunked = false;
  if (!read_head(fd, &request, &header_end, &body_length, &is_chunked)) return;
  const std::string request_line = request.substr(0, request.find("\r\n"));
  const bool faulty = take_fault(request_line);
  if (faulty && fault_ == Fault::EarlyReply) {
    record(request_line.substr(0, request_line.rfind(' ')) + " -> early 500");
    const std::string reply = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    write_all(fd, reply.data(), reply.size());
    return;
  }
  if (is_chunked && !read_chunked(fd, &request, header_end + 4, &body_length)) return;
  const bool cut = faulty && (fault_ == Fault::CutBody || fault_ == Fault::CutBodyForwarded);
  // A cut request: only half of its body is read, the rest is never taken off the socket.
  const size_t want = header_end + 4 + (cut ? body_length / 2 : body_length);
  const bool slow_upload = faulty && fault_ == Fault::Slow && body_length > 0;
  if (slow_upload) {
    // Take the request body one byte a second: a registry that cannot keep up.
    record(request_line.substr(0, request_line.rfind(' ')) + " -> slow");
    char c;
    while (!stopping_ && ::recv(fd, &c, 1, 0) == 1)
      for (int i = 0; i < 10 && !stopping_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return;
  }
  const std::string method_target = request_line.substr(0, request_line.rfind(' ')) +
                                    (has_authorization(request.substr(0, header_end))
                                         ? std::string(" [auth]")
                                         : std::string());
  if (request.size() > want) request.resize(want);
  if (!read_until(fd, &request, want)) return;
  if (faulty && (fault_ == Fault::Drop || fault_ == Fault::CutBody)) {
    record(method_target + " -> cut");
    return;
  }
  if (faulty && (fault_ == Fault::Status500 || fault_ == Fault::Status429)) {
    record(method_target + (fault_ == Fault::Status500 ? " -> 500" : " -> 429"));
    std::string reply =
        fault_ == Fault::Status500
            ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            : "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: "
              "0\r\nConnection: close\r\n\r\n";
    write_all(fd, reply.data(), reply.size());
    return;
  }
  if (faulty && fault_ == Fault::Status404) {
    record(method_target + " -> 404");
    const std::string reply =
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        "Connection: close\r\n\r\n{}";
    write_all(fd, reply.data(), reply.size());
    return;
  }
  if (faulty && (fault_ == Fault::EndlessBody || fault_ == Fault::EndlessError)) {
    record(method_target + (fault_ == Fault::EndlessBody ? " -> endless 200" : " -> endless 500"));
    send_endless(fd,
                 fault_ == Fault::EndlessBody
                     ? "HTTP/1.1 200 OK\r\nContent-Type: "
                       "application/vnd.oci.image.manifest.v1+json\r\nContent-Length: "
                       "1000000000000\r\nConnection: close\r\n\r\n"
                     : "HTTP/1.1 500 Internal Server Error\r\nContent-Type: "
                       "application/json\r\nConnection: close\r\n\r\n",
                 stopping_);
    return;
  }
  if (faulty && fault_ == Fault::Oversized) {
    record(method_target + " -> oversized 200");
    std::string body = "{\"schemaVersion\":2,\"pad\":\"" + std::string(5 << 20, 'x') + "\"}";
    std::string reply =
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    write_all(fd, reply.data(), reply.size());
    return;
  }
  if (faulty && fault_ == Fault::Stall) {
    record(method_target + " -> stall");
    wait_for_close(fd, stopping_);
    return;
  }
  if (faulty && fault_ == Fault::Redirect) {
    const std::string target = request_line.substr(request_line.find(' ') + 1,
                                                   request_line.rfind(' ') - request_line.find(' ') - 1);
    record(method_target + " -> 307");
    const std::string reply = "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://" +
                              redirect_host_ + target +
                              "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    write_all(fd, reply.data(), reply.size());
    return;
  }
  if (cut) {
    // The registry sees the headers and half the body, then both connections end.
    int up = connect_to(upstream_port_);
    if (up < 0) return;
    write_all(up, request.data(), request.size());
    ::shutdown(up, SHUT_WR);
    char buf[4096];
    while (::recv(up, buf, sizeof buf, 0) > 0) {
    }
    ::close(up);
    record(method_target + " -> cut");
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
  const std::string status_line = reply.substr(0, reply.find("\r\n"));
  const auto space = status_line.find(' ');
  record(method_target + " -> " +
         (space == std::string::npos ? std::string("?") : status_line.substr(space + 1, 3)));
  size_t body = reply.find("\r\n\r\n");
  if (faulty && body != std::string::npos && fault_ == Fault::Slow) {
    write_all(fd, reply.data(), body + 4);
    drip(fd, reply.substr(body + 4), stopping_);
    return;
  }
  if (faulty && body != std::string::npos && fault_ == Fault::Rewrite && rewrite_) {
    std::string head = reply.substr(0, body + 2);  // status line and headers, each ending CRLF
    std::string content = reply.substr(body + 4);
    rewrite_(head, content);
    std::string fixed;
    size_t pos = 0;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      std::string line = head.substr(pos, end - pos);
      pos = end + 2;
      std::string lower = line;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.starts_with("content-length:")) continue;
      fixed += line + "\r\n";
    }
    reply = fixed + "Content-Length: " + std::to_string(content.size()) + "\r\n\r\n" + content;
    write_all(fd, reply.data(), reply.size());
    return;
  }
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
