#include "parser/json_form.h"

#include <nlohmann/json.hpp>

#include "parser/split.h"

namespace parser {

JsonForm parse_json_form(std::string_view text, std::vector<std::string>* out) {
  text = trim_left(text);
  if (text.empty() || text.front() != '[') return JsonForm::NotJson;
  auto value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
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
