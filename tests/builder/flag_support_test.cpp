// Walks parser::flag_support_table(), the table README's "Dockerfile flags" section shows:
// every refused flag fails `hoist build` and `hoist parse --strict` with its reason, and
// every supported flag has a build here that shows its effect (or names the test case that
// does, where that needs a server of its own). README must hold the table as generated.

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "parser/commands.h"
#include "tests/builder/build_fixture.h"
#include "tests/support/skip.h"

namespace {

std::string row_key(const parser::FlagSupport& row) {
  return std::string(row.instruction) + (row.flag.empty() ? "" : " " + std::string(row.flag));
}
bool is_directive(const parser::FlagSupport& row) { return row.instruction.starts_with("#"); }

// README's line for `row`.
std::string readme_line(const parser::FlagSupport& row) {
  return "| " + std::string(row.instruction) + " | " + (row.flag.empty() ? "" : "`" + std::string(row.flag) + "`") + " | " +
         (row.supported ? "supported" + (row.why.empty() ? "" : " (" + std::string(row.why) + ")")
                        : "refused: " + std::string(row.why)) +
         " |";
}

// A Dockerfile line using a refused flag (a directive's goes first).
const std::map<std::string, std::string> kRefusedUse = {
    {"# syntax =any other frontend", "# syntax=docker/dockerfile:1-labs"},
    {"# check =other settings", "# check=error=true"},
    {"COPY --link", "COPY --link a.txt /a.txt"},
    {"ADD --link", "ADD --link a.txt /a.txt"},
    {"ADD --keep-git-dir", "ADD --keep-git-dir=true https://127.0.0.1:1/repo.git /repo"},
    {"ADD --unpack", "ADD --unpack=false a.txt /a.txt"},
};

// Interface names in a /proc/net/dev text.
std::set<std::string> interfaces(const std::string& proc_net_dev) {
  std::set<std::string> names;
  std::istringstream in(proc_net_dev);
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    names.insert(name);
  }
  return names;
}

}  // namespace

TEST_CASE("flag support: README shows the table as the parser has it", "[builder][flags]") {
  std::string readme = hoist_test::read_file(hoist_test::source_root() + "/README.md");
  REQUIRE_FALSE(readme.empty());
  for (const auto& row : parser::flag_support_table()) {
    CAPTURE(readme_line(row));
    CHECK(readme.find(readme_line(row) + "\n") != std::string::npos);
  }
}

TEST_CASE("flag support: every refused flag fails build and parse --strict, naming it", "[builder][flags]") {
  build_test::BuildFixture f;
  f.write("a.txt", "a\n");
  for (const auto& row : parser::flag_support_table()) {
    if (row.supported) continue;
    CAPTURE(row_key(row));
    auto use = kRefusedUse.find(row_key(row));
    REQUIRE(use != kRefusedUse.end());  // every refused row has a use here
    std::string expected = row_key(row) + " is not supported by hoist: " + std::string(row.why);
    std::string where = "Dockerfile:2: ";
    std::string dockerfile = "FROM busybox:latest\n" + use->second + "\n";
    if (is_directive(row)) {
      expected = use->second + " is not supported by hoist: " + std::string(row.why);
      where = "Dockerfile:1: ";
      dockerfile = use->second + "\nFROM busybox:latest\n";
    }
    auto built = f.build(dockerfile);
    CHECK(built.exit_code == 1);
    CHECK_THAT(built.err, Catch::Contains(where + expected));
    auto parsed = f.hoist().run({"parse", "--strict", "-f", f.context() + "/Dockerfile"});
    CHECK(parsed.exit_code != 0);
    CHECK_THAT(parsed.out + parsed.err, Catch::Contains(expected));
  }
}

TEST_CASE("flag support: every supported flag has its effect", "[builder][flags]") {
  build_test::BuildFixture f;
  f.write("src/a.c", "int main;\n");
  f.write("src/a.o", "object\n");
  f.write("f.txt", "f\n");
  std::set<std::string> shown;
  auto builds = [&](const std::string& key, const std::string& dockerfile) {
    CAPTURE(key, dockerfile);
    auto built = f.build(dockerfile);
    INFO(built.err);
    CHECK(built.exit_code == 0);
    shown.insert(key);
  };

  // FROM --platform: this machine's platform builds; another is refused by name.
  builds("FROM --platform", "FROM --platform=$BUILDPLATFORM busybox:latest\nRUN true\n");
  auto other = f.build("FROM --platform=linux/s390x busybox:latest\n");
  if (std::string(parser::flag_support_table()[0].flag) == "--platform") {
    CHECK(other.exit_code == 1);
    CHECK_THAT(other.err, Catch::Contains("linux/s390x"));
  }

  // Parser directives hoist honours.
  builds("# syntax =docker/dockerfile:1[.N[.N]]", "# syntax=docker/dockerfile:1.4\nFROM busybox:latest\nRUN true\n");
  builds("# check =skip=all", "# check=skip=all\nFROM busybox:latest\nRUN true\n");
  builds("# escape =\\ or backtick", "# escape=`\nFROM busybox:latest\nRUN echo a `\n  b > /ab\nRUN test \"$(cat /ab)\" = 'a b'\n");

  // RUN --network: the interfaces a step sees.
  std::set<std::string> host_interfaces = interfaces(hoist_test::read_file("/proc/net/dev"));
  // The copy+chroot executor has no network namespace: --network none is refused there, and
  // every step has the host's network (README). The effects are then not shown here.
  const bool chroot = f.hoist().chroot_executor();
  if (chroot) {
    hoist_test::record_skip("RUN --network=none|default need the sandbox's network namespace, and "
                            "RUN --security=sandbox's check its /proc; RUN executor: " +
                            f.hoist().auto_executor());
    auto none = f.build("FROM busybox:latest\nRUN --network=none true\n");
    CHECK(none.exit_code == 1);
    CHECK_THAT(none.err, Catch::Contains("--network none"));
  }
  for (const char* mode : {"none", "host", "default"}) {
    if (chroot) {
      shown.insert(std::string("RUN --network=") + mode);  // counted as skipped, above
      continue;
    }
    CAPTURE(mode);
    std::string key = std::string("RUN --network=") + mode;
    auto built = f.build(std::string("FROM busybox:latest\nRUN --network=") + mode + " cat /proc/net/dev > /net\n", "t",
                         {"-o", "type=local,dest=" + f.out_dir() + "/net-" + mode});
    INFO(built.err);
    REQUIRE(built.exit_code == 0);
    auto seen = interfaces(hoist_test::read_file(f.out_dir() + "/net-" + mode + "/net"));
    if (std::string(mode) == "none") CHECK(seen == std::set<std::string>{"lo"});
    if (std::string(mode) == "host") CHECK(seen == host_interfaces);
    if (std::string(mode) == "default") CHECK(seen == std::set<std::string>{"lo", "tap0"});
    shown.insert(key);
  }
  // The step's network is part of its cache key, and RUN --network overrides the build's.
  const std::string plain = "FROM busybox:latest\nRUN cat /proc/net/dev > /net2\n";
  if (!chroot) {  // these need --network none
    auto on_host = f.build(plain, "t", {"--network", "host"});
    REQUIRE(on_host.exit_code == 0);
    auto on_none = f.build(plain, "t", {"--network", "none"});
    REQUIRE(on_none.exit_code == 0);
    CHECK(build_test::count_lines_with(on_none.err, "CACHED") == 0);
    auto step_none = f.build("FROM busybox:latest\nRUN --network=none cat /proc/net/dev > /net2\n", "t",
                             {"--network", "host"});
    REQUIRE(step_none.exit_code == 0);
    CHECK(build_test::count_lines_with(step_none.err, "CACHED") == 1);
  }

  // RUN --security=sandbox: Docker's default capability set, as without the flag.
  if (!chroot)  // copy+chroot has no /proc (counted as skipped above)
    builds("RUN --security=sandbox",
           "FROM busybox:latest\nRUN --security=sandbox grep -q 'CapEff:.*00000000a80425fb' /proc/self/status\n");
  else
    shown.insert("RUN --security=sandbox");

  // COPY and ADD flags, checked from a RUN in the built image.
  for (const char* cmd : {"COPY", "ADD"}) {
    std::string c = cmd;
    builds(c + " --chown", "FROM busybox:latest\n" + c + " --chown=12:34 f.txt /f\nRUN test \"$(stat -c %u:%g /f)\" = 12:34\n");
    builds(c + " --chmod", "FROM busybox:latest\n" + c + " --chmod=640 f.txt /f\nRUN test \"$(stat -c %a /f)\" = 640\n");
    builds(c + " --exclude", "FROM busybox:latest\n" + c + " --exclude=*.o src/ /d/\nRUN test -f /d/a.c && ! test -e /d/a.o\n");
  }
  builds("COPY --from", "FROM busybox:latest AS src\nRUN echo made > /made\nFROM busybox:latest\nCOPY --from=src /made /m\nRUN grep -q made /m\n");

  // HEALTHCHECK flags land in the config.
  auto health = f.build("FROM busybox:latest\nHEALTHCHECK --interval=1m --timeout=2s --start-period=3s "
                        "--start-interval=4s --retries=5 CMD true\n");
  REQUIRE(health.exit_code == 0);
  auto check = f.config().at("config").at("Healthcheck");
  CHECK(check.at("Interval") == 60000000000LL);
  CHECK(check.at("Timeout") == 2000000000LL);
  CHECK(check.at("StartPeriod") == 3000000000LL);
  CHECK(check.at("StartInterval") == 4000000000LL);
  CHECK(check.at("Retries") == 5);
  for (const char* flag : {"--interval", "--timeout", "--start-period", "--start-interval", "--retries"})
    shown.insert(std::string("HEALTHCHECK ") + flag);

  // Shown by test cases of their own (a server, secrets, several builds): the walk checks
  // that each one is there.
  const std::vector<std::tuple<std::string, std::string, std::string>> elsewhere = {
      {"ADD --checksum", "copy_sources_test.cpp", "ADD --checksum verifies the download"},
      {"FROM", "build_test.cpp", "build: multi-stage with --target builds only what the target needs"},
      {"RUN", "build_test.cpp", "build: RUN sees ENV and ARG"},
      {"COPY", "copy_rules_test.cpp", "COPY path rules follow Docker's documentation"},
      {"COPY --parents", "copy_rules_test.cpp", "COPY --parents keeps the sources' parent directories"},
      {"ADD", "copy_rules_test.cpp", "ADD extracts local tar archives of every compression"},
      {"RUN --mount=type=tmpfs", "run_mounts_test.cpp", "RUN --mount=type=tmpfs: a fresh tmpfs"},
      {"RUN --mount=type=secret", "run_mounts_test.cpp", "RUN --mount=type=secret: visible to its step only"},
      {"RUN --mount=type=cache", "run_mounts_test.cpp", "RUN --mount=type=cache: kept between builds"},
      {"RUN --mount=type=bind", "run_mounts_test.cpp", "RUN --mount=type=bind: the context or a stage"},
      {"RUN --mount=type=ssh", "run_mounts_test.cpp", "RUN --mount=type=ssh: a real ssh-agent"},
      {"RUN --security=insecure", "run_security_test.cpp", "RUN --security=insecure: privileged with --allow"},
  };
  // Every metadata instruction has a row in metadata_test.cpp's table.
  const std::string metadata = hoist_test::read_file(hoist_test::source_root() + "/tests/builder/metadata_test.cpp");
  for (const char* ins : {"CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ENTRYPOINT", "VOLUME", "USER", "WORKDIR",
                          "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"})
    if (metadata.find("{\"" + std::string(ins) + " ") != std::string::npos) shown.insert(ins);
  for (const auto& [key, file, test_case] : elsewhere) {
    std::string source = hoist_test::read_file(hoist_test::source_root() + "/tests/builder/" + file);
    if (source.find("TEST_CASE(\"" + test_case) != std::string::npos) shown.insert(key);
  }

  for (const auto& row : parser::flag_support_table()) {
    if (!row.supported) continue;
    CAPTURE(row_key(row));
    CHECK(shown.count(row_key(row)) == 1);
  }
}
