#include "builder/metadata.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "layers/json_text.h"
#include "parser/dockerignore.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Result<std::string> expand(std::string_view word, const parser::Vars& vars, char escape) {
  auto r = parser::expand_word(word, vars, escape);
  if (!r) return Error(ErrorKind::InvalidInput, r.error());
  return r.value();
}

std::vector<std::string> default_shell(const layers::ContainerConfig& config) {
  return config.shell.empty() ? std::vector<std::string>{"/bin/sh", "-c"} : config.shell;
}

// CMD, ENTRYPOINT and HEALTHCHECK CMD: the JSON form as given, the shell form through SHELL.
std::vector<std::string> command_of(const parser::Instruction& ins, size_t first,
                                    const layers::ContainerConfig& config) {
  std::vector<std::string> args(ins.args.begin() + static_cast<long>(std::min(first, ins.args.size())), ins.args.end());
  if (ins.json) return args;
  auto argv = default_shell(config);
  std::string joined;
  for (const auto& a : args) joined += (joined.empty() ? "" : " ") + a;
  argv.push_back(joined);
  return argv;
}

std::string json_list(const std::vector<std::string>& v) { return layers::dump_json(nlohmann::json(v)); }

Result<void> need_args(const parser::Instruction& ins, size_t min) {
  if (ins.args.size() < min)
    return Error(ErrorKind::InvalidInput, upper(ins.cmd) + " requires at least " + std::to_string(min) + " argument" +
                                              (min == 1 ? "" : "s"));
  return {};
}

}  // namespace

bool is_metadata_instruction(std::string_view cmd) {
  static const std::string_view kNames[] = {"env",   "arg",        "label",      "workdir", "user",
                                            "expose", "volume",    "cmd",        "entrypoint", "shell",
                                            "stopsignal", "healthcheck", "onbuild", "maintainer"};
  return std::find(std::begin(kNames), std::end(kNames), cmd) != std::end(kNames);
}

parser::Vars env_vars(const layers::ContainerConfig& config) {
  parser::Vars vars;
  for (const auto& e : config.env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos) vars[e] = "";
    else vars[e.substr(0, eq)] = e.substr(eq + 1);
  }
  return vars;
}

parser::Vars expansion_vars(const StageState& state) { return state.args.with_env(env_vars(state.config.config)); }

void set_env(std::vector<std::string>& env, const std::string& key, const std::string& value) {
  for (auto& e : env) {
    if (e == key || e.starts_with(key + "=")) {
      e = key + "=" + value;
      return;
    }
  }
  env.push_back(key + "=" + value);
}

Result<int64_t> parse_duration_ns(std::string_view text) {
  if (text.empty()) return Error(ErrorKind::InvalidInput, "empty duration");
  int64_t total = 0;
  size_t i = 0;
  if (text == "0") return 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (start == i) return Error(ErrorKind::InvalidInput, "invalid duration " + layers::quoted(text));
    // from_chars, not stod: "." or "1.2.3" is bad input, not an exception.
    const std::string_view digits = text.substr(start, i - start);
    double number = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (ec != std::errc() || end != digits.data() + digits.size())
      return Error(ErrorKind::InvalidInput, "invalid duration " + layers::quoted(text));
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "ns") scale = 1;
    else if (unit == "us" || unit == "µs") scale = 1e3;
    else if (unit == "ms") scale = 1e6;
    else if (unit == "s") scale = 1e9;
    else if (unit == "m") scale = 60e9;
    else if (unit == "h") scale = 3600e9;
    else return Error(ErrorKind::InvalidInput, "invalid duration " + layers::quoted(text) + ": unknown unit " + layers::quoted(unit));
    // Go's time.ParseDuration limit (about 290 years); the cast beyond it is undefined.
    if (number * scale >= 9223372036854775807.0 - static_cast<double>(total))
      return Error(ErrorKind::InvalidInput, "invalid duration " + layers::quoted(text) + ": out of range");
    total += static_cast<int64_t>(number * scale);
  }
  return total;
}

Result<std::string> apply_metadata(const parser::Instruction& ins, StageState& state, char escape) {
  layers::ContainerConfig& config = state.config.config;
  const parser::Vars vars = expansion_vars(state);
  const std::string& cmd = ins.cmd;
  std::string described = upper(cmd);

  if (cmd == "env" || cmd == "label") {
    if (ins.args.empty() || ins.args.size() % 2 != 0)
      return Error(ErrorKind::InvalidInput, upper(cmd) + " requires at least one argument");
    // Every pair is expanded with the variables from before this instruction, as Docker
    // does: `ENV a=1 b=$a` gives b the old a.
    std::vector<std::pair<std::string, std::string>> pairs;
    for (size_t i = 0; i + 1 < ins.args.size(); i += 2) {
      auto key = expand(ins.args[i], vars, escape);
      if (!key) return std::move(key).error();
      auto value = expand(ins.args[i + 1], vars, escape);
      if (!value) return std::move(value).error();
      if (key->empty()) return Error(ErrorKind::InvalidInput, upper(cmd) + " names must not be empty");
      pairs.emplace_back(*key, *value);
    }
    for (const auto& [k, v] : pairs) {
      if (cmd == "env") set_env(config.env, k, v);
      else config.labels[k] = v;
      described += " " + k + "=" + v;
    }
  } else if (cmd == "arg") {
    if (auto r = need_args(ins, 1); !r) return std::move(r).error();
    for (const auto& word : ins.args) {
      size_t eq = word.find('=');
      auto name = expand(word.substr(0, eq), vars, escape);
      if (!name) return std::move(name).error();
      std::optional<std::string> value;
      if (eq != std::string::npos) {
        auto v = expand(word.substr(eq + 1), state.args.with_env(env_vars(config)), escape);
        if (!v) return std::move(v).error();
        value = *v;
      }
      state.args.declare(*name, value);
      described += " " + *name + (value ? "=" + *value : "");
    }
  } else if (cmd == "workdir") {
    if (ins.args.size() != 1 || ins.args[0].empty())
      return Error(ErrorKind::InvalidInput, "WORKDIR requires exactly one argument");
    auto dir = expand(ins.args[0], vars, escape);
    if (!dir) return std::move(dir).error();
    std::string path = *dir;
    if (!path.starts_with('/')) path = (config.working_dir.empty() ? "/" : config.working_dir) + "/" + path;
    config.working_dir = parser::clean_path(path);
    described += " " + config.working_dir;
  } else if (cmd == "user" || cmd == "stopsignal") {
    if (ins.args.size() != 1 || ins.args[0].empty())
      return Error(ErrorKind::InvalidInput, upper(cmd) + " requires exactly one argument");
    auto value = expand(ins.args[0], vars, escape);
    if (!value) return std::move(value).error();
    (cmd == "user" ? config.user : config.stop_signal) = *value;
    described += " " + *value;
  } else if (cmd == "expose") {
    if (auto r = need_args(ins, 1); !r) return std::move(r).error();
    for (const auto& word : ins.args) {
      auto words = parser::expand_words(word, vars, escape);
      if (!words) return Error(ErrorKind::InvalidInput, words.error());
      for (auto port : *words) {
        for (auto& c : port) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string proto = "tcp";
        if (size_t slash = port.find('/'); slash != std::string::npos) {
          proto = port.substr(slash + 1);
          port = port.substr(0, slash);
        }
        if (proto != "tcp" && proto != "udp" && proto != "sctp")
          return Error(ErrorKind::InvalidInput, "invalid proto " + layers::quoted(proto) + " in EXPOSE");
        size_t dash = port.find('-');
        auto to_int = [](const std::string& s) -> int {
          if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
          int v = -1;
          std::from_chars(s.data(), s.data() + s.size(), v);
          return v <= 65535 ? v : -1;
        };
        int lo = to_int(port.substr(0, dash));
        int hi = dash == std::string::npos ? lo : to_int(port.substr(dash + 1));
        if (lo < 0 || hi < lo) return Error(ErrorKind::InvalidInput, "invalid containerPort: " + port);
        for (int p = lo; p <= hi; ++p) {
          config.exposed_ports.insert(std::to_string(p) + "/" + proto);
          described += " " + std::to_string(p) + "/" + proto;
        }
      }
    }
  } else if (cmd == "volume") {
    if (auto r = need_args(ins, 1); !r) return std::move(r).error();
    for (const auto& word : ins.args) {
      auto path = expand(word, vars, escape);
      if (!path) return std::move(path).error();
      if (path->empty()) return Error(ErrorKind::InvalidInput, "VOLUME specified can not be an empty string");
      config.volumes.insert(*path);
      described += " " + *path;
    }
  } else if (cmd == "cmd") {
    config.cmd = command_of(ins, 0, config);
    state.sets_cmd = true;
    described += " " + json_list(*config.cmd);
  } else if (cmd == "entrypoint") {
    config.entrypoint = command_of(ins, 0, config);
    // ENTRYPOINT drops a CMD inherited from the base image (not one this stage set).
    if (!state.sets_cmd) config.cmd.reset();
    described += " " + json_list(*config.entrypoint);
  } else if (cmd == "shell") {
    if (!ins.json || ins.args.empty())
      return Error(ErrorKind::InvalidInput, "SHELL requires the arguments to be in JSON form");
    config.shell = ins.args;
    described += " " + json_list(config.shell);
  } else if (cmd == "healthcheck") {
    if (auto r = need_args(ins, 1); !r) return std::move(r).error();
    std::string type = upper(ins.args[0]);
    layers::Healthcheck check;
    if (type == "NONE") {
      if (ins.args.size() != 1) return Error(ErrorKind::InvalidInput, "HEALTHCHECK NONE takes no arguments");
      check.test = {"NONE"};
    } else if (type == "CMD") {
      if (ins.args.size() < 2) return Error(ErrorKind::InvalidInput, "Missing command after HEALTHCHECK CMD");
      if (ins.json) {
        check.test = {"CMD"};
        check.test.insert(check.test.end(), ins.args.begin() + 1, ins.args.end());
      } else {
        std::string joined;
        for (size_t i = 1; i < ins.args.size(); ++i) joined += (i > 1 ? " " : "") + ins.args[i];
        check.test = {"CMD-SHELL", joined};
      }
      struct DurationFlag {
        const char* name;
        int64_t* out;
      } flags[] = {{"interval", &check.interval_ns},
                   {"timeout", &check.timeout_ns},
                   {"start-period", &check.start_period_ns},
                   {"start-interval", &check.start_interval_ns}};
      for (const auto& f : flags) {
        if (auto v = parser::flag_value(ins, f.name)) {
          auto ns = parse_duration_ns(*v);
          if (!ns) return std::move(ns).error().context(std::string("--") + f.name);
          *f.out = *ns;
        }
      }
      if (auto v = parser::flag_value(ins, "retries")) {
        if (v->empty() || v->find_first_not_of("0123456789") != std::string::npos || v->size() > 9)
          return Error(ErrorKind::InvalidInput, "--retries: invalid number " + layers::quoted(*v));
        std::from_chars(v->data(), v->data() + v->size(), check.retries);
      }
    } else {
      return Error(ErrorKind::InvalidInput, "Unknown type \"" + type + "\" in HEALTHCHECK (try CMD)");
    }
    config.healthcheck = check;
    described += " " + json_list(check.test) + " " + std::to_string(check.interval_ns) + " " +
                 std::to_string(check.timeout_ns) + " " + std::to_string(check.start_period_ns) + " " +
                 std::to_string(check.retries);
  } else if (cmd == "onbuild") {
    if (auto r = need_args(ins, 1); !r) return std::move(r).error();
    std::string trigger = ins.args[0];
    // Docker stores the trigger with its instruction word upper-cased.
    size_t space = trigger.find_first_of(" \t");
    trigger = upper(trigger.substr(0, space)) + (space == std::string::npos ? "" : trigger.substr(space));
    config.on_build.push_back(trigger);
    described += " " + trigger;
  } else if (cmd == "maintainer") {
    if (auto r = need_args(ins, 1); !r) return std::move(r).error();
    state.config.author = ins.args[0];
    described += " " + ins.args[0];
  } else {
    return Error(ErrorKind::InvalidInput, "not a metadata instruction: " + layers::quoted(cmd));
  }
  return described;
}

}  // namespace builder
