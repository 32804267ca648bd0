#include "parser/build_args.h"

#include "parser/ascii.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace parser {
namespace {

constexpr std::array<std::string_view, 10> kProxyArgs = {
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
    "ftp_proxy",  "NO_PROXY",   "no_proxy",    "ALL_PROXY",   "all_proxy"};

constexpr std::array<std::string_view, 8> kPlatformArgs = {
    "BUILDPLATFORM",  "BUILDOS",  "BUILDARCH",  "BUILDVARIANT",
    "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT"};

bool valid_part(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
}

// containerd's normalization of architecture and variant.
void normalize(Platform& p) {
  p.os = ascii_lower(p.os);
  if (p.os == "macos") p.os = "darwin";
  std::string arch = ascii_lower(p.architecture);
  std::string& v = p.variant;
  if (arch == "i386") {
    arch = "386";
    v.clear();
  } else if (arch == "x86_64" || arch == "x86-64" || arch == "amd64") {
    arch = "amd64";
    if (v == "v1") v.clear();
  } else if (arch == "aarch64" || arch == "arm64") {
    arch = "arm64";
    if (v == "8" || v == "v8" || v == "v8.0") v.clear();
  } else if (arch == "armhf") {
    arch = "arm";
    v = "v7";
  } else if (arch == "armel") {
    arch = "arm";
    v = "v6";
  } else if (arch == "arm") {
    if (v.empty() || v == "7") v = "v7";
    else if (v == "5" || v == "6" || v == "8") v = "v" + v;
  }
  p.architecture = arch;
}

}  // namespace

std::string Platform::to_string() const {
  std::string out = os + "/" + architecture;
  if (!variant.empty()) out += "/" + variant;
  return out;
}

Checked<Platform> parse_platform(std::string_view text) {
  auto fail = [&](const std::string& why) {
    return Checked<Platform>::failure("platform \"" + std::string(text) + "\": " + why);
  };
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t slash = text.find('/', start);
    parts.push_back(text.substr(start, slash == std::string_view::npos ? text.npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() < 2) return fail("expected os/architecture[/variant], e.g. linux/amd64");
  if (parts.size() > 3) return fail("too many parts; expected os/architecture[/variant]");
  for (std::string_view part : parts)
    if (!valid_part(part))
      return fail(part.empty() ? "empty part" : "\"" + std::string(part) + "\" is not a valid name");
  Platform p{std::string(parts[0]), std::string(parts[1]),
             parts.size() == 3 ? std::string(parts[2]) : std::string()};
  normalize(p);
  return p;
}

Vars platform_args(const Platform& target, const Platform& build) {
  return Vars{
      {"BUILDPLATFORM", build.to_string()},   {"BUILDOS", build.os},
      {"BUILDARCH", build.architecture},      {"BUILDVARIANT", build.variant},
      {"TARGETPLATFORM", target.to_string()}, {"TARGETOS", target.os},
      {"TARGETARCH", target.architecture},    {"TARGETVARIANT", target.variant},
  };
}

bool is_proxy_arg(std::string_view name) {
  return std::find(kProxyArgs.begin(), kProxyArgs.end(), name) != kProxyArgs.end();
}

bool is_platform_arg(std::string_view name) {
  return std::find(kPlatformArgs.begin(), kPlatformArgs.end(), name) != kPlatformArgs.end();
}

BuildArgs::BuildArgs(Vars values, Platform target, Platform build)
    : values_(std::move(values)), platform_(platform_args(target, build)) {
  // --build-arg TARGETARCH=... overrides the computed value, as in Docker.
  for (auto& [name, value] : platform_)
    if (auto it = values_.find(name); it != values_.end()) value = it->second;
}

std::vector<std::string> BuildArgs::unused() const {
  std::vector<std::string> out;
  for (const auto& [name, value] : values_)
    if (!used_.count(name) && !is_proxy_arg(name) && !is_platform_arg(name)) out.push_back(name);
  return out;
}

ArgScope ArgScope::global(BuildArgs& args) { return ArgScope(&args, nullptr); }

ArgScope ArgScope::stage() const {
  // A stage sees the global ARGs only through `ARG NAME`; keep the global values.
  auto global = global_ ? global_ : std::make_shared<const Vars>(declared_);
  return ArgScope(args_, std::move(global));
}

void ArgScope::declare(std::string_view name, std::optional<std::string> default_value) {
  std::string key(name);
  args_->used_.insert(key);
  std::optional<std::string> value;
  if (auto it = args_->values_.find(name); it != args_->values_.end()) {
    value = it->second;
  } else if (default_value) {
    value = std::move(default_value);
  } else if (global_ && global_->count(name)) {
    value = global_->find(name)->second;
  } else if (auto p = args_->platform_.find(name); p != args_->platform_.end()) {
    value = p->second;
  } else if (auto same = declared_.find(name); same != declared_.end()) {
    value = same->second;  // `ARG X` again keeps the value X already has here
  }
  if (value) {
    declared_[key] = std::move(*value);
    declared_unset_.erase(key);
  } else {
    declared_unset_.insert(key);
  }
}

Vars ArgScope::vars() const {
  Vars out;
  if (is_global()) out = args_->platform_;
  for (const auto& [name, value] : declared_) out[name] = value;
  return out;
}

Vars ArgScope::with_env(const Vars& env) const {
  Vars out = vars();
  for (const auto& [name, value] : env) out[name] = value;
  return out;
}

Vars ArgScope::proxy_args() const {
  Vars out;
  for (const auto& [name, value] : args_->values_)
    if (is_proxy_arg(name) && !declared_.count(name) && !declared_unset_.count(name))
      out[name] = value;
  return out;
}

ExpansionRule expansion_rule(std::string_view instruction) {
  using E = ArgumentExpansion;
  struct Row {
    std::string_view name;
    ExpansionRule rule;
  };
  static const Row kRules[] = {
      {"add", {true, E::EachWord, {"chown", "chmod", "checksum"}, false}},
      // BuildKit expands --from too, so `COPY --from=${BUILDER}` names a stage or image.
      {"copy", {true, E::EachWord, {"chown", "chmod", "from"}, false}},
      {"arg", {true, E::KeysAndValues, {}, false}},
      {"env", {true, E::KeysAndValues, {}, false}},
      {"label", {true, E::KeysAndValues, {}, false}},
      {"expose", {true, E::SplitWords, {}, false}},
      {"from", {true, E::EachWord, {"platform"}, true}},
      {"stopsignal", {true, E::EachWord, {}, false}},
      {"user", {true, E::EachWord, {}, false}},
      {"workdir", {true, E::EachWord, {}, false}},
      {"volume", {true, E::EachWord, {}, false}},
      // The shell expands RUN/CMD/ENTRYPOINT itself; only RUN --mount values are ours.
      {"run", {true, E::None, {"mount"}, false}},
      {"cmd", {true, E::None, {}, false}},
      {"entrypoint", {true, E::None, {}, false}},
      {"shell", {true, E::None, {}, false}},
      {"healthcheck", {true, E::None, {}, false}},
      {"maintainer", {true, E::None, {}, false}},
      {"onbuild", {true, E::None, {}, false}},
  };
  for (const Row& row : kRules)
    if (row.name == instruction) return row.rule;
  return ExpansionRule{};
}

}  // namespace parser
