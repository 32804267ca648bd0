#include "parser/commands.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include "parser/ascii.h"
#include "parser/suggest.h"

namespace parser {

namespace {

enum class FlagType { String, Strings, Bool };

struct FlagSpec {
  std::string_view name;
  FlagType type;
};

// The flags Docker's instruction parser registers for each instruction (dockerfile 1.19:
// --exclude and --parents are stable; --parents is COPY's only). Whether hoist implements
// each one is flag_support_table's business.
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

constexpr FlagSupport kSupport[] = {
    // Parser directives.
    {"# syntax", "=docker/dockerfile:1[.N[.N]]", true, ""},
    {"# syntax", "=any other frontend", false, "hoist is its own Dockerfile frontend (dockerfile:1)"},
    {"# escape", "=\\ or backtick", true, ""},
    {"# check", "=skip=all", true, ""},
    {"# check", "=other settings", false, "hoist runs no build checks"},
    // Instructions, then their flags.
    {"FROM", "", true, ""},
    {"RUN", "", true, ""},
    {"CMD", "", true, ""},
    {"LABEL", "", true, ""},
    {"MAINTAINER", "", true, ""},
    {"EXPOSE", "", true, ""},
    {"ENV", "", true, ""},
    {"ADD", "", true, ""},
    {"COPY", "", true, ""},
    {"ENTRYPOINT", "", true, ""},
    {"VOLUME", "", true, ""},
    {"USER", "", true, ""},
    {"WORKDIR", "", true, ""},
    {"ARG", "", true, ""},
    {"ONBUILD", "", true, ""},
    {"STOPSIGNAL", "", true, ""},
    {"HEALTHCHECK", "", true, ""},
    {"SHELL", "", true, ""},
    {"FROM", "--platform", true, "the build machine's own platform only"},
    {"RUN", "--mount=type=bind", true, ""},
    {"RUN", "--mount=type=cache", true, ""},
    {"RUN", "--mount=type=tmpfs", true, ""},
    {"RUN", "--mount=type=secret", true, ""},
    {"RUN", "--mount=type=ssh", true, ""},
    {"RUN", "--network=default", true, ""},
    {"RUN", "--network=none", true, ""},
    {"RUN", "--network=host", true, "hoist build grants network.host, as docker's builder does"},
    {"RUN", "--security=sandbox", true, ""},
    {"RUN", "--security=insecure", true, "with hoist build --allow security.insecure"},
    {"COPY", "--from", true, ""},
    {"COPY", "--chown", true, ""},
    {"COPY", "--chmod", true, ""},
    {"COPY", "--exclude", true, ""},
    {"COPY", "--link", false, "layers independent of their base are not implemented yet"},
    {"COPY", "--parents", true, ""},
    {"ADD", "--chown", true, ""},
    {"ADD", "--chmod", true, ""},
    {"ADD", "--checksum", true, ""},
    {"ADD", "--exclude", true, ""},
    {"ADD", "--link", false, "layers independent of their base are not implemented yet"},
    {"ADD", "--keep-git-dir", false, "ADD of a git repository is not implemented"},
    {"ADD", "--unpack", false, "not implemented yet"},
    {"HEALTHCHECK", "--interval", true, ""},
    {"HEALTHCHECK", "--timeout", true, ""},
    {"HEALTHCHECK", "--start-period", true, ""},
    {"HEALTHCHECK", "--start-interval", true, ""},
    {"HEALTHCHECK", "--retries", true, ""},
};

// The refusal for `flag` ("--link", "--mount=type=ssh") of `cmd`, or "" when supported.
std::string refusal(std::string_view cmd, std::string_view flag) {
  std::string name = ascii_upper(cmd);
  for (const FlagSupport& row : kSupport)
    if (row.instruction == name && row.flag == flag && !row.supported)
      return name + " " + std::string(flag) + " is not supported by hoist: " + std::string(row.why);
  return "";
}

bool is_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// Go's strconv.ParseBool.
std::optional<bool> parse_bool(std::string_view s) {
  static const std::set<std::string_view> yes = {"1", "t", "T", "TRUE", "true", "True"};
  static const std::set<std::string_view> no = {"0", "f", "F", "FALSE", "false", "False"};
  if (yes.count(s)) return true;
  if (no.count(s)) return false;
  return std::nullopt;
}

std::optional<uint64_t> parse_uint(std::string_view s, int base, uint64_t max) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || value > max) return std::nullopt;
  return value;
}

// docker/go-units RAMInBytes: "64m", "1.5GiB", "1024" (binary multiples).
std::optional<int64_t> parse_ram_bytes(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  std::string_view number = s.substr(0, i);
  if (number.empty() || number.front() == '.' || number.back() == '.') return std::nullopt;
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
  std::string_view unit = s.substr(i);
  if (unit.starts_with(' ')) unit.remove_prefix(1);
  double scale = 1;
  if (!unit.empty()) {
    static const std::string_view kUnits = "kmgtp";
    size_t at = kUnits.find(static_cast<char>(unit[0] | 0x20));
    if (at != std::string_view::npos) {
      scale = std::pow(1024.0, static_cast<double>(at + 1));
      unit.remove_prefix(1);
    }
    if (!unit.empty() && (unit[0] | 0x20) == 'i') unit.remove_prefix(1);
    if (!unit.empty() && (unit[0] | 0x20) == 'b') unit.remove_prefix(1);
    if (!unit.empty()) return std::nullopt;
  }
  double bytes = value * scale;
  if (bytes >= 9.2e18) return std::nullopt;
  return static_cast<int64_t>(bytes);
}

// CSV fields as Go's encoding/csv reads one record: commas split, a field may be quoted
// with `"` (a doubled `""` inside is one quote).
Checked<std::vector<std::string>> csv_fields(std::string_view text) {
  std::vector<std::string> fields;
  std::string field;
  size_t i = 0;
  while (true) {
    field.clear();
    if (i < text.size() && text[i] == '"') {
      ++i;
      while (true) {
        if (i >= text.size()) return Checked<std::vector<std::string>>::failure("failed to parse csv mounts: extraneous or missing \" in quoted-field");
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += text[i++];
      }
      if (i < text.size() && text[i] != ',')
        return Checked<std::vector<std::string>>::failure("failed to parse csv mounts: extraneous or missing \" in quoted-field");
    } else {
      while (i < text.size() && text[i] != ',') {
        if (text[i] == '"') return Checked<std::vector<std::string>>::failure("failed to parse csv mounts: bare \" in non-quoted-field");
        field += text[i++];
      }
    }
    fields.push_back(field);
    if (i >= text.size()) break;
    ++i;  // the comma
  }
  return fields;
}

Checked<Mount> mount_error(std::string message) { return Checked<Mount>::failure(std::move(message)); }

}  // namespace

std::string_view mount_type_name(Mount::Type type) {
  switch (type) {
    case Mount::Type::Bind: return "bind";
    case Mount::Type::Cache: return "cache";
    case Mount::Type::Tmpfs: return "tmpfs";
    case Mount::Type::Secret: return "secret";
    case Mount::Type::Ssh: return "ssh";
  }
  return "bind";
}

Checked<Mount> parse_mount(std::string_view text, const WordExpander& expand) {
  auto fields = csv_fields(text);
  if (!fields) return mount_error(fields.error());
  Mount m;
  bool ro_auto = true;
  bool sharing_set = false;
  static const std::vector<std::string_view> kKeys = {
      "type", "from", "source", "target", "readonly", "id", "sharing", "required", "size", "mode",
      "uid", "gid", "src", "dst", "destination", "ro", "rw", "readwrite", "env"};
  auto is_fileinfo_type = [&] { return m.type == Mount::Type::Secret || m.type == Mount::Type::Ssh || m.type == Mount::Type::Cache; };
  for (const std::string& field : *fields) {
    size_t eq = field.find('=');
    std::string key = ascii_lower(field.substr(0, eq));
    if (eq == std::string::npos) {
      if (key == "readonly" || key == "ro") {
        m.read_only = true, ro_auto = false;
      } else if (key == "readwrite" || key == "rw") {
        m.read_only = false, ro_auto = false;
      } else if (key == "required") {
        if (m.type != Mount::Type::Secret && m.type != Mount::Type::Ssh)
          return mount_error("unexpected key '" + key + "' for mount type '" + std::string(mount_type_name(m.type)) + "'");
        m.required = true;
      } else {
        return mount_error("invalid field '" + field + "' must be a key=value pair");
      }
      continue;
    }
    std::string value = field.substr(eq + 1);
    if (expand) {
      auto expanded = expand(value);
      if (!expanded) return mount_error(expanded.error());
      value = *expanded;
    } else if (key == "from") {
      size_t dollar = value.find('$');
      if (dollar != std::string::npos && dollar != value.size() - 1)
        return mount_error("'from' doesn't support variable expansion, define alias stage instead");
    } else if (value.find('$') != std::string::npos) {
      // Checked after expansion, when the build has the variables.
      if (key == "type" || key == "sharing" || key == "mode" || key == "uid" || key == "gid" || key == "size") continue;
    }
    if (key == "type") {
      static const std::vector<std::string_view> kTypes = {"bind", "cache", "tmpfs", "secret", "ssh"};
      std::string type = ascii_lower(value);
      auto at = std::find(kTypes.begin(), kTypes.end(), type);
      if (at == kTypes.end()) {
        std::string hint = nearest(type, kTypes);
        return mount_error("unsupported mount type \"" + value + "\"" + (hint.empty() ? "" : " (did you mean " + hint + "?)"));
      }
      m.type = static_cast<Mount::Type>(at - kTypes.begin());
    } else if (key == "from") {
      m.from = value;
    } else if (key == "source" || key == "src") {
      m.source = value;
    } else if (key == "target" || key == "dst" || key == "destination") {
      m.target = value;
    } else if (key == "readonly" || key == "ro" || key == "readwrite" || key == "rw") {
      auto b = parse_bool(value);
      if (!b) return mount_error("invalid value for " + key + ": " + value);
      m.read_only = (key == "readonly" || key == "ro") ? *b : !*b;
      ro_auto = false;
    } else if (key == "required") {
      if (m.type != Mount::Type::Secret && m.type != Mount::Type::Ssh)
        return mount_error("unexpected key '" + key + "' for mount type '" + std::string(mount_type_name(m.type)) + "'");
      auto b = parse_bool(value);
      if (!b) return mount_error("invalid value for " + key + ": " + value);
      m.required = *b;
    } else if (key == "size") {
      if (m.type != Mount::Type::Tmpfs)
        return mount_error("unexpected key '" + key + "' for mount type '" + std::string(mount_type_name(m.type)) + "'");
      auto bytes = parse_ram_bytes(value);
      if (!bytes) return mount_error("invalid value for " + key + ": " + value);
      m.size_bytes = *bytes;
    } else if (key == "id") {
      m.id = value;
    } else if (key == "sharing") {
      static const std::vector<std::string_view> kModes = {"shared", "private", "locked"};
      std::string mode = ascii_lower(value);
      auto at = std::find(kModes.begin(), kModes.end(), mode);
      if (at == kModes.end()) return mount_error("unsupported sharing value \"" + value + "\"");
      m.sharing = static_cast<Mount::Sharing>(at - kModes.begin());
      sharing_set = true;
    } else if (key == "mode" || key == "uid" || key == "gid") {
      auto number = parse_uint(value, key == "mode" ? 8 : 10, 0xffffffffull);
      if (!number) return mount_error("invalid value " + value + " for " + key);
      (key == "mode" ? m.mode : key == "uid" ? m.uid : m.gid) = static_cast<uint32_t>(*number);
    } else if (key == "env") {
      m.env = value;
    } else {
      std::string hint = nearest(key, kKeys);
      return mount_error("unexpected key '" + key + "' in '" + field + "'" + (hint.empty() ? "" : " (did you mean " + hint + "?)"));
    }
  }
  if (!is_fileinfo_type()) {
    std::string type = std::string(mount_type_name(m.type));
    if (m.mode) return mount_error("mode not allowed for \"" + type + "\" type mounts");
    if (m.uid) return mount_error("uid not allowed for \"" + type + "\" type mounts");
    if (m.gid) return mount_error("gid not allowed for \"" + type + "\" type mounts");
  }
  if (ro_auto) m.read_only = !(m.type == Mount::Type::Cache || m.type == Mount::Type::Tmpfs);
  if (m.type == Mount::Type::Secret) {
    if (!m.from.empty()) return mount_error("secret mount should not have a from");
    if (sharing_set) return mount_error("secret mount should not define sharing");
    if (m.source.empty() && m.target.empty() && m.id.empty())
      return mount_error("invalid secret mount. one of source, target required");
    if (!m.source.empty() && !m.id.empty()) return mount_error("both source and id can't be set");
  }
  if (sharing_set && m.type != Mount::Type::Cache)
    return mount_error("invalid cache sharing set for " + std::string(mount_type_name(m.type)) + " mount");
  return m;
}

std::optional<int64_t> parse_go_duration(std::string_view s) {
  if (s == "0") return 0;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) negative = s[0] == '-', s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  static const std::map<std::string_view, double> units = {
      {"ns", 1.0}, {"us", 1e3}, {"\xC2\xB5s", 1e3}, {"\xCE\xBCs", 1e3},
      {"ms", 1e6}, {"s", 1e9},  {"m", 60e9},        {"h", 3600e9}};
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
    // Go's limit: about 290 years; beyond it the cast would be undefined.
    if (total >= 9223372036854775807.0) return std::nullopt;
    s.remove_prefix(u);
  }
  return static_cast<int64_t>(negative ? -total : total);
}

std::span<const FlagSupport> flag_support_table() { return kSupport; }

namespace {

class Checker {
 public:
  Checker(const Instruction& in, std::string_view file, CommandResult* out) : in_(in), file_(file), out_(out) {}

  void run() {
    // Docker registers no flags for HEALTHCHECK NONE and never looks at them.
    bool is_healthcheck_none = in_.cmd == "healthcheck" && !in_.args.empty() && ascii_upper(in_.args[0]) == "NONE";
    size_t errors_before = errors();
    if (!is_healthcheck_none && !check_flags()) return;
    Command command{in_, NoFlags{}};
    if (!is_healthcheck_none) type_flags(command);
    check_arguments();
    if (errors() == errors_before) out_->command = std::move(command);
  }

 private:
  size_t errors() const {
    return static_cast<size_t>(std::count_if(out_->diagnostics.begin(), out_->diagnostics.end(),
                                             [](const Diagnostic& d) { return d.is_error(); }));
  }

  void error(std::string message, std::string hint = {}) {
    out_->diagnostics.push_back({Severity::Error, std::string(file_), in_.line, in_.column,
                                 static_cast<int>(in_.cmd.size()), std::move(message), std::move(hint)});
  }

  void refuse_if_unsupported(std::string_view flag) {
    if (std::string why = refusal(in_.cmd, flag); !why.empty()) error(why);
  }

  bool check_flags() {
    std::vector<FlagSpec> specs = flags_of(in_.cmd);
    std::set<std::string_view> used;
    for (const std::string& flag : in_.flags) {
      std::string_view name = flag_name(flag);
      auto spec = std::find_if(specs.begin(), specs.end(), [&](const FlagSpec& s) { return s.name == name; });
      if (spec == specs.end()) {
        std::vector<std::string> spelled;
        for (const FlagSpec& s : specs) spelled.push_back("--" + std::string(s.name));
        std::vector<std::string_view> candidates(spelled.begin(), spelled.end());
        std::string hint = nearest("--" + std::string(name), candidates);
        error("unknown flag: --" + std::string(name), hint.empty() ? std::string() : "did you mean \"" + hint + "\"?");
        return false;
      }
      if (!used.insert(spec->name).second && spec->type != FlagType::Strings) {
        error("duplicate flag specified: --" + std::string(name));
        return false;
      }
      bool has_value = flag.find('=') != std::string::npos;
      std::string value = has_value ? flag.substr(flag.find('=') + 1) : std::string();
      if (spec->type == FlagType::Bool) {
        if (has_value && !parse_bool(value)) {
          error("expecting boolean value for flag " + std::string(name) + ", not: " + value);
          return false;
        }
        // A boolean flag set to false asks for Docker's default: nothing to refuse, except
        // --unpack, whose false changes what ADD does with a local archive.
        if (!has_value || *parse_bool(value) || name == "unpack") refuse_if_unsupported("--" + std::string(name));
      } else if (!has_value) {
        error("missing a value on flag: --" + std::string(name));
        return false;
      }
    }
    return true;
  }

  void type_flags(Command& command) {
    if (in_.cmd == "from") {
      command.flags = FromFlags{flag_value(in_, "platform")};
    } else if (in_.cmd == "run") {
      RunFlags run;
      if (auto network = flag_value(in_, "network")) {
        if (*network == "default") run.network = NetworkMode::Default;
        else if (*network == "none") run.network = NetworkMode::None;
        else if (*network == "host") run.network = NetworkMode::Host;
        else error("unsupported network mode \"" + *network + "\"", "use default, none or host");
      }
      if (auto security = flag_value(in_, "security")) {
        if (*security == "insecure") run.is_insecure = true;
        else if (*security != "sandbox") error("unsupported security mode \"" + *security + "\"", "use sandbox or insecure");
      }
      for (const std::string& text : flag_values(in_, "mount")) {
        auto mount = parse_mount(text);
        if (!mount) {
          error("--mount=" + text + ": " + mount.error());
          continue;
        }
        refuse_if_unsupported("--mount=type=" + std::string(mount_type_name(mount->type)));
        run.mounts.push_back(text);
      }
      command.flags = std::move(run);
    } else if (in_.cmd == "copy" || in_.cmd == "add") {
      CopyFlags copy;
      copy.add = in_.cmd == "add";
      copy.from = flag_value(in_, "from");
      copy.chown = flag_value(in_, "chown");
      copy.chmod = flag_value(in_, "chmod");
      copy.excludes = flag_values(in_, "exclude");
      if (auto parents = flag_value(in_, "parents")) copy.parents = parents->empty() || *parse_bool(*parents);
      if (auto checksum = flag_value(in_, "checksum")) {
        size_t colon = checksum->find(':');
        if (colon == std::string::npos || colon == 0 || !is_hex(checksum->substr(colon + 1)))
          error("invalid checksum digest format \"" + *checksum + "\"", "expected ALGORITHM:HEX, e.g. sha256:...");
        copy.checksum = checksum;
      }
      command.flags = std::move(copy);
    } else if (in_.cmd == "healthcheck") {
      HealthcheckFlags health;
      struct {
        std::string_view name;
        int64_t* out;
      } durations[] = {{"interval", &health.interval_ns},
                       {"timeout", &health.timeout_ns},
                       {"start-period", &health.start_period_ns},
                       {"start-interval", &health.start_interval_ns}};
      for (const auto& d : durations) {
        auto value = flag_value(in_, d.name);
        if (!value || value->empty()) continue;
        auto ns = parse_go_duration(*value);
        if (!ns) error("time: invalid duration \"" + *value + "\"");
        else if (*ns != 0 && *ns < 1000000) error("Interval \"" + std::string(d.name) + "\" cannot be less than 1ms");
        else *d.out = *ns;
      }
      if (auto retries = flag_value(in_, "retries"); retries && !retries->empty()) {
        std::string_view digits = *retries;
        bool negative = digits.starts_with('-');
        if (negative || digits.starts_with('+')) digits.remove_prefix(1);
        long long count = -1;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
        bool numeric = !digits.empty() && digits.size() <= 10 && ec == std::errc() &&
                       end == digits.data() + digits.size() && count <= 2147483647LL;
        if (!numeric) error("invalid value for --retries: \"" + *retries + "\"");
        else if (negative && count != 0) error("--retries cannot be negative (" + *retries + ")");
        else health.retries = static_cast<int>(count);
      }
      command.flags = health;
    }
  }

  void at_least(size_t n, std::string_view what) {
    if (in_.args.size() < n) error(ascii_upper(in_.cmd) + " requires at least " + std::string(what));
  }

  void exactly_one() {
    if (in_.args.size() != 1) error(ascii_upper(in_.cmd) + " requires exactly one argument");
  }

  void check_arguments() {
    const std::string& cmd = in_.cmd;
    if (cmd == "env" || cmd == "label") {
      at_least(1, "one argument");
      for (size_t i = 0; i < in_.args.size(); i += 2)
        if (in_.args[i].empty()) error(ascii_upper(cmd) + " names can not be blank");
    } else if (cmd == "arg" || cmd == "expose" || cmd == "onbuild") {
      at_least(1, "one argument");
    } else if (cmd == "copy" || cmd == "add") {
      if (in_.args.size() < 2) {
        error(ascii_upper(cmd) + " requires at least two arguments, but only one was provided. "
                           "Destination could not be determined.");
      } else if (!in_.json && in_.args.back().find("<<") != std::string::npos &&
                 std::any_of(in_.heredocs.begin(), in_.heredocs.end(), [&](const Heredoc& h) {
                   return in_.args.back().ends_with(h.name) || in_.args.back().ends_with(h.name + "'") ||
                          in_.args.back().ends_with(h.name + "\"");
                 })) {
        error(ascii_upper(cmd) + " cannot accept a heredoc as a destination");
      }
    } else if (cmd == "workdir" || cmd == "user" || cmd == "stopsignal" || cmd == "maintainer") {
      exactly_one();
    } else if (cmd == "volume") {
      at_least(1, "one argument");
      for (const std::string& v : in_.args)
        if (v.find_first_not_of(" \t") == std::string::npos) error("VOLUME specified can not be an empty string");
    } else if (cmd == "shell") {
      if (!in_.json) error("SHELL requires the arguments to be in JSON form");
      else at_least(1, "one argument");
    } else if (cmd == "healthcheck") {
      check_healthcheck();
    }
  }

  void check_healthcheck() {
    if (in_.args.empty()) {
      error("HEALTHCHECK requires at least one argument");
      return;
    }
    std::string type = ascii_upper(in_.args[0]);
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
  CommandResult* out_;
};

}  // namespace

std::vector<Diagnostic> check_directives(const Dockerfile& file, std::string_view display_name) {
  std::vector<Diagnostic> out;
  auto refuse = [&](std::string_view name, const std::string& value, std::string_view why) {
    out.push_back({Severity::Error, std::string(display_name), 1, 1, 0,
                   "# " + std::string(name) + "=" + value + " is not supported by hoist: " + std::string(why), ""});
  };
  if (auto syntax = file.directives.find("syntax"); syntax != file.directives.end()) {
    // docker/dockerfile:1, 1.N or 1.N.N (docker.io/ and @sha256:... allowed): the frontend
    // hoist implements. Anything else (labs, other frontends) would change the language.
    std::string ref = syntax->second.substr(0, syntax->second.find('@'));
    for (std::string_view prefix : {"docker.io/", "index.docker.io/"})
      if (ref.starts_with(prefix)) ref = ref.substr(prefix.size());
    bool ok = ref.starts_with("docker/dockerfile:1");
    std::string_view version = ok ? std::string_view(ref).substr(std::string_view("docker/dockerfile:").size()) : "";
    for (char c : version) ok = ok && ((c >= '0' && c <= '9') || c == '.');
    if (!ok) refuse("syntax", syntax->second, "hoist is its own Dockerfile frontend (dockerfile:1)");
  }
  if (auto check = file.directives.find("check"); check != file.directives.end()) {
    std::string value = check->second;
    value.erase(std::remove(value.begin(), value.end(), ' '), value.end());
    if (value != "skip=all") refuse("check", check->second, "hoist runs no build checks");
  }
  return out;
}

CommandResult parse_command(const Instruction& instruction, std::string_view display_name) {
  CommandResult out;
  Checker(instruction, display_name, &out).run();
  return out;
}

}  // namespace parser
