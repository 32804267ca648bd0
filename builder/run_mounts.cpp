#include "builder/run_mounts.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "layers/digest.h"
#include "layers/blob_store.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

// Secrets are small: BuildKit caps them at 500 KiB.
constexpr size_t kMaxSecretBytes = 500 * 1024;

std::string absolute_target(const std::string& target, const std::string& cwd) {
  if (target.starts_with('/')) return target;
  return (cwd.empty() ? "/" : cwd) + "/" + target;
}

std::string secret_id(const parser::Mount& m) {
  if (!m.id.empty()) return m.id;
  std::string target = m.target;
  while (target.size() > 1 && target.ends_with('/')) target.pop_back();
  return target.substr(target.rfind('/') + 1);
}

std::string octal(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%o", v);
  return buf;
}

}  // namespace

Result<BuildSecrets> read_build_secrets(const std::vector<std::string>& specs) {
  BuildSecrets secrets;
  for (const std::string& spec : specs) {
    std::string id, src, env, type;
    size_t start = 0;
    while (start <= spec.size()) {
      size_t comma = spec.find(',', start);
      std::string field = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      size_t eq = field.find('=');
      if (eq == std::string::npos)
        return Error(ErrorKind::Usage, "--secret " + spec + ": " + layers::quoted(field) + " is not KEY=VALUE");
      std::string key = field.substr(0, eq), value = field.substr(eq + 1);
      if (key == "id") id = value;
      else if (key == "src" || key == "source") src = value;
      else if (key == "env") env = value;
      else if (key == "type") type = value;
      else return Error(ErrorKind::Usage, "--secret " + spec + ": unknown key " + layers::quoted(key) + " (want id, src, env, type)");
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (type == "file" && src.empty() && env.empty()) src = id;
    if (type == "env" && src.empty() && env.empty()) env = id;
    if (!type.empty() && type != "file" && type != "env")
      return Error(ErrorKind::Usage, "--secret " + spec + ": type must be file or env");
    if (id.empty()) id = !src.empty() ? std::filesystem::path(src).filename().string() : env;
    if (id.empty()) return Error(ErrorKind::Usage, "--secret " + spec + ": give id=ID with src=FILE or env=VAR");
    if (src.empty() == env.empty())
      return Error(ErrorKind::Usage, "--secret id=" + id + ": give exactly one of src=FILE and env=VAR");
    if (!env.empty()) {
      const char* value = std::getenv(env.c_str());
      if (!value) return Error(ErrorKind::InvalidInput, "--secret id=" + id + ": environment variable " + env + " is not set");
      secrets[id] = value;
    } else {
      auto value = layers::read_file(src, kMaxSecretBytes);
      if (!value) return std::move(value).error().context("--secret id=" + id + ": reading " + layers::quoted(src));
      secrets[id] = std::move(*value);
    }
  }
  return secrets;
}

std::string cache_mounts_dir(const layers::Store& store) { return store.root() + "/hoist-cache-mounts"; }

std::string run_mounts_key(const std::vector<parser::Mount>& mounts, const std::string& cwd) {
  std::string key;
  for (const parser::Mount& m : mounts) {
    key += "type=" + std::string(parser::mount_type_name(m.type));
    if (m.type == parser::Mount::Type::Secret) {
      key += ",id=" + secret_id(m);
      key += ",target=" + (m.target.empty() ? std::string() : absolute_target(m.target, cwd));
      key += ",env=" + m.env.value_or("");
    } else {
      key += ",target=" + absolute_target(m.target, cwd) + ",id=" + m.id;
    }
    key += ",sharing=" + std::to_string(static_cast<int>(m.sharing));
    key += ",ro=" + std::to_string(m.read_only) + ",required=" + std::to_string(m.required);
    key += ",size=" + std::to_string(m.size_bytes.value_or(0));
    key += ",mode=" + (m.mode ? octal(*m.mode) : "") + ",uid=" + (m.uid ? std::to_string(*m.uid) : "") +
           ",gid=" + (m.gid ? std::to_string(*m.gid) : "");
    key += "\n";
  }
  return key;
}

namespace {

// The cache directory for `m`, created on first use, locked as its sharing asks.
Result<std::string> open_cache_mount(const parser::Mount& m, const std::string& target, const layers::Store& store,
                                     RunMounts* out) {
  const std::string base = cache_mounts_dir(store);
  if (::mkdir(base.c_str(), 0700) != 0 && errno != EEXIST) return Error::from_errno("creating " + layers::quoted(base));
  const std::string id = m.id.empty() ? target : m.id;
  const std::string name(layers::Digest::of(id).hex());
  std::string dir = base + "/" + name;
  if (m.sharing == parser::Mount::Sharing::Locked) {
    auto lock = layers::FileLock::acquire(dir + ".lock", true);
    if (!lock) return std::move(lock).error();
    out->locks.push_back(std::move(*lock));
  } else if (m.sharing == parser::Mount::Sharing::Private) {
    // A busy directory goes to its user; this step takes the first free instance.
    for (int instance = 0;; ++instance) {
      std::string candidate = instance == 0 ? dir : dir + "-" + std::to_string(instance);
      auto lock = layers::FileLock::try_acquire(candidate + ".lock", true);
      if (!lock) return std::move(lock).error();
      if (*lock) {
        out->locks.push_back(std::move(**lock));
        dir = candidate;
        break;
      }
      if (instance > 1000) return Error(ErrorKind::Io, "cache mount " + layers::quoted(id) + ": every instance is busy");
    }
  } else {
    // Shared: concurrent users, but prune must see it in use.
    auto lock = layers::FileLock::acquire(dir + ".lock", false);
    if (!lock) return std::move(lock).error();
    out->locks.push_back(std::move(*lock));
  }
  struct stat st;
  if (::lstat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error(ErrorKind::Corrupt, "cache mount " + layers::quoted(dir) + " is not a directory");
    return dir;
  }
  // Made beside, then renamed: an interrupted creation never leaves a half-set directory.
  // Named per call too: stages building at once (hoist build --jobs) may create one id.
  static std::atomic<unsigned> made{0};
  const std::string tmp = dir + ".new-" + std::to_string(::getpid()) + "-" + std::to_string(made++);
  std::filesystem::remove_all(tmp);
  if (::mkdir(tmp.c_str(), 0700) != 0) return Error::from_errno("creating " + layers::quoted(tmp));
  if (::chown(tmp.c_str(), m.uid.value_or(0), m.gid.value_or(0)) != 0 || ::chmod(tmp.c_str(), m.mode.value_or(0755)) != 0)
    return Error::from_errno("setting the owner and mode of " + layers::quoted(tmp));
  if (::rename(tmp.c_str(), dir.c_str()) != 0) {
    int saved = errno;
    std::filesystem::remove_all(tmp);
    if (saved != EEXIST && saved != ENOTEMPTY) return Error(ErrorKind::Io, "creating cache mount " + layers::quoted(dir), saved);
  }
  return dir;
}

}  // namespace

Result<SshAgents> read_ssh_agents(const std::vector<std::string>& specs) {
  SshAgents agents;
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    const std::string id = spec.substr(0, eq);
    std::string socket = eq == std::string::npos ? std::string() : spec.substr(eq + 1);
    if (id.empty()) return Error(ErrorKind::Usage, "--ssh " + spec + ": want default, or ID=SOCKET");
    if (socket.empty()) {
      const char* sock = std::getenv("SSH_AUTH_SOCK");
      if (!sock || !*sock) return Error(ErrorKind::InvalidInput, "--ssh " + spec + ": SSH_AUTH_SOCK is not set");
      socket = sock;
    }
    if (socket.find(',') != std::string::npos)
      return Error(ErrorKind::Unsupported, "--ssh " + spec + ": several sockets or key files for one id are not supported by hoist");
    struct stat st;
    if (::stat(socket.c_str(), &st) != 0) return Error::from_errno("--ssh " + spec + ": " + layers::quoted(socket));
    if (!S_ISSOCK(st.st_mode))
      return Error(ErrorKind::Unsupported, "--ssh " + spec + ": " + layers::quoted(socket) +
                                               " is not a socket (key files are not supported by hoist)");
    agents[id] = socket;
  }
  return agents;
}

Result<RunMounts> prepare_run_mounts(const std::vector<parser::Mount>& mounts, const std::string& cwd,
                                     const RunMountSources& sources) {
  using Kind = runtime::sandbox::StepMount::Kind;
  RunMounts out;
  int ssh_index = 0;
  bool ssh_auth_sock_set = false;
  for (const parser::Mount& m : mounts) {
    switch (m.type) {
      case parser::Mount::Type::Tmpfs: {
        if (m.target.empty()) return Error(ErrorKind::InvalidInput, "tmpfs mount needs a target");
        runtime::sandbox::StepMount mount{Kind::Tmpfs, absolute_target(m.target, cwd)};
        mount.size_bytes = m.size_bytes.value_or(0);
        out.mounts.push_back(std::move(mount));
        break;
      }
      case parser::Mount::Type::Secret: {
        const std::string id = secret_id(m);
        auto secret = sources.secrets.find(id);
        if (secret == sources.secrets.end()) {
          if (m.required)
            return Error(ErrorKind::InvalidInput, "secret " + layers::quoted(id) +
                                                      " is required but was not given (hoist build --secret id=" + id +
                                                      ",src=FILE)");
          break;
        }
        if (m.env && (m.env->empty() || m.env->find('=') != std::string::npos))
          return Error(ErrorKind::InvalidInput, "secret " + layers::quoted(id) + ": env= needs a variable name");
        if (m.env) out.env.push_back(*m.env + "=" + secret->second);
        if (m.env && m.target.empty()) break;  // env= alone: no file, as BuildKit does
        runtime::sandbox::StepMount mount{Kind::File,
                                          m.target.empty() ? "/run/secrets/" + id : absolute_target(m.target, cwd)};
        mount.content = secret->second;
        mount.mode = m.mode.value_or(0400);
        mount.uid = m.uid.value_or(0);
        mount.gid = m.gid.value_or(0);
        out.mounts.push_back(std::move(mount));
        break;
      }
      case parser::Mount::Type::Cache: {
        if (m.target.empty()) return Error(ErrorKind::InvalidInput, "cache mount needs a target");
        if (!m.from.empty() || !m.source.empty())
          return Error(ErrorKind::Unsupported, "cache mount with from= or source= is not supported by hoist");
        const std::string target = absolute_target(m.target, cwd);
        auto dir = open_cache_mount(m, target, sources.store, &out);
        if (!dir) return std::move(dir).error().context("cache mount " + layers::quoted(target));
        runtime::sandbox::StepMount mount{Kind::Bind, target};
        mount.host_path = *dir;
        mount.read_only = m.read_only;
        out.mounts.push_back(std::move(mount));
        break;
      }
      case parser::Mount::Type::Bind: {
        if (m.target.empty()) return Error(ErrorKind::InvalidInput, "bind mount needs a target");
        const std::string target = absolute_target(m.target, cwd);
        auto mount = sources.bind(m, target);
        if (!mount) return std::move(mount).error().context("bind mount " + layers::quoted(target));
        out.mounts.push_back(std::move(*mount));
        break;
      }
      case parser::Mount::Type::Ssh: {
        const std::string id = m.id.empty() ? "default" : m.id;
        const std::string target =
            m.target.empty() ? "/run/buildkit/ssh_agent." + std::to_string(ssh_index) : absolute_target(m.target, cwd);
        ++ssh_index;
        auto agent = sources.ssh.find(id);
        if (agent == sources.ssh.end()) {
          if (m.required)
            return Error(ErrorKind::InvalidInput, "ssh agent " + layers::quoted(id) +
                                                      " is required but was not given (hoist build --ssh " + id + "=SOCKET)");
          break;
        }
        auto dir = runtime::sandbox::TempDir::create_in(sources.scratch_dir, "ssh-");
        if (!dir) return std::move(dir).error();
        auto relay = SshRelay::start(agent->second, dir->path(), m.mode.value_or(0600), m.uid.value_or(0), m.gid.value_or(0));
        if (!relay) return std::move(relay).error().context("ssh mount " + layers::quoted(id));
        runtime::sandbox::StepMount mount{Kind::Bind, target};
        mount.host_path = relay->socket_path();
        out.mounts.push_back(std::move(mount));
        if (!ssh_auth_sock_set) out.env.push_back("SSH_AUTH_SOCK=" + target);
        ssh_auth_sock_set = true;
        out.dirs.push_back(std::move(*dir));
        out.relays.push_back(std::move(*relay));
        break;
      }
    }
  }
  return out;
}

Result<size_t> prune_cache_mounts(const layers::Store& store) {
  const std::string base = cache_mounts_dir(store);
  std::error_code ec;
  if (!std::filesystem::exists(base, ec)) return size_t{0};
  size_t removed = 0;
  std::vector<std::string> dirs;
  for (auto it = std::filesystem::directory_iterator(base, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.ends_with(".lock")) continue;
    dirs.push_back(it->path().string());
  }
  if (ec) return Error(ErrorKind::Io, "listing " + layers::quoted(base), ec.value());
  for (const std::string& dir : dirs) {
    // In use (a step holds its lock, shared or not): left alone.
    auto lock = layers::FileLock::try_acquire(dir + ".lock", true);
    if (!lock) return std::move(lock).error();
    if (!*lock) continue;
    std::filesystem::remove_all(dir, ec);
    if (ec) return Error(ErrorKind::Io, "removing " + layers::quoted(dir), ec.value());
    ++removed;
  }
  return removed;
}

}  // namespace builder
