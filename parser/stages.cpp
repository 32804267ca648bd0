#include "parser/stages.h"

#include <algorithm>
#include <set>

#include "parser/ascii.h"
#include "parser/suggest.h"

namespace parser {

namespace {

// Docker's stage name pattern, on the lower-cased name: ^[a-z][a-z0-9-_.]*$
bool is_valid_stage_name(std::string_view name) {
  if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

// Go's strconv.Atoi: an optional sign and decimal digits; anything else is not a number.
std::optional<long long> parse_index(std::string_view s) {
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    if (s.size() == 1) return std::nullopt;
  }
  size_t start = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (s.size() == start || s.size() - start > 18) return std::nullopt;
  long long value = 0;
  for (size_t i = start; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    value = value * 10 + (s[i] - '0');
  }
  return s[0] == '-' ? -value : value;
}

// The from= field of a --mount value (type=cache,from=build,target=/x), if any.
std::optional<std::string> mount_from(std::string_view mount) {
  size_t start = 0;
  while (start <= mount.size()) {
    size_t comma = mount.find(',', start);
    std::string_view field =
        mount.substr(start, comma == std::string_view::npos ? mount.npos : comma - start);
    size_t eq = field.find('=');
    if (eq != std::string_view::npos && ascii_lower(field.substr(0, eq)) == "from")
      return std::string(field.substr(eq + 1));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return std::nullopt;
}

}  // namespace

std::string Stage::display_name() const {
  return name.empty() ? "stage-" + std::to_string(index) : name;
}

StageGraph StageGraph::build(const Dockerfile& file, std::string_view display_name,
                             const StageExpansion& expansion) {
  StageGraph graph;
  graph.display_name_ = std::string(display_name);
  // Carets go under the instruction word of the line's instruction.
  auto error = [&](int line, std::string message, Severity severity = Severity::Error) {
    int column = 0, length = 0;
    for (const Instruction& in : file.instructions)
      if (in.line == line) column = in.column, length = static_cast<int>(in.cmd.size());
    graph.diagnostics.push_back(
        {severity, graph.display_name_, line, column, length, std::move(message), {}});
  };
  // Stage lookup by name among stages [0, limit): the last one wins, as Docker's name map.
  auto by_name = [&](std::string_view name, size_t limit) -> int {
    std::string lower = ascii_lower(name);
    for (size_t i = std::min(limit, graph.stages.size()); i-- > 0;)
      if (!graph.stages[i].name.empty() && graph.stages[i].name == lower) return static_cast<int>(i);
    return -1;
  };

  for (const Instruction& in : file.instructions) {
    if (in.cmd == "from") {
      Stage stage;
      stage.index = static_cast<int>(graph.stages.size());
      stage.line = in.line;
      stage.platform = flag_value(in, "platform");
      if (in.args.size() == 3 && ascii_lower(in.args[1]) == "as") {
        stage.name = ascii_lower(in.args[2]);
        if (!is_valid_stage_name(stage.name)) {
          error(in.line, "invalid name for build stage: \"" + in.args[2] +
                             "\", name can't start with a number or contain symbols");
        } else if (by_name(stage.name, graph.stages.size()) >= 0) {
          error(in.line, "duplicate stage name \"" + stage.name + "\"", Severity::Warning);
        }
      } else if (in.args.size() != 1) {
        error(in.line, "FROM requires either one or three arguments");
      }
      stage.base = in.args.empty() ? std::string() : in.args[0];
      std::string base =
          expansion.expand_base ? expansion.expand_base(stage.base) : stage.base;
      int base_stage = by_name(base, graph.stages.size());
      stage.dependencies.push_back({StageDependency::Kind::Base, base_stage, base, in.line});
      graph.stages.push_back(std::move(stage));
      continue;
    }
    if (graph.stages.empty()) {
      if (in.cmd == "arg") {
        graph.global_args.push_back(in);
      } else {
        error(in.line, "no build stage in current context");
      }
      continue;
    }
    graph.stages.back().instructions.push_back(in);
  }

  // COPY --from and RUN --mount=from= may name any stage, earlier or later.
  for (Stage& stage : graph.stages) {
    auto expand = [&](const std::string& raw) {
      return expansion.expand_from ? expansion.expand_from(raw, stage.index) : raw;
    };
    for (const Instruction& in : stage.instructions) {
      if (in.cmd == "copy") {
        if (auto from = flag_value(in, "from"); from && !from->empty()) {
          std::string reference = expand(*from);
          int target = -1;
          if (auto index = parse_index(reference)) {
            if (*index < 0 || *index >= static_cast<long long>(graph.stages.size())) {
              error(in.line, "invalid stage index " + std::to_string(*index));
              continue;
            }
            target = static_cast<int>(*index);
          } else {
            target = by_name(reference, graph.stages.size());
          }
          stage.dependencies.push_back({StageDependency::Kind::CopyFrom, target, reference, in.line});
        }
      } else if (in.cmd == "run") {
        for (const std::string& mount : flag_values(in, "mount")) {
          auto from = mount_from(mount);
          if (!from || from->empty()) continue;
          std::string reference = expand(*from);
          stage.dependencies.push_back({StageDependency::Kind::MountFrom,
                                        by_name(reference, graph.stages.size()), reference,
                                        in.line});
        }
      }
    }
  }

  // Cycles: a depth-first walk from each stage in order; reaching a stage still on the path
  // closes a cycle. Like Docker, the message names the stage the walk started from; the
  // line is that of the first step of the path (often the COPY --from a later stage).
  enum class Mark { None, OnPath, Done };
  std::vector<Mark> marks(graph.stages.size(), Mark::None);
  bool found = false;
  int root = 0;
  std::function<void(int, int)> visit = [&](int s, int first_line) {
    marks[s] = Mark::OnPath;
    for (const StageDependency& dep : graph.stages[s].dependencies) {
      if (found || dep.stage < 0) continue;
      int line = s == root ? dep.line : first_line;
      if (marks[dep.stage] == Mark::OnPath) {
        found = true;
        error(line, "circular dependency detected on stage: " + graph.stages[root].display_name());
      } else if (marks[dep.stage] == Mark::None) {
        visit(dep.stage, line);
      }
    }
    marks[s] = Mark::Done;
  };
  for (size_t s = 0; s < graph.stages.size() && !found; ++s) {
    root = static_cast<int>(s);
    if (marks[s] == Mark::None) visit(root, 0);
  }
  return graph;
}

const Stage* StageGraph::find(std::string_view name_or_index) const {
  std::string lower = ascii_lower(name_or_index);
  for (size_t i = stages.size(); i-- > 0;)
    if (!stages[i].name.empty() && stages[i].name == lower) return &stages[i];
  if (auto index = parse_index(name_or_index))
    if (*index >= 0 && *index < static_cast<long long>(stages.size())) return &stages[*index];
  return nullptr;
}

TargetStages StageGraph::resolve_target(std::string_view target) const {
  TargetStages out;
  if (stages.empty()) {
    out.diagnostics.push_back({Severity::Error, display_name_, 0, 0, 0,
                               "no build stages: the Dockerfile has no FROM", {}});
    return out;
  }
  if (target.empty()) {
    out.target = static_cast<int>(stages.size()) - 1;
  } else {
    std::string lower = ascii_lower(target);
    for (size_t i = stages.size(); i-- > 0;)
      if (stages[i].name == lower) {
        out.target = static_cast<int>(i);
        break;
      }
    if (out.target < 0) {
      out.diagnostics.push_back({Severity::Error, display_name_, 0, 0, 0,
                                 "target stage \"" + std::string(target) + "\" could not be found",
                                 {}});
      std::vector<std::string_view> names;
      for (const Stage& stage : stages)
        if (!stage.name.empty()) names.push_back(stage.name);
      std::string hint = nearest(target, names);
      if (!hint.empty()) out.diagnostics.back().hint = "did you mean \"" + hint + "\"?";
      return out;
    }
  }
  // Post-order from the target: every stage comes after the stages it needs.
  std::vector<bool> seen(stages.size(), false);
  std::function<void(int)> visit = [&](int s) {
    seen[s] = true;
    for (const StageDependency& dep : stages[s].dependencies)
      if (dep.stage >= 0 && !seen[dep.stage]) visit(dep.stage);
    out.stages.push_back(s);
  };
  visit(out.target);
  return out;
}

}  // namespace parser
