#include "builder/stage_scheduler.h"

#include <algorithm>
#include <system_error>

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

StageScheduler::StageScheduler(const parser::StageGraph& graph, std::vector<int> order, int jobs, CancelToken& cancel)
    : graph_(graph), order_(std::move(order)), jobs_(std::max(1, jobs)), cancel_(cancel) {
  // Only earlier stages: a stage may use no later one (FROM cannot name one, and COPY
  // --from or RUN --mount=from a later stage fails when the step gets there), so every
  // wait, await() included, points to a lower index and none can close a cycle.
  for (int index : order_) {
    states_[index] = State::Pending;
    std::vector<int>& needs = needs_[index];
    for (const parser::StageDependency& dep : graph_.stages[static_cast<size_t>(index)].dependencies)
      if (dep.stage >= 0 && dep.stage < index && std::find(needs.begin(), needs.end(), dep.stage) == needs.end())
        needs.push_back(dep.stage);
  }
}

Result<void> StageScheduler::run(const RunStage& run_stage) {
  run_stage_ = &run_stage;
  // The calling thread is one of the workers. A thread the system refuses leaves the
  // build with fewer at once, never without one.
  const size_t threads = std::min(static_cast<size_t>(jobs_), order_.size());
  std::vector<std::thread> workers;
  for (size_t i = 1; i < threads; ++i) {
    try {
      workers.emplace_back([this] { work(); });
    } catch (const std::system_error&) {
      break;
    }
  }
  work();
  for (auto& worker : workers) worker.join();
  if (first_error_) return *first_error_;
  if (cancel_.is_requested()) return Error(ErrorKind::Cancelled, "build interrupted");
  return {};
}

int StageScheduler::next_ready() const {
  for (int index : order_) {
    if (states_.at(index) != State::Pending) continue;
    const auto& needs = needs_.at(index);
    if (std::all_of(needs.begin(), needs.end(), [&](int need) {
          auto state = states_.find(need);
          return state == states_.end() || state->second == State::Done;
        }))
      return index;
  }
  return -1;
}

void StageScheduler::work() {
  for (;;) {
    std::unique_lock lock(mutex_);
    int next = -1;
    changed_.wait(lock, [&] {
      if (first_error_ || cancel_.is_requested()) return true;
      next = next_ready();
      // Nothing to start: done when no stage is pending, else wait for a running one.
      return next >= 0 || std::none_of(states_.begin(), states_.end(),
                                       [](const auto& s) { return s.second == State::Pending; });
    });
    if (next < 0 || first_error_ || cancel_.is_requested()) return;
    states_[next] = State::Running;
    builders_[next] = std::this_thread::get_id();
    lock.unlock();
    (void)execute(next);
  }
}

Result<void> StageScheduler::execute(int index) {
  Result<void> outcome;
  for (int need : needs_.at(index)) {
    if (auto r = await(need); !r) {
      outcome = std::move(r).error();
      break;
    }
  }
  if (outcome) outcome = (*run_stage_)(index);
  std::lock_guard lock(mutex_);
  states_[index] = outcome ? State::Done : State::Failed;
  builders_.erase(index);
  if (!outcome && !first_error_) {
    first_error_ = outcome.error();
    cancel_.request();
  }
  changed_.notify_all();
  return outcome;
}

Result<void> StageScheduler::await(int index) {
  const std::string name = graph_.stages[static_cast<size_t>(index)].display_name();
  std::unique_lock lock(mutex_);
  auto state = states_.find(index);
  if (state == states_.end()) return Error(ErrorKind::NotFound, "stage " + layers::quoted(name) + " was not built");
  if (state->second == State::Pending) {
    if (first_error_ || cancel_.is_requested()) return Error(ErrorKind::Cancelled, "build interrupted");
    state->second = State::Running;
    builders_[index] = std::this_thread::get_id();
    lock.unlock();
    return execute(index);
  }
  if (state->second == State::Running && builders_.at(index) == std::this_thread::get_id())
    return Error(ErrorKind::InvalidInput, "stage " + layers::quoted(name) + " needs itself");
  changed_.wait(lock, [&] { return state->second != State::Running; });
  if (state->second == State::Failed)
    return Error(ErrorKind::Cancelled, "stage " + layers::quoted(name) + " failed");
  return {};
}

}  // namespace builder
