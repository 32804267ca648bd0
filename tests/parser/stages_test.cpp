#include <catch2/catch.hpp>

#include "parser/dockerfile.h"
#include "parser/stages.h"

namespace {

parser::StageGraph graph_of(const std::string& text) {
  parser::ParseResult result = parser::parse_dockerfile(text, "Dockerfile");
  REQUIRE_FALSE(parser::has_errors(result.diagnostics));
  return parser::StageGraph::build(result.file, "Dockerfile");
}

std::string first_error(const std::vector<parser::Diagnostic>& diagnostics) {
  for (const parser::Diagnostic& d : diagnostics)
    if (d.is_error()) return parser::format_headline(d);
  return "";
}

std::string join(const std::vector<int>& v) {
  std::string out;
  for (int i : v) out += (out.empty() ? "" : " ") + std::to_string(i);
  return out;
}

const char* kMultiStage =
    "ARG GO=1.22\n"                                   // 1
    "FROM golang:${GO} AS Build\n"                    // 2  stage 0
    "RUN go build -o /out/app .\n"                    // 3
    "FROM debian:12 AS assets\n"                      // 4  stage 1
    "RUN --mount=type=cache,from=build,target=/c x\n" // 5
    "FROM build AS test\n"                            // 6  stage 2
    "RUN go test ./...\n"                             // 7
    "FROM scratch\n"                                  // 8  stage 3
    "COPY --from=BUILD /out/app /app\n"               // 9
    "COPY --from=1 /etc/ssl /etc/ssl\n"               // 10
    "COPY --from=nginx:latest /etc/nginx /etc/nginx\n";  // 11

}  // namespace

TEST_CASE("stages: names, bases and global ARGs", "[parser][stages]") {
  parser::StageGraph graph = graph_of(kMultiStage);
  CHECK(first_error(graph.diagnostics) == "");
  REQUIRE(graph.stages.size() == 4);
  REQUIRE(graph.global_args.size() == 1);
  CHECK(graph.global_args[0].args == std::vector<std::string>{"GO=1.22"});
  auto [index, name, base, line, instructions] =
      GENERATE(table<int, std::string, std::string, int, size_t>({
          {0, "build", "golang:${GO}", 2, 1},
          {1, "assets", "debian:12", 4, 1},
          {2, "test", "build", 6, 1},
          {3, "", "scratch", 8, 3},
      }));
  CAPTURE(index);
  const parser::Stage& stage = graph.stages[index];
  CHECK(stage.index == index);
  CHECK(stage.name == name);
  CHECK(stage.base == base);
  CHECK(stage.line == line);
  CHECK(stage.instructions.size() == instructions);
}

TEST_CASE("stages: lookup by name (any case) or index; other names are images",
          "[parser][stages]") {
  parser::StageGraph graph = graph_of(kMultiStage);
  auto [query, expected] = GENERATE(table<std::string, int>({
      {"build", 0},
      {"BUILD", 0},
      {"Assets", 1},
      {"2", 2},
      {"3", 3},
      {"4", -1},
      {"nginx:latest", -1},
      {"", -1},
  }));
  CAPTURE(query);
  const parser::Stage* stage = graph.find(query);
  CHECK((stage ? stage->index : -1) == expected);
}

TEST_CASE("stages: dependencies from FROM, COPY --from and RUN --mount=from=",
          "[parser][stages]") {
  parser::StageGraph graph = graph_of(kMultiStage);
  auto [stage, dependency, kind, target, reference, line] =
      GENERATE(table<int, size_t, parser::StageDependency::Kind, int, std::string, int>({
          {0, 0, parser::StageDependency::Kind::Base, -1, "golang:${GO}", 2},
          {1, 1, parser::StageDependency::Kind::MountFrom, 0, "build", 5},
          {2, 0, parser::StageDependency::Kind::Base, 0, "build", 6},
          {3, 0, parser::StageDependency::Kind::Base, -1, "scratch", 8},
          {3, 1, parser::StageDependency::Kind::CopyFrom, 0, "BUILD", 9},
          {3, 2, parser::StageDependency::Kind::CopyFrom, 1, "1", 10},
          {3, 3, parser::StageDependency::Kind::CopyFrom, -1, "nginx:latest", 11},
      }));
  CAPTURE(stage, dependency);
  REQUIRE(graph.stages[stage].dependencies.size() > dependency);
  const parser::StageDependency& dep = graph.stages[stage].dependencies[dependency];
  CHECK(dep.kind == kind);
  CHECK(dep.stage == target);
  CHECK(dep.reference == reference);
  CHECK(dep.line == line);
}

TEST_CASE("stages: --target resolves to the stages it needs", "[parser][stages]") {
  parser::StageGraph graph = graph_of(kMultiStage);
  auto [target, expected_target, stages, error] =
      GENERATE(table<std::string, int, std::string, std::string>({
          {"", 3, "0 1 3", ""},
          {"build", 0, "0", ""},
          {"TEST", 2, "0 2", ""},
          {"assets", 1, "0 1", ""},
          {"biuld", -1, "",
           R"(Dockerfile: target stage "biuld" could not be found (did you mean "build"?))"},
          {"prod", -1, "", R"(Dockerfile: target stage "prod" could not be found)"},
      }));
  CAPTURE(target);
  parser::TargetStages resolved = graph.resolve_target(target);
  CHECK(resolved.target == expected_target);
  CHECK(join(resolved.stages) == stages);
  CHECK(first_error(resolved.diagnostics) == error);
}

TEST_CASE("stages: a later stage may be copied from; it comes first in the build order",
          "[parser][stages]") {
  parser::StageGraph graph =
      graph_of("FROM alpine AS a\nCOPY --from=b /x /x\nFROM alpine AS b\nRUN touch /x\n");
  CHECK(first_error(graph.diagnostics) == "");
  CHECK(join(graph.resolve_target("a").stages) == "1 0");
}

TEST_CASE("stages: FROM sees only earlier stages", "[parser][stages]") {
  // `FROM b` before stage b exists names an image called b, as in Docker.
  parser::StageGraph graph = graph_of("FROM b AS a\nFROM alpine AS b\n");
  CHECK(first_error(graph.diagnostics) == "");
  CHECK(graph.stages[0].dependencies[0].stage == -1);
}

TEST_CASE("stages: structure errors name the line", "[parser][stages][errors]") {
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      {"ARG A\nRUN x\nFROM a", "Dockerfile:2: no build stage in current context"},
      {"FROM a b", "Dockerfile:1: FROM requires either one or three arguments"},
      {"FROM a AS b c", "Dockerfile:1: FROM requires either one or three arguments"},
      {"FROM a TO b", "Dockerfile:1: FROM requires either one or three arguments"},
      {"FROM", "Dockerfile:1: FROM requires either one or three arguments"},
      {"FROM a AS 1st",
       R"(Dockerfile:1: invalid name for build stage: "1st", name can't start with a number or contain symbols)"},
      {"FROM a AS my/stage",
       R"(Dockerfile:1: invalid name for build stage: "my/stage", name can't start with a number or contain symbols)"},
      {"FROM a\nCOPY --from=1 /x /x", "Dockerfile:2: invalid stage index 1"},
      {"FROM a\nCOPY --from=-1 /x /x", "Dockerfile:2: invalid stage index -1"},
      {"FROM a AS x\nCOPY --from=x /a /a", "Dockerfile:2: circular dependency detected on stage: x"},
      {"FROM a\nCOPY --from=0 /a /a", "Dockerfile:2: circular dependency detected on stage: stage-0"},
      // COPY --from a later stage that is itself built on this one: a cycle, not a hang.
      {"FROM alpine AS a\nCOPY --from=b /x /x\nFROM a AS b\n",
       "Dockerfile:2: circular dependency detected on stage: a"},
      {"FROM alpine AS a\nRUN --mount=from=c,target=/c x\nFROM alpine AS b\nCOPY --from=a / /\n"
       "FROM b AS c\n",
       "Dockerfile:2: circular dependency detected on stage: a"},
  }));
  CAPTURE(text);
  CHECK(first_error(graph_of(text).diagnostics) == expected);
}

TEST_CASE("stages: a repeated stage name is a warning; the last one wins", "[parser][stages]") {
  parser::StageGraph graph = graph_of("FROM a AS x\nFROM b AS X\nFROM c\nCOPY --from=x / /\n");
  CHECK(first_error(graph.diagnostics) == "");
  REQUIRE(graph.diagnostics.size() == 1);
  CHECK(graph.diagnostics[0].line == 2);
  CHECK(graph.find("x")->index == 1);
  CHECK(graph.stages[2].dependencies[1].stage == 1);
}

TEST_CASE("stages: FROM and --from are looked up after expansion", "[parser][stages]") {
  parser::ParseResult result = parser::parse_dockerfile(
      "ARG BASE=build\nFROM alpine AS build\nFROM ${BASE}\nCOPY --from=$SRC / /\n", "Dockerfile");
  parser::StageExpansion expansion;
  expansion.expand_base = [](std::string_view raw) {
    return raw == "${BASE}" ? std::string("build") : std::string(raw);
  };
  expansion.expand_from = [](std::string_view raw, int stage) {
    return raw == "$SRC" && stage == 1 ? std::string("0") : std::string(raw);
  };
  parser::StageGraph graph = parser::StageGraph::build(result.file, "Dockerfile", expansion);
  CHECK(first_error(graph.diagnostics) == "");
  REQUIRE(graph.stages.size() == 2);
  CHECK(graph.stages[1].base == "${BASE}");
  CHECK(graph.stages[1].dependencies[0].stage == 0);
  CHECK(graph.stages[1].dependencies[1].stage == 0);
  CHECK(graph.stages[1].dependencies[1].reference == "0");
}
