#pragma once
// One build stage: the state it carries (image config, layers, ARG scope, cache key) and
// the dispatch of each instruction to the code that runs it, with a cache lookup before
// every step and a history entry after it.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "builder/build.h"
#include "builder/cache.h"
#include "builder/context.h"
#include "builder/progress.h"
#include "runtime/executor.h"
#include "layers/image.h"
#include "layers/store.h"
#include "parser/ast.h"
#include "parser/build_args.h"
#include "parser/stages.h"

namespace builder {

struct StageState {
  layers::ImageConfig config;
  std::vector<layers::Descriptor> layers;  // parallel to config.diff_ids
  parser::ArgScope args;
  layers::Digest key = layers::Digest::of("");  // the cache key of the last step
  bool sets_cmd = false;                        // CMD was set in this stage
  // The cache records of this stage's steps and of the stages it is FROM, by key: what
  // --cache-to mode=min exports for the final stage (builder/shared_cache.h).
  std::map<layers::Digest, CacheRecord> records;
};

// What every stage of one build shares.
struct BuildSession {
  const BuildOptions& options;
  layers::Store& store;
  BuildCache cache;
  Progress& progress;
  const BuildContext& context;
  parser::BuildArgs& build_args;
  const parser::ArgScope& global_scope;  // the ARGs before the first FROM
  parser::Vars global_vars;              // what FROM lines expand with
  const parser::StageGraph& graph;
  char escape = '\\';
  std::string display_name;            // "Dockerfile"
  std::optional<int64_t> source_date_epoch;
  std::string scratch_dir;             // for temp dirs, on the store's filesystem
  std::map<int, StageState> finished;  // by stage index
  int next_step = 1;
  int cached_steps = 0;
  int total_stages = 0;
  runtime::SnapshotterChoice snapshotter;            // --snapshotter / HOIST_SNAPSHOTTER
  std::optional<runtime::RunExecutor> run_executor;  // decided at the first RUN that runs
  // --build-context: named directories (opened with their own .dockerignore) and images.
  std::map<std::string, BuildContext> named_dirs;
  std::map<std::string, std::string> named_images;

  // RFC 3339 time for a new history entry.
  std::string now() const;
};

// Ctrl-C between steps: build() installs a SIGINT/SIGTERM handler that calls
// request_cancel(); every stage checks cancel_requested() before each step and stops with
// Cancelled. (A RUN is stopped at once by the sandbox, which takes the signals itself.)
void request_cancel();
bool cancel_requested();
void reset_cancel();

// Runs stage `index` of session.graph and stores its final state in session.finished.
// Errors name the file, line and instruction.
layers::Result<void> run_stage(BuildSession& session, int index);

// The image named by `name` (FROM or COPY --from): from the store, or pulled through the
// registry when the store lacks it (or always, with --pull).
layers::Result<layers::Image> find_image(BuildSession& session, const std::string& name);

}  // namespace builder
