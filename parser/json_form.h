#pragma once
// The JSON (exec) form of RUN, CMD, ENTRYPOINT, SHELL, COPY, ADD, VOLUME, HEALTHCHECK CMD.

#include <string>
#include <string_view>
#include <vector>

namespace parser {

enum class JsonForm {
  NotJson,     // not a valid JSON array: Docker falls back to the shell form, silently
  Strings,     // a JSON array of strings: the exec form
  NotStrings,  // a valid JSON array holding something other than strings: an error
};

// Classifies `text` (the arguments after the flags) and, for Strings, stores the array's
// strings in `out`. Leading whitespace is ignored; the text must start with '['. As in
// Docker, only the first JSON value counts: text after its closing ']' is ignored.
JsonForm parse_json_form(std::string_view text, std::vector<std::string>* out);

inline constexpr std::string_view kJsonNotStrings =
    "when using JSON array syntax, arrays must be comprised of strings only";

}  // namespace parser
