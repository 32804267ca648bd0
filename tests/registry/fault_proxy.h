#pragma once
// A loopback HTTP proxy between hoist and a real registry that misbehaves on purpose, for
// the retry and verification tests. It serves one request per connection (hoist sends
// "Connection: close"), forwards it to the registry, and for the first `count` requests
// whose path contains `path_match` applies the fault instead of (or to) the real reply:
//
//   Drop      close the connection without answering
//   Status500 answer 500, Status429 answer 429 (with Retry-After: 0)
//   Truncate  send the headers and half of the body, then close
//   Corrupt   send the whole reply with one body byte flipped
//   CutBody   read the headers and half of the request body, then close: the registry
//             never sees the request (a connection lost on the way)
//   CutBodyForwarded  forward the headers and half of the body to the registry, then
//             close both connections (the registry saw a partial request)
//   Status404 answer 404 (a manifest or blob the registry "lost")
//   EndlessBody   answer 200 with a body that never ends (Content-Length 1 TB, zeros)
//   EndlessError  answer 500 with a body that never ends (no Content-Length)
//   Oversized     answer 200 with a complete 5 MiB body (over the 4 MiB manifest limit)
//   Slow      forward, then send the reply's head at once and its body one byte a second;
//             a request with a body has that body read one byte a second instead
//   Stall     read the request, then send nothing (until hoist gives up)
//   Redirect  answer 307 to the same target on redirect_host() (another loopback port)
//   Rewrite   forward, then let rewrite() change the reply's head and body (Content-Length
//             is fixed after): a registry that lies about a manifest
//   EarlyReply  answer 500 as soon as the request's headers are in, and close with its body
//             unread (a registry refusing an upload while hoist streams it)
//
// A chunked request body (Transfer-Encoding: chunked) is read whole, up to its last chunk.
//
// Every request is recorded as "METHOD TARGET -> STATUS" ("cut" for a cut or dropped one),
// with " [auth]" appended when it carried an Authorization header, so tests can tell which
// requests hoist made, what the registry answered and where credentials went.
//
// count < 0 means every matching request. Other requests pass through untouched.

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace registry_test {

class FaultProxy {
 public:
  enum class Fault {
    None,
    Drop,
    Status500,
    Status429,
    Truncate,
    Corrupt,
    CutBody,
    CutBodyForwarded,
    Status404,
    EndlessBody,
    EndlessError,
    Oversized,
    Slow,
    Stall,
    Redirect,
    Rewrite,
    EarlyReply
  };
  using RewriteFn = std::function<void(std::string& head, std::string& body)>;

  FaultProxy(int upstream_port, Fault fault, int count, std::string path_match);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  int faults_applied() const { return applied_.load(); }
  // Lets the first `n` matching requests through before the faults start.
  void skip_matches(int n) { skip_ = n; }
  // Redirect: where to send the client ("127.0.0.1:PORT").
  void set_redirect_host(std::string host) { redirect_host_ = std::move(host); }
  // Rewrite: the change to make to matching replies.
  void set_rewrite(RewriteFn fn) { rewrite_ = std::move(fn); }
  // From now on every request passes through untouched (the fault "stops").
  void heal() { count_ = 0; }
  std::vector<std::string> requests() const;
  // How many recorded lines contain `needle` ("PATCH /v2/app/blobs/uploads/", "-> 201").
  int count_requests(const std::string& needle) const;

 private:
  void serve(int fd);
  bool take_fault(const std::string& request_line);
  void record(std::string line);

  int upstream_port_;
  Fault fault_;
  std::atomic<int> count_;
  int skip_ = 0;
  std::string redirect_host_;
  RewriteFn rewrite_;
  std::string path_match_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> applied_{0};
  std::mutex mu_;
  mutable std::mutex log_mu_;
  std::vector<std::string> log_;
  std::thread acceptor_;
  std::vector<std::thread> workers_;
};

}  // namespace registry_test
