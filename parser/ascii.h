#pragma once
// ASCII case mapping, as Go's strings.ToLower/ToUpper act on the ASCII letters Dockerfile
// keywords, flags, directive names and platforms are made of (other bytes are kept).

#include <string>
#include <string_view>

namespace parser {

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

inline std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

}  // namespace parser
