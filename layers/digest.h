#pragma once
// Content digests as the OCI image spec writes them: "sha256:<64 lowercase hex>".
// Only sha256 is produced; parsing accepts only sha256 (sha512 is refused as Unsupported)
// and rejects anything malformed, so a Digest value is always safe to use in a path.

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "layers/error.h"

namespace layers {

class Digest {
 public:
  // Parses "sha256:<hex>". InvalidInput for anything malformed (wrong length, upper case,
  // path characters), Unsupported for a well-formed other algorithm.
  static Result<Digest> parse(std::string_view text);
  // From the 64 lowercase hex characters alone.
  static Result<Digest> from_hex(std::string_view hex);
  static Digest of(std::span<const std::byte> data);
  static Digest of(std::string_view data);

  const std::string& str() const { return text_; }  // "sha256:..."
  std::string_view algorithm() const { return "sha256"; }
  std::string_view hex() const { return std::string_view(text_).substr(7); }
  // The first 12 hex characters, as `docker images` shows an image id.
  std::string short_id() const { return std::string(hex().substr(0, 12)); }

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;

 private:
  explicit Digest(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

// Incremental sha256: update() as bytes pass, finish() once.
class Sha256 {
 public:
  Sha256();
  void update(std::span<const std::byte> data);
  void update(std::string_view data);
  Digest finish();
  uint64_t bytes() const { return bytes_; }

 private:
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
  uint64_t bytes_ = 0;
};

}  // namespace layers

template <>
struct std::hash<layers::Digest> {
  size_t operator()(const layers::Digest& d) const { return std::hash<std::string>()(d.str()); }
};
