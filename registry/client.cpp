#include "registry/client.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "layers/blob_store.h"
#include "layers/direct_io.h"

namespace registry {

using layers::Descriptor;
using layers::Digest;
using layers::Error;
using layers::ErrorKind;
using layers::Result;

const char* const kManifestAccept =
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

namespace {

constexpr std::string_view kSchema1 = "application/vnd.docker.distribution.manifest.v1";

// A ContentProvider that streams [base, base+length) of `fd` with pread. A descriptor
// with O_DIRECT (a blob read as it is written past the page cache, BlobWriter::open_reader)
// is read in page-aligned pieces of kDirectPiece into a page-aligned buffer, and what is
// wanted of each piece is sent; where such a read is refused, the descriptor drops O_DIRECT.
httplib::ContentProvider pread_provider(int fd, uint64_t base, const ProgressFn* progress) {
  if (!layers::has_direct_io(fd)) {
    return [fd, base, progress](size_t offset, size_t length, httplib::DataSink& sink) {
      char buf[64 << 10];
      size_t n = std::min(length, sizeof buf);
      ssize_t got;
      do {
        got = ::pread(fd, buf, n, static_cast<off_t>(base + offset));
      } while (got < 0 && errno == EINTR);
      if (got <= 0) return false;
      if (!sink.write(buf, static_cast<size_t>(got))) return false;
      if (progress && *progress) (*progress)(base + offset + static_cast<uint64_t>(got));
      return true;
    };
  }
  std::shared_ptr<std::byte[]> buf(layers::make_aligned_buffer(layers::kDirectPiece).release(), layers::FreeAligned{});
  return [fd, base, progress, buf](size_t offset, size_t length, httplib::DataSink& sink) {
    if (!buf) return false;
    constexpr uint64_t kPage = 4096;
    const uint64_t at = base + offset;
    const uint64_t start = at & ~(kPage - 1);
    const size_t skip = static_cast<size_t>(at - start);
    const size_t want = std::min<size_t>((skip + length + kPage - 1) & ~size_t(kPage - 1), layers::kDirectPiece);
    ssize_t got;
    do {
      got = ::pread(fd, buf.get(), want, static_cast<off_t>(start));
    } while (got < 0 && errno == EINTR);
    if (got < 0 && errno == EINVAL && layers::set_direct_io(fd, false)) {  // this filesystem's alignment
      do {
        got = ::pread(fd, buf.get(), want, static_cast<off_t>(start));
      } while (got < 0 && errno == EINTR);
    }
    if (got <= static_cast<ssize_t>(skip)) return false;
    const size_t n = std::min(static_cast<size_t>(got) - skip, length);
    if (!sink.write(reinterpret_cast<const char*>(buf.get()) + skip, n)) return false;
    if (progress && *progress) (*progress)(at + n);
    return true;
  };
}

std::string with_query(std::string target, std::string_view query) {
  target += target.find('?') == std::string::npos ? '?' : '&';
  target += query;
  return target;
}

}  // namespace

// What a registry said in its error body ({"errors":[{"code","message"}]}), made safe to
// print: bounded, printable ASCII only.
std::string registry_reason(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, false);
  std::string out;
  if (!doc.is_discarded() && doc.is_object() && doc.contains("errors") &&
      doc["errors"].is_array()) {
    for (const auto& e : doc["errors"]) {
      if (!e.is_object()) continue;
      std::string code =
          e.value("code", nlohmann::json("")).is_string() ? e.value("code", std::string()) : "";
      std::string msg = e.value("message", nlohmann::json("")).is_string()
                            ? e.value("message", std::string())
                            : "";
      if (!out.empty()) out += "; ";
      out += code.empty() ? msg : code + (msg.empty() ? "" : " (" + msg + ")");
    }
  }
  std::string clean;
  for (char c : out.substr(0, 300)) clean += (c >= 0x20 && c < 0x7f) ? c : '?';
  return clean;
}

bool is_retryable_status(int status) {
  return status == 408 || status == 429 || (status >= 500 && status != 501 && status != 505);
}

Client::Client(std::string registry, ClientOptions options)
    : registry_(std::move(registry)),
      api_host_(registry_ == kDockerHubDomain ? std::string(kDockerHubApiHost) : registry_),
      options_(std::move(options)),
      http_(options_.tls, options_.limits),
      auth_(http_, registry_, options_.credentials) {}

Url Client::url(std::string_view target) const {
  std::call_once(scheme_once_, [this] { scheme_ = http_.scheme_for(api_host_); });
  return Url{scheme_, api_host_, std::string(target)};
}

void Client::log(const std::string& line) const {
  if (options_.debug_log) options_.debug_log(line);
}

void Client::sleep_before_retry(int attempt, const HttpResponse* response) const {
  auto delay = options_.backoff * (1 << std::min(attempt - 1, 6));
  if (response) {
    // Retry-After in seconds, honoured up to a bound so a hostile server cannot park us.
    std::string after = response->header("Retry-After");
    if (!after.empty() && after.size() < 4 && std::all_of(after.begin(), after.end(), ::isdigit))
      delay =
          std::max(delay, std::chrono::milliseconds(std::min(std::atoi(after.c_str()), 10) * 1000));
  }
  std::this_thread::sleep_for(delay);
}

Error Client::status_error(const HttpResponse& response, std::string_view path, bool push,
                           std::string_view what) const {
  const std::string where = std::string(push ? "push to " : "pull from ") + registry_ +
                            (path.empty() ? "" : "/" + std::string(path));
  std::string reason = registry_reason(response.body);
  std::string tail = reason.empty() ? "" : ": " + reason;
  switch (response.status) {
    case 401:
      return Error(ErrorKind::Unauthorized,
                   "401 for " + where + ": run hoist login" +
                       (auth_.has_credentials() ? " (the stored credentials were refused)" : ""));
    case 403:
      return Error(ErrorKind::Unauthorized, "403 (access denied) for " + where + tail);
    case 404:
      return Error(ErrorKind::NotFound, std::string(what) + " not found (" + where + ")" + tail);
    default:
      return Error(
          is_retryable_status(response.status) ? ErrorKind::Network : ErrorKind::InvalidInput,
          std::string(what) + ": " + where + " answered " + std::to_string(response.status) + tail);
  }
}

Result<HttpResponse> Client::authed_once(HttpRequest& request,
                                         const std::vector<std::string>& scopes,
                                         std::string_view path, bool push) {
  request.headers.erase("Authorization");
  const std::optional<std::string> sent = auth_.authorization(scopes);
  if (sent) request.headers.emplace("Authorization", *sent);
  auto response = http_.send(request);
  if (response)
    log(request.method + " " + request.url.display() + " -> " + std::to_string(response->status));
  if (!response || response->status != 401) return response;
  std::string challenge = response->header("WWW-Authenticate");
  if (challenge.empty()) return response;
  if (auto r = auth_.on_challenge(challenge, scopes, sent); !r) {
    if (r.error().kind() != ErrorKind::Unauthorized) return std::move(r).error();
    // Without credentials the cure is always the same; with them, say what was refused.
    return Error(ErrorKind::Unauthorized,
                 "401 for " + std::string(push ? "push to " : "pull from ") + registry_ +
                     (path.empty() ? "" : "/" + std::string(path)) +
                     (auth_.has_credentials() ? ": " + r.error().message() : std::string()) +
                     ": run hoist login");
  }
  request.headers.erase("Authorization");
  if (auto a = auth_.authorization(scopes)) request.headers.emplace("Authorization", *a);
  response = http_.send(request);
  if (response)
    log(request.method + " " + request.url.display() + " -> " + std::to_string(response->status));
  return response;
}

Result<HttpResponse> Client::call(HttpRequest request, std::string_view path, bool push,
                                  std::vector<std::string> extra_scopes, bool retry) {
  std::vector<std::string> scopes;
  if (!path.empty()) scopes.push_back(repository_scope(path, push));
  for (auto& s : extra_scopes) scopes.push_back(std::move(s));
  const int attempts = retry ? std::max(1, options_.max_attempts) : 1;
  for (int attempt = 1;; ++attempt) {
    auto response = authed_once(request, scopes, path, push);
    if (!response) {
      if (response.error().kind() == ErrorKind::Network && attempt < attempts) {
        log("retrying after: " + response.error().describe());
        sleep_before_retry(attempt, nullptr);
        continue;
      }
      return response;
    }
    if (is_retryable_status(response->status) && attempt < attempts) {
      log("retrying after status " + std::to_string(response->status));
      sleep_before_retry(attempt, &*response);
      continue;
    }
    return response;
  }
}

Result<void> Client::ping() {
  HttpRequest req;
  req.url = url("/v2/");
  auto response = call(req, "", false, {});
  if (!response) return std::move(response).error();
  if (response->status == 401)
    return Error(ErrorKind::Unauthorized, registry_ + " refused the credentials (401)");
  if (!response->ok()) return status_error(*response, "", false, "the /v2/ endpoint");
  return {};
}

Result<FetchedManifest> Client::get_manifest(std::string_view path, std::string_view reference) {
  HttpRequest req;
  req.url = url("/v2/" + std::string(path) + "/manifests/" + std::string(reference));
  req.headers.emplace("Accept", kManifestAccept);
  std::string body;
  bool too_big = false;
  req.on_head = [&](const httplib::Response&) {
    body.clear();
    return true;
  };
  req.on_body = [&](const char* data, size_t size) {
    if (body.size() + size > layers::kMaxManifestBytes) {
      too_big = true;
      return false;
    }
    body.append(data, size);
    return true;
  };
  const std::string what = "manifest " + std::string(reference);
  auto response = call(req, path, false, {});
  if (too_big)
    return Error(ErrorKind::InvalidInput, what + " from " + registry_ + "/" + std::string(path) +
                                              " is larger than " +
                                              std::to_string(layers::kMaxManifestBytes) + " bytes");
  if (!response) return std::move(response).error().context("fetching " + what);
  if (!response->ok()) return status_error(*response, path, false, what);

  std::string content_type = response->header("Content-Type");
  return parse_manifest_reply(std::move(body), content_type, reference,
                              registry_ + "/" + std::string(path));
}

Result<FetchedManifest> parse_manifest_reply(std::string bytes, std::string_view content_type,
                                             std::string_view reference, std::string_view where) {
  const std::string what = "manifest " + std::string(reference);
  FetchedManifest out;
  out.bytes = std::move(bytes);
  out.digest = Digest::of(out.bytes);
  auto doc = nlohmann::json::parse(out.bytes, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Error(ErrorKind::InvalidInput, what + " from " + std::string(where) + " is not JSON");
  content_type = content_type.substr(0, content_type.find(';'));
  if (auto it = doc.find("mediaType"); it != doc.end() && it->is_string()) {
    out.media_type = it->get<std::string>();
  } else {
    out.media_type = std::string(content_type);
  }
  if (doc.value("schemaVersion", nlohmann::json(0)) == 1 || out.media_type.starts_with(kSchema1) ||
      content_type.starts_with(kSchema1))
    return Error(
        ErrorKind::Unsupported,
        what + " in " + std::string(where) +
            " is a Docker schema 1 manifest, which is deprecated and not supported; push the "
            "image again with a current Docker or hoist");
  // The media type (said by the body, else the header) must match the body's shape, and
  // a body and header that both name a manifest type must agree: what we store and tag
  // must read back as what it claims to be.
  if (layers::is_manifest_type(content_type) || layers::is_index_type(content_type)) {
    if (out.media_type != content_type)
      return Error(ErrorKind::InvalidInput,
                   what + " from " + std::string(where) + ": its mediaType \"" +
                       out.media_type.substr(0, 100) + "\" disagrees with the Content-Type \"" +
                       std::string(content_type) + "\"");
  }
  const bool has_manifests = doc.contains("manifests");
  const bool has_layers = doc.contains("layers") || doc.contains("config");
  if ((layers::is_index_type(out.media_type) && (has_layers || !has_manifests)) ||
      (layers::is_manifest_type(out.media_type) && (has_manifests || !has_layers)))
    return Error(ErrorKind::InvalidInput,
                 what + " from " + std::string(where) + " is of media type \"" + out.media_type +
                     "\" but its content is " +
                     (has_manifests ? "an index" : has_layers ? "an image manifest" : "neither"));
  if (auto pinned = Digest::parse(reference); pinned && *pinned != out.digest)
    return Error(ErrorKind::Corrupt, what + " from " + std::string(where) +
                                         ": the bytes served have digest " + out.digest.str());
  return out;
}

Result<std::optional<int64_t>> Client::head_blob(std::string_view path, const Digest& digest,
                                                 bool for_push) {
  HttpRequest req;
  req.method = "HEAD";
  req.url = url("/v2/" + std::string(path) + "/blobs/" + digest.str());
  auto response = call(req, path, for_push, {});
  if (!response) return std::move(response).error().context("checking blob " + digest.str());
  if (response->status == 404) return std::optional<int64_t>();
  if (!response->ok()) return status_error(*response, path, for_push, "blob " + digest.str());
  int64_t size = -1;
  std::string length = response->header("Content-Length");
  if (!length.empty() && length.size() < 19 && std::all_of(length.begin(), length.end(), ::isdigit))
    std::from_chars(length.data(), length.data() + length.size(), size);
  return std::optional<int64_t>(size);
}

namespace {

// The body of a blob download on its way into `writer` (a BlobWriter behind `->`, which the
// caller may replace: restart() then) and the tap: counts have(), reports progress, and
// gathers the HTTP client's pieces (4 KiB each) into writes of kGather bytes: one write to
// the blob and one send to the tap per piece were two of the four system calls per 4 KiB
// that a 1 GiB pull made 800,000 of. Stops with a Corrupt error() as soon as the body
// outgrows the descriptor's `size`; `source` names the blob and where it comes from.
// flush() after each request, whatever its outcome: what was received is written.
template <class Writer>
class BlobSink {
 public:
  static constexpr size_t kGather = size_t(256) << 10;

  BlobSink(Writer& writer, uint64_t size, std::string source, const ProgressFn& progress,
           const BlobTap* tap = nullptr)
      : writer_(writer), size_(size), source_(std::move(source)), progress_(progress), tap_(tap) {}

  // For HttpRequest::on_body.
  std::function<bool(const char*, size_t)> receiver() {
    return [this](const char* data, size_t n) { return take(data, n); };
  }

  void flush() {
    if (pending_.empty()) return;
    if (error_ || !writer_) return pending_.clear();  // the first error is the one reported
    if (auto r = writer_->write(std::string_view(pending_)); !r) {
      error_ = std::move(r).error();
      return pending_.clear();
    }
    if (tap_ && *tap_) (*tap_)(have_ - pending_.size(), pending_);
    pending_.clear();
  }

  uint64_t have() const { return have_; }
  void restart() {
    pending_.clear();
    have_ = 0;
  }
  std::optional<Error>& error() { return error_; }

 private:
  bool take(const char* data, size_t n) {
    if (have_ + n > size_) {
      error_ = Error(ErrorKind::Corrupt, source_ + " is larger than its descriptor says (" +
                                             std::to_string(size_) + " bytes)");
      return false;
    }
    pending_.append(data, n);
    have_ += n;
    if (pending_.size() >= kGather) {
      flush();
      if (error_) return false;
    }
    if (progress_) progress_(have_);
    return true;
  }

  Writer& writer_;
  const uint64_t size_;
  const std::string source_;
  const ProgressFn& progress_;
  const BlobTap* tap_;
  std::string pending_;
  uint64_t have_ = 0;  // received: written, and pending_
  std::optional<Error> error_;
};

}  // namespace

Result<void> Client::fetch_blob(std::string_view path, const Descriptor& blob,
                                const layers::BlobStore& store, const ProgressFn& progress,
                                const BlobTap& tap) {
  const std::string what = "blob " + blob.digest.str();
  const std::string where = registry_ + "/" + std::string(path);
  if (blob.size < 0) return Error(ErrorKind::InvalidInput, what + ": negative size");
  const uint64_t size = static_cast<uint64_t>(blob.size);
  std::optional<layers::BlobWriter> writer;
  BlobSink sink(writer, size, what + " from " + where, progress, &tap);
  std::optional<Error> last_error;
  std::optional<HttpResponse> last_refusal;  // a 429/5xx reply, for its Retry-After
  const int attempts = std::max(1, options_.max_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (attempt > 1) sleep_before_retry(attempt - 1, last_refusal ? &*last_refusal : nullptr);
    last_refusal.reset();
    if (!writer) {
      auto w = store.begin_write();
      if (!w) return std::move(w).error().context("fetching " + what);
      writer.emplace(std::move(*w));
      sink.restart();
    }
    std::optional<Error>& sink_error = sink.error();
    sink_error.reset();
    HttpRequest req;
    req.url = url("/v2/" + std::string(path) + "/blobs/" + blob.digest.str());
    if (const uint64_t have = sink.have(); have > 0)
      req.headers.emplace("Range", "bytes=" + std::to_string(have) + "-");
    req.on_head = [&](const httplib::Response& head) {
      const uint64_t have = sink.have();
      if (have > 0 && head.status == 206) {
        std::string range = head.get_header_value("Content-Range");
        if (range.starts_with("bytes " + std::to_string(have) + "-")) return true;
      }
      if (have > 0 || head.status != 200) {
        // The server ignored (or mangled) our Range: start over with a fresh writer.
        auto w = store.begin_write();
        if (!w) {
          sink_error = std::move(w).error();
          return false;
        }
        writer.emplace(std::move(*w));
        sink.restart();
      }
      return true;
    };
    req.on_body = sink.receiver();
    auto response = call(req, path, false, {}, /*retry=*/false);
    sink.flush();
    if (sink_error) {
      if (sink_error->kind() != ErrorKind::Corrupt) return sink_error->context("fetching " + what);
      writer.reset();
      last_error = *sink_error;
      continue;
    }
    if (!response) {
      if (response.error().kind() != ErrorKind::Network)
        return std::move(response).error().context("fetching " + what);
      log("retrying " + what + " from byte " + std::to_string(sink.have()) +
          " after: " + response.error().describe());
      last_error = std::move(response).error();
      continue;
    }
    if (!response->ok()) {
      Error e = status_error(*response, path, false, what);
      if (!is_retryable_status(response->status)) return e;
      last_error = e;
      last_refusal = std::move(*response);
      continue;
    }
    if (const uint64_t have = sink.have(); have < size) {
      // The reply ended where its own length said: the registry serves fewer bytes than
      // the manifest declares.
      last_error = Error(ErrorKind::Corrupt,
                         what + " from " + where + ": the registry sent " + std::to_string(have) +
                             " bytes, the manifest declares " + std::to_string(size));
      writer.reset();
      continue;
    }
    auto committed = writer->commit(blob.digest);
    writer.reset();
    if (committed) return {};
    if (committed.error().kind() != ErrorKind::Corrupt)
      return std::move(committed).error().context("storing " + what);
    log(what + " arrived corrupt; fetching it again");
    last_error = Error(
        ErrorKind::Corrupt,
        what + " from " + where + " failed digest verification: " + committed.error().message());
  }
  return last_error->context("fetching " + what + " (" + std::to_string(attempts) + " attempts)");
}

Result<void> Client::fetch_foreign_blob(const Descriptor& blob, const layers::BlobStore& store,
                                        const ProgressFn& progress) {
  const std::string what = "foreign layer " + blob.digest.str();
  if (blob.size < 0) return Error(ErrorKind::InvalidInput, what + ": negative size");
  const uint64_t size = static_cast<uint64_t>(blob.size);
  std::optional<Error> last_error;
  for (const std::string& text : blob.urls) {
    auto source = Url::parse(text);
    if (!source) {
      std::string shown;
      for (char c : text.substr(0, 200)) shown += (c > 0x20 && c < 0x7f) ? c : '?';
      last_error =
          Error(ErrorKind::InvalidInput, what + ": \"" + shown + "\" is not an http or https URL");
      continue;
    }
    auto writer = store.begin_write();
    if (!writer) return std::move(writer).error().context("fetching " + what);
    BlobSink sink(writer, size, what + " from " + source->display(), progress);
    HttpRequest req;
    req.url = *source;  // no Authorization: the registry's credentials stay with it
    req.on_body = sink.receiver();
    auto response = http_.send(req);
    sink.flush();
    const std::optional<Error>& sink_error = sink.error();
    const uint64_t have = sink.have();
    if (response)
      log("GET " + source->display() + " (foreign layer) -> " + std::to_string(response->status));
    if (sink_error) {
      if (sink_error->kind() != ErrorKind::Corrupt) return sink_error->context("fetching " + what);
      last_error = *sink_error;
      continue;
    }
    if (!response) {
      last_error = std::move(response).error();
      continue;
    }
    if (!response->ok()) {
      last_error =
          Error(response->status == 404 ? ErrorKind::NotFound : ErrorKind::Network,
                what + ": " + source->display() + " answered " + std::to_string(response->status));
      continue;
    }
    if (have != size) {
      last_error = Error(ErrorKind::Network,
                         what + " from " + source->display() + ": the connection ended after " +
                             std::to_string(have) + " of " + std::to_string(size) + " bytes");
      continue;
    }
    auto committed = writer->commit(blob.digest);
    if (committed) return {};
    if (committed.error().kind() != ErrorKind::Corrupt)
      return std::move(committed).error().context("storing " + what);
    last_error = Error(ErrorKind::Corrupt,
                       what + " from " + source->display() +
                           " failed digest verification: " + committed.error().message());
  }
  if (!last_error)
    return Error(ErrorKind::NotFound,
                 what + " is not in " + registry_ + " and its descriptor lists no URLs");
  return *last_error;
}

Result<bool> Client::mount_blob(std::string_view path, const Digest& digest,
                                std::string_view from_path) {
  HttpRequest req;
  req.method = "POST";
  req.url = url("/v2/" + std::string(path) + "/blobs/uploads/?mount=" + url_encode(digest.str()) +
                "&from=" + url_encode(from_path));
  auto response = call(req, path, true, {repository_scope(from_path, false)});
  if (!response) return std::move(response).error().context("mounting " + digest.str());
  if (response->status == 201) return true;
  if (response->status == 202) {
    // The registry started an ordinary upload instead; cancel it, the caller uploads anew.
    if (auto loc = url("/").resolve(response->header("Location"))) {
      HttpRequest cancel;
      cancel.method = "DELETE";
      cancel.url = *loc;
      (void)call(cancel, path, true, {}, false);
    }
    return false;
  }
  if (response->status == 401 || response->status == 403)
    return status_error(*response, path, true, "mount");
  return false;
}

Result<void> Client::upload_blob(std::string_view path, const Digest& digest, int64_t size, int fd,
                                 const ProgressFn& progress) {
  const int attempts = std::max(1, options_.max_attempts);
  for (int attempt = 1;; ++attempt) {
    auto r = upload_once(path, digest, size, fd, progress);
    if (r || attempt >= attempts || r.error().kind() != ErrorKind::Network)
      return r ? r : std::move(r).error().context("uploading blob " + digest.str());
    log("retrying upload of " + digest.str() + " after: " + r.error().describe());
    sleep_before_retry(attempt, nullptr);
  }
}

Result<Url> Client::start_upload(std::string_view path, const std::string& what) {
  HttpRequest start;
  start.method = "POST";
  start.url = url("/v2/" + std::string(path) + "/blobs/uploads/");
  auto started = call(start, path, true, {}, false);
  if (!started) return std::move(started).error();
  return next_upload_location(*started, path, what);
}

Result<HttpResponse> Client::patch_upload(std::string_view path, const Url& location, int fd, uint64_t offset,
                                          uint64_t bytes, const ProgressFn& progress) {
  HttpRequest patch;
  patch.method = "PATCH";
  patch.url = location;
  patch.headers.emplace("Content-Range", std::to_string(offset) + "-" + std::to_string(offset + bytes - 1));
  patch.body_size = bytes;
  patch.body_provider = pread_provider(fd, offset, &progress);
  return call(patch, path, true, {}, false);
}

Result<Url> Client::next_upload_location(const HttpResponse& response, std::string_view path,
                                         const std::string& what) const {
  if (response.status != 202) return status_error(response, path, true, what);
  auto location = response.url.resolve(response.header("Location"));
  if (!location) return std::move(location).error().context(what + ": the registry's upload location");
  return location;
}

Result<void> Client::close_upload(std::string_view path, const Url& location, const Digest& digest, int fd,
                                  uint64_t offset, uint64_t bytes, const ProgressFn& progress,
                                  const std::string& what) {
  HttpRequest put;
  put.method = "PUT";
  put.url = location;
  put.url.target = with_query(put.url.target, "digest=" + url_encode(digest.str()));
  put.body_size = bytes;
  put.body_provider = pread_provider(fd, offset, &progress);
  if (bytes == 0) {
    put.body_provider = nullptr;
    put.content_type = "application/octet-stream";
  }
  auto done = call(put, path, true, {}, false);
  if (!done) return std::move(done).error();
  if (done->status != 201) return status_error(*done, path, true, what);
  return {};
}

Result<void> Client::upload_once(std::string_view path, const Digest& digest, int64_t size, int fd,
                                 const ProgressFn& progress) {
  const std::string what = "upload of blob " + digest.str();
  auto location = start_upload(path, what);
  if (!location) return std::move(location).error();

  const uint64_t total = static_cast<uint64_t>(size);
  if (total > options_.chunk_size) {
    int resumes = 0;
    for (uint64_t offset = 0; offset < total;) {
      uint64_t n = std::min<uint64_t>(options_.chunk_size, total - offset);
      auto sent = patch_upload(path, *location, fd, offset, n, progress);
      const bool failed =
          !sent ? sent.error().kind() == ErrorKind::Network : is_retryable_status(sent->status);
      if (failed && ++resumes < std::max(1, options_.max_attempts)) {
        // Ask the registry how much of the upload it holds, and go on from there. When it
        // cannot say, the error goes up and upload_blob starts over with a new POST.
        sleep_before_retry(resumes, sent ? &*sent : nullptr);
        auto status = upload_status(path, *location, total);
        if (!status) {
          log(what + ": cannot resume (" + status.error().describe() + "); starting over");
          return sent ? status_error(*sent, path, true, what) : std::move(sent).error();
        }
        log(what + ": resuming at byte " + std::to_string(status->offset) + " of " +
            std::to_string(total));
        location = std::move(status->location);
        offset = status->offset;
        continue;
      }
      if (!sent) return std::move(sent).error();
      auto next = next_upload_location(*sent, path, what);
      if (!next) return std::move(next).error();
      location = std::move(next);
      offset += n;
    }
    return close_upload(path, *location, digest, fd, total, 0, progress, what);
  }
  return close_upload(path, *location, digest, fd, 0, total, progress, what);
}

Result<void> Client::upload_growing(std::string_view path, const GrowingBlob& blob,
                                    const ProgressFn& progress) {
  const std::string what = "upload of a blob as it is compressed";
  auto location = start_upload(path, what);
  if (!location) return std::move(location).error();

  // One PATCH whose body follows the file as it grows, sent chunked (docker streams a layer
  // into its PATCH as it compresses it, too): the registry takes in each piece as soon as
  // it is on the file, and nothing is left to send when the compressor ends but the PUT.
  // (PATCHes of chunk_size each waited for a whole chunk on the file, and each was a
  // request and a connection of its own, with their round trips: 17 for a 270 MB layer.)
  std::optional<Error> failed;  // the blob's own error: a PATCH cancelled for it says this
  std::optional<Digest> digest;
  const httplib::ContentProvider read = pread_provider(blob.fd, 0, &progress);
  HttpRequest patch;
  patch.method = "PATCH";
  patch.url = *location;
  patch.body_chunked = true;
  patch.body_provider = [&](size_t offset, size_t, httplib::DataSink& sink) {
    auto written = blob.wait(offset + 1);
    if (!written) {
      failed = std::move(written).error();
      return false;
    }
    if (written->bytes < offset) {
      failed = Error(ErrorKind::Corrupt, what + ": the blob shrank to " + std::to_string(written->bytes) + " bytes");
      return false;
    }
    if (written->bytes == offset) {  // wait() returns no more only once the blob is whole
      digest = written->digest;
      sink.done();
      return true;
    }
    return read(offset, static_cast<size_t>(written->bytes - offset), sink);
  };
  auto sent = call(patch, path, true, {}, false);
  if (failed) return *failed;
  if (!sent) return std::move(sent).error();
  auto next = next_upload_location(*sent, path, what);
  if (!next) return std::move(next).error();
  if (!digest) return Error(ErrorKind::Network, what + ": the PATCH ended before the blob did");
  if (auto r = close_upload(path, *next, *digest, blob.fd, 0, 0, progress, "upload of blob " + digest->str()); !r)
    return r;
  log("uploaded blob " + digest->str() + " as it was compressed");
  return {};
}

Result<Client::UploadStatus> Client::upload_status(std::string_view path, const Url& location,
                                                   uint64_t total) {
  HttpRequest req;
  req.url = location;
  auto response = call(req, path, true, {});
  if (!response) return std::move(response).error();
  if (response->status != 204 && response->status != 200)
    return status_error(*response, path, true, "upload status");
  auto range = parse_upload_range(response->header("Range"));
  if (!range || *range > total)
    return Error(ErrorKind::Network, "the registry did not say how much of the upload it holds");
  UploadStatus out{location, *range};
  if (std::string next = response->header("Location"); !next.empty()) {
    auto resolved = response->url.resolve(next);
    if (!resolved) return std::move(resolved).error().context("the registry's upload location");
    out.location = std::move(*resolved);
  }
  return out;
}

std::optional<uint64_t> parse_upload_range(std::string_view range) {
  // "0-N": the registry holds bytes 0..N. Docker's registry says "0-0" both for nothing
  // and for one byte, so that is no answer.
  if (range.starts_with("bytes=")) range.remove_prefix(6);
  if (!range.starts_with("0-")) return std::nullopt;
  range.remove_prefix(2);
  if (range.empty() || range.size() > 19 ||
      !std::all_of(range.begin(), range.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  uint64_t last = 0;
  std::from_chars(range.data(), range.data() + range.size(), last);
  if (last == 0) return std::nullopt;
  return last + 1;
}

Result<Digest> Client::put_manifest(std::string_view path, std::string_view reference,
                                    std::string_view bytes, std::string_view media_type) {
  const Digest digest = Digest::of(bytes);
  HttpRequest req;
  req.method = "PUT";
  req.url = url("/v2/" + std::string(path) + "/manifests/" + std::string(reference));
  req.body = std::string(bytes);
  req.content_type = std::string(media_type);
  auto response = call(req, path, true, {});
  if (!response) return std::move(response).error().context("pushing manifest " + digest.str());
  if (response->status != 201 && !response->ok())
    return status_error(*response, path, true, "manifest " + std::string(reference));
  std::string said = response->header("Docker-Content-Digest");
  if (!said.empty() && said != digest.str())
    return Error(ErrorKind::Corrupt, "the registry stored manifest " + std::string(reference) +
                                         " as " + said.substr(0, 80) + ", not " + digest.str());
  return digest;
}

}  // namespace registry
