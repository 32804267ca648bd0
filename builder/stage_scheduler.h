#pragma once
// Which stage runs when: the stages a target needs, up to `jobs` at once, each as soon as
// the stages it needs are built. What a stage needs is parser::StageGraph's edges: its
// FROM <stage>, COPY --from=<stage> and RUN --mount=...,from=<stage>. Independent stages
// run at the same time on up to `jobs` threads, the calling one included; with jobs 1 the
// stages run one after another, in the order given, on the calling thread.
//
// The first stage to fail stops the build: its error is kept, the build's CancelToken is
// requested (so the other stages stop at their next step, and a running RUN at once), no
// further stage starts, and run() returns that error once every running stage has
// returned. A stage that was merely cancelled never hides the failure that caused it.

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "builder/cancel.h"
#include "layers/error.h"
#include "parser/stages.h"

namespace builder {

class StageScheduler {
 public:
  // Builds stage `index` (of the graph); called on any of the scheduler's threads.
  using RunStage = std::function<layers::Result<void>(int index)>;

  // `order`: the stages to build, each after those it needs (parser::TargetStages).
  StageScheduler(const parser::StageGraph& graph, std::vector<int> order, int jobs, CancelToken& cancel);

  // Builds every stage of the order with `run_stage`; the first failure's error.
  layers::Result<void> run(const RunStage& run_stage);

  // Returns once stage `index` is built, for a stage that needs it where the graph showed
  // no edge (a --from value named by the stage's own ARG or ENV): waits while another
  // thread builds it, and builds it on this thread when it has not started. NotFound when
  // the build does not include it; Cancelled when it failed or was not built because the
  // build stopped; InvalidInput when this thread is building it (a stage that needs itself).
  layers::Result<void> await(int index);

 private:
  enum class State { Pending, Running, Done, Failed };

  void work();
  // Runs a stage this thread claimed, after the stages it needs, and records the outcome.
  layers::Result<void> execute(int index);
  // The first pending stage whose needs are built, or -1. The caller holds mutex_.
  int next_ready() const;

  const parser::StageGraph& graph_;
  std::vector<int> order_;
  int jobs_;
  CancelToken& cancel_;
  const RunStage* run_stage_ = nullptr;
  std::map<int, std::vector<int>> needs_;  // by stage index

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int, State> states_;
  std::map<int, std::thread::id> builders_;  // the thread building each running stage
  std::optional<layers::Error> first_error_;
};

}  // namespace builder
