#include "runtime/container.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <ctime>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "layers/blob_store.h"
#include "layers/json_text.h"
#include "layers/store.h"
#include "layers/unique_fd.h"

namespace runtime {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

// ---- What a container starts with ----

Result<std::vector<std::string>> container_argv(const layers::ContainerConfig& image,
                                                const std::optional<std::string>& entrypoint,
                                                const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  if (entrypoint) {
    if (!entrypoint->empty()) argv.push_back(*entrypoint);
  } else if (image.entrypoint) {
    argv = *image.entrypoint;
  }
  // --entrypoint drops the image's Cmd: it was written for the image's own Entrypoint.
  if (!args.empty())
    argv.insert(argv.end(), args.begin(), args.end());
  else if (!entrypoint && image.cmd)
    argv.insert(argv.end(), image.cmd->begin(), image.cmd->end());
  if (argv.empty()) return Error(ErrorKind::InvalidInput, "no command specified");
  return argv;
}

Result<std::vector<std::string>> resolve_env_flags(
    const std::vector<std::string>& flags,
    const std::function<std::optional<std::string>(const std::string&)>& lookup) {
  std::vector<std::string> out;
  for (const auto& flag : flags) {
    size_t eq = flag.find('=');
    if (flag.empty() || eq == 0)
      return Error(ErrorKind::InvalidInput,
                   "invalid environment variable: " + layers::quoted(flag));
    if (eq != std::string::npos) {
      out.push_back(flag);
    } else if (auto value = lookup(flag)) {
      out.push_back(flag + "=" + *value);
    }
  }
  return out;
}

namespace {

std::string_view env_key(std::string_view entry) {
  return entry.substr(0, entry.find('='));
}

void replace_or_append(std::vector<std::string>& env, const std::string& entry) {
  for (auto& existing : env)
    if (env_key(existing) == env_key(entry)) {
      existing = entry;
      return;
    }
  env.push_back(entry);
}

}  // namespace

std::vector<std::string> container_env(const std::vector<std::string>& image_env,
                                       const std::vector<std::string>& overrides,
                                       const std::string& hostname) {
  // Docker merges the container's Env first (daemon/commit.go merge): the -e values in their
  // order, then the image's entries they do not override. The daemon then lays that over
  // PATH and HOSTNAME (ReplaceOrAppendEnvValues), so `-e B=2` on an image with A=1 gives
  // PATH, HOSTNAME, B=2, A=1.
  std::vector<std::string> merged = overrides;
  for (const auto& entry : image_env) {
    bool overridden = std::any_of(overrides.begin(), overrides.end(), [&](const std::string& o) {
      return env_key(o) == env_key(entry);
    });
    if (!overridden) merged.push_back(entry);
  }
  std::vector<std::string> env = {"PATH=" + std::string(sandbox::kDefaultPath), "HOSTNAME=" + hostname};
  for (const auto& entry : merged) replace_or_append(env, entry);
  return env;
}

Result<sandbox::BindMount> parse_bind(std::string_view text) {
  auto bad = [&](std::string why) {
    return Error(ErrorKind::InvalidInput, "invalid volume " + layers::quoted(text) + ": " + why);
  };
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t colon = text.find(':', start);
    parts.emplace_back(text.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() == 1)
    return Error(ErrorKind::Unsupported,
                 "invalid volume " + layers::quoted(text) +
                     ": anonymous volumes are not supported; use HOST:CONTAINER");
  if (parts.size() > 3) return bad("expected HOST:CONTAINER[:ro|rw]");
  sandbox::BindMount bind;
  bind.host_path = parts[0];
  bind.container_path = parts[1];
  if (parts.size() == 3) {
    if (parts[2] == "ro")
      bind.read_only = true;
    else if (parts[2] != "rw")
      return bad("unknown option " + layers::quoted(parts[2]) + " (ro or rw)");
  }
  if (bind.host_path.empty()) return bad("empty host path");
  if (bind.host_path[0] != '/')
    return Error(ErrorKind::Unsupported,
                 "invalid volume " + layers::quoted(text) +
                     ": named volumes are not supported; the host path must be absolute");
  if (bind.container_path.empty() || bind.container_path[0] != '/')
    return bad("the container path must be absolute");
  if (bind.container_path.find_first_not_of('/') == std::string::npos)
    return bad("cannot mount over the container's root");
  return bind;
}

Result<sandbox::StepMount> parse_tmpfs(std::string_view text) {
  auto bad = [&](std::string why) {
    return Error(ErrorKind::InvalidInput, "invalid --tmpfs " + layers::quoted(text) + ": " + why);
  };
  const size_t colon = text.find(':');
  sandbox::StepMount mount{sandbox::StepMount::Kind::Tmpfs, std::string(text.substr(0, colon))};
  mount.is_noexec = true;  // Docker's defaults: noexec, nosuid, nodev
  if (mount.target.empty() || mount.target[0] != '/') return bad("the path must be absolute");
  if (mount.target.find_first_not_of('/') == std::string::npos)
    return bad("cannot mount over the container's root");
  std::string_view options = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  while (!options.empty()) {
    const size_t comma = options.find(',');
    const std::string_view option = options.substr(0, comma);
    options = comma == std::string_view::npos ? std::string_view() : options.substr(comma + 1);
    if (option == "rw" || option == "ro") {
      mount.read_only = option == "ro";
    } else if (option == "exec" || option == "noexec") {
      mount.is_noexec = option == "noexec";
    } else if (option == "nosuid" || option == "nodev") {
      // Always so.
    } else if (option.starts_with("size=")) {
      // The kernel's own syntax (memparse), which Docker passes through: N with k, m or g.
      std::string_view size = option.substr(5);
      int64_t scale = 1;
      if (const size_t unit = size.empty() ? std::string_view::npos
                                           : std::string_view("kmg").find(char(size.back() | 0x20));
          unit != std::string_view::npos) {
        scale = int64_t(1) << (10 * (unit + 1));
        size.remove_suffix(1);
      }
      int64_t value = 0;
      auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), value);
      if (size.empty() || ec != std::errc() || end != size.data() + size.size() || value <= 0 ||
          value > (int64_t(1) << 50) / scale)
        return Error(ErrorKind::Unsupported, "--tmpfs " + layers::quoted(text) + ": " +
                                                 layers::quoted(option) + " is not supported (size=N[k|m|g])");
      mount.size_bytes = value * scale;
    } else {
      return Error(ErrorKind::Unsupported, "--tmpfs " + layers::quoted(text) + ": option " +
                                               layers::quoted(option) +
                                               " is not supported (rw, ro, exec, noexec, nosuid, nodev, size=)");
    }
  }
  return mount;
}

Result<void> check_container_name(std::string_view name) {
  auto is_alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  bool ok = !name.empty() && is_alnum(name[0]) && name.size() <= 128 &&
            std::all_of(name.begin(), name.end(),
                        [&](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
  if (!ok)
    return Error(ErrorKind::InvalidInput, "invalid container name " + layers::quoted(name) +
                                              ": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  return {};
}

// ---- Records ----

std::string_view status_name(ContainerStatus status) {
  switch (status) {
    case ContainerStatus::Created:
      return "created";
    case ContainerStatus::Running:
      return "running";
    case ContainerStatus::Exited:
      return "exited";
    case ContainerStatus::Dead:
      return "dead";
  }
  return "dead";
}

std::string ContainerRecord::to_json() const {
  nlohmann::json j = {
      {"Id", id},
      {"Name", name},
      {"Image", image},
      {"ImageID", image_id},
      {"Command", command},
      {"Created", created},
      {"StartedAt", started},
      {"FinishedAt", finished},
      {"Status", status_name(status)},
      {"ExitCode", exit_code},
      {"Pid", pid},
  };
  return layers::dump_json(j, 2) + "\n";
}

namespace {

constexpr size_t kMaxRecordBytes = 1 << 20;

bool is_container_id(std::string_view id) {
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

Result<ContainerRecord> parse_container_record(std::string_view text, std::string_view what) {
  auto json = layers::parse_json(text, kMaxRecordBytes, what);
  if (!json) return std::move(json).error();
  const nlohmann::json& j = *json;
  auto bad = [&](std::string_view field, std::string_view why) {
    return Error(ErrorKind::InvalidInput,
                 std::string(what) + ": " + std::string(field) + ": " + std::string(why));
  };
  if (!j.is_object())
    return Error(ErrorKind::InvalidInput, std::string(what) + ": not a JSON object");
  ContainerRecord r;
  struct StringField {
    const char* key;
    std::string* out;
    bool required;
  };
  for (const StringField& f :
       {StringField{"Id", &r.id, true}, StringField{"Name", &r.name, true},
        StringField{"Image", &r.image, false}, StringField{"ImageID", &r.image_id, false},
        StringField{"Created", &r.created, false}, StringField{"StartedAt", &r.started, false},
        StringField{"FinishedAt", &r.finished, false}}) {
    auto it = j.find(f.key);
    if (it == j.end()) {
      if (f.required) return bad(f.key, "missing");
      continue;
    }
    if (!it->is_string()) return bad(f.key, "not a string");
    *f.out = it->get<std::string>();
  }
  if (!is_container_id(r.id)) return bad("Id", "not a 64-character hex id");
  if (auto it = j.find("Command"); it != j.end()) {
    if (!it->is_array()) return bad("Command", "not an array");
    for (const auto& word : *it) {
      if (!word.is_string()) return bad("Command", "holds a non-string");
      r.command.push_back(word.get<std::string>());
    }
  }
  auto status = j.find("Status");
  if (status == j.end() || !status->is_string()) return bad("Status", "missing or not a string");
  std::string s = status->get<std::string>();
  if (s == "created")
    r.status = ContainerStatus::Created;
  else if (s == "running")
    r.status = ContainerStatus::Running;
  else if (s == "exited")
    r.status = ContainerStatus::Exited;
  else if (s == "dead")
    r.status = ContainerStatus::Dead;
  else
    return bad("Status", "unknown status " + layers::quoted(s));
  for (auto [key, out] :
       {std::pair<const char*, int*>{"ExitCode", &r.exit_code}, {"Pid", &r.pid}}) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    if (!it->is_number_integer()) return bad(key, "not an integer");
    int64_t v = it->get<int64_t>();
    if (v < -1 || v > 0x7fffffff) return bad(key, "out of range");
    *out = static_cast<int>(v);
  }
  return r;
}

namespace {

Result<std::string> random_id() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("getrandom");
    }
    got += static_cast<size_t>(n);
  }
  static const char hex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id.push_back(hex[b >> 4]);
    id.push_back(hex[b & 15]);
  }
  return id;
}

// Docker-style "adjective_noun" names, from the first bytes of the id.
std::string generated_name(std::string_view id, int attempt) {
  static const char* const adjectives[] = {"brave", "calm",  "eager",  "fond",  "gentle", "happy",
                                           "jolly", "keen",  "lucid",  "merry", "nifty",  "proud",
                                           "quiet", "sharp", "tender", "witty"};
  static const char* const nouns[] = {
      "babbage",  "curie",   "darwin", "euler",   "fermat",  "gauss",  "hopper", "kepler",
      "lovelace", "noether", "pascal", "ritchie", "shannon", "turing", "wiles",  "yalow"};
  auto nibble = [&](size_t i) { return id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10; };
  std::string name = std::string(adjectives[nibble(0)]) + "_" + nouns[nibble(1)];
  if (attempt > 0) name += std::to_string(attempt);
  return name;
}

std::string now_rfc3339() {
  return layers::format_rfc3339(static_cast<int64_t>(std::time(nullptr)));
}

}  // namespace

Result<ContainerStore> ContainerStore::open(const std::string& store_root) {
  ContainerStore store(store_root + "/hoist-containers", store_root + "/hoist-locks");
  if (auto r = layers::make_dirs(store.dir_); !r) return std::move(r).error();
  if (auto r = layers::make_dirs(store.locks_dir_); !r) return std::move(r).error();
  return store;
}

Result<RunningContainer> ContainerStore::create(ContainerRecord draft) const {
  if (!draft.name.empty())
    if (auto r = check_container_name(draft.name); !r) return std::move(r).error();
  auto id = random_id();
  if (!id) return std::move(id).error();
  draft.id = *id;
  if (draft.created.empty()) draft.created = now_rfc3339();

  auto names_lock = layers::FileLock::acquire(locks_dir_ + "/containers.lock", true);
  if (!names_lock) return std::move(names_lock).error().context("creating a container");
  auto existing = list();
  if (!existing) return std::move(existing).error().context("creating a container");
  auto owner_of = [&](const std::string& name) -> const ContainerRecord* {
    for (const auto& c : existing->containers)
      if (c.name == name) return &c;
    return nullptr;
  };
  if (draft.name.empty()) {
    for (int attempt = 0; draft.name.empty() || owner_of(draft.name); ++attempt)
      draft.name = generated_name(draft.id, attempt);
  } else if (const ContainerRecord* owner = owner_of(draft.name)) {
    return Error(ErrorKind::InvalidInput, "the container name \"/" + draft.name +
                                              "\" is already in use by container " + owner->id +
                                              "; remove it (hoist rm) to reuse the name");
  }

  std::string scratch = dir_ + "/.tmp-" + draft.id;
  if (::mkdir(scratch.c_str(), 0700) != 0)
    return Error::from_errno("creating " + layers::quoted(scratch));
  auto fail = [&](Error e) {
    std::error_code ec;
    std::filesystem::remove_all(scratch, ec);
    return std::move(e).context("creating container " + draft.id.substr(0, 12));
  };
  auto lock = layers::FileLock::acquire(scratch + "/lock", true);
  if (!lock) return fail(std::move(lock).error());
  if (auto r = layers::write_file_atomic(scratch + "/config.json", draft.to_json()); !r)
    return fail(std::move(r).error());
  std::string final_dir = path_of(draft.id);
  if (::rename(scratch.c_str(), final_dir.c_str()) != 0)
    return fail(Error::from_errno("renaming " + layers::quoted(scratch) + " to " +
                                  layers::quoted(final_dir)));
  (void)layers::fsync_dir(dir_);
  return RunningContainer(std::move(draft), final_dir, std::move(*lock));
}

Result<void> ContainerStore::save(const ContainerRecord& record) const {
  if (!is_container_id(record.id))
    return Error(ErrorKind::InvalidInput,
                 "saving a container record: bad id " + layers::quoted(record.id));
  return layers::write_file_atomic(path_of(record.id) + "/config.json", record.to_json());
}

bool ContainerStore::is_running(std::string_view id) const {
  return layers::FileLock::is_held(path_of(id) + "/lock");
}

Result<ContainerList> ContainerStore::list() const {
  ContainerList out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& entry = *it;
    std::string id = entry.path().filename().string();
    if (id.starts_with(".")) continue;  // being created or removed
    std::string path = path_of(id) + "/config.json";
    auto text = layers::read_file(path, kMaxRecordBytes);
    Result<ContainerRecord> record =
        text ? parse_container_record(*text, "container record " + layers::quoted(path))
             : std::move(text).error();
    if (record && record->id != id)
      record = Error(ErrorKind::InvalidInput,
                     "container record " + layers::quoted(path) + " names another id");
    if (!record) {
      out.problems.push_back(record.error().describe());
      ContainerRecord dead;
      dead.id = id;
      dead.status = ContainerStatus::Dead;
      out.containers.push_back(std::move(dead));
      continue;
    }
    if (record->status == ContainerStatus::Running && !is_running(id))
      record->status = ContainerStatus::Dead;
    out.containers.push_back(std::move(*record));
  }
  if (ec) return Error(ErrorKind::Io, "listing " + layers::quoted(dir_), ec.value());
  std::sort(out.containers.begin(), out.containers.end(), [](const auto& a, const auto& b) {
    return a.created != b.created ? a.created > b.created : a.id < b.id;
  });
  return out;
}

Result<ContainerRecord> ContainerStore::find(std::string_view id_or_name) const {
  if (id_or_name.empty()) return Error(ErrorKind::InvalidInput, "empty container id or name");
  auto all = list();
  if (!all) return std::move(all).error();
  for (const auto& c : all->containers)
    if (c.id == id_or_name) return c;
  for (const auto& c : all->containers)
    if (!c.name.empty() && c.name == id_or_name) return c;
  const ContainerRecord* match = nullptr;
  for (const auto& c : all->containers) {
    if (!c.id.starts_with(id_or_name)) continue;
    if (match)
      return Error(ErrorKind::InvalidInput, "container id prefix " + layers::quoted(id_or_name) +
                                                " names more than one container");
    match = &c;
  }
  if (!match) return Error(ErrorKind::NotFound, "no such container: " + std::string(id_or_name));
  return *match;
}

Result<void> ContainerStore::stop(const ContainerRecord& record) const {
  if (!is_running(record.id)) return {};
  if (record.pid > 0 && ::kill(record.pid, SIGTERM) != 0 && errno != ESRCH)
    return Error::from_errno("stopping container " + record.short_id() + " (hoist process " +
                             std::to_string(record.pid) + ")");
  // The holder lets go when its sandbox has torn the container down (or it died).
  std::string path = path_of(record.id) + "/lock";
  layers::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return {};  // removed meanwhile (--rm)
  while (::flock(fd.get(), LOCK_EX) != 0)
    if (errno != EINTR)
      return Error::from_errno("waiting for container " + record.short_id() + " to stop");
  return {};
}

Result<void> ContainerStore::remove(std::string_view id) const {
  if (id.empty() || id.starts_with(".") || id.find('/') != std::string_view::npos)
    return Error(ErrorKind::InvalidInput, "removing container: bad id " + layers::quoted(id));
  std::string path = path_of(id);
  std::string doomed = dir_ + "/.rm-" + std::string(id);
  if (::rename(path.c_str(), doomed.c_str()) != 0)
    return Error::from_errno("removing container " + std::string(id.substr(0, 12)) + ": renaming " +
                             layers::quoted(path));
  std::error_code ec;
  std::filesystem::remove_all(doomed, ec);
  if (ec)
    return Error(ErrorKind::Io,
                 "removing container " + std::string(id.substr(0, 12)) + ": deleting " +
                     layers::quoted(doomed),
                 ec.value());
  return {};
}

}  // namespace runtime
