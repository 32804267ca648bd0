#include "builder/run_step.h"

#include <sys/stat.h>
#include <unistd.h>

#include "runtime/layer_dirs.h"
#include "runtime/rootless.h"
#include "runtime/sandbox/temp_dir.h"
#include "layers/blob_store.h"
#include "layers/overlay_diff.h"
#include "layers/tree_index.h"
#include "layers/tar_writer.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

Result<LayerResult> store_layer(const layers::Store& store, const layers::TreeDiff& diff,
                                const LayerWriteOptions& options) {
  return store_written_layer(
      store, [&diff](const layers::WriteOptions& o, layers::ByteSink out) { return layers::write_layer(diff, o, std::move(out)); },
      diff.entries.empty(), options);
}

Result<LayerResult> store_written_layer(const layers::Store& store, const LayerWrite& write, bool is_empty,
                                        const LayerWriteOptions& options) {
  // The tar is hashed once, by the layer writer (its digest is the diff_id). It goes to
  // disk past the page cache (layers/blob_store.h, PageCache): a build does not read it.
  auto writer = store.blobs().begin_write(layers::Hashing::ByCaller, layers::PageCache::Bypass);
  if (!writer) return std::move(writer).error();
  layers::BlobWriter& blob = *writer;
  layers::WriteOptions write_options;
  write_options.compression = layers::Compression::None;
  write_options.source_date_epoch = options.source_date_epoch;
  auto digests = write(write_options, [&blob](std::span<const std::byte> data) { return blob.write(data); });
  if (!digests) return std::move(digests).error().context("writing the layer");
  auto digest = blob.commit(digests->digest);
  if (!digest) return std::move(digest).error().context("storing the layer");
  LayerResult result;
  result.layer.media_type = std::string(layers::oci_layer_media_type(layers::Compression::None));
  result.layer.digest = *digest;
  result.layer.size = static_cast<int64_t>(digests->size);
  result.diff_id = digests->diff_id;
  result.is_empty = is_empty;
  return result;
}

namespace {

runtime::sandbox::SandboxSpec spec_for(const RunRequest& request) {
  runtime::sandbox::SandboxSpec spec;
  spec.argv = request.argv;
  spec.env = request.env;
  spec.cwd = request.cwd.empty() ? "/" : request.cwd;
  spec.user = request.user;
  spec.network = request.network;
  spec.privileged = request.privileged;
  spec.hostname = "buildkitsandbox";
  spec.on_output = request.on_output;
  spec.cancel_fd = request.cancel_fd;
  spec.step_mounts = request.mounts;
  return spec;
}

// The copy executor: the command changes the copy in place, and the layer is what
// changed since the copy's index.
Result<RunOutcome> run_on_copy(const layers::Store& store, const RunRequest& request,
                               const LayerWriteOptions& options) {
  RootCopy& copy = *request.root_copy;
  runtime::sandbox::SandboxSpec spec = spec_for(request);
  spec.rootfs_dir = copy.path();
  spec.scratch_dir = request.scratch_dir;
  spec.chroot_only = request.chroot_only;
  copy.begin_change();
  auto status = runtime::sandbox::run(spec);
  if (!status) return std::move(status).error();
  RunOutcome outcome;
  outcome.exit_code = *status;
  if (*status != 0) return outcome;

  // chroot_only wrote the /etc files into the copy and put the image's back: their ctime
  // moved, but they never belong to the layer (bind mounts keep them out otherwise).
  std::vector<std::string> ignored;
  if (request.chroot_only)
    ignored.assign(std::begin(runtime::sandbox::kChrootEtcFiles), std::end(runtime::sandbox::kChrootEtcFiles));
  auto diff = layers::diff_and_reindex(copy.index(), {}, ignored);
  if (!diff) return std::move(diff).error().context("reading the changes");
  auto layer = store_layer(store, diff->diff, options);
  if (!layer) return std::move(layer).error();
  std::vector<layers::Digest> diff_ids = copy.diff_ids();
  if (!layer->is_empty) diff_ids.push_back(layer->diff_id);
  copy.record(std::move(diff_ids), std::move(diff->after));
  outcome.layer = *layer;
  return outcome;
}

}  // namespace

Result<RunOutcome> run_step(const layers::Store& store, const RunRequest& request,
                            const LayerWriteOptions& options) {
  if (request.root_copy) return run_on_copy(store, request, options);
  auto temp = runtime::sandbox::TempDir::create_in(request.scratch_dir, "run-");
  if (!temp) return std::move(temp).error();
  std::string upper = temp->path() + "/upper";
  std::string work = temp->path() + "/work";
  for (const auto& dir : {upper, work})
    if (::mkdir(dir.c_str(), 0755) != 0) return Error::from_errno("creating " + layers::quoted(dir));

  runtime::sandbox::SandboxSpec spec = spec_for(request);
  spec.lower_dirs = request.lower_dirs;
  spec.upper_dir = upper;
  spec.work_dir = work;
  spec.scratch_dir = temp->path();
  auto status = runtime::sandbox::run(spec);
  if (!status) return std::move(status).error();
  RunOutcome outcome;
  outcome.exit_code = *status;
  if (*status != 0) return outcome;

  auto diff = layers::diff_overlay_upper(upper);
  if (!diff) return std::move(diff).error().context("reading the changes");
  // Copy-ups that changed nothing (a file opened for writing and left alone) are no part
  // of the layer, as they are none for the copy executor (layers/same_entry.h).
  const runtime::LayerView lowers(request.lower_dirs);
  auto dropped = layers::drop_unchanged_copy_ups(
      *diff, [&](const std::string& rel) { return lowers.host_path(rel); });
  if (!dropped) return std::move(dropped).error().context("reading the changes");
  auto layer = store_layer(store, *diff, options);
  if (!layer) return std::move(layer).error();
  // The upper dir, without the copies dropped above, is the layer in overlay form: keep it
  // as the unpacked layer, so the next RUN does not unpack what this one just wrote.
  bool is_layer = true;
  for (const auto& rel : *dropped) {
    const std::string path = upper + "/" + rel;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 ||
        (S_ISDIR(st.st_mode) ? ::rmdir(path.c_str()) : ::unlink(path.c_str())) != 0) {
      is_layer = false;
      break;
    }
  }
  if (is_layer) runtime::adopt_unpacked(store, upper, layer->diff_id);
  outcome.layer = *layer;
  return outcome;
}

Result<runtime::RunExecutor> executor_for_build(std::optional<runtime::RunExecutor>& decided,
                                       const runtime::SnapshotterChoice& choice,
                                       const std::string& scratch_dir, Progress& progress, int step) {
  if (decided) return *decided;
  auto chosen = runtime::choose_run_executor(choice, scratch_dir);
  if (!chosen) return std::move(chosen).error();
  progress.step_note(step, "RUN executor: " + chosen->description);
  if (std::string rootless = runtime::describe_rootless(); !rootless.empty()) progress.step_note(step, rootless);
  decided = *chosen;
  return *chosen;
}

}  // namespace builder
