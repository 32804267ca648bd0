#include "builder/run_step.h"

#include <sys/stat.h>

#include "builder/layer_dirs.h"
#include "builder/sandbox/temp_dir.h"
#include "layers/overlay_diff.h"
#include "layers/tar_writer.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

Result<LayerResult> store_layer(const layers::Store& store, const layers::TreeDiff& diff,
                                const LayerWriteOptions& options) {
  auto writer = store.blobs().begin_write();
  if (!writer) return std::move(writer).error();
  layers::BlobWriter& blob = *writer;
  layers::WriteOptions write_options;
  write_options.compression = options.compression;
  write_options.source_date_epoch = options.source_date_epoch;
  auto digests = layers::write_layer(diff, write_options,
                                     [&blob](std::span<const std::byte> data) { return blob.write(data); });
  if (!digests) return std::move(digests).error().context("writing the layer");
  auto digest = blob.commit(digests->digest);
  if (!digest) return std::move(digest).error().context("storing the layer");
  LayerResult result;
  result.layer.media_type = std::string(layers::oci_layer_media_type(options.compression));
  result.layer.digest = *digest;
  result.layer.size = static_cast<int64_t>(digests->size);
  result.diff_id = digests->diff_id;
  result.is_empty = diff.entries.empty();
  return result;
}

Result<RunOutcome> run_step(const layers::Store& store, const RunRequest& request,
                            const LayerWriteOptions& options) {
  auto temp = sandbox::TempDir::create_in(request.scratch_dir, "run-");
  if (!temp) return std::move(temp).error();
  std::string upper = temp->path() + "/upper";
  std::string work = temp->path() + "/work";
  for (const auto& dir : {upper, work})
    if (::mkdir(dir.c_str(), 0755) != 0) return Error::from_errno("creating " + layers::quoted(dir));

  sandbox::SandboxSpec spec;
  spec.lower_dirs = request.lower_dirs;
  spec.upper_dir = upper;
  spec.work_dir = work;
  spec.scratch_dir = temp->path();
  spec.argv = request.argv;
  spec.env = request.env;
  spec.cwd = request.cwd.empty() ? "/" : request.cwd;
  spec.user = request.user;
  spec.network = request.network;
  spec.hostname = "buildkitsandbox";
  spec.on_output = request.on_output;
  auto status = sandbox::run(spec);
  if (!status) return std::move(status).error();
  RunOutcome outcome;
  outcome.exit_code = *status;
  if (*status != 0) return outcome;

  auto diff = layers::diff_overlay_upper(upper);
  if (!diff) return std::move(diff).error().context("reading the changes");
  auto layer = store_layer(store, *diff, options);
  if (!layer) return std::move(layer).error();
  // The upper dir already is the layer in overlay form: keep it as the unpacked layer, so
  // the next RUN does not unpack what this one just wrote.
  adopt_unpacked(store, upper, layer->diff_id);
  outcome.layer = *layer;
  return outcome;
}

}  // namespace builder
