#include "registry/credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "layers/unique_fd.h"
#include "registry/base64.h"
#include "registry/http.h"

extern char** environ;

namespace registry {

using layers::Error;
using layers::ErrorKind;

using layers::Result;
using layers::UniqueFd;

namespace {

constexpr std::string_view kDockerHubKey = "https://index.docker.io/v1/";
constexpr size_t kMaxConfigFile = 4 << 20;
constexpr size_t kMaxHelperOutput = 1 << 20;

// "https://host/v1/" -> "host"; "host" -> "host".
std::string strip_url(std::string_view key) {
  if (auto p = key.find("://"); p != std::string_view::npos) key.remove_prefix(p + 3);
  return std::string(key.substr(0, key.find('/')));
}

struct HelperOutput {
  int status = 0;
  std::string out;
};

// Runs docker-credential-NAME ACTION with `input` on stdin; captures stdout. stderr passes
// through only as a hint: helpers print their reason on stdout anyway. Within `timeout`
// the helper must take its input, reply and exit; otherwise it is killed (SIGKILL, the
// helper's own process only) and the call fails naming it.
Result<HelperOutput> run_helper(const std::string& name, const std::string& action,
                                const std::string& input, std::chrono::seconds timeout) {
  // The name comes from config.json: a plain word, never a path to run.
  if (name.empty() || name.size() > 100 || !std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      })) {
    std::string shown;
    for (char c : name.substr(0, 100)) shown += (c > 0x20 && c < 0x7f) ? c : '?';
    return Error(ErrorKind::InvalidInput, "credential helper name \"" + shown +
                                              "\" is not a plain name (letters, digits, . - _)");
  }
  const std::string program = "docker-credential-" + name;
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return Error::from_errno("pipe");
  UniqueFd in_r(in_pipe[0]), in_w(in_pipe[1]);
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Error::from_errno("pipe");
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  std::string arg0 = program;
  std::string arg1 = action;
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  // hoist ignores SIGPIPE; the helper gets the default back, as under Docker.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, program.c_str(), &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Error::from_errno(rc, "running credential helper " + layers::quoted(program));
  in_r.reset();
  out_w.reset();

  // Every step below waits at most until `deadline`: a helper that hangs (waits for a
  // terminal, a keyring, a network) is killed rather than hanging hoist.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto ms_left = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return int(std::max<int64_t>(0, left.count()));
  };
  bool timed_out = false, too_long = false;
  ::fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  size_t done = 0;
  while (done < input.size() && !timed_out) {
    pollfd p{in_w.get(), POLLOUT, 0};
    int ready = ::poll(&p, 1, ms_left());
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) timed_out = true;
    if (ready <= 0) break;
    ssize_t n = ::write(in_w.get(), input.data() + done, input.size() - done);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // the helper stopped reading; its exit status tells why
    done += static_cast<size_t>(n);
  }
  in_w.reset();

  HelperOutput result;
  char buf[4096];
  while (!timed_out) {
    pollfd p{out_r.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, ms_left());
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) timed_out = true;
    if (ready <= 0) break;
    ssize_t n = ::read(out_r.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (result.out.size() + static_cast<size_t>(n) > kMaxHelperOutput) {
      too_long = true;  // an endless reply: stop the helper rather than read forever
      break;
    }
    result.out.append(buf, static_cast<size_t>(n));
  }
  // Its stdout closed (or given up on): the helper has until the deadline to exit.
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) break;
    if (r == 0 && (timed_out || too_long || ms_left() == 0)) {
      timed_out = timed_out || !too_long;
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    if (r == 0) ::usleep(2000);
  }
  if (too_long)
    return Error(ErrorKind::InvalidInput, "credential helper " + layers::quoted(program) +
                                              " replied with more than " +
                                              std::to_string(kMaxHelperOutput) + " bytes");
  if (timed_out)
    return Error(ErrorKind::Io,
                 "credential helper " + layers::quoted(program) + " " + action +
                     " did not finish within " + std::to_string(timeout.count()) +
                     " s (HOIST_REGISTRY_TIMEOUT); killed it");
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return result;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

}  // namespace

std::string credential_key(std::string_view registry_host) {
  if (registry_host == "docker.io" || registry_host == "index.docker.io" ||
      registry_host == "registry-1.docker.io")
    return std::string(kDockerHubKey);
  return std::string(registry_host);
}

std::string login_host(std::string_view text) {
  std::string host = strip_url(text);
  if (host == "index.docker.io" || host == "registry-1.docker.io") return "docker.io";
  return host;
}

Result<DockerConfig> DockerConfig::load(const std::string& dir_arg) {
  std::string dir = dir_arg;
  if (dir.empty()) {
    if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d) {
      dir = d;
    } else if (const char* home = std::getenv("HOME"); home && *home) {
      dir = std::string(home) + "/.docker";
    } else {
      dir = "/root/.docker";
    }
  }
  auto limits = HttpLimits::from_env();
  if (!limits) return std::move(limits).error();
  DockerConfig config;
  config.path_ = dir + "/config.json";
  config.helper_timeout_ = limits->idle;
  auto text = read_config_file(config.path_, kMaxConfigFile);
  if (!text) {
    if (text.error().kind() == ErrorKind::NotFound) return config;
    return std::move(text).error();
  }
  auto parsed = parse(*text, config.path_);
  if (parsed) parsed->helper_timeout_ = config.helper_timeout_;
  return parsed;
}

Result<std::string> read_config_file(const std::string& path, size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) {
    if (errno == ENOENT) return Error(ErrorKind::NotFound, layers::quoted(path) + " does not exist");
    return Error::from_errno("opening " + layers::quoted(path));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::from_errno("reading " + layers::quoted(path));
  if (!S_ISREG(st.st_mode))
    return Error(ErrorKind::InvalidInput,
                 layers::quoted(path) + " is not a regular file (" +
                     (S_ISDIR(st.st_mode)    ? "a directory"
                      : S_ISFIFO(st.st_mode) ? "a FIFO"
                      : S_ISCHR(st.st_mode)  ? "a character device"
                      : S_ISBLK(st.st_mode)  ? "a block device"
                      : S_ISSOCK(st.st_mode) ? "a socket"
                                             : "not a file") +
                     ")");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    return Error(ErrorKind::InvalidInput, layers::quoted(path) + " is larger than " +
                                              std::to_string(max_bytes) + " bytes");
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("reading " + layers::quoted(path));
    if (n == 0) break;
    // The size may grow while we read; the bound holds anyway.
    if (out.size() + static_cast<size_t>(n) > max_bytes)
      return Error(ErrorKind::InvalidInput, layers::quoted(path) + " is larger than " +
                                                std::to_string(max_bytes) + " bytes");
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<DockerConfig> DockerConfig::parse(std::string_view text, std::string path) {
  DockerConfig config;
  config.path_ = std::move(path);
  if (text.size() > kMaxConfigFile)
    return Error(ErrorKind::InvalidInput, layers::quoted(config.path_) + " is too large");
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return config;
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Error(ErrorKind::InvalidInput, layers::quoted(config.path_) + ": not a JSON object");
  for (const char* field : {"auths", "credHelpers"})
    if (doc.contains(field) && !doc[field].is_object())
      return Error(ErrorKind::InvalidInput,
                   layers::quoted(config.path_) + ": \"" + field + "\" is not an object");
  if (doc.contains("credsStore") && !doc["credsStore"].is_string())
    return Error(ErrorKind::InvalidInput,
                 layers::quoted(config.path_) + ": \"credsStore\" is not a string");
  config.doc_ = std::move(doc);
  return config;
}

Result<Credentials> parse_helper_reply(std::string_view output) {
  auto reply = nlohmann::json::parse(output, nullptr, false);
  if (reply.is_discarded() || !reply.is_object() ||
      !reply.value("Secret", nlohmann::json()).is_string())
    return Error(ErrorKind::InvalidInput, "a malformed reply");
  Credentials c;
  std::string user = reply.value("Username", nlohmann::json("")).is_string()
                         ? reply.value("Username", std::string())
                         : std::string();
  std::string secret = reply["Secret"].get<std::string>();
  if (user == "<token>") {
    c.identity_token = std::move(secret);
  } else {
    c.username = std::move(user);
    c.password = std::move(secret);
  }
  return c;
}

std::string DockerConfig::helper_for(const std::string& key) const {
  if (auto it = doc_.find("credHelpers"); it != doc_.end()) {
    for (auto& [k, v] : it->items())
      if ((k == key || strip_url(k) == strip_url(key)) && v.is_string())
        return v.get<std::string>();
  }
  if (auto it = doc_.find("credsStore"); it != doc_.end() && it->is_string())
    return it->get<std::string>();
  return "";
}

const nlohmann::json* DockerConfig::find_auth(const std::string& key) const {
  auto auths = doc_.find("auths");
  if (auths == doc_.end()) return nullptr;
  if (auto it = auths->find(key); it != auths->end()) return &*it;
  for (auto& [k, v] : auths->items())
    if (strip_url(k) == strip_url(key)) return &v;
  return nullptr;
}

Result<std::optional<Credentials>> DockerConfig::get(std::string_view registry_host) const {
  const std::string key = credential_key(registry_host);
  if (std::string helper = helper_for(key); !helper.empty()) {
    auto out = run_helper(helper, "get", key, helper_timeout_);
    if (!out)
      return std::move(out).error().context("getting credentials for " +
                                            std::string(registry_host));
    if (out->status != 0) {
      if (out->out.find("credentials not found") != std::string::npos)
        return std::optional<Credentials>();
      return Error(ErrorKind::Io, "credential helper docker-credential-" + helper + " failed for " +
                                      std::string(registry_host) + " (exit " +
                                      std::to_string(out->status) + ")");
    }
    auto reply = parse_helper_reply(out->out);
    if (!reply)
      return Error(ErrorKind::InvalidInput,
                   "credential helper docker-credential-" + helper + " gave a malformed reply");
    return std::optional<Credentials>(std::move(*reply));
  }
  const nlohmann::json* entry = find_auth(key);
  if (!entry || !entry->is_object()) return std::optional<Credentials>();
  Credentials c;
  if (auto it = entry->find("auth");
      it != entry->end() && it->is_string() && !it->get<std::string>().empty()) {
    auto decoded = base64_decode(it->get<std::string>());
    auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (!decoded || colon == std::string::npos)
      return Error(ErrorKind::InvalidInput, layers::quoted(path_) + ": the \"auth\" entry for " +
                                                std::string(registry_host) +
                                                " is not base64 of user:password");
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
  }
  if (auto it = entry->find("identitytoken"); it != entry->end() && it->is_string())
    c.identity_token = it->get<std::string>();
  if (c.empty()) return std::optional<Credentials>();
  return std::optional<Credentials>(c);
}

Result<void> DockerConfig::store(std::string_view registry_host, const Credentials& credentials) {
  const std::string key = credential_key(registry_host);
  if (std::string helper = helper_for(key); !helper.empty()) {
    nlohmann::json input = {
        {"ServerURL", key},
        {"Username", credentials.identity_token.empty() ? credentials.username : "<token>"},
        {"Secret",
         credentials.identity_token.empty() ? credentials.password : credentials.identity_token}};
    auto out = run_helper(helper, "store", input.dump(), helper_timeout_);
    if (!out)
      return std::move(out).error().context("storing credentials for " +
                                            std::string(registry_host));
    if (out->status != 0)
      return Error(ErrorKind::Io, "credential helper docker-credential-" + helper +
                                      " could not store credentials for " +
                                      std::string(registry_host) + ": " +
                                      trim(out->out.substr(0, 200)));
    // Docker keeps an empty auths entry so `docker info`-style listings know the registry.
    doc_["auths"][key] = nlohmann::json::object();
    return save();
  }
  nlohmann::json entry = nlohmann::json::object();
  if (!credentials.username.empty() || !credentials.password.empty())
    entry["auth"] = base64_encode(credentials.username + ":" + credentials.password);
  if (!credentials.identity_token.empty()) entry["identitytoken"] = credentials.identity_token;
  if (!doc_.contains("auths")) doc_["auths"] = nlohmann::json::object();
  // Replace any spelling of the same registry, so the new entry is the one found.
  for (auto it = doc_["auths"].begin(); it != doc_["auths"].end();) {
    if (strip_url(it.key()) == strip_url(key)) {
      it = doc_["auths"].erase(it);
    } else {
      ++it;
    }
  }
  doc_["auths"][key] = entry;
  return save();
}

Result<void> DockerConfig::erase(std::string_view registry_host) {
  const std::string key = credential_key(registry_host);
  bool found = false;
  if (std::string helper = helper_for(key); !helper.empty()) {
    auto out = run_helper(helper, "erase", key, helper_timeout_);
    if (!out)
      return std::move(out).error().context("erasing credentials for " +
                                            std::string(registry_host));
    if (out->status == 0) found = true;
  }
  if (doc_.contains("auths")) {
    for (auto it = doc_["auths"].begin(); it != doc_["auths"].end();) {
      if (strip_url(it.key()) == strip_url(key)) {
        it = doc_["auths"].erase(it);
        found = true;
      } else {
        ++it;
      }
    }
  }
  if (!found) return Error(ErrorKind::NotFound, "not logged in to " + std::string(registry_host));
  return save();
}

Result<void> DockerConfig::save() const {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::path(path_).parent_path();
  const bool made = !fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  // A directory made here is the owner's only (0700), as docker makes ~/.docker.
  if (!ec && made) fs::permissions(dir, fs::perms::owner_all, ec);
  if (ec)
    return Error(ErrorKind::Io, "creating " + layers::quoted(dir.string()) + ": " + ec.message());
  std::string tmp = path_ + ".tmp-" + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return Error::from_errno("creating " + layers::quoted(tmp));
  ::fchmod(fd.get(), 0600);
  std::string text = doc_.dump(1, '\t') + "\n";
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::unlink(tmp.c_str());
      return Error::from_errno("writing " + layers::quoted(tmp));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    auto err = Error::from_errno("writing " + layers::quoted(path_));
    ::unlink(tmp.c_str());
    return err;
  }
  return {};
}

}  // namespace registry
