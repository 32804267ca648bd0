#include "parser/ast_json.h"

#include <nlohmann/json.hpp>

namespace parser {

std::string to_json(const Dockerfile& file) {
  using Json = nlohmann::ordered_json;
  Json out;
  out["escape"] = std::string(1, file.escape);
  out["directives"] = Json::object();
  for (const auto& [name, value] : file.directives) out["directives"][name] = value;
  out["instructions"] = Json::array();
  for (const Instruction& in : file.instructions) {
    Json j;
    j["cmd"] = in.cmd;
    j["flags"] = in.flags;
    j["args"] = in.args;
    j["json"] = in.json;
    j["line"] = in.line;
    j["end_line"] = in.end_line;
    j["heredocs"] = Json::array();
    for (const Heredoc& doc : in.heredocs) {
      Json h;
      h["name"] = doc.name;
      h["content"] = doc.content;
      h["chomp"] = doc.chomp;
      h["expand"] = doc.expand;
      j["heredocs"].push_back(std::move(h));
    }
    out["instructions"].push_back(std::move(j));
  }
  return out.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace parser
