#pragma once
// RUN --mount, as BuildKit does them, turned into the sandbox's step mounts
// (runtime::sandbox::StepMount) for one RUN step:
//   type=tmpfs   a fresh tmpfs at the target (size= as given).
//   type=secret  the secret's bytes (hoist build --secret) as a file on a tmpfs private to
//                the step, /run/secrets/ID unless target= says; env=NAME also (or, without
//                target, only) exports it as a variable. Never in a layer, the cache key, the
//                history, the progress output or the store. A secret the build was not given
//                is an error with `required`, else the mount is left out, as in BuildKit.
//   type=cache   a directory kept in the store (hoist-cache-mounts/, one per id; the id is
//                the target when not given) shared by every build, never part of a layer;
//                created with mode/uid/gid (0755, 0:0); sharing=shared (concurrent use),
//                locked (one step at a time, others wait), private (a busy directory is
//                left for another instance). `hoist prune --cache-mounts` removes them.
//   type=bind    `source` (default the root) of the context, or of the root of `from` (a
//                stage or an image), read-only unless rw; writes with rw are discarded.
//   type=ssh     a socket relayed to the agent of `id` (default "default") given with
//                hoist build --ssh, at target (default /run/buildkit/ssh_agent.N), mode
//                0600 and uid:gid 0:0 unless set; SSH_AUTH_SOCK names the first. An agent
//                not given leaves the mount out, or fails the step with `required`.
// A relative target is taken from the working directory, as BuildKit does. What a mount
// adds to the step's cache key is its spec (type, target, id, ...), never its content;
// the stage executor adds a bind mount's content (what it shows, not where it came from).

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "layers/error.h"
#include "layers/store.h"
#include "parser/commands.h"
#include "builder/ssh_relay.h"
#include "runtime/sandbox/sandbox.h"
#include "runtime/sandbox/temp_dir.h"

namespace builder {

// The secrets of one build, by id (hoist build --secret).
using BuildSecrets = std::map<std::string, std::string>;
// The ssh agents of one build: id -> the agent's socket (hoist build --ssh).
using SshAgents = std::map<std::string, std::string>;

// Reads `--ssh` values as docker build takes them: `default` ($SSH_AUTH_SOCK), `ID=SOCKET`.
layers::Result<SshAgents> read_ssh_agents(const std::vector<std::string>& specs);

// Reads `--secret` values: `id=ID,src=FILE` (or source=), `id=ID,env=VAR`, with an optional
// `type=file|env`, as docker build takes them. Errors name the id and the file or variable,
// never the secret.
layers::Result<BuildSecrets> read_build_secrets(const std::vector<std::string>& specs);

// What the mounts add to a step's cache key: each one's spec, with the target made absolute.
std::string run_mounts_key(const std::vector<parser::Mount>& mounts, const std::string& cwd);

// Makes a bind mount's source ready (the stage executor: it knows the context and stages).
using BindSource = std::function<layers::Result<runtime::sandbox::StepMount>(const parser::Mount&, const std::string& target)>;

struct RunMounts {
  std::vector<runtime::sandbox::StepMount> mounts;
  std::vector<std::string> env;          // KEY=value for secrets with env=, SSH_AUTH_SOCK
  std::vector<layers::FileLock> locks;   // held while the step runs (cache sharing)
  std::vector<runtime::sandbox::TempDir> dirs;  // the ssh relays' sockets
  std::vector<SshRelay> relays;                 // stopped when the step ends
};

// What a step's mounts are made from.
struct RunMountSources {
  const BuildSecrets& secrets;
  const SshAgents& ssh;
  const layers::Store& store;
  std::string scratch_dir;
  BindSource bind;
};

// The mounts of one RUN step, made ready to run (cache directories created and locked),
// in their order. `cwd` is the step's working directory.
layers::Result<RunMounts> prepare_run_mounts(const std::vector<parser::Mount>& mounts, const std::string& cwd,
                                             const RunMountSources& sources);

// The directory of the store that holds cache mounts.
std::string cache_mounts_dir(const layers::Store& store);

// Removes every cache mount not in use (hoist prune --cache-mounts); returns how many.
layers::Result<size_t> prune_cache_mounts(const layers::Store& store);

}  // namespace builder
