#pragma once
// The build stages of a Dockerfile and how they depend on each other, with Docker's rules
// for naming, lookup, `--target` and cycles.
//
// Raw text: FROM's image and --platform, and the values of COPY --from and
// RUN --mount=from=, are kept as written. Docker expands FROM (image and --platform) with
// the global ARGs (those before the first FROM) and --from values with the stage's own
// ARGs/ENV *before* it looks stages up, so a builder that supports `FROM ${BASE}` must pass
// a StageExpansion; without one, lookups use the text as written.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parser/ast.h"
#include "parser/diagnostic.h"

namespace parser {

struct StageDependency {
  enum class Kind { Base, CopyFrom, MountFrom };
  Kind kind = Kind::Base;
  int stage = -1;         // index of the stage depended on; -1 when `reference` is an image
  std::string reference;  // the text looked up (expanded when a StageExpansion was given)
  int line = 0;           // line of the FROM, COPY or RUN that made the dependency
};

struct Stage {
  int index = 0;
  std::string name;  // lower-cased as Docker stores it; "" when the stage has no AS name
  std::string base;  // FROM's image (or stage) text; see the header comment on expansion
  std::optional<std::string> platform;  // FROM --platform, as written
  int line = 0;                          // the FROM line
  std::vector<Instruction> instructions;  // after the FROM, up to the next FROM
  std::vector<StageDependency> dependencies;

  // "name", or "stage-N" for an unnamed stage, as Docker names stages in messages.
  std::string display_name() const;
};

struct StageExpansion {
  // Expands FROM's image and --platform with the global ARGs.
  std::function<std::string(std::string_view raw)> expand_base;
  // Expands a COPY --from / RUN --mount from= value within stage `stage_index`.
  std::function<std::string(std::string_view raw, int stage_index)> expand_from;
};

struct TargetStages {
  int target = -1;          // the stage asked for
  std::vector<int> stages;  // it and every stage it needs, each after those it needs
  std::vector<Diagnostic> diagnostics;  // an unknown target
};

class StageGraph {
 public:
  // Splits `file` into stages. Errors (in `diagnostics`, each with file and line):
  //   an instruction other than ARG before the first FROM ("no build stage in current
  //   context"); FROM with a wrong argument count or an invalid stage name; a numeric
  //   --from index that is not a stage; a dependency cycle (for example COPY --from a
  //   later stage that is itself built FROM this one). Warnings: a repeated stage name.
  // Docker rules kept here: names are case-insensitive; FROM sees only earlier stages
  // (a later name is an image); COPY --from and RUN --mount=from= see every stage, and a
  // name that is no stage is an image, not an error; COPY --from=N is stage N.
  static StageGraph build(const Dockerfile& file, std::string_view display_name,
                          const StageExpansion& expansion = {});

  std::vector<Instruction> global_args;  // the ARGs before the first FROM
  std::vector<Stage> stages;
  std::vector<Diagnostic> diagnostics;

  // The stage called `name_or_index` (case-insensitive), else the stage with that index;
  // nullptr when there is none. A repeated name finds the last stage with it.
  const Stage* find(std::string_view name_or_index) const;

  // The stages needed to build `target` ("" is the last stage, as without --target).
  // An unknown target is an error: `target stage "x" could not be found`.
  TargetStages resolve_target(std::string_view target) const;

 private:
  std::string display_name_;
};

}  // namespace parser
