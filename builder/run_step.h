#pragma once
// RUN: the command runs in the sandbox over the image's unpacked layers, and the overlay
// upper dir it leaves becomes the step's layer, so a RUN's cost follows what it changed,
// not the size of the image. Where overlayfs cannot be mounted, the copy executor runs it
// on a RootCopy instead and the layer is the diff against the copy's index.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/progress.h"
#include "builder/root_copy.h"
#include "runtime/executor.h"
#include "runtime/sandbox/sandbox.h"
#include "layers/compress.h"
#include "layers/diff.h"
#include "layers/error.h"
#include "layers/image.h"
#include "layers/store.h"
#include "layers/tar_writer.h"

namespace builder {

struct RunRequest {
  std::vector<std::string> argv;      // shell + command, or the JSON form
  std::vector<std::string> env;       // the container's whole environment
  std::string cwd = "/";
  std::string user;                   // USER spec, resolved inside the container
  runtime::sandbox::Network network = runtime::sandbox::Network::Default;
  bool privileged = false;              // RUN --security=insecure (SandboxSpec::privileged)
  std::vector<std::string> lower_dirs;  // unpacked layers, top-most first (overlay executor)
  // The copy executor: the stage's root, synced to the image's layers; run_step runs the
  // command in it and leaves it holding the result (or invalidated, on failure).
  RootCopy* root_copy = nullptr;
  bool chroot_only = false;  // with root_copy: no namespaces here (runtime::RunExecutor::chroot)
  std::vector<runtime::sandbox::StepMount> mounts;  // RUN --mount (builder/run_mounts.h)
  std::string scratch_dir;              // on the store's filesystem
  std::function<void(int stream, std::string_view bytes)> on_output;
  int cancel_fd = -1;  // readable: stop the command (the build's CancelToken); -1: none
};

struct LayerResult {
  layers::Descriptor layer;
  layers::Digest diff_id = layers::Digest::of("");
  bool is_empty = false;  // the command changed nothing
};

struct RunOutcome {
  int exit_code = 0;
  std::optional<LayerResult> layer;  // set when exit_code is 0
};

struct LayerWriteOptions {
  std::optional<int64_t> source_date_epoch;
};

// Runs the command. A non-zero exit is not an Error (the caller names the step): it comes
// back as exit_code with no layer, and the upper dir is discarded. Setup failures and
// cancellation (Cancelled) are Errors; nothing stays mounted either way.
layers::Result<RunOutcome> run_step(const layers::Store& store, const RunRequest& request,
                                    const LayerWriteOptions& options);

// Writes the layer for `diff` into the store's blobs, uncompressed (media type
// application/vnd.oci.image.layer.v1.tar, its digest is its diff_id): tar and one sha256
// pass, nothing more before the build goes on. It is compressed when it leaves the machine
// (layers/compressed_layers.h).
layers::Result<LayerResult> store_layer(const layers::Store& store, const layers::TreeDiff& diff,
                                        const LayerWriteOptions& options);

// The same for a layer `write` writes (given the tar writer's options and the sink);
// `is_empty` when it holds no entry.
using LayerWrite = std::function<layers::Result<layers::LayerDigests>(const layers::WriteOptions&, layers::ByteSink)>;
layers::Result<LayerResult> store_written_layer(const layers::Store& store, const LayerWrite& write, bool is_empty,
                                                const LayerWriteOptions& options);

// A build's executor: `decided` when set, else chosen now, kept in `decided` and announced
// once through `progress` as "#STEP RUN executor: <description>" (the step that chose it).
layers::Result<runtime::RunExecutor> executor_for_build(std::optional<runtime::RunExecutor>& decided,
                                               const runtime::SnapshotterChoice& choice,
                                               const std::string& scratch_dir, Progress& progress, int step);

}  // namespace builder
