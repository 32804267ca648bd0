#include "parser/instructions.h"

#include <algorithm>

#include "parser/json_form.h"
#include "parser/split.h"

namespace parser {

namespace {

constexpr std::string_view kNames[] = {
    "FROM",   "RUN",         "CMD",    "LABEL",      "MAINTAINER", "EXPOSE",
    "ENV",    "ADD",         "COPY",   "ENTRYPOINT", "VOLUME",     "USER",
    "WORKDIR", "ARG",        "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
};


enum class Splitter { Words, MaybeJson, MaybeJsonToList, String, NameVal, NameOrNameVal,
                      Health, SubCommand };

Splitter splitter_for(std::string_view cmd) {
  if (cmd == "run" || cmd == "cmd" || cmd == "entrypoint" || cmd == "shell")
    return Splitter::MaybeJson;
  if (cmd == "copy" || cmd == "add" || cmd == "volume") return Splitter::MaybeJsonToList;
  if (cmd == "workdir" || cmd == "user" || cmd == "stopsignal" || cmd == "maintainer")
    return Splitter::String;
  if (cmd == "env" || cmd == "label") return Splitter::NameVal;
  if (cmd == "arg") return Splitter::NameOrNameVal;
  if (cmd == "healthcheck") return Splitter::Health;
  if (cmd == "onbuild") return Splitter::SubCommand;
  return Splitter::Words;  // from, expose
}

// RUN, CMD, ENTRYPOINT, SHELL: the exec form when the text is a JSON array of strings,
// else the shell form, one string as written.
SplitArgs maybe_json(std::string_view rest) {
  SplitArgs out;
  if (rest.empty()) return out;
  switch (parse_json_form(rest, &out.args)) {
    case JsonForm::Strings:
      out.json = true;
      return out;
    case JsonForm::NotStrings:
      out.error = kJsonNotStrings;
      return out;
    case JsonForm::NotJson:
      out.args = {std::string(rest)};
      return out;
  }
  return out;
}

// ENV and LABEL. The first word decides the form: without '=' it is the legacy
// `KEY value` (the value is the rest of the line, as written), with '=' every word must be
// a `key=value` pair.
SplitArgs name_val(std::string_view rest, std::string_view upper_cmd, char escape) {
  SplitArgs out;
  std::vector<std::string> words = split_words(rest, escape);
  if (words.empty()) return out;
  if (words[0].find('=') == std::string::npos) {
    size_t i = 0;
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; };
    while (i < rest.size() && !is_space(rest[i])) ++i;
    size_t j = i;
    while (j < rest.size() && is_space(rest[j])) ++j;
    if (i == rest.size()) {
      out.error = std::string(upper_cmd) + " must have two arguments";
      return out;
    }
    out.args = {std::string(rest.substr(0, i)), std::string(rest.substr(j))};
    return out;
  }
  for (const std::string& word : words) {
    size_t eq = word.find('=');
    if (eq == std::string::npos) {
      out.error = "Syntax error - can't find = in \"" + word +
                  "\". Must be of the form: name=value";
      out.args.clear();
      return out;
    }
    out.args.push_back(word.substr(0, eq));
    out.args.push_back(word.substr(eq + 1));
  }
  return out;
}

// HEALTHCHECK: the type word, then the command as for CMD.
SplitArgs health(std::string_view rest) {
  size_t sep = 0;
  while (sep < rest.size() && !is_space_byte(rest[sep])) ++sep;
  if (sep == 0) return {};
  size_t next = sep;
  while (next < rest.size() && is_space_byte(rest[next])) ++next;
  SplitArgs out = maybe_json(rest.substr(next));
  if (!out.error.empty()) return out;
  out.args.insert(out.args.begin(), std::string(rest.substr(0, sep)));
  return out;
}

}  // namespace

std::span<const std::string_view> instruction_names() { return kNames; }

bool is_instruction(std::string_view cmd) {
  std::string upper(cmd);
  for (char& c : upper)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return std::find(std::begin(kNames), std::end(kNames), upper) != std::end(kNames);
}

bool can_have_heredocs(std::string_view lower_cmd) {
  return lower_cmd == "run" || lower_cmd == "copy" || lower_cmd == "add";
}

SplitArgs split_arguments(std::string_view lower_cmd, std::string_view rest, char escape) {
  SplitArgs out;
  switch (splitter_for(lower_cmd)) {
    case Splitter::Words:
      out.args = split_whitespace(rest);
      return out;
    case Splitter::MaybeJson:
      return maybe_json(rest);
    case Splitter::MaybeJsonToList:
      switch (parse_json_form(rest, &out.args)) {
        case JsonForm::Strings:
          out.json = true;
          return out;
        case JsonForm::NotStrings:
          out.error = kJsonNotStrings;
          return out;
        case JsonForm::NotJson:
          out.args = split_whitespace(rest);
          return out;
      }
      return out;
    case Splitter::String:
      if (!rest.empty()) out.args = {std::string(rest)};
      return out;
    case Splitter::NameVal: {
      std::string upper = lower_cmd == "env" ? "ENV" : "LABEL";
      return name_val(rest, upper, escape);
    }
    case Splitter::NameOrNameVal:
      out.args = split_words(rest, escape);
      return out;
    case Splitter::Health:
      return health(rest);
    case Splitter::SubCommand:
      if (!rest.empty()) out.args = {std::string(rest)};
      return out;
  }
  return out;
}

}  // namespace parser
