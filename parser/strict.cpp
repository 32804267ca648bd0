#include "parser/strict.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "parser/suggest.h"

namespace parser {

namespace {

enum class FlagType { String, Strings, Bool };

struct FlagSpec {
  std::string_view name;
  FlagType type;
};

// The flags Docker's instruction parser registers for each instruction (dockerfile 1.19:
// --exclude and --parents are stable; --parents is COPY's only).
std::vector<FlagSpec> flags_of(std::string_view cmd) {
  if (cmd == "from") return {{"platform", FlagType::String}};
  if (cmd == "run")
    return {{"mount", FlagType::Strings},
            {"network", FlagType::String},
            {"security", FlagType::String}};
  if (cmd == "copy")
    return {{"from", FlagType::String},     {"chown", FlagType::String},
            {"chmod", FlagType::String},    {"link", FlagType::Bool},
            {"parents", FlagType::Bool},    {"exclude", FlagType::Strings}};
  if (cmd == "add")
    return {{"chown", FlagType::String},       {"chmod", FlagType::String},
            {"link", FlagType::Bool},          {"keep-git-dir", FlagType::Bool},
            {"checksum", FlagType::String},    {"exclude", FlagType::Strings},
            {"unpack", FlagType::Bool}};
  if (cmd == "healthcheck")
    return {{"interval", FlagType::String},     {"timeout", FlagType::String},
            {"start-period", FlagType::String}, {"start-interval", FlagType::String},
            {"retries", FlagType::String}};
  return {};
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Go's time.ParseDuration, returning nanoseconds; nullopt for text Go rejects.
std::optional<double> parse_duration(std::string_view s) {
  if (s == "0") return 0.0;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) negative = s[0] == '-', s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  static const std::map<std::string_view, double> units = {
      {"ns", 1.0},  {"us", 1e3},  {"\xC2\xB5s", 1e3}, {"\xCE\xBCs", 1e3},
      {"ms", 1e6},  {"s", 1e9},   {"m", 60e9},        {"h", 3600e9}};
  double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    double value = 0;
    bool digits = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') value = value * 10 + (s[i++] - '0'), digits = true;
    if (i < s.size() && s[i] == '.') {
      ++i;
      double scale = 0.1;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') value += (s[i++] - '0') * scale, scale /= 10, digits = true;
    }
    if (!digits) return std::nullopt;
    size_t u = i;
    while (u < s.size() && !(s[u] >= '0' && s[u] <= '9') && s[u] != '.') ++u;
    auto unit = units.find(s.substr(i, u - i));
    if (unit == units.end()) return std::nullopt;
    total += value * unit->second;
    s.remove_prefix(u);
  }
  return negative ? -total : total;
}

bool is_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

class Checker {
 public:
  Checker(const Instruction& in, std::string_view file, std::vector<Diagnostic>* out)
      : in_(in), file_(file), out_(out) {}

  void run() {
    // Docker registers no flags for HEALTHCHECK NONE and never looks at them.
    bool is_healthcheck_none = in_.cmd == "healthcheck" && !in_.args.empty() &&
                               upper(in_.args[0]) == "NONE";
    if (!is_healthcheck_none && !check_flags()) return;
    check_flag_values();
    check_arguments();
  }

 private:
  void error(std::string message, std::string hint = {}) {
    out_->push_back({Severity::Error, std::string(file_), in_.line, in_.column,
                     static_cast<int>(in_.cmd.size()), std::move(message), std::move(hint)});
  }

  bool check_flags() {
    std::vector<FlagSpec> specs = flags_of(in_.cmd);
    std::set<std::string_view> used;
    for (const std::string& flag : in_.flags) {
      std::string_view name = flag_name(flag);
      auto spec = std::find_if(specs.begin(), specs.end(),
                               [&](const FlagSpec& s) { return s.name == name; });
      if (spec == specs.end()) {
        std::vector<std::string> spelled;
        for (const FlagSpec& s : specs) spelled.push_back("--" + std::string(s.name));
        std::vector<std::string_view> candidates(spelled.begin(), spelled.end());
        std::string hint = nearest("--" + std::string(name), candidates);
        error("unknown flag: --" + std::string(name),
              hint.empty() ? std::string() : "did you mean \"" + hint + "\"?");
        return false;
      }
      if (!used.insert(spec->name).second && spec->type != FlagType::Strings) {
        error("duplicate flag specified: --" + std::string(name));
        return false;
      }
      bool has_value = flag.find('=') != std::string::npos;
      std::string value = has_value ? flag.substr(flag.find('=') + 1) : std::string();
      if (spec->type == FlagType::Bool) {
        std::string v = lower(value);
        if (has_value && v != "true" && v != "false") {
          error("expecting boolean value for flag " + std::string(name) + ", not: " + value);
          return false;
        }
      } else if (!has_value) {
        error("missing a value on flag: --" + std::string(name));
        return false;
      }
    }
    return true;
  }

  void check_flag_values() {
    if (in_.cmd == "run") {
      if (auto network = flag_value(in_, "network");
          network && *network != "default" && *network != "none" && *network != "host")
        error("unsupported network mode \"" + *network + "\"", "use default, none or host");
      if (auto security = flag_value(in_, "security");
          security && *security != "sandbox" && *security != "insecure")
        error("unsupported security mode \"" + *security + "\"", "use sandbox or insecure");
      for (const std::string& mount : flag_values(in_, "mount")) check_mount(mount);
    }
    if (in_.cmd == "add") {
      if (auto checksum = flag_value(in_, "checksum")) {
        size_t colon = checksum->find(':');
        if (colon == std::string::npos || colon == 0 || !is_hex(checksum->substr(colon + 1)))
          error("invalid checksum digest format \"" + *checksum + "\"",
                "expected ALGORITHM:HEX, e.g. sha256:...");
      }
    }
    if (in_.cmd == "healthcheck" && !(!in_.args.empty() && upper(in_.args[0]) == "NONE")) {
      for (std::string_view name : {"interval", "timeout", "start-period", "start-interval"}) {
        auto value = flag_value(in_, name);
        if (!value || value->empty()) continue;
        auto ns = parse_duration(*value);
        if (!ns) {
          error("time: invalid duration \"" + *value + "\"");
        } else if (*ns != 0 && *ns < 1e6) {
          error("Interval \"" + std::string(name) + "\" cannot be less than 1ms");
        }
      }
      if (auto retries = flag_value(in_, "retries"); retries && !retries->empty()) {
        std::string_view digits = *retries;
        bool negative = digits.starts_with('-');
        if (negative || digits.starts_with('+')) digits.remove_prefix(1);
        long long count = -1;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
        bool numeric = !digits.empty() && digits.size() <= 10 && ec == std::errc() &&
                       end == digits.data() + digits.size() && count <= 2147483647LL;
        if (!numeric) {
          error("invalid value for --retries: \"" + *retries + "\"");
        } else if (negative && count != 0) {
          error("--retries cannot be negative (" + *retries + ")");
        }
      }
    }
  }

  void check_mount(const std::string& mount) {
    std::string type = "bind";
    size_t start = 0;
    while (start <= mount.size()) {
      size_t comma = mount.find(',', start);
      std::string field = mount.substr(start, comma == std::string::npos ? std::string::npos
                                                                          : comma - start);
      size_t eq = field.find('=');
      if (eq != std::string::npos && lower(field.substr(0, eq)) == "type")
        type = lower(field.substr(eq + 1));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (type != "bind" && type != "cache" && type != "tmpfs" && type != "secret" && type != "ssh")
      error("unsupported mount type \"" + type + "\"", "use bind, cache, tmpfs, secret or ssh");
  }

  void at_least(size_t n, std::string_view what) {
    if (in_.args.size() < n) error(upper(in_.cmd) + " requires at least " + std::string(what));
  }

  void exactly_one() {
    if (in_.args.size() != 1) error(upper(in_.cmd) + " requires exactly one argument");
  }

  void check_arguments() {
    const std::string& cmd = in_.cmd;
    if (cmd == "env" || cmd == "label") {
      at_least(1, "one argument");
      for (size_t i = 0; i < in_.args.size(); i += 2)
        if (in_.args[i].empty()) error(upper(cmd) + " names can not be blank");
    } else if (cmd == "arg" || cmd == "expose" || cmd == "onbuild") {
      at_least(1, "one argument");
    } else if (cmd == "copy" || cmd == "add") {
      if (in_.args.size() < 2) {
        error(upper(cmd) + " requires at least two arguments, but only one was provided. "
                           "Destination could not be determined.");
      } else if (!in_.json && in_.args.back().find("<<") != std::string::npos &&
                 std::any_of(in_.heredocs.begin(), in_.heredocs.end(), [&](const Heredoc& h) {
                   return in_.args.back().ends_with(h.name) || in_.args.back().ends_with(h.name + "'") ||
                          in_.args.back().ends_with(h.name + "\"");
                 })) {
        error(upper(cmd) + " cannot accept a heredoc as a destination");
      }
    } else if (cmd == "workdir" || cmd == "user" || cmd == "stopsignal" || cmd == "maintainer") {
      exactly_one();
    } else if (cmd == "volume") {
      at_least(1, "one argument");
      for (const std::string& v : in_.args)
        if (v.find_first_not_of(" \t") == std::string::npos)
          error("VOLUME specified can not be an empty string");
    } else if (cmd == "shell") {
      if (!in_.json) {
        error("SHELL requires the arguments to be in JSON form");
      } else {
        at_least(1, "one argument");
      }
    } else if (cmd == "healthcheck") {
      check_healthcheck();
    }
  }

  void check_healthcheck() {
    if (in_.args.empty()) {
      error("HEALTHCHECK requires at least one argument");
      return;
    }
    std::string type = upper(in_.args[0]);
    if (type == "NONE") {
      if (in_.args.size() > 1) error("HEALTHCHECK NONE takes no arguments");
    } else if (type == "CMD") {
      if (in_.args.size() < 2 || (in_.args.size() == 2 && !in_.json && in_.args[1].empty()))
        error("Missing command after HEALTHCHECK CMD");
    } else {
      error("Unknown type \"" + in_.args[0] + "\" in HEALTHCHECK (try CMD)");
    }
  }

  const Instruction& in_;
  std::string_view file_;
  std::vector<Diagnostic>* out_;
};

}  // namespace

std::vector<Diagnostic> check_instruction(const Instruction& instruction,
                                          std::string_view display_name) {
  std::vector<Diagnostic> out;
  Checker(instruction, display_name, &out).run();
  return out;
}

std::vector<Diagnostic> check_strict(const Dockerfile& file, std::string_view display_name) {
  std::vector<Diagnostic> out;
  for (const Instruction& in : file.instructions) Checker(in, display_name, &out).run();
  return out;
}

}  // namespace parser
