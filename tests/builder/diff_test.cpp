// hoist diff IMAGE_A IMAGE_B: config fields first, then per layer position the paths that
// differ; exits 0 identical, 1 different, 2 on trouble, as diff(1).

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <sstream>

#include "tests/builder/build_fixture.h"

using build_test::BuildFixture;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("diff: two builds differing in one ENV and one file's mode name exactly those", "[builder][diff]") {
  BuildFixture f;
  const std::vector<std::string> epoch = {"SOURCE_DATE_EPOCH=1700000000"};
  f.write("a.txt", "a\n", 0644);
  f.write("b.txt", "b\n", 0644);
  const std::string dockerfile = "FROM busybox:latest\nENV A=1\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n";
  auto one = f.build(dockerfile, "one", {}, epoch);
  INFO(one.err);
  REQUIRE(one.exit_code == 0);
  REQUIRE(::chmod((f.context() + "/a.txt").c_str(), 0755) == 0);
  std::string changed = dockerfile;
  changed.replace(changed.find("A=1"), 3, "A=2");
  auto two = f.build(changed, "two", {}, epoch);
  INFO(two.err);
  REQUIRE(two.exit_code == 0);

  auto r = f.hoist().run({"diff", "one", "two"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  auto lines = lines_of(r.out);
  // The config: the ENV itself, and what follows from it (the ENV's history line, the
  // changed layer's diff_id). Nothing else: same times under SOURCE_DATE_EPOCH.
  std::vector<std::string> config_lines, path_lines;
  for (const auto& line : lines) {
    if (line.starts_with("config.")) config_lines.push_back(line);
    if (line.starts_with("  ")) path_lines.push_back(line);
  }
  REQUIRE(config_lines.size() == 3);
  CHECK(config_lines[0] == "config.config.Env[1]: \"A=1\" -> \"A=2\"");
  CHECK(config_lines[1] == "config.history[1].created_by: \"ENV A=1\" -> \"ENV A=2\"");
  CHECK_THAT(config_lines[2], Catch::StartsWith("config.rootfs.diff_ids[1]: "));
  // The layers: only the COPY of a.txt (layer 2) differs, in a.txt's mode alone.
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("layer "); }) == 1);
  CHECK_THAT(r.out, Catch::Contains("\nlayer 2: sha256:"));
  REQUIRE(path_lines.size() == 1);
  CHECK(path_lines[0] == "  changed /a.txt: mode 0644 -> 0755");
}

TEST_CASE("diff: identical images print identical and exit 0; errors exit 2", "[builder][diff]") {
  BuildFixture f;
  f.write("a.txt", "a\n");
  REQUIRE(f.build("FROM busybox:latest\nCOPY a.txt /a.txt\n", "one").exit_code == 0);
  REQUIRE(f.hoist().run({"tag", "one", "also"}).exit_code == 0);
  auto same = f.hoist().run({"diff", "one", "also"});
  CHECK(same.exit_code == 0);
  CHECK(same.out == "identical\n");

  auto missing = f.hoist().run({"diff", "one", "no-such-image"});
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, Catch::Contains("no such image"));
  CHECK(f.hoist().run({"diff", "one"}).exit_code == 2);
}

TEST_CASE("diff: added, removed, owner, mtime and link target changes per path", "[builder][diff]") {
  BuildFixture f;
  const std::vector<std::string> epoch = {"SOURCE_DATE_EPOCH=1700000000"};
  auto one = f.build(
      "FROM busybox:latest\n"
      "RUN touch -d @1000 /m && ln -s /a /l && echo x > /gone && echo o > /own\n",
      "one", {}, epoch);
  INFO(one.err);
  REQUIRE(one.exit_code == 0);
  auto two = f.build(
      "FROM busybox:latest\n"
      "RUN touch -d @2000 /m && ln -s /b /l && echo n > /new && echo o > /own && chown 7:8 /own\n",
      "two", {}, epoch);
  INFO(two.err);
  REQUIRE(two.exit_code == 0);
  auto r = f.hoist().run({"diff", "one", "two"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.out, Catch::Contains("  changed /m: mtime 1000 -> 2000\n"));
  CHECK_THAT(r.out, Catch::Contains("  changed /l: link target /a -> /b\n"));
  CHECK_THAT(r.out, Catch::Contains("  removed /gone\n"));
  CHECK_THAT(r.out, Catch::Contains("  added /new\n"));
  CHECK_THAT(r.out, Catch::Contains("  changed /own: owner 0:0 -> 7:8\n"));
}
