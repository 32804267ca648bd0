#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "parser/build_args.h"

namespace {

const parser::Platform kAmd64{"linux", "amd64", ""};
const parser::Platform kArm64{"linux", "arm64", ""};

// "(unset)" stands for a name that is not in `vars`.
std::string lookup(const parser::Vars& vars, const std::string& name) {
  auto it = vars.find(name);
  return it == vars.end() ? "(unset)" : it->second;
}

}  // namespace

TEST_CASE("build args: platforms are parsed and normalized like containerd", "[parser][build_args]") {
  auto [text, normalized] = GENERATE(table<std::string, std::string>({
      {"linux/amd64", "linux/amd64"},
      {"linux/arm64/v8", "linux/arm64"},
      {"linux/aarch64", "linux/arm64"},
      {"linux/arm", "linux/arm/v7"},
      {"linux/armhf", "linux/arm/v7"},
      {"linux/armel", "linux/arm/v6"},
      {"linux/arm/6", "linux/arm/v6"},
      {"Linux/X86_64", "linux/amd64"},
      {"linux/amd64/v1", "linux/amd64"},
      {"linux/amd64/v3", "linux/amd64/v3"},
      {"linux/i386", "linux/386"},
      {"linux/riscv64", "linux/riscv64"},
      {"linux/ppc64le", "linux/ppc64le"},
  }));
  CAPTURE(text);
  auto p = parser::parse_platform(text);
  REQUIRE(p);
  CHECK(p->to_string() == normalized);
}

TEST_CASE("build args: bad platforms are refused with the text named", "[parser][build_args]") {
  auto [text, message] = GENERATE(table<std::string, std::string>({
      {"linux", "platform \"linux\": expected os/architecture[/variant], e.g. linux/amd64"},
      {"linux/", "platform \"linux/\": empty part"},
      {"/amd64", "platform \"/amd64\": empty part"},
      {"linux/arm/v7/x", "platform \"linux/arm/v7/x\": too many parts; expected os/architecture[/variant]"},
      {"linux/am d64", "platform \"linux/am d64\": \"am d64\" is not a valid name"},
      {"", "platform \"\": expected os/architecture[/variant], e.g. linux/amd64"},
  }));
  CAPTURE(text);
  auto p = parser::parse_platform(text);
  REQUIRE_FALSE(p);
  CHECK(p.error() == message);
}

TEST_CASE("build args: the automatic platform ARGs", "[parser][build_args]") {
  const auto target = parser::parse_platform("linux/arm/v7");
  REQUIRE(target);
  const auto vars = parser::platform_args(*target, kAmd64);
  auto [name, value] = GENERATE(table<std::string, std::string>({
      {"TARGETPLATFORM", "linux/arm/v7"},
      {"TARGETOS", "linux"},
      {"TARGETARCH", "arm"},
      {"TARGETVARIANT", "v7"},
      {"BUILDPLATFORM", "linux/amd64"},
      {"BUILDOS", "linux"},
      {"BUILDARCH", "amd64"},
      {"BUILDVARIANT", ""},  // set, and empty
  }));
  CAPTURE(name);
  CHECK(lookup(vars, name) == value);
  CHECK(parser::is_platform_arg(name));
}

TEST_CASE("build args: global ARGs reach FROM, and a stage only through ARG NAME",
          "[parser][build_args]") {
  parser::BuildArgs args({{"BASE", "alpine"}, {"WITHDEF", "cli"}}, kArm64, kAmd64);
  auto global = parser::ArgScope::global(args);
  global.declare("VERSION", "3.19");
  global.declare("BASE", std::nullopt);
  global.declare("GLOBAL_ONLY", "g");

  // FROM ${BASE}:${VERSION} --platform=$BUILDPLATFORM
  auto from = parser::expand_word("${BASE}:${VERSION}@$BUILDPLATFORM", global.vars());
  REQUIRE(from);
  CHECK(*from == "alpine:3.19@linux/amd64");

  auto stage = global.stage();
  CHECK(stage.vars().empty());  // nothing, not even TARGETARCH, until declared
  stage.declare("VERSION", std::nullopt);
  stage.declare("TARGETARCH", std::nullopt);
  stage.declare("WITHDEF", "default");
  stage.declare("NODEF", std::nullopt);
  stage.declare("LOCAL", "l");

  auto [name, value] = GENERATE(table<std::string, std::string>({
      {"VERSION", "3.19"},         // the global value
      {"TARGETARCH", "arm64"},     // the automatic value
      {"WITHDEF", "cli"},          // --build-arg beats the default
      {"NODEF", "(unset)"},        // declared, no value anywhere
      {"LOCAL", "l"},              // its default
      {"GLOBAL_ONLY", "(unset)"},  // not redeclared in the stage
      {"BASE", "(unset)"},
      {"TARGETOS", "(unset)"},
  }));
  CAPTURE(name);
  CHECK(lookup(stage.vars(), name) == value);
}

TEST_CASE("build args: each stage starts empty", "[parser][build_args]") {
  parser::BuildArgs args({}, kAmd64, kAmd64);
  auto global = parser::ArgScope::global(args);
  auto first = global.stage();
  first.declare("A", "1");
  auto second = first.stage();
  CHECK(lookup(first.vars(), "A") == "1");
  CHECK(lookup(second.vars(), "A") == "(unset)");
}

TEST_CASE("build args: ARG defaults see earlier ARGs, ENV wins over ARG", "[parser][build_args]") {
  parser::BuildArgs args({{"CONT_IMG_VER", "v2.0.1"}}, kAmd64, kAmd64);
  auto stage = parser::ArgScope::global(args).stage();
  stage.declare("A", "a");
  auto b = parser::expand_word("${A}-b", stage.vars());
  REQUIRE(b);
  stage.declare("B", *b);
  CHECK(lookup(stage.vars(), "B") == "a-b");

  // ARG CONT_IMG_VER / ENV CONT_IMG_VER=v1.0.0 / RUN echo $CONT_IMG_VER prints v1.0.0.
  stage.declare("CONT_IMG_VER", std::nullopt);
  const parser::Vars env{{"CONT_IMG_VER", "v1.0.0"}, {"PATH", "/usr/bin"}};
  auto seen = stage.with_env(env);
  CHECK(lookup(seen, "CONT_IMG_VER") == "v1.0.0");
  CHECK(lookup(seen, "A") == "a");
  CHECK(lookup(seen, "PATH") == "/usr/bin");
}

TEST_CASE("build args: proxy ARGs reach RUN without a declaration, outside history",
          "[parser][build_args]") {
  parser::BuildArgs args({{"HTTP_PROXY", "http://proxy:3128"}, {"no_proxy", "localhost"}},
                         kAmd64, kAmd64);
  auto stage = parser::ArgScope::global(args).stage();
  CHECK(stage.vars().empty());  // not expanded in other instructions
  CHECK(stage.proxy_args() == parser::Vars{{"HTTP_PROXY", "http://proxy:3128"}, {"no_proxy", "localhost"}});
  stage.declare("HTTP_PROXY", std::nullopt);  // now an ordinary ARG
  CHECK(stage.run_args() == parser::Vars{{"HTTP_PROXY", "http://proxy:3128"}});
  CHECK(stage.proxy_args() == parser::Vars{{"no_proxy", "localhost"}});
  CHECK(args.unused().empty());
}

TEST_CASE("build args: unused --build-arg values are reported", "[parser][build_args]") {
  parser::BuildArgs args({{"USED", "1"}, {"UNUSED", "2"}, {"ftp_proxy", "p"}, {"TARGETARCH", "s390x"}},
                         kAmd64, kAmd64);
  auto global = parser::ArgScope::global(args);
  auto stage = global.stage();
  CHECK(args.unused() == std::vector<std::string>{"UNUSED", "USED"});
  stage.declare("USED", std::nullopt);
  CHECK(args.unused() == std::vector<std::string>{"UNUSED"});
  // --build-arg TARGETARCH overrides the automatic value.
  CHECK(lookup(global.vars(), "TARGETARCH") == "s390x");
}

TEST_CASE("build args: which instructions expand which arguments", "[parser][build_args]") {
  using E = parser::ArgumentExpansion;
  using Flags = std::vector<std::string_view>;
  auto [name, arguments, flags, global_only] = GENERATE(table<std::string, E, Flags, bool>({
      {"from", E::EachWord, Flags{"platform"}, true},
      {"add", E::EachWord, Flags{"chown", "chmod", "checksum"}, false},
      {"copy", E::EachWord, Flags{"chown", "chmod", "from"}, false},
      {"env", E::KeysAndValues, Flags{}, false},
      {"label", E::KeysAndValues, Flags{}, false},
      {"arg", E::KeysAndValues, Flags{}, false},
      {"expose", E::SplitWords, Flags{}, false},
      {"workdir", E::EachWord, Flags{}, false},
      {"user", E::EachWord, Flags{}, false},
      {"volume", E::EachWord, Flags{}, false},
      {"stopsignal", E::EachWord, Flags{}, false},
      {"run", E::None, Flags{"mount"}, false},
      {"cmd", E::None, Flags{}, false},
      {"entrypoint", E::None, Flags{}, false},
      {"shell", E::None, Flags{}, false},
      {"healthcheck", E::None, Flags{}, false},
      {"onbuild", E::None, Flags{}, false},
      {"maintainer", E::None, Flags{}, false},
  }));
  CAPTURE(name);
  const auto rule = parser::expansion_rule(name);
  CHECK(rule.is_known);
  CHECK(rule.arguments == arguments);
  CHECK(rule.flags == flags);
  CHECK(rule.uses_global_scope == global_only);
}

TEST_CASE("build args: unknown or upper-case instruction names have no rule", "[parser][build_args]") {
  auto name = GENERATE(as<std::string>{}, "COPY", "runn", "", "from ");
  CAPTURE(name);
  CHECK_FALSE(parser::expansion_rule(name).is_known);
}
