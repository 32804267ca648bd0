#include "layers/digest.h"

#include <cassert>

namespace layers {

Result<Digest> Digest::from_hex(std::string_view hex) {
  if (hex.size() != 64)
    return Error(ErrorKind::InvalidInput, "invalid sha256 digest " + quoted(hex) +
                                              ": want 64 hex characters, got " +
                                              std::to_string(hex.size()));
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return Error(ErrorKind::InvalidInput,
                   "invalid sha256 digest " + quoted(hex) + ": not lowercase hex");
  return Digest("sha256:" + std::string(hex));
}

Result<Digest> Digest::parse(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return Error(ErrorKind::InvalidInput, "invalid digest " + quoted(text) + ": want sha256:<hex>");
  std::string_view algorithm = text.substr(0, colon);
  if (algorithm != "sha256") {
    for (char c : algorithm)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '_' ||
            c == '-'))
        return Error(ErrorKind::InvalidInput, "invalid digest " + quoted(text));
    return Error(ErrorKind::Unsupported,
                 "digest algorithm " + quoted(algorithm) + " is not supported (only sha256)");
  }
  return from_hex(text.substr(colon + 1));
}

Digest Digest::of(std::span<const std::byte> data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

Digest Digest::of(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  // Allocation or init failing here means OpenSSL itself is broken; nothing to recover.
  [[maybe_unused]] int ok = ctx_ && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  assert(ok);
}

void Sha256::update(std::span<const std::byte> data) {
  EVP_DigestUpdate(ctx_.get(), data.data(), data.size());
  bytes_ += data.size();
}

void Sha256::update(std::string_view data) {
  update(std::as_bytes(std::span(data.data(), data.size())));
}

Digest Sha256::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_.get(), out, &len);
  static const char* kHex = "0123456789abcdef";
  std::string text = "sha256:";
  for (unsigned i = 0; i < len; ++i) {
    text += kHex[out[i] >> 4];
    text += kHex[out[i] & 15];
  }
  EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  bytes_ = 0;
  return *Digest::parse(text);
}

}  // namespace layers
