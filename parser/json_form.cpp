#include "parser/json_form.h"

#include <nlohmann/json.hpp>

#include "parser/split.h"

namespace parser {

// Where the JSON value starting at text[0] == '[' ends: one past its matching ']', or npos
// when the brackets never balance. Strings are skipped with their escapes; whether the
// text between is valid JSON is for the JSON parser to say.
static size_t end_of_first_value(std::string_view text) {
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i)
        if (text[i] == '\\') ++i;
      if (i >= text.size()) return std::string_view::npos;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

JsonForm parse_json_form(std::string_view text, std::vector<std::string>* out) {
  text = trim_left(text);
  if (text.empty() || text.front() != '[') return JsonForm::NotJson;
  // Docker decodes the first JSON value and ignores what follows it: `CMD ["a"] b` is the
  // exec form ["a"].
  size_t end = end_of_first_value(text);
  if (end == std::string_view::npos) return JsonForm::NotJson;
  auto value = nlohmann::json::parse(text.substr(0, end), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_array()) return JsonForm::NotJson;
  std::vector<std::string> strings;
  for (const auto& element : value) {
    if (!element.is_string()) return JsonForm::NotStrings;
    strings.push_back(element.get<std::string>());
  }
  *out = std::move(strings);
  return JsonForm::Strings;
}

}  // namespace parser
