#pragma once
// Base64 as HTTP Basic auth and Docker's config.json `auth` field use it (RFC 4648, with
// padding). decode() refuses anything that is not canonical base64 with InvalidInput.

#include <string>
#include <string_view>

#include "layers/error.h"

namespace registry {

std::string base64_encode(std::string_view data);
layers::Result<std::string> base64_decode(std::string_view text);

}  // namespace registry
