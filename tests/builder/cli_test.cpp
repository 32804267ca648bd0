#include <catch2/catch.hpp>

#include "builder/cli/args.h"
#include "tests/builder/hoist_runner.h"

using builder::cli::ArgParser;

TEST_CASE("cli: flags in every spelling Docker accepts", "[builder][cli]") {
  std::vector<std::string> tags;
  std::string file;
  bool no_cache = false;
  ArgParser p("hoist build [OPTIONS] CONTEXT", "Build an image.");
  p.multi("-t,--tag", &tags, "NAME", "name the image");
  p.option("-f,--file", &file, "FILE", "the Dockerfile");
  p.flag("--no-cache", &no_cache, "ignore the build cache");
  p.positionals(1, 1, "CONTEXT");
  auto pos = p.parse({"-t", "a:1", "--tag=b:2", "-tc:3", "-f", "-", "--no-cache", "."});
  REQUIRE(pos);
  CHECK(*pos == std::vector<std::string>{"."});
  CHECK(tags == std::vector<std::string>{"a:1", "b:2", "c:3"});
  CHECK(file == "-");
  CHECK(no_cache);
}

TEST_CASE("cli: an unknown flag is a usage error with a hint", "[builder][cli]") {
  bool no_cache = false;
  ArgParser p("hoist build [OPTIONS] CONTEXT", "Build an image.");
  p.flag("--no-cache", &no_cache, "ignore the build cache");
  auto pos = p.parse({"--no-cahce", "."});
  REQUIRE_FALSE(pos);
  CHECK(pos.error().kind() == layers::ErrorKind::Usage);
  CHECK(pos.error().message() == "unknown flag: --no-cahce (did you mean --no-cache?)");
}

TEST_CASE("cli: positional count is checked", "[builder][cli]") {
  ArgParser p("hoist tag SOURCE TARGET", "Tag an image.");
  p.positionals(2, 2, "SOURCE TARGET");
  auto pos = p.parse({"a"});
  REQUIRE_FALSE(pos);
  CHECK(pos.error().message() == "\"hoist tag SOURCE TARGET\" requires exactly 2 arguments; see --help");
}

TEST_CASE("cli: bash completion offers commands, a command's flags and local image names", "[builder][cli]") {
  hoist_test::HoistRunner hoist;
  REQUIRE(hoist.import_busybox().exit_code == 0);
  const std::string script = hoist_test::source_root() + "/builder/cli/completion.bash";
  auto complete = [&](const std::string& words, int cword) {
    auto r = hoist_test::run_program(
        {"bash", "-c",
         "source \"$1\"; COMP_WORDS=(\"$2\" $3); COMP_CWORD=$4; _hoist; printf '%s\\n' \"${COMPREPLY[@]}\"", "bash",
         script, hoist_test::hoist_bin(), words, std::to_string(cword)},
        {"HOIST_ROOT=" + hoist.root()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
  };
  CHECK(complete("bui", 1) == "build\n");
  CHECK(complete("build --no-c", 2) == "--no-cache\n");
  CHECK(complete("run --pu", 2) == "--pull\n");
  CHECK(complete("--debug run busy", 3) == "busybox:latest\n");
  CHECK(complete("help lo", 2) == "login\nlogout\nload\n");
}
