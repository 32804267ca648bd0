// Every metadata instruction, end to end: what it does to the image config, and the
// history entry it adds.

#include <catch2/catch.hpp>

#include "tests/builder/build_fixture.h"

using build_test::BuildFixture;
using hoist_test::read_file;

TEST_CASE("metadata: each instruction changes the config as Docker does", "[builder][metadata]") {
  BuildFixture f;
  auto [instructions, pointer, expected] = GENERATE(table<std::string, std::string, std::string>({
      {"ENV A=1 B=\"two words\"", "/config/Env", R"(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","A=1","B=two words"])"},
      {"ENV A=1\nENV A=2 B=$A", "/config/Env", R"(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","A=2","B=1"])"},
      {"ARG V=x\nENV E=$V", "/config/Env", R"(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","E=x"])"},
      {"LABEL a=b \"c d\"=e", "/config/Labels", R"({"a":"b","c d":"e"})"},
      {"WORKDIR /a\nWORKDIR b\nWORKDIR ../c", "/config/WorkingDir", R"("/a/c")"},
      {"USER daemon:daemon", "/config/User", R"("daemon:daemon")"},
      {"EXPOSE 80 53/udp 8000-8001", "/config/ExposedPorts", R"({"53/udp":{},"80/tcp":{},"8000/tcp":{},"8001/tcp":{}})"},
      {"VOLUME /data /logs", "/config/Volumes", R"({"/data":{},"/logs":{}})"},
      {"VOLUME [\"/a\", \"/b\"]", "/config/Volumes", R"({"/a":{},"/b":{}})"},
      {"CMD echo hi", "/config/Cmd", R"(["/bin/sh","-c","echo hi"])"},
      {"SHELL [\"/bin/ash\", \"-eo\"]\nCMD echo hi", "/config/Cmd", R"(["/bin/ash","-eo","echo hi"])"},
      {"SHELL [\"/bin/ash\", \"-eo\"]", "/config/Shell", R"(["/bin/ash","-eo"])"},
      {"ENTRYPOINT [\"/bin/echo\"]", "/config/Entrypoint", R"(["/bin/echo"])"},
      {"STOPSIGNAL SIGKILL", "/config/StopSignal", R"("SIGKILL")"},
      {"HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost", "/config/Healthcheck",
       R"({"Interval":5000000000,"Retries":2,"Test":["CMD-SHELL","wget -q localhost"]})"},
      {"HEALTHCHECK NONE", "/config/Healthcheck", R"({"Test":["NONE"]})"},
      {"ONBUILD run echo hi", "/config/OnBuild", R"(["RUN echo hi"])"},
      {"MAINTAINER someone", "/author", R"("someone")"},
  }));
  CAPTURE(instructions);
  auto r = f.build("FROM busybox:latest\n" + instructions + "\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto config = f.config();
  CAPTURE(config.dump());
  nlohmann::json::json_pointer ptr(pointer);
  REQUIRE(config.contains(ptr));
  CHECK(config[ptr] == nlohmann::json::parse(expected));
  // One history entry per instruction, after the base image's one.
  size_t lines = static_cast<size_t>(std::count(instructions.begin(), instructions.end(), '\n')) + 1;
  CHECK(config["history"].size() == 1 + lines);
}

TEST_CASE("metadata: ENTRYPOINT resets an inherited CMD but not one set in the stage", "[builder][metadata]") {
  BuildFixture f;
  REQUIRE(f.build("FROM busybox:latest\nENTRYPOINT [\"/bin/echo\"]\n").exit_code == 0);
  CHECK_FALSE(f.config()["config"].contains("Cmd"));  // busybox's CMD ["sh"] is dropped
  REQUIRE(f.build("FROM busybox:latest\nCMD [\"a\"]\nENTRYPOINT [\"/bin/echo\"]\n").exit_code == 0);
  CHECK(f.config()["config"]["Cmd"] == nlohmann::json({"a"}));
}

TEST_CASE("metadata: CMD, ENTRYPOINT, SHELL and VOLUME are in the history as BuildKit writes them",
          "[builder][metadata]") {
  // CMD and ENTRYPOINT as Go's %q of the resulting argv (no commas, the shell form through
  // SHELL), SHELL and VOLUME as Go's %v of the list: what docker 20.10's BuildKit wrote for
  // this Dockerfile (buildkit_sxs_test.cpp compares a build with it).
  BuildFixture f;
  auto r = f.build(
      "FROM busybox:latest\nCMD echo \"hi\"\tthere\nSHELL [\"/bin/sh\", \"-ec\"]\nENTRYPOINT [\"a b\", \"c\\\\d\"]\n"
      "ENTRYPOINT echo x\nENTRYPOINT []\nVOLUME /data /logs\nVOLUME [\"/j\"]\n");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto history = f.config()["history"];
  REQUIRE(history.size() == 8);
  CHECK(history[1]["created_by"] == "CMD [\"/bin/sh\" \"-c\" \"echo \\\"hi\\\"\\tthere\"]");
  CHECK(history[2]["created_by"] == "SHELL [/bin/sh -ec]");
  CHECK(history[3]["created_by"] == "ENTRYPOINT [\"a b\" \"c\\\\d\"]");
  CHECK(history[4]["created_by"] == "ENTRYPOINT [\"/bin/sh\" \"-ec\" \"echo x\"]");
  CHECK(history[5]["created_by"] == "ENTRYPOINT []");
  CHECK(history[6]["created_by"] == "VOLUME [/data /logs]");
  CHECK(history[7]["created_by"] == "VOLUME [/j]");
}

TEST_CASE("metadata: WORKDIR creates the directory; USER applies to RUN", "[builder][metadata]") {
  BuildFixture f;
  std::string root = f.rootfs(
      "FROM busybox:latest\nWORKDIR /made/here\nUSER daemon\nRUN id -u > /tmp/uid; pwd > /tmp/pwd\n");
  CHECK(read_file(root + "/tmp/uid") == "1\n");
  CHECK(read_file(root + "/tmp/pwd") == "/made/here\n");
}

TEST_CASE("metadata: ONBUILD triggers of the base run in the child, and are not inherited",
          "[builder][metadata]") {
  BuildFixture f;
  REQUIRE(f.build("FROM busybox:latest\nONBUILD RUN echo triggered > /onbuild\n", "parent").exit_code == 0);
  auto child = f.build("FROM parent\nRUN cat /onbuild\n", "child");
  INFO(child.err);
  REQUIRE(child.exit_code == 0);
  CHECK_THAT(child.err, Catch::Contains("triggered"));
  CHECK_FALSE(f.config("child")["config"].contains("OnBuild"));
}

TEST_CASE("metadata: --label adds labels to the final image", "[builder][metadata]") {
  BuildFixture f;
  REQUIRE(f.build("FROM busybox:latest\nLABEL a=1\n", "t", {"--label", "b=2"}).exit_code == 0);
  CHECK(f.config()["config"]["Labels"] == nlohmann::json({{"a", "1"}, {"b", "2"}}));
}
