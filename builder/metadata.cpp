#include "builder/metadata.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <variant>

#include "layers/json_text.h"
#include "parser/dockerignore.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

namespace {

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

// Go's strconv.Quote for the bytes a Dockerfile word holds (UTF-8 text kept as is).
std::string go_quoted(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\a': out += "\\a"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\v': out += "\\v"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char hex[5];
          std::snprintf(hex, sizeof hex, "\\x%02x", c);
          out += hex;
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace

std::string metadata_history(const parser::Instruction& ins, const layers::ContainerConfig& config,
                             const std::string& described) {
  const std::string& cmd = ins.cmd;
  if (cmd == "workdir" || cmd == "arg" || cmd == "env" || cmd == "label") return described;
  std::string out = upper(cmd) + " [";
  if (cmd == "cmd" || cmd == "entrypoint") {
    const auto& argv = cmd == "cmd" ? config.cmd : config.entrypoint;
    for (size_t i = 0; argv && i < argv->size(); ++i) out += (i ? " " : "") + go_quoted((*argv)[i]);
  } else if (cmd == "shell") {
    for (size_t i = 0; i < config.shell.size(); ++i) out += (i ? " " : "") + config.shell[i];
  } else if (cmd == "volume") {
    out += described.substr(std::min(described.size(), cmd.size() + 1));  // "VOLUME /a /b"
  } else {
    return ins.original;
  }
  return out + "]";
}

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

Result<std::string> apply_metadata(const parser::Command& command, StageState& state, char escape) {
  // parse_command checked the shape of the arguments; what is left to check here is what
  // only expansion reveals.
  const parser::Instruction& ins = command.in;
  layers::ContainerConfig& config = state.config.config;
  const parser::Vars vars = expansion_vars(state);
  const std::string& cmd = ins.cmd;
  std::string described = upper(cmd);

  if (cmd == "env" || cmd == "label") {
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
    auto dir = expand(ins.args[0], vars, escape);
    if (!dir) return std::move(dir).error();
    std::string path = *dir;
    if (!path.starts_with('/')) path = (config.working_dir.empty() ? "/" : config.working_dir) + "/" + path;
    config.working_dir = parser::clean_path(path);
    described += " " + config.working_dir;
  } else if (cmd == "user" || cmd == "stopsignal") {
    auto value = expand(ins.args[0], vars, escape);
    if (!value) return std::move(value).error();
    (cmd == "user" ? config.user : config.stop_signal) = *value;
    described += " " + *value;
  } else if (cmd == "expose") {
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
    config.shell = ins.args;
    described += " " + json_list(config.shell);
  } else if (cmd == "healthcheck") {
    std::string type = upper(ins.args[0]);
    layers::Healthcheck check;
    if (type == "NONE") {
      check.test = {"NONE"};
    } else {
      if (ins.json) {
        check.test = {"CMD"};
        check.test.insert(check.test.end(), ins.args.begin() + 1, ins.args.end());
      } else {
        std::string joined;
        for (size_t i = 1; i < ins.args.size(); ++i) joined += (i > 1 ? " " : "") + ins.args[i];
        check.test = {"CMD-SHELL", joined};
      }
      const auto& flags = std::get<parser::HealthcheckFlags>(command.flags);
      check.interval_ns = flags.interval_ns;
      check.timeout_ns = flags.timeout_ns;
      check.start_period_ns = flags.start_period_ns;
      check.start_interval_ns = flags.start_interval_ns;
      check.retries = flags.retries;
    }
    config.healthcheck = check;
    described += " " + json_list(check.test) + " " + std::to_string(check.interval_ns) + " " +
                 std::to_string(check.timeout_ns) + " " + std::to_string(check.start_period_ns) + " " +
                 std::to_string(check.retries);
  } else if (cmd == "onbuild") {
    std::string trigger = ins.args[0];
    // Docker stores the trigger with its instruction word upper-cased.
    size_t space = trigger.find_first_of(" \t");
    trigger = upper(trigger.substr(0, space)) + (space == std::string::npos ? "" : trigger.substr(space));
    config.on_build.push_back(trigger);
    described += " " + trigger;
  } else if (cmd == "maintainer") {
    state.config.author = ins.args[0];
    described += " " + ins.args[0];
  } else {
    return Error(ErrorKind::InvalidInput, "not a metadata instruction: " + layers::quoted(cmd));
  }
  return described;
}

}  // namespace builder
