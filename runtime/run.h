#pragma once
// `hoist run` as a library call: a container from an image, in the sandbox RUN steps use,
// with `docker run`'s rules for the command, environment, user and working directory.
//
// run_container creates the container's record (ROOT/hoist-containers/<id>/, see
// runtime/container.h), lays out its root (an overlay over the unpacked layers, or a full
// copy where overlayfs cannot be mounted or HOIST_SNAPSHOTTER=copy), runs the command,
// records how it ended and, with `remove`, deletes the container again. The caller holds
// the store's gc_shared_lock for the whole call (the unpacked layers are in use).

#include <optional>
#include <string>
#include <vector>

#include "layers/error.h"
#include "layers/image.h"
#include "layers/store.h"
#include "runtime/sandbox/sandbox.h"

namespace runtime {

struct ContainerRequest {
  std::string image_name;                 // as the user named it, for the record and errors
  std::optional<std::string> entrypoint;  // --entrypoint ("" for none)
  std::vector<std::string> args;          // what follows IMAGE: replaces the image's Cmd
  std::vector<std::string> env;           // "KEY=value" overrides (resolve_env_flags)
  std::string workdir;                    // absolute, or "" for the image's
  std::string user;                       // a USER spec, or "" for the image's
  sandbox::Network network = sandbox::Network::Default;
  std::vector<sandbox::BindMount> binds;  // a missing host directory is created, as Docker does
  uint64_t capabilities = sandbox::kDefaultCapabilities;  // --cap-add/--cap-drop (resolve_capabilities)
  bool read_only = false;                 // --read-only: the root is mounted read-only
  std::vector<sandbox::StepMount> tmpfs;  // --tmpfs (parse_tmpfs)
  std::string name;                       // "" for a generated one
  bool remove = false;                    // --rm
  int stdin_fd = -1, stdout_fd = 1, stderr_fd = 2;  // stdin -1: /dev/null
};

// Runs the container and returns the command's exit status (128+N for signal N).
// Errors, checked before anything is created: InvalidInput for a relative workdir, a bad
// name or a name in use, "no command specified". After the container exists: the setup
// step that failed, or NotFound/Io when the command cannot be executed (the record then
// says "created" with exit code 127/126, as Docker keeps it); Cancelled when `hoist rm -f`
// or a signal stopped it (recorded as exited 137).
layers::Result<int> run_container(const layers::Store& store, const layers::Image& image,
                                  const ContainerRequest& request);

}  // namespace runtime
