#pragma once
// Containers for `hoist run`, `hoist ps` and `hoist rm`: what a container starts with
// (Docker's rules for its command line, environment and bind mounts), and the records of
// containers kept beside the image store.
//
//   ROOT/hoist-containers/<id>/config.json   the record (see ContainerRecord), replaced
//                                            atomically (write-temp-fsync-rename)
//   ROOT/hoist-containers/<id>/lock          flocked exclusively by the hoist process
//                                            running the container, for as long as it runs
//   ROOT/hoist-containers/<id>/upper, work   the container's writable layer (overlay mode)
//   ROOT/hoist-containers/<id>/rootfs        or its whole root (where overlayfs is missing)
//   ROOT/hoist-locks/containers.lock         serializes creators, so names stay unique
//
// A container directory appears whole: it is built as ".tmp-*" (with its lock already
// held) and renamed into place, so a reader never sees a container without a record, and
// `hoist rm` never removes one that is starting. Whether a container runs is the lock, not
// the record: a record saying "running" whose lock nobody holds belonged to a hoist that
// died (SIGKILL, power loss), and reads as Dead.

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sandbox/sandbox.h"
#include "layers/error.h"
#include "layers/image.h"
#include "layers/store.h"

namespace runtime {

// ---- What a container starts with ----

// The process's argv, as `docker run` builds it: the Entrypoint followed by the Cmd.
// `args` (what follows IMAGE on the command line), when not empty, replace the image's
// Cmd. `entrypoint` (--entrypoint) replaces the image's Entrypoint with one word (none
// when it is "") and also drops the image's Cmd, so only `args` follow it.
// InvalidInput "no command specified" when the result is empty.
layers::Result<std::vector<std::string>> container_argv(
    const layers::ContainerConfig& image, const std::optional<std::string>& entrypoint,
    const std::vector<std::string>& args);

// The `-e` values as "KEY=value": "K=V" as given, "K" takes K's value from `lookup`
// (hoist's own environment) and is dropped when that has none, as Docker does.
// InvalidInput naming the value for "" or "=V".
layers::Result<std::vector<std::string>> resolve_env_flags(
    const std::vector<std::string>& flags,
    const std::function<std::optional<std::string>(const std::string&)>& lookup);

// The container's environment, in Docker's order: PATH (sandbox::kDefaultPath unless the image
// or `overrides` set it) and HOSTNAME first, then `overrides` (the -e values) in their order,
// then the image's Env entries they do not override (`-e B=2` on an image with A=1: PATH,
// HOSTNAME, B=2, A=1, as Docker 20.10 gives). HOME is the sandbox's business (sandbox::SandboxSpec::env):
// it comes from the user's passwd entry unless this sets a non-empty one.
std::vector<std::string> container_env(const std::vector<std::string>& image_env,
                                       const std::vector<std::string>& overrides,
                                       const std::string& hostname);

// Parses `-v HOST:CTR[:ro|rw]`. Both paths must be absolute (a relative HOST would be a
// named volume: Unsupported), CTR not "/"; InvalidInput naming the value otherwise.
layers::Result<sandbox::BindMount> parse_bind(std::string_view text);

// Parses `--tmpfs PATH[:OPTIONS]` as `docker run` takes it: a fresh tmpfs at PATH
// (absolute, not "/"), mounted noexec, nosuid and nodev unless OPTIONS (comma-separated)
// say otherwise: rw, ro, exec, noexec, nosuid, nodev, size=N[k|m|g]. Options hoist cannot
// honour (suid, dev, mode=, uid=, size in %, ...) are Unsupported, naming the option;
// InvalidInput naming the value otherwise.
layers::Result<sandbox::StepMount> parse_tmpfs(std::string_view text);

// Docker's container names: [a-zA-Z0-9][a-zA-Z0-9_.-]*. InvalidInput otherwise.
layers::Result<void> check_container_name(std::string_view name);

// ---- Records ----

enum class ContainerStatus { Created, Running, Exited, Dead };

// "created", "running", "exited", "dead" (as `docker inspect` spells them).
std::string_view status_name(ContainerStatus status);

struct ContainerRecord {
  std::string id;                          // 64 lowercase hex characters; the directory's name
  std::string name;                        // unique among this store's containers
  std::string image;                       // as the user named it ("busybox")
  std::string image_id;                    // the image's config digest ("sha256:...")
  std::vector<std::string> command;        // the argv it runs
  std::string created, started, finished;  // RFC 3339; "" until it happens
  ContainerStatus status = ContainerStatus::Created;
  int exit_code = 0;  // meaningful when Exited
  pid_t pid = 0;      // the hoist process running it, while Running

  std::string short_id() const { return id.substr(0, 12); }
  std::string to_json() const;
};

// Parses a record; `what` names it in errors. InvalidInput for malformed records.
layers::Result<ContainerRecord> parse_container_record(std::string_view text,
                                                       std::string_view what);

class ContainerStore;

// A container that is being run: holds its lock until destroyed (or `hoist rm -f` sends
// SIGTERM to this process, which the sandbox turns into Cancelled).
class RunningContainer {
 public:
  ContainerRecord& record() { return record_; }
  const std::string& dir() const { return dir_; }

 private:
  friend class ContainerStore;
  RunningContainer(ContainerRecord record, std::string dir, layers::FileLock lock)
      : record_(std::move(record)), dir_(std::move(dir)), lock_(std::move(lock)) {}
  ContainerRecord record_;
  std::string dir_;
  layers::FileLock lock_;
};

struct ContainerList {
  std::vector<ContainerRecord> containers;  // newest first; status Dead for unreadable ones
  std::vector<std::string> problems;        // one sentence per unreadable record
};

class ContainerStore {
 public:
  // Uses (creating when missing) the containers folder of the store at `store_root`.
  static layers::Result<ContainerStore> open(const std::string& store_root);

  const std::string& dir() const { return dir_; }
  std::string path_of(std::string_view id) const { return dir_ + "/" + std::string(id); }

  // Makes a container from `draft` (its id, created and name are filled in: a fresh random
  // id, now, and a generated name when draft.name is empty) and holds its lock.
  // InvalidInput for a bad name; InvalidInput "the container name "/x" is already in use
  // by container ID" for a taken one.
  layers::Result<RunningContainer> create(ContainerRecord draft) const;
  // Replaces the record of `container` on disk.
  layers::Result<void> save(const ContainerRecord& record) const;

  // Every container. Status is Dead for a "running" record whose lock is free.
  layers::Result<ContainerList> list() const;
  // By full id, unique id prefix, or name. NotFound "no such container: TEXT";
  // InvalidInput when a prefix names several.
  layers::Result<ContainerRecord> find(std::string_view id_or_name) const;
  // Whether a hoist process holds the container's lock.
  bool is_running(std::string_view id) const;
  // Sends SIGTERM to the hoist process running the container and waits until it let go
  // of the lock (the sandbox has then torn the container down). A no-op when not running.
  layers::Result<void> stop(const ContainerRecord& record) const;
  // Removes the container's directory (record, layer, everything). The container must not
  // be running (stop it first). It disappears from list() at once (renamed away first).
  layers::Result<void> remove(std::string_view id) const;

 private:
  ContainerStore(std::string dir, std::string locks_dir)
      : dir_(std::move(dir)), locks_dir_(std::move(locks_dir)) {}
  std::string dir_;
  std::string locks_dir_;
};

}  // namespace runtime
