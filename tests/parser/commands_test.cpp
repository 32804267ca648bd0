// parser/commands.h: typed instructions, the --mount reader, Go durations and the table of
// what hoist supports. The builder-side effect of each supported flag is tested in
// tests/builder (flag_support_test.cpp walks the same table end to end).

#include <catch2/catch.hpp>

#include <set>

#include "parser/commands.h"
#include "parser/dockerfile.h"

namespace {

parser::CommandResult command_of(const std::string& text) {
  parser::ParseResult parsed = parser::parse_dockerfile(text, "Dockerfile");
  REQUIRE_FALSE(parser::has_errors(parsed.diagnostics));
  REQUIRE(parsed.file.instructions.size() == 1);
  return parser::parse_command(parsed.file.instructions.front(), "Dockerfile");
}

}  // namespace

TEST_CASE("Go durations: what time.ParseDuration accepts, in nanoseconds", "[parser][commands]") {
  auto [text, expected] = GENERATE(table<std::string, int64_t>({
      {"0", 0},
      {"1.5s", 1500000000},
      {"1m30s", 90000000000},
      {"500ms", 500000000},
      {"1h", 3600000000000},
      {"10us", 10000},
      {"-2s", -2000000000},
      {".5s", 500000000},
      // Rejected: -1.
      {".", -1},
      {"..s", -1},
      {"1.2.3s", -1},
      {"1e5s", -1},
      {"5", -1},
      {"s", -1},
      {"", -1},
      {"99999999999999999999h", -1},
      {"2562048h", -1},  // past Go's ~290 years
  }));
  CAPTURE(text);
  auto ns = parser::parse_go_duration(text);
  if (expected == -1) CHECK_FALSE(ns.has_value());
  else CHECK(ns == expected);
}

TEST_CASE("--mount values read as BuildKit reads them", "[parser][commands]") {
  using T = parser::Mount::Type;
  SECTION("defaults and keys") {
    auto bind = parser::parse_mount("target=/src");
    REQUIRE(bind);
    CHECK(bind->type == T::Bind);
    CHECK(bind->target == "/src");
    CHECK(bind->read_only);
    auto cache = parser::parse_mount("type=cache,dst=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1000,gid=1000");
    REQUIRE(cache);
    CHECK(cache->type == T::Cache);
    CHECK(cache->target == "/root/.cache");
    CHECK(cache->id == "pip");
    CHECK(cache->sharing == parser::Mount::Sharing::Locked);
    CHECK_FALSE(cache->read_only);
    CHECK(cache->mode == 0700u);
    CHECK(cache->uid == 1000u);
    auto tmpfs = parser::parse_mount("type=tmpfs,target=/t,size=64m");
    REQUIRE(tmpfs);
    CHECK(tmpfs->size_bytes == 64 * 1024 * 1024);
    auto secret = parser::parse_mount("type=secret,id=tok,required,env=TOKEN");
    REQUIRE(secret);
    CHECK(secret->required);
    CHECK(secret->env == "TOKEN");
    auto rw = parser::parse_mount("type=bind,source=a,target=/a,rw");
    REQUIRE(rw);
    CHECK_FALSE(rw->read_only);
    auto quoted = parser::parse_mount("type=bind,\"target=/a,b\"");
    REQUIRE(quoted);
    CHECK(quoted->target == "/a,b");
  }
  SECTION("errors") {
    auto [text, message] = GENERATE(table<std::string, std::string>({
        {"type=volume,target=/x", "unsupported mount type \"volume\""},
        {"type=cache,tagret=/x", "unexpected key 'tagret' in 'tagret=/x' (did you mean target?)"},
        {"type=bind,target=/x,mode=0700", "mode not allowed for \"bind\" type mounts"},
        {"type=tmpfs,target=/x,uid=1", "uid not allowed for \"tmpfs\" type mounts"},
        {"type=cache,target=/x,size=1m", "unexpected key 'size' for mount type 'cache'"},
        {"type=cache,target=/x,required", "unexpected key 'required' for mount type 'cache'"},
        {"type=cache,target=/x,sharing=everyone", "unsupported sharing value \"everyone\""},
        {"type=bind,target=/x,sharing=locked", "invalid cache sharing set for bind mount"},
        {"type=cache,target=/x,mode=9", "invalid value 9 for mode"},
        {"type=cache,target=/x,uid=-1", "invalid value -1 for uid"},
        {"type=tmpfs,target=/x,size=lots", "invalid value for size: lots"},
        {"type=secret", "invalid secret mount. one of source, target required"},
        {"type=secret,id=a,source=b", "both source and id can't be set"},
        {"type=secret,id=a,from=b", "secret mount should not have a from"},
        {"type=bind,target=/x,ro=maybe", "invalid value for ro: maybe"},
        {"type=bind,target", "invalid field 'target' must be a key=value pair"},
        {"type=bind,from=$STAGE,target=/x", "'from' doesn't support variable expansion, define alias stage instead"},
        {"type=bind,\"target=/x", "failed to parse csv mounts"},
    }));
    CAPTURE(text);
    auto mount = parser::parse_mount(text);
    REQUIRE_FALSE(mount);
    CHECK_THAT(mount.error(), Catch::Contains(message));
  }
  SECTION("values with variables are checked after expansion") {
    CHECK(parser::parse_mount("type=cache,target=/x,uid=$UID"));
    parser::Vars vars = {{"UID", "x"}, {"DIR", "/cache"}};
    auto expand = [&](std::string_view word) { return parser::expand_word(word, vars); };
    auto bad = parser::parse_mount("type=cache,target=/x,uid=$UID", expand);
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == "invalid value x for uid");
    auto good = parser::parse_mount("type=cache,target=$DIR", expand);
    REQUIRE(good);
    CHECK(good->target == "/cache");
  }
}

TEST_CASE("parse_command types each instruction's flags", "[parser][commands]") {
  SECTION("RUN --network") {
    auto none = command_of("RUN --network=none true");
    REQUIRE(none.command);
    auto& flags = std::get<parser::RunFlags>(none.command->flags);
    CHECK(flags.network == parser::NetworkMode::None);
    auto plain = command_of("RUN true");
    REQUIRE(plain.command);
    CHECK_FALSE(std::get<parser::RunFlags>(plain.command->flags).network.has_value());
  }
  SECTION("COPY --parents") {
    for (const auto& [text, expected] : std::vector<std::pair<std::string, bool>>{
             {"COPY --parents a /d/", true}, {"COPY --parents=true a /d/", true},
             {"COPY --parents=false a /d/", false}, {"COPY a /d/", false}}) {
      CAPTURE(text);
      auto copy = command_of(text);
      REQUIRE(copy.command);
      CHECK(std::get<parser::CopyFlags>(copy.command->flags).parents == expected);
    }
  }
  SECTION("RUN --security") {
    auto insecure = command_of("RUN --security=insecure true");
    REQUIRE(insecure.command);
    CHECK(std::get<parser::RunFlags>(insecure.command->flags).is_insecure);
    auto sandbox = command_of("RUN --security=sandbox true");
    REQUIRE(sandbox.command);
    CHECK_FALSE(std::get<parser::RunFlags>(sandbox.command->flags).is_insecure);
  }
  SECTION("COPY and ADD") {
    auto copy = command_of("COPY --from=build --chown=1:2 --chmod=600 --exclude=*.o --exclude=x a b /d/");
    REQUIRE(copy.command);
    auto& flags = std::get<parser::CopyFlags>(copy.command->flags);
    CHECK_FALSE(flags.add);
    CHECK(flags.from == "build");
    CHECK(flags.chown == "1:2");
    CHECK(flags.chmod == "600");
    CHECK(flags.excludes == std::vector<std::string>{"*.o", "x"});
    auto add = command_of("ADD --checksum=sha256:ab https://x/y /y");
    REQUIRE(add.command);
    CHECK(std::get<parser::CopyFlags>(add.command->flags).add);
    CHECK(std::get<parser::CopyFlags>(add.command->flags).checksum == "sha256:ab");
  }
  SECTION("HEALTHCHECK durations once, in nanoseconds") {
    auto health = command_of("HEALTHCHECK --interval=1m --timeout=2s --start-period=3ms --retries=4 CMD true");
    REQUIRE(health.command);
    auto& flags = std::get<parser::HealthcheckFlags>(health.command->flags);
    CHECK(flags.interval_ns == 60000000000);
    CHECK(flags.timeout_ns == 2000000000);
    CHECK(flags.start_period_ns == 3000000);
    CHECK(flags.retries == 4);
  }
  SECTION("an error leaves no command") {
    auto bad = command_of("COPY --link a b");
    CHECK_FALSE(bad.command);
    REQUIRE(bad.diagnostics.size() == 1);
    CHECK(bad.diagnostics[0].line == 1);
  }
}

TEST_CASE("the flag support table names every flag Docker's parser registers", "[parser][commands]") {
  std::set<std::string> rows;
  for (const auto& row : parser::flag_support_table()) {
    std::string flag(row.flag);
    CHECK((flag.empty() || flag.starts_with("--") || flag.starts_with("=")));
    CHECK((row.supported || !row.why.empty()));
    if (flag.starts_with("--")) rows.insert(std::string(row.instruction) + " " + flag.substr(0, flag.find('=')));
    if (flag.empty()) rows.insert(std::string(row.instruction));
  }
  for (const char* expected : {"FROM --platform", "RUN --mount", "RUN --network", "RUN --security", "COPY --from",
                               "COPY --chown", "COPY --chmod", "COPY --link", "COPY --parents", "COPY --exclude",
                               "ADD --chown", "ADD --chmod", "ADD --link", "ADD --keep-git-dir", "ADD --checksum",
                               "ADD --exclude", "ADD --unpack", "HEALTHCHECK --interval", "HEALTHCHECK --timeout",
                               "HEALTHCHECK --start-period", "HEALTHCHECK --start-interval", "HEALTHCHECK --retries",
                               "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY",
                               "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL",
                               "HEALTHCHECK", "SHELL"}) {
    CAPTURE(expected);
    CHECK(rows.count(expected) == 1);
  }
}

TEST_CASE("parser directives a build honours, and those it refuses", "[parser][commands]") {
  auto [text, expected] = GENERATE(table<std::string, std::string>({
      {"# syntax=docker/dockerfile:1\nFROM a\n", ""},
      {"# syntax=docker/dockerfile:1.7.1\nFROM a\n", ""},
      {"# syntax=docker.io/docker/dockerfile:1.4@sha256:abc\nFROM a\n", ""},
      {"# check=skip=all\nFROM a\n", ""},
      {"# escape=`\nFROM a\n", ""},
      {"# syntax=docker/dockerfile:1-labs\nFROM a\n",
       "Dockerfile:1: # syntax=docker/dockerfile:1-labs is not supported by hoist: hoist is its own Dockerfile "
       "frontend (dockerfile:1)"},
      {"# syntax=tonistiigi/dockerfile:runmount\nFROM a\n",
       "Dockerfile:1: # syntax=tonistiigi/dockerfile:runmount is not supported by hoist: hoist is its own "
       "Dockerfile frontend (dockerfile:1)"},
      {"# check=error=true\nFROM a\n",
       "Dockerfile:1: # check=error=true is not supported by hoist: hoist runs no build checks"},
  }));
  CAPTURE(text);
  parser::ParseResult parsed = parser::parse_dockerfile(text, "Dockerfile");
  REQUIRE_FALSE(parser::has_errors(parsed.diagnostics));
  auto problems = parser::check_directives(parsed.file, "Dockerfile");
  CHECK((problems.empty() ? "" : parser::format_headline(problems[0])) == expected);
}
