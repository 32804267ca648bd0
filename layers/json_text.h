#pragma once
// JSON text from values that hold user bytes (Dockerfile text, commands, names, labels).
// nlohmann::json::dump() throws type_error 316 on a string that is not valid UTF-8;
// every dump of such a value goes through dump_json instead.

#include <string>

#include <nlohmann/json.hpp>

namespace layers {

// `j` as JSON text (`indent` and `indent_char` as nlohmann's dump: -1 is compact). Each
// invalid UTF-8 sequence in a string becomes U+FFFD, as Go's encoding/json (and so
// Docker) writes it; never throws. The replacement is lossy: two byte strings may give
// the same text, so a cache key must hash the raw bytes, not this text.
inline std::string dump_json(const nlohmann::json& j, int indent = -1, char indent_char = ' ') {
  return j.dump(indent, indent_char, false, nlohmann::json::error_handler_t::replace);
}

}  // namespace layers
