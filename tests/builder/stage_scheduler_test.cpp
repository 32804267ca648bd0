// builder::StageScheduler on real stage graphs (parser::StageGraph), with stages that
// record what they see instead of building.

#include "builder/stage_scheduler.h"

#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "parser/dockerfile.h"

namespace {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

parser::StageGraph graph_of(const std::string& text) {
  auto parsed = parser::parse_dockerfile(text, "Dockerfile");
  REQUIRE(!parser::has_errors(parsed.diagnostics));
  auto graph = parser::StageGraph::build(parsed.file, "Dockerfile");
  REQUIRE(!parser::has_errors(graph.diagnostics));
  return graph;
}

// A scheduler of the stages `text`'s target needs (or of `order`), with its own cancel token.
struct Scheduled {
  Scheduled(const std::string& text, int jobs, std::optional<std::vector<int>> order = std::nullopt)
      : graph(graph_of(text)) {
    REQUIRE(cancel.open());
    scheduler.emplace(graph, order ? *order : graph.resolve_target("").stages, jobs, cancel);
  }
  parser::StageGraph graph;
  builder::CancelToken cancel;
  std::optional<builder::StageScheduler> scheduler;
};

// What the stages did, in the order they did it: "+N" when stage N started, "-N" when it ended.
class Journal {
 public:
  void add(std::string event) {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  std::vector<std::string> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  size_t position(const std::string& event) {
    auto all = events();
    return static_cast<size_t>(std::find(all.begin(), all.end(), event) - all.begin());
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> events_;
};

const char* kDiamond =
    "FROM busybox AS base\n"
    "FROM base AS left\n"
    "FROM base AS right\n"
    "FROM busybox AS alone\n"
    "FROM busybox\n"
    "COPY --from=left / /l\n"
    "COPY --from=right / /r\n"
    "COPY --from=alone / /a\n";

}  // namespace

TEST_CASE("stage scheduler: jobs 1 builds the target's stages in order on the calling thread",
          "[builder][parallel][scheduler]") {
  Scheduled s(kDiamond, 1);
  std::vector<int> ran;
  const auto caller = std::this_thread::get_id();
  auto r = s.scheduler->run([&](int index) -> Result<void> {
    CHECK(std::this_thread::get_id() == caller);
    ran.push_back(index);
    return {};
  });
  CHECK(r);
  CHECK(ran == s.graph.resolve_target("").stages);
}

TEST_CASE("stage scheduler: with jobs 4 each stage starts after the stages it needs have ended",
          "[builder][parallel][scheduler]") {
  Scheduled s(kDiamond, 4);
  Journal journal;
  auto r = s.scheduler->run([&](int index) -> Result<void> {
    journal.add("+" + std::to_string(index));
    journal.add("-" + std::to_string(index));
    return {};
  });
  CHECK(r);
  CHECK(journal.events().size() == 10);
  auto [stage, need] = GENERATE(table<int, int>({{1, 0}, {2, 0}, {4, 1}, {4, 2}, {4, 3}}));
  CAPTURE(stage, need);
  CHECK(journal.position("-" + std::to_string(need)) < journal.position("+" + std::to_string(stage)));
}

TEST_CASE("stage scheduler: the first failure cancels the others and is the error returned",
          "[builder][parallel][scheduler]") {
  Scheduled s(
      "FROM busybox AS waits\n"
      "FROM busybox AS fails\n"
      "FROM busybox\n"
      "COPY --from=waits / /w\n"
      "COPY --from=fails / /f\n",
      2);
  builder::CancelToken& cancel = s.cancel;
  Journal journal;
  auto r = s.scheduler->run([&](int index) -> Result<void> {
    journal.add("+" + std::to_string(index));
    if (index == 1) return Error(ErrorKind::InvalidInput, "stage 1 broke");
    // Stage 0 runs until the build is cancelled (bounded, so a bug fails instead of hanging).
    for (int i = 0; i < 3000 && !cancel.is_requested(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return cancel.is_requested() ? Result<void>(Error(ErrorKind::Cancelled, "stage 0 stopped")) : Result<void>();
  });
  REQUIRE(!r);
  CHECK(r.error().message() == "stage 1 broke");
  CHECK(cancel.is_requested());
  CHECK(journal.position("+2") == journal.events().size());  // the final stage never started
}

TEST_CASE("stage scheduler: await builds a stage that has not started on the calling thread",
          "[builder][parallel][scheduler]") {
  // `copies` needs `makes` through a --from the graph cannot see (a stage ARG names it).
  Scheduled s(
      "FROM busybox AS makes\n"
      "FROM busybox AS copies\n"
      "ARG SOURCE=makes\n"
      "COPY --from=${SOURCE} / /\n",
      1, std::vector<int>{1, 0});
  builder::StageScheduler& scheduler = *s.scheduler;
  Journal journal;
  auto r = scheduler.run([&](int index) -> Result<void> {
    journal.add("+" + std::to_string(index));
    if (index == 1) {
      if (auto waited = scheduler.await(0); !waited) return waited;
      CHECK(scheduler.await(0));  // built once
    }
    journal.add("-" + std::to_string(index));
    return {};
  });
  CHECK(r);
  CHECK(journal.events() == std::vector<std::string>{"+1", "+0", "-0", "-1"});
  CHECK(scheduler.await(0));
}
