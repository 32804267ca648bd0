#include "registry/http.h"

#include "layers/unique_fd.h"

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

namespace registry {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

// Debian's cpp-httplib (0.11) sends without MSG_NOSIGNAL: a registry that closes the
// connection while a request body is still going out (an error reply to a streamed PATCH)
// raises SIGPIPE, which ends a process that does not ignore it (the CLI does; a program
// using the library may not). For one exchange the signal is blocked in this thread, and
// one raised meanwhile is taken before it is unblocked: the write fails with EPIPE, a
// Network error like any other.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    is_blocking_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0 && !sigismember(&old_, SIGPIPE) &&
                   sigpending(&pending) == 0 && !sigismember(&pending, SIGPIPE);
    if (!is_blocking_) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ~SigpipeBlocked() {
    if (!is_blocking_) return;
    sigset_t pending;
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
      const timespec now{};
      while (sigtimedwait(&pipe_, nullptr, &now) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool is_blocking_ = false;
};

// Splits "host:port" / "[v6]:port" / "host" into host and port (default by scheme).
bool split_host_port(const std::string& authority, const std::string& scheme, std::string* host,
                     int* port) {
  *port = scheme == "https" ? 443 : 80;
  std::string_view a = authority;
  std::string_view port_text;
  if (a.starts_with('[')) {
    auto close = a.find(']');
    if (close == std::string_view::npos) return false;
    *host = std::string(a.substr(1, close - 1));
    a.remove_prefix(close + 1);
    if (!a.empty()) {
      if (a[0] != ':') return false;
      port_text = a.substr(1);
    }
  } else {
    auto colon = a.rfind(':');
    *host = std::string(a.substr(0, colon));
    if (colon != std::string_view::npos) port_text = a.substr(colon + 1);
  }
  if (host->empty()) return false;
  if (!port_text.empty()) {
    if (port_text.size() > 5) return false;
    int p = 0;
    for (char c : port_text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      p = p * 10 + (c - '0');
    }
    if (p == 0 || p > 65535) return false;
    *port = p;
  }
  return true;
}

// What the HTTP library's bare error word ("Connection", "Read") meant, in words a user can
// act on. A connection that failed is tried once more by hand (resolve, then a TCP connect
// of at most 3 s per address) to say why: the name did not resolve, the port refused, or
// the connect timed out.
std::string connect_failure(const Url& url) {
  std::string host;
  int port = 0;
  if (!split_host_port(url.host, url.scheme, &host, &port)) return "cannot connect";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    return "cannot resolve " + host + ": " + ::gai_strerror(rc);
  std::string why = "cannot connect";
  for (addrinfo* a = found; a; a = a->ai_next) {
    layers::UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd) continue;
    int err = 0;
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd.get(), POLLOUT, 0};
        if (::poll(&p, 1, 3000) == 1) {
          socklen_t len = sizeof err;
          ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        } else {
          err = ETIMEDOUT;
        }
      }
    }
    if (err == 0) {
      why = "the connection failed (it connects now: a passing failure?)";
      break;
    }
    why = "cannot connect: " + std::string(std::strerror(err));
  }
  ::freeaddrinfo(found);
  return why;
}

std::string transport_failure(httplib::Error error, const Url& url) {
  switch (error) {
    case httplib::Error::Connection: return connect_failure(url);
    case httplib::Error::ConnectionTimeout: return "connecting timed out";
    case httplib::Error::Read: return "the connection broke while reading the reply";
    case httplib::Error::Write: return "the connection broke while sending the request";
    case httplib::Error::SSLConnection: return "the TLS handshake failed (is it an HTTPS port?)";
    case httplib::Error::SSLLoadingCerts: return "the CA certificates could not be loaded";
    case httplib::Error::ExceedRedirectCount: return "too many redirects";
    case httplib::Error::Canceled: return "the request was cancelled";
    case httplib::Error::Compression: return "the reply could not be decompressed";
    default: return httplib::to_string(error);
  }
}

std::string host_without_port(std::string_view authority) {
  std::string host;
  int port = 0;
  if (!split_host_port(std::string(authority), "https", &host, &port))
    return std::string(authority);
  return host;
}

X509_STORE* build_trust_store(const TlsOptions& tls, const std::string& authority) {
  X509_STORE* store = X509_STORE_new();
  if (!store) return nullptr;
  X509_STORE_set_default_paths(store);
  if (!tls.ca_file.empty()) X509_STORE_load_file(store, tls.ca_file.c_str());
  if (!tls.certs_dir.empty()) {
    std::error_code ec;
    // Docker looks in certs.d/HOST:PORT/ (or HOST/ for the default port).
    for (const std::string& name : {authority, host_without_port(authority)}) {
      std::filesystem::path dir = std::filesystem::path(tls.certs_dir) / name;
      for (auto it = std::filesystem::directory_iterator(dir, ec);
           !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (it->path().extension() == ".crt") X509_STORE_load_file(store, it->path().c_str());
      }
      ec.clear();
    }
  }
  return store;
}

// Watches one exchange from its own thread and cuts the connection (ClientImpl::stop, the
// one call cpp-httplib allows from another thread) when no byte has moved for
// limits.idle, or when a full window moved fewer bytes than the minimum speed allows.
// cpp-httplib's own read timeout restarts with every byte, so a server dripping one byte a
// second (or endless header lines) would otherwise hold the exchange forever.
class Watchdog {
 public:
  Watchdog(httplib::ClientImpl& client, const HttpLimits& limits)
      : client_(client), limits_(limits), thread_([this] { run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // Bytes moved (either way); 0 still counts as a sign of life (a reply's head arrived).
  void progress(size_t n) {
    bytes_ += n;
    last_progress_ns_ = now_ns();
  }
  // The reply's head arrived: silence after it is "no data", before it "no reply".
  void saw_head() {
    head_seen_ = true;
    progress(0);
  }
  bool tripped() const { return tripped_; }
  // Why the exchange was cut, for the error message.
  std::string reason() const {
    std::lock_guard lock(mu_);
    return reason_;
  }

 private:
  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void run() {
    const int64_t idle_ns = std::chrono::nanoseconds(limits_.idle).count();
    const uint64_t window_min = limits_.min_bytes_per_second * static_cast<uint64_t>(limits_.idle.count());
    int64_t window_start = now_ns();
    uint64_t window_bytes = 0;
    last_progress_ns_ = window_start;
    std::unique_lock lock(mu_);
    while (!done_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      if (done_) break;
      const int64_t now = now_ns();
      if (!tripped_) {
        const uint64_t bytes = bytes_.load();
        if (now - last_progress_ns_.load() >= idle_ns) {
          reason_ = std::string(head_seen_ ? "no data" : "no reply") + " for " +
                    std::to_string(limits_.idle.count()) + " s";
          tripped_ = true;
        } else if (now - window_start >= idle_ns) {
          if (bytes > window_bytes && bytes - window_bytes < window_min) {
            reason_ = "less than " + std::to_string(window_min) + " bytes in the last " +
                      std::to_string(limits_.idle.count()) + " s (too slow)";
            tripped_ = true;
          }
          window_start = now;
          window_bytes = bytes;
        }
      }
      // Repeated: a stop() that lands before the socket exists does nothing.
      if (tripped_) {
        lock.unlock();
        client_.stop();
        lock.lock();
      }
    }
  }

  httplib::ClientImpl& client_;
  const HttpLimits limits_;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<int64_t> last_progress_ns_{0};
  std::atomic<bool> tripped_{false};
  std::atomic<bool> head_seen_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string reason_;
  std::thread thread_;
};

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

Result<Url> Url::parse(std::string_view text) {
  Url url;
  std::string_view rest = text;
  if (rest.starts_with("https://")) {
    url.scheme = "https";
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    url.scheme = "http";
    rest.remove_prefix(7);
  } else {
    return Error(ErrorKind::InvalidInput, "not an http(s) URL: " + layers::quoted(text));
  }
  auto slash = rest.find_first_of("/?");
  url.host = std::string(rest.substr(0, slash));
  url.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (url.target[0] == '?') url.target = "/" + url.target;
  std::string host;
  int port = 0;
  if (url.host.find('@') != std::string::npos ||
      !split_host_port(url.host, url.scheme, &host, &port))
    return Error(ErrorKind::InvalidInput, "bad host in URL " + layers::quoted(text));
  for (char c : text)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return Error(ErrorKind::InvalidInput, "control character or space in URL");
  return url;
}

Result<Url> Url::resolve(std::string_view location) const {
  if (location.starts_with("http://") || location.starts_with("https://")) return parse(location);
  if (location.starts_with("//")) return parse(scheme + ":" + std::string(location));
  if (location.starts_with("/")) return parse(scheme + "://" + host + std::string(location));
  return Error(ErrorKind::InvalidInput,
               "unsupported relative Location " + layers::quoted(location));
}

std::string Url::display() const {
  return scheme + "://" + host + target.substr(0, target.find('?'));
}

std::string url_encode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool allow_plain_http(std::string_view authority, const std::vector<std::string>& insecure_hosts) {
  for (const std::string& h : insecure_hosts)
    if (h == authority || h == host_without_port(authority)) return true;
  std::string host = host_without_port(authority);
  if (host == "localhost" || host == "::1") return true;
  if (host.starts_with("127.")) {
    for (char c : host)
      if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') return false;
    return true;
  }
  return false;
}

Result<HttpLimits> HttpLimits::from_env() {
  HttpLimits limits;
  const char* text = std::getenv("HOIST_REGISTRY_TIMEOUT");
  if (!text || !*text) return limits;
  std::string_view v = text;
  if (v.size() > 4 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::atoi(text) < 1 || std::atoi(text) > 3600)
    return Error(ErrorKind::InvalidInput,
                 "HOIST_REGISTRY_TIMEOUT=" + std::string(v.substr(0, 20)) +
                     ": expected whole seconds from 1 to 3600");
  limits.idle = std::chrono::seconds(std::atoi(text));
  limits.connect = limits.idle;
  return limits;
}

std::string HttpResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpClient::scheme_for(std::string_view authority) const {
  if (!allow_plain_http(authority, tls_.insecure_hosts)) return "https";
  std::string host;
  int port = 0;
  if (!split_host_port(std::string(authority), "https", &host, &port)) return "https";
  httplib::SSLClient probe(host, port);
  probe.enable_server_certificate_verification(true);
  if (X509_STORE* store = build_trust_store(tls_, std::string(authority)))
    probe.set_ca_cert_store(store);
  probe.set_connection_timeout(std::min(limits_.connect, std::chrono::seconds(5)));
  probe.set_read_timeout(std::min(limits_.idle, std::chrono::seconds(5)));
  auto result = probe.Get("/v2/");
  if (result || result.error() == httplib::Error::SSLServerVerification) return "https";
  return "http";
}

Result<HttpResponse> HttpClient::send(HttpRequest request) const {
  const std::string original_host = request.url.host;
  for (int hop = 0;; ++hop) {
    auto response = send_once(request);
    if (!response) return response;
    if (!request.follow_redirects || !is_redirect(response->status)) return response;
    if (hop == kMaxRedirects)
      return Error(ErrorKind::Network, "too many redirects from " + request.url.display());
    std::string location = response->header("Location");
    auto next = request.url.resolve(location);
    if (!next)
      return std::move(next).error().context("following a redirect from " + request.url.display());
    if (next->scheme == "http" && request.url.scheme == "https")
      return Error(ErrorKind::Network,
                   "refusing a redirect from HTTPS to plain HTTP: " + next->display());
    // The registry's credentials are for the registry only.
    if (next->host != original_host) request.headers.erase("Authorization");
    if (response->status == 303) {
      request.method = "GET";
      request.body.clear();
      request.body_provider = nullptr;
    }
    request.url = std::move(*next);
  }
}

Result<HttpResponse> HttpClient::send_once(const HttpRequest& request) const {
  const Url& url = request.url;
  std::string host;
  int port = 0;
  split_host_port(url.host, url.scheme, &host, &port);
  std::unique_ptr<httplib::ClientImpl> client;
  if (url.scheme == "https") {
    auto ssl = std::make_unique<httplib::SSLClient>(host, port);
    ssl->enable_server_certificate_verification(true);
    if (X509_STORE* store = build_trust_store(tls_, url.host)) ssl->set_ca_cert_store(store);
    client = std::move(ssl);
  } else {
    client = std::make_unique<httplib::ClientImpl>(host, port);
  }
  client->set_connection_timeout(limits_.connect);
  // cpp-httplib's own timeouts sit past the watchdog's, so the watchdog's clearer reason is
  // the one reported.
  client->set_read_timeout(limits_.idle + std::chrono::seconds(2));
  client->set_write_timeout(limits_.idle + std::chrono::seconds(2));
  client->set_follow_location(false);
  client->set_decompress(false);  // blob bytes must reach the digest check untouched
  client->set_keep_alive(false);

  httplib::Request req;
  req.method = request.method;
  req.path = url.target;
  req.headers = request.headers;
  if (!req.has_header("Accept-Encoding")) req.set_header("Accept-Encoding", "identity");
  if (!req.has_header("User-Agent")) req.set_header("User-Agent", "hoist/0.1");
  std::optional<Watchdog> watchdog;  // declared before the providers that call it
  watchdog.emplace(*client, limits_);
  // Request bytes count as progress; a body given as a string goes out through the same
  // counting provider, so a slow upload is measured like a slow download.
  auto counted = [&](httplib::ContentProvider inner) -> httplib::ContentProvider {
    return [&, inner](size_t offset, size_t length, httplib::DataSink& sink) {
      if (watchdog->tripped()) return false;
      auto write = sink.write;
      sink.write = [&](const char* data, size_t n) {
        if (!write(data, n)) return false;
        watchdog->progress(n);
        return true;
      };
      bool ok = inner(offset, length, sink);
      sink.write = write;
      return ok;
    };
  };
  if (request.body_provider && request.body_chunked) {
    req.is_chunked_content_provider_ = true;
    req.content_provider_ = counted(request.body_provider);
    req.set_header("Transfer-Encoding", "chunked");
    req.set_header("Content-Type", request.content_type.empty() ? "application/octet-stream"
                                                                : request.content_type);
  } else if (request.body_provider) {
    req.content_length_ = request.body_size;
    req.content_provider_ = counted(request.body_provider);
    req.set_header("Content-Length", std::to_string(request.body_size));
    req.set_header("Content-Type", request.content_type.empty() ? "application/octet-stream"
                                                                : request.content_type);
  } else if (!request.body.empty()) {
    req.content_length_ = request.body.size();
    req.content_provider_ = counted([&request](size_t offset, size_t length,
                                               httplib::DataSink& sink) {
      return sink.write(request.body.data() + offset, std::min<size_t>(length, 64 << 10));
    });
    if (!request.content_type.empty()) req.set_header("Content-Type", request.content_type);
    req.set_header("Content-Length", std::to_string(request.body.size()));
  } else if (request.method == "PUT" || request.method == "POST" || request.method == "PATCH") {
    if (!request.content_type.empty()) req.set_header("Content-Type", request.content_type);
    req.set_header("Content-Length", std::to_string(request.body.size()));
  }

  HttpResponse out;
  out.url = url;
  bool streaming = false;
  bool receiver_failed = false;
  req.response_handler = [&](const httplib::Response& head) {
    watchdog->saw_head();
    out.status = head.status;
    out.headers = head.headers;
    streaming = request.on_body && head.status >= 200 && head.status < 300;
    if (head.status >= 200 && head.status < 300 && request.on_head) return request.on_head(head);
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (watchdog->tripped()) return false;
    watchdog->progress(size);
    if (streaming) {
      if (!request.on_body(data, size)) {
        receiver_failed = true;
        return false;
      }
      return true;
    }
    // An error or token reply is read up to the bound and cut there: an endless body
    // must not keep us reading (or growing) forever.
    out.body.append(data, std::min(size, kMaxBufferedBody - out.body.size()));
    if (out.body.size() >= kMaxBufferedBody && size > 0) {
      out.body_truncated = true;
      return false;
    }
    return true;
  };

  std::optional<httplib::Result> sent;
  {
    SigpipeBlocked quiet;
    sent.emplace(client->send(req));
  }
  httplib::Result& result = *sent;
  const bool timed_out = watchdog->tripped();
  const std::string timeout_reason = watchdog->reason();
  watchdog.reset();
  if (!result && out.body_truncated && !timed_out) return out;
  if (!result) {
    if (timed_out)
      return Error(ErrorKind::Network, "registry " + url.host + ": " + timeout_reason +
                                           " (" + request.method + " " + url.display() +
                                           "; HOIST_REGISTRY_TIMEOUT sets the limit)");
    if (receiver_failed)
      return Error(ErrorKind::InvalidInput,
                   request.method + " " + url.display() + ": cancelled by the receiver");
    std::string why = transport_failure(result.error(), url);
    if (result.error() == httplib::Error::SSLServerVerification)
      why = "the server's TLS certificate is not trusted (use --tls-ca FILE or " + tls_.certs_dir +
            "/" + url.host + "/ca.crt)";
    return Error(ErrorKind::Network, "registry " + url.host + ": " + why + " (" + request.method +
                                         " " + url.display() + ")");
  }
  out.status = result->status;
  out.headers = result->headers;
  return out;
}

}  // namespace registry
