// The hoist binary's front door, run for real: `hoist parse` (its --json shape, -f FILE,
// -f -, the default ./Dockerfile, syntax errors, --strict), and the top-level --help,
// --version, COMMAND --help and usage errors (exit 2 with a did-you-mean).

#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "builder/cli/command.h"
#include "hoist_version.h"
#include "tests/builder/hoist_runner.h"

using hoist_test::HoistRunner;
using hoist_test::RunResult;
using hoist_test::TempDir;

namespace {

// Writes `text` to DIR/name and returns the path.
std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = dir.path() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// Every command in builder/cli/commands.cpp's table.
std::vector<std::string> command_names() {
  std::vector<std::string> names;
  for (const builder::cli::Command& c : builder::cli::commands()) names.emplace_back(c.name);
  return names;
}

const char* const kSmallDockerfile =
    "# syntax=docker/dockerfile:1\n"
    "FROM --platform=$BUILDPLATFORM debian:12 AS base\n"
    "RUN apt-get update && \\\n"
    "    apt-get install -y curl\n"
    "ENV A=1 B=\"two words\"\n"
    "COPY <<EOF /etc/motd\n"
    "hello $USER\n"
    "EOF\n"
    "CMD [\"sh\", \"-c\", \"echo hi\"]\n";

}  // namespace

TEST_CASE("hoist parse --json: the AST in exactly issue 2's shape", "[builder][hoist_cli]") {
  TempDir dir("hoist-cli");
  std::string dockerfile = write_file(dir, "Dockerfile", kSmallDockerfile);
  HoistRunner hoist;
  RunResult r = hoist.run({"parse", "--json", "-f", dockerfile});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());

  // ordered_json: equality below also checks the key order other tools may rely on.
  using Json = nlohmann::ordered_json;
  Json got = Json::parse(r.out, nullptr, false);
  REQUIRE_FALSE(got.is_discarded());
  auto instruction = [](std::string cmd, Json flags, Json args, bool json, int line, int end_line,
                        Json heredocs = Json::array()) {
    Json j;
    j["cmd"] = cmd;
    j["flags"] = flags;
    j["args"] = args;
    j["json"] = json;
    j["line"] = line;
    j["end_line"] = end_line;
    j["heredocs"] = heredocs;
    return j;
  };
  Json motd;
  motd["name"] = "EOF";
  motd["content"] = "hello $USER\n";
  motd["chomp"] = false;
  motd["expand"] = true;
  Json want;
  want["escape"] = "\\";
  want["directives"] = Json::object();
  want["directives"]["syntax"] = "docker/dockerfile:1";
  want["instructions"] = Json::array({
      instruction("from", {"--platform=$BUILDPLATFORM"}, {"debian:12", "AS", "base"}, false, 2, 2),
      instruction("run", Json::array(), {"apt-get update &&     apt-get install -y curl"}, false, 3,
                  4),
      instruction("env", Json::array(), {"A", "1", "B", "\"two words\""}, false, 5, 5),
      instruction("copy", Json::array(), {"<<EOF", "/etc/motd"}, false, 6, 8, Json::array({motd})),
      instruction("cmd", Json::array(), {"sh", "-c", "echo hi"}, true, 9, 9),
  });
  CHECK(got.dump(2) == want.dump(2));
  CHECK(got == want);
}

TEST_CASE("hoist parse: where the Dockerfile comes from", "[builder][hoist_cli]") {
  TempDir dir("hoist-cli");
  write_file(dir, "Dockerfile", "FROM scratch\n");
  std::string other = write_file(dir, "other.Dockerfile", "FROM busybox\nRUN true\n");
  HoistRunner hoist;
  const std::string bin = hoist_test::hoist_bin();
  const std::string other_listing = "1: from \"busybox\"\n2: run \"true\"\n";

  struct Case {
    std::string name;
    std::vector<std::string> argv;
    std::string stdin_text;
    std::string out;
  };
  const std::vector<Case> cases = {
      {"-f FILE", {bin, "parse", "-f", other}, "", other_listing},
      {"--file FILE", {bin, "parse", "--file", other}, "", other_listing},
      {"--file=FILE", {bin, "parse", "--file=" + other}, "", other_listing},
      {"-f - reads stdin",
       {bin, "parse", "-f", "-"},
       "FROM alpine\nUSER nobody\n",
       "1: from \"alpine\"\n2: user \"nobody\"\n"},
      // No -f: ./Dockerfile of the working directory.
      {"default ./Dockerfile",
       {"sh", "-c", "cd \"$1\" && exec \"$2\" parse", "sh", dir.path(), bin},
       "",
       "1: from \"scratch\"\n"},
  };
  for (const Case& c : cases) {
    SECTION(c.name) {
      RunResult r = hoist_test::run_program(c.argv, {"HOIST_ROOT=" + hoist.root()}, c.stdin_text);
      INFO(r.err);
      CHECK(r.exit_code == 0);
      CHECK(r.out == c.out);
    }
  }

  SECTION("a missing file names it") {
    RunResult r = hoist.run({"parse", "-f", dir.path() + "/nope"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains(dir.path() + "/nope") && Catch::Contains("No such file"));
  }
}

TEST_CASE("hoist parse: a syntax error exits 1 naming the file and line", "[builder][hoist_cli]") {
  auto [text, headline] = GENERATE(table<std::string, std::string>({
      {"FROM a\nRUN true\nRUNN make\n",
       R"(Dockerfile:3: unknown instruction "RUNN" (did you mean "RUN"?))"},
      {"FROM a\nONBUILD FROM b\n", "Dockerfile:2:"},
      {"FROM a\nCOPY <<EOF /x\nnever ends\n", "Dockerfile:2:"},
      {"", "Dockerfile: file with no instructions"},
      {"# only a comment\n", "Dockerfile: file with no instructions"},
  }));
  HoistRunner hoist;
  // Through stdin the file is called "Dockerfile".
  RunResult r = hoist.run({"parse", "-f", "-"}, text);
  INFO(text);
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("hoist: error: " + headline));
}

TEST_CASE("hoist parse: the error names the file given with -f and underlines the line",
          "[builder][hoist_cli]") {
  TempDir dir("hoist-cli");
  std::string path = write_file(dir, "Dockerfile", "FROM a\nRUNN make\n");
  HoistRunner hoist;
  RunResult r = hoist.run({"parse", "--json", "-f", path});
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  CHECK(r.err == "hoist: error: " + path +
                     ":2: unknown instruction \"RUNN\" (did you mean \"RUN\"?)\n"
                     "    2 | RUNN make\n"
                     "      | ^~~~\n");
}

TEST_CASE("hoist parse --strict: the checks a build makes", "[builder][hoist_cli]") {
  auto [text, strict_error] = GENERATE(table<std::string, std::string>({
      {"FROM a\nCOPY --form=b s d\n",
       R"(Dockerfile:2: unknown flag: --form (did you mean "--from"?))"},
      {"FROM a\nHEALTHCHECK CMD\n", "Dockerfile:2: Missing command after HEALTHCHECK CMD"},
      {"FROM a\nENV\n", "Dockerfile:2: ENV requires at least one argument"},
      {"FROM alpine AS a\nCOPY --from=b /x /x\nFROM a AS b\n",
       "Dockerfile:2: circular dependency detected on stage: a"},
  }));
  HoistRunner hoist;
  INFO(text);
  // Docker's parser accepts these; only a build (or --strict) refuses them.
  RunResult plain = hoist.run({"parse", "-f", "-"}, text);
  CHECK(plain.exit_code == 0);
  RunResult strict = hoist.run({"parse", "--strict", "-f", "-"}, text);
  CHECK(strict.exit_code == 1);
  CHECK(strict.out.empty());
  CHECK_THAT(strict.err, Catch::StartsWith("hoist: error: " + strict_error));

  // A clean file passes --strict too.
  RunResult clean =
      hoist.run({"parse", "--strict", "-f", "-"}, "FROM a AS b\nFROM c\nCOPY --from=b s d\n");
  CHECK(clean.exit_code == 0);
}

TEST_CASE("hoist --help, --version and COMMAND --help", "[builder][hoist_cli]") {
  HoistRunner hoist;

  SECTION("--help lists every command") {
    REQUIRE(command_names().size() >= 20);
    for (const char* spelling : {"--help", "-h", "help"}) {
      RunResult r = hoist.run({spelling});
      INFO(spelling);
      CHECK(r.exit_code == 0);
      CHECK_THAT(r.out, Catch::StartsWith("Usage: hoist [OPTIONS] COMMAND [ARGS...]\n"));
      for (const std::string& name : command_names())
        CHECK_THAT(r.out, Catch::Contains("\n  " + name + " "));
    }
  }

  SECTION("no command is a usage error that shows the help") {
    RunResult r = hoist.run({});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::StartsWith("Usage: hoist [OPTIONS] COMMAND [ARGS...]\n"));
  }

  SECTION("--version") {
    for (const char* spelling : {"--version", "-v"}) {
      RunResult r = hoist.run({spelling});
      INFO(spelling);
      CHECK(r.exit_code == 0);
      CHECK(r.out == "hoist version " HOIST_VERSION "\n");
      CHECK(r.err.empty());
    }
    RunResult v = hoist.run({"version"});
    CHECK(v.exit_code == 0);
    CHECK_THAT(v.out, Catch::StartsWith("hoist version " HOIST_VERSION));
  }

  SECTION("every COMMAND --help") {
    for (const std::string& name : command_names()) {
      std::vector<std::vector<std::string>> spellings = {{name, "--help"}};
      // The other spellings go through the same code for every command: two are enough.
      if (name == "parse" || name == "build")
        spellings.insert(spellings.end(), {{name, "-h"}, {"help", name}});
      for (const std::vector<std::string>& argv : spellings) {
        RunResult r = hoist.run(argv);
        INFO(argv[0] + " " + argv[1]);
        INFO(r.err);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.out, Catch::StartsWith("Usage: hoist " + name));
        CHECK_THAT(r.out, Catch::Contains("\nOptions:\n") && Catch::EndsWith("  -h, --help                    show this help\n"));
        CHECK(r.err.empty());
      }
    }
  }
}

TEST_CASE("hoist: unknown commands and flags exit 2 with a hint", "[builder][hoist_cli]") {
  auto [args, message] = GENERATE(table<std::vector<std::string>, std::string>({
      {{"biuld", "."},
       R"(hoist: error: unknown command "biuld" (did you mean "build"?); see 'hoist --help')"},
      {{"imagse"}, R"(hoist: error: unknown command "imagse" (did you mean "images"?))"},
      {{"frobnicate"}, R"(hoist: error: unknown command "frobnicate"; see 'hoist --help')"},
      {{"parse", "--jsno"}, "hoist: error: unknown flag: --jsno (did you mean --json?)"},
      {{"parse", "--stritc"}, "hoist: error: unknown flag: --stritc (did you mean --strict?)"},
      {{"images", "--no-trnuc"},
       "hoist: error: unknown flag: --no-trnuc (did you mean --no-trunc?)"},
      {{"parse", "--frobnicate"}, "hoist: error: unknown flag: --frobnicate"},
      {{"parse", "-f"}, "hoist: error: "},
      {{"tag", "a"},
       "hoist: error: \"hoist tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\" requires exactly 2 "
       "arguments"},
      {{"--frobnicate", "images"}, "hoist: error: unknown flag: --frobnicate; see 'hoist --help'"},
      {{"--debgu", "images"}, "hoist: error: unknown flag: --debgu (did you mean --debug?); see"},
      {{"--rootdir=/x", "images"}, "hoist: error: unknown flag: --rootdir=/x"},
      {{"--rot=/x", "images"}, "hoist: error: unknown flag: --rot=/x (did you mean --root?)"},
      {{"--root"}, "hoist: error: flag needs an argument: --root"},
  }));
  HoistRunner hoist;
  RunResult r = hoist.run(args);
  INFO(args[0]);
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith(message));
}
