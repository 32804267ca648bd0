#pragma once
// One build stage: the state it carries (image config, layers, ARG scope, cache key) and
// the dispatch of each instruction to the code that runs it, with a cache lookup before
// every step and a history entry after it.

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "builder/build.h"
#include "builder/cache.h"
#include "builder/cancel.h"
#include "builder/context.h"
#include "builder/progress.h"
#include "builder/stage_scheduler.h"
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

// What every stage of one build shares. Stages may run at once on several threads
// (builder/stage_scheduler.h), so what they change here is guarded: the built stages
// behind finish_stage()/finished_stage(), the RUN executor behind executor_mutex, ARG's
// record of the build args it used behind args_mutex, counters atomic. The rest is set
// before the first stage starts and only read after: the options, the graph, the step
// numbers, the base images, the named contexts. Progress, the store (whose writes are
// atomic renames), the unpacked layers and the BuildCache are safe to use from any thread.
struct BuildSession {
  const BuildOptions& options;
  layers::Store& store;
  BuildCache cache;
  Progress& progress;
  CancelToken& cancel;
  const BuildContext& context;
  parser::BuildArgs& build_args;
  const parser::ArgScope& global_scope;  // the ARGs before the first FROM
  parser::Vars global_vars;              // what FROM lines expand with
  const parser::StageGraph& graph;
  char escape = '\\';
  std::string display_name;            // "Dockerfile"
  std::optional<int64_t> source_date_epoch;
  std::string scratch_dir;             // for temp dirs, on the store's filesystem
  int total_stages = 0;
  // The number of each stage's FROM step, by stage index (plan_steps): steps are numbered
  // in the order a sequential build runs them, whichever stage starts first.
  std::map<int, int> first_step;
  // The images stages are FROM, by stage index, looked up once by plan_steps (their
  // ONBUILD triggers are steps too); an error is the stage's to report.
  std::map<int, layers::Result<layers::Image>> base_images;
  StageScheduler* scheduler = nullptr;  // set while the stages run
  std::atomic<int> steps = 0;
  std::atomic<int> cached_steps = 0;
  runtime::SnapshotterChoice snapshotter;            // --snapshotter / HOIST_SNAPSHOTTER
  std::mutex executor_mutex;                         // guards run_executor
  std::optional<runtime::RunExecutor> run_executor;  // decided at the first RUN that runs
  std::mutex args_mutex;                             // guards build_args (ARG marks them used)
  // --build-context: named directories (opened with their own .dockerignore) and images.
  std::map<std::string, BuildContext> named_dirs;
  std::map<std::string, std::string> named_images;

  // RFC 3339 time for a new history entry.
  std::string now() const;

  // Keeps a built stage's final state.
  void finish_stage(int index, StageState state);
  // The final state of stage `index` once built (see StageScheduler::await); NotFound
  // when this build does not build it.
  layers::Result<const StageState*> finished_stage(int index);

  // Every built stage's final state, by stage index: read directly only once the stages
  // have stopped running, else through the two functions above.
  std::map<int, StageState> finished;
  std::mutex finished_mutex;
};

// Numbers the steps of `order` (parser::TargetStages::stages) into session.first_step,
// counting a stage's FROM, its instructions and the ONBUILD triggers of its base; looks
// up the base images for that into session.base_images (pulling those the store lacks).
void plan_steps(BuildSession& session, const std::vector<int>& order);

// Runs stage `index` of session.graph and keeps its final state (finish_stage). Stops
// with Cancelled before a step once session.cancel is requested. Errors name the file,
// line and instruction.
layers::Result<void> run_stage(BuildSession& session, int index);

// The image named by `name` (FROM or COPY --from): from the store, or pulled through the
// registry when the store lacks it (or always, with --pull).
layers::Result<layers::Image> find_image(BuildSession& session, const std::string& name);

}  // namespace builder
