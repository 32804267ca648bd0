#pragma once
// A client for one registry, speaking the OCI distribution API (/v2/...). It adds, on top
// of HttpClient: the auth flow (Authenticator), retries with backoff for connection
// errors, 429 and 5xx, and clear errors naming the registry, repository and action:
//   "401 for push to 127.0.0.1:5000/app: run hoist login".
//
// Every operation is thread-safe; pulls and pushes call them from several threads.
// Blobs are streamed: fetch_blob writes into the store as bytes arrive (resuming with
// Range after a dropped connection when the server allows), upload_blob reads from a file
// descriptor with pread. No blob is held whole in memory. A chunked upload whose PATCH fails
// asks the registry (GET on the upload URL) how much it holds and goes on from there; when
// the registry cannot say, the upload starts over.

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layers/blob_store.h"
#include "layers/digest.h"
#include "layers/error.h"
#include "layers/image.h"
#include "registry/auth.h"
#include "registry/credentials.h"
#include "registry/http.h"
#include "registry/reference.h"

namespace registry {

struct ClientOptions {
  TlsOptions tls;
  HttpLimits limits;  // time limits on every request (HttpLimits::from_env() in the CLI)
  std::optional<Credentials> credentials;
  int max_attempts = 5;                    // per request, including the first
  std::chrono::milliseconds backoff{250};  // doubled after each failed attempt
  uint64_t chunk_size = 16 << 20;          // blobs larger than this go up in PATCH chunks
  std::function<void(const std::string&)> debug_log;  // --debug lines; never sees secrets
};

// Every manifest media type hoist reads, for the Accept header.
extern const char* const kManifestAccept;

struct FetchedManifest {
  std::string media_type;  // from the body's mediaType, else the Content-Type header
  std::string bytes;       // exactly as served
  layers::Digest digest = layers::Digest::of("");
};

// Progress of one blob: bytes done so far (may go back to 0 when a download restarts).
using ProgressFn = std::function<void(uint64_t done)>;

// The bytes of a blob as they are stored, in order, each run at its offset in the blob
// (unverified until the download ends; a download that starts over begins again at 0).
using BlobTap = std::function<void(uint64_t offset, std::string_view bytes)>;

// A blob uploaded while it is still being written (a layer compressed as it is pushed).
// `fd` reads it; `wait(n)` blocks until at least n bytes of it are written or its writer
// has ended, and says how many are written and, once the writer has ended, the blob's
// digest (an error when the writer failed: the upload stops with it).
struct GrowingBlob {
  struct Written {
    uint64_t bytes = 0;
    std::optional<layers::Digest> digest;  // set once the blob is whole
  };
  int fd = -1;
  std::function<layers::Result<Written>(uint64_t bytes)> wait;
};

class Client {
 public:
  // `registry` is the reference's domain ("docker.io", "127.0.0.1:5000").
  Client(std::string registry, ClientOptions options);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const std::string& registry() const { return registry_; }
  // A --debug line (options.debug_log), when there is a log.
  void log(const std::string& line) const;

  // GET /v2/ with authentication: what `hoist login` checks credentials with. Unauthorized
  // when the registry refuses them.
  layers::Result<void> ping();

  // GET a manifest or index by tag or digest. Refuses schema1 (Unsupported), bodies over
  // kMaxManifestBytes, and, when `reference` is a digest, bytes that do not match it
  // (Corrupt). NotFound when the registry does not know it.
  layers::Result<FetchedManifest> get_manifest(std::string_view path, std::string_view reference);

  // HEAD a blob: its size when the registry has it, nullopt when it does not. `for_push`
  // asks for the push scope (one token then serves the whole push).
  layers::Result<std::optional<int64_t>> head_blob(std::string_view path,
                                                   const layers::Digest& digest,
                                                   bool for_push = false);

  // Downloads a blob into `store`, verifying its digest (and size) before it lands there.
  // A corrupt download is retried; the store never receives bad bytes. `tap` sees the
  // bytes as they arrive.
  layers::Result<void> fetch_blob(std::string_view path, const layers::Descriptor& blob,
                                  const layers::BlobStore& store, const ProgressFn& progress = {},
                                  const BlobTap& tap = {});

  // Downloads a foreign (non-distributable) layer from the first of its descriptor's
  // `urls` that serves it, as Docker does when the registry lacks the blob: http and https
  // only, no registry credentials sent, the digest and size verified before it lands.
  layers::Result<void> fetch_foreign_blob(const layers::Descriptor& blob,
                                          const layers::BlobStore& store,
                                          const ProgressFn& progress = {});

  // Tries a cross-repository mount of `digest` from `from_path` into `path`. True when
  // the registry mounted it; false when it did not (the caller uploads instead).
  layers::Result<bool> mount_blob(std::string_view path, const layers::Digest& digest,
                                  std::string_view from_path);

  // Uploads `size` bytes read from `fd` (from offset 0) as blob `digest`: POST + PUT, or
  // POST + PATCH chunks + PUT when larger than chunk_size.
  layers::Result<void> upload_blob(std::string_view path, const layers::Digest& digest,
                                   int64_t size, int fd, const ProgressFn& progress = {});

  // Uploads `blob` as it is written: POST, one PATCH whose body (chunked transfer encoding)
  // sends each piece as it lands on the file, and the closing PUT once the digest is known.
  // No retries or resumes: a caller whose upload fails here (or a registry that refuses a
  // PATCH without Content-Length, which the OCI spec's chunked upload always has) uploads
  // the finished blob with upload_blob.
  layers::Result<void> upload_growing(std::string_view path, const GrowingBlob& blob,
                                      const ProgressFn& progress = {});

  // PUTs manifest bytes under `reference` (a tag or the digest) with `media_type`.
  // Returns the digest of the bytes (checked against Docker-Content-Digest when sent).
  layers::Result<layers::Digest> put_manifest(std::string_view path, std::string_view reference,
                                              std::string_view bytes, std::string_view media_type);

 private:
  // One logical request to this registry: authenticated, retried (when `retry`).
  // `action` reads "pull from" / "push to"; `path` is the repository.
  layers::Result<HttpResponse> call(HttpRequest request, std::string_view path, bool push,
                                    std::vector<std::string> extra_scopes, bool retry = true);
  layers::Result<HttpResponse> authed_once(HttpRequest& request,
                                           const std::vector<std::string>& scopes,
                                           std::string_view path, bool push);
  layers::Error status_error(const HttpResponse& response, std::string_view path, bool push,
                             std::string_view what) const;
  void sleep_before_retry(int attempt, const HttpResponse* response) const;
  Url url(std::string_view target) const;
  layers::Result<void> upload_once(std::string_view path, const layers::Digest& digest,
                                   int64_t size, int fd, const ProgressFn& progress);
  // POST that starts an upload: the registry's location for it.
  layers::Result<Url> start_upload(std::string_view path, const std::string& what);
  // PATCH of `bytes` bytes of `fd` from `offset` to the upload at `location` (not retried
  // here: the callers resume or start over); the response as it came.
  layers::Result<HttpResponse> patch_upload(std::string_view path, const Url& location, int fd, uint64_t offset,
                                            uint64_t bytes, const ProgressFn& progress);
  // Where the upload goes on after `response` to its POST or a PATCH: a 202's Location.
  layers::Result<Url> next_upload_location(const HttpResponse& response, std::string_view path,
                                           const std::string& what) const;
  // The closing PUT naming `digest`, with `bytes` bytes of `fd` from `offset` as its body
  // (none when 0).
  layers::Result<void> close_upload(std::string_view path, const Url& location, const layers::Digest& digest,
                                    int fd, uint64_t offset, uint64_t bytes, const ProgressFn& progress,
                                    const std::string& what);
  // GET on an upload's location: where to go on (the registry's new location and the
  // byte it expects next). Network when the registry does not say, so the caller restarts.
  struct UploadStatus {
    Url location;
    uint64_t offset = 0;
  };
  layers::Result<UploadStatus> upload_status(std::string_view path, const Url& location,
                                             uint64_t total);

  std::string registry_;
  std::string api_host_;
  mutable std::once_flag scheme_once_;
  mutable std::string scheme_;
  ClientOptions options_;
  HttpClient http_;
  Authenticator auth_;
};

// True for a status worth retrying: 408, 429, 5xx except 501/505.
bool is_retryable_status(int status);

// What a registry said in an error body ({"errors":[{"code","message"}]}), made safe to
// print: printable ASCII, at most 300 characters; "" when it said nothing readable.
std::string registry_reason(std::string_view body);

// Reads a manifest reply: its media type (the body's mediaType, else `content_type`),
// refusing non-JSON (InvalidInput), schema 1 (Unsupported) and, when `reference` is a
// digest, other bytes (Corrupt). `where` ("host/repo") is for messages.
layers::Result<FetchedManifest> parse_manifest_reply(std::string bytes,
                                                     std::string_view content_type,
                                                     std::string_view reference,
                                                     std::string_view where);

// The byte to resume an upload at, from the Range header of an upload-status reply
// ("0-N" -> N+1). nullopt when the header says nothing usable, "0-0" included (Docker's
// registry sends it both for an empty upload and a one-byte one).
std::optional<uint64_t> parse_upload_range(std::string_view range);

}  // namespace registry
