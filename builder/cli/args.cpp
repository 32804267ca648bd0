#include "builder/cli/args.h"

#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "parser/suggest.h"

namespace builder::cli {

using layers::Error;
using layers::ErrorKind;

std::string nearest_name(std::string_view word, const std::vector<std::string>& candidates) {
  std::vector<std::string_view> views(candidates.begin(), candidates.end());
  return parser::nearest(word, views);
}

ArgParser::ArgParser(std::string usage, std::string summary)
    : usage_(std::move(usage)), summary_(std::move(summary)) {}

static std::vector<std::string> split_names(std::string_view names) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= names.size()) {
    size_t comma = names.find(',', start);
    if (comma == std::string_view::npos) comma = names.size();
    out.emplace_back(names.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

void ArgParser::flag(std::string_view names, bool* out, std::string help) {
  specs_.push_back({split_names(names), Kind::Flag, out, "", std::move(help)});
}
void ArgParser::option(std::string_view names, std::string* out, std::string value_name,
                       std::string help) {
  specs_.push_back({split_names(names), Kind::Option, out, std::move(value_name), std::move(help)});
}
void ArgParser::multi(std::string_view names, std::vector<std::string>* out,
                      std::string value_name, std::string help) {
  specs_.push_back({split_names(names), Kind::Multi, out, std::move(value_name), std::move(help)});
}
void ArgParser::positionals(int min, int max, std::string names) {
  min_pos_ = min;
  max_pos_ = max;
  pos_names_ = std::move(names);
}

const ArgParser::Spec* ArgParser::find(std::string_view name) const {
  for (const auto& spec : specs_)
    for (const auto& n : spec.names)
      if (n == name) return &spec;
  return nullptr;
}

std::string ArgParser::nearest(std::string_view name) const {
  if (std::string_view("--help").starts_with(name) && name.size() > 3) return "--help";
  std::vector<std::string> names;
  for (const auto& spec : specs_) names.insert(names.end(), spec.names.begin(), spec.names.end());
  return nearest_name(name, names);
}

layers::Result<std::vector<std::string>> ArgParser::parse(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positional || arg == "-" || arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      if (stop_at_positional_) only_positional = true;
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      help_requested_ = true;
      continue;
    }
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (size_t eq = arg.find('='); eq != std::string::npos && arg.starts_with("--")) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    } else if (arg.size() > 2 && arg[1] != '-' && !find(arg)) {
      // -tNAME: a short option with its value attached.
      name = arg.substr(0, 2);
      if (const Spec* s = find(name); s && s->kind != Kind::Flag) inline_value = arg.substr(2);
      else name = arg;
    }
    const Spec* spec = find(name);
    if (!spec) {
      std::string msg = "unknown flag: " + name;
      if (std::string hint = nearest(name); !hint.empty()) msg += " (did you mean " + hint + "?)";
      return Error(ErrorKind::Usage, msg);
    }
    if (spec->kind == Kind::Flag) {
      bool value = true;
      if (inline_value) {
        if (*inline_value == "true" || *inline_value == "1") value = true;
        else if (*inline_value == "false" || *inline_value == "0") value = false;
        else return Error(ErrorKind::Usage, "flag " + name + " takes no value (or true/false)");
      }
      *static_cast<bool*>(spec->out) = value;
      continue;
    }
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else {
      if (i + 1 >= args.size()) return Error(ErrorKind::Usage, "flag needs an argument: " + name);
      value = args[++i];
    }
    if (spec->kind == Kind::Option) *static_cast<std::string*>(spec->out) = value;
    else static_cast<std::vector<std::string>*>(spec->out)->push_back(value);
  }
  if (help_requested_) return positional;
  int n = static_cast<int>(positional.size());
  if (n < min_pos_ || (max_pos_ >= 0 && n > max_pos_)) {
    std::string msg = "\"" + usage_ + "\" ";
    if (max_pos_ == min_pos_) msg += "requires exactly " + std::to_string(min_pos_);
    else if (n < min_pos_) msg += "requires at least " + std::to_string(min_pos_);
    else msg += "accepts at most " + std::to_string(max_pos_);
    msg += (max_pos_ == 1 || (n < min_pos_ && min_pos_ == 1)) ? " argument" : " arguments";
    msg += "; see --help";
    return Error(ErrorKind::Usage, msg);
  }
  return positional;
}

std::optional<layers::Result<int>> ArgParser::parse_or_help(const std::vector<std::string>& args,
                                                            std::vector<std::string>& positional) {
  auto parsed = parse(args);
  if (!parsed) return layers::Result<int>(std::move(parsed).error());
  if (help_requested_) {
    std::fputs(help().c_str(), stdout);
    return layers::Result<int>(0);
  }
  positional = std::move(*parsed);
  return std::nullopt;
}

std::string ArgParser::help() const {
  std::ostringstream out;
  out << "Usage: " << usage_ << "\n\n" << summary_ << "\n";
  out << "\nOptions:\n";  // -h, --help at least, so every command's help has the header
  for (const auto& spec : specs_) {
    std::string left = "  ";
    for (size_t i = 0; i < spec.names.size(); ++i) left += (i ? ", " : "") + spec.names[i];
    if (!spec.value_name.empty()) left += " " + spec.value_name;
    if (left.size() < 32) left.resize(32, ' ');
    else left += "  ";
    out << left << spec.help << "\n";
  }
  out << "  -h, --help                    show this help\n";
  return out.str();
}

layers::Result<void> refuse_archive_to_terminal(std::string_view who, std::string_view instead) {
  if (!::isatty(STDOUT_FILENO)) return {};
  return layers::Error(layers::ErrorKind::Usage,
                       (who.empty() ? std::string() : std::string(who) + ": ") +
                           "refusing to write an image archive to a terminal; " + std::string(instead));
}

}  // namespace builder::cli
