// COPY's path rules, one build per row, checked against the rules in the Dockerfile
// reference ("COPY": sources, wildcards, directories, trailing slashes, WORKDIR).

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "tests/builder/build_fixture.h"

using build_test::BuildFixture;

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("COPY path rules follow Docker's documentation", "[builder][copy]") {
  // instruction | must exist (a trailing / means a directory) | must not exist | fails?
  auto [copy, present, absent, fails] = GENERATE(table<std::string, std::string, std::string, bool>({
      {"COPY a.txt /x", "x", "x/a.txt", false},                         // file to a new path
      {"COPY a.txt /x/", "x/,x/a.txt", "", false},                      // trailing /: into dir
      {"COPY a.txt .", "w/a.txt", "", false},                           // relative to WORKDIR
      {"COPY a.txt rel", "w/rel", "w/rel/a.txt", false},                // relative file path
      {"COPY dir /y", "y/,y/c.txt,y/sub/,y/sub/d.txt", "y/dir", false}, // contents, not the dir
      {"COPY *.txt /z/", "z/a.txt,z/b.txt", "z/ignored.txt,z/c.txt", false},  // wildcard, ignore
      {"COPY a.txt b.txt /m/", "m/a.txt,m/b.txt", "", false},           // several sources
      {"COPY a.txt /etc", "etc/a.txt,etc/passwd", "", false},           // existing dir in image
      {"COPY dir/*/d.txt /n/", "n/d.txt", "n/sub", false},              // wildcard in a parent
      {"COPY --exclude=sub dir /e/", "e/c.txt", "e/sub", false},        // --exclude
      {"COPY dir/ /deep/er/", "deep/er/c.txt", "", false},              // parents created
      {"COPY a.txt b.txt /nodir", "", "", true},                        // several: need a dir/
      {"COPY ignored.txt /i", "", "", true},                            // .dockerignore'd
      {"COPY ../a.txt /", "", "", true},                                // outside the context
      {"COPY nothing* /", "", "", true},                                // wildcard, no match
      {"COPY missing.txt /", "", "", true},                             // no such file
  }));
  CAPTURE(copy);
  BuildFixture f;
  f.write("a.txt", "a\n");
  f.write("b.txt", "b\n");
  f.write("ignored.txt", "i\n");
  f.write("dir/c.txt", "c\n");
  f.write("dir/sub/d.txt", "d\n");
  f.write(".dockerignore", "ignored.txt\n");
  std::string dockerfile = "FROM busybox:latest\nWORKDIR /w\n" + copy + "\n";
  if (fails) {
    auto r = f.build(dockerfile);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("Dockerfile:3"));
    return;
  }
  std::string root = f.rootfs(dockerfile);
  for (const auto& path : split_list(present)) {
    CAPTURE(path);
    struct stat st;
    bool is_dir = path.ends_with('/');
    REQUIRE(::lstat((root + "/" + path).c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode) == is_dir);
  }
  for (const auto& path : split_list(absent)) {
    CAPTURE(path);
    struct stat st;
    CHECK(::lstat((root + "/" + path).c_str(), &st) != 0);
  }
}

TEST_CASE("COPY --chown and --chmod set owners and modes; names come from the image", "[builder][copy]") {
  BuildFixture f;
  f.write("a.txt", "a\n", 0600);
  f.write("dir/c.txt", "c\n", 0644);
  auto [flags, uid, gid, mode] = GENERATE(table<std::string, uid_t, gid_t, mode_t>({
      {"", 0, 0, 0600},
      {"--chown=daemon", 1, 1, 0600},         // busybox's passwd: daemon is 1:1
      {"--chown=1234:5678", 1234, 5678, 0600},
      {"--chown=www-data:daemon", 33, 1, 0600},
      {"--chmod=0755", 0, 0, 0755},
  }));
  CAPTURE(flags);
  std::string root = f.rootfs("FROM busybox:latest\nCOPY " + flags + " a.txt /a.txt\n");
  struct stat st;
  REQUIRE(::lstat((root + "/a.txt").c_str(), &st) == 0);
  CHECK(st.st_uid == uid);
  CHECK(st.st_gid == gid);
  CHECK((st.st_mode & 07777) == mode);
}

TEST_CASE("COPY --chown with a name the image does not know fails naming it", "[builder][copy]") {
  BuildFixture f;
  f.write("a.txt", "a\n");
  auto r = f.build("FROM busybox:latest\nCOPY --chown=nosuchuser a.txt /\n");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("nosuchuser"));
}

TEST_CASE("ADD extracts local tar archives of every compression", "[builder][copy]") {
  BuildFixture f;
  f.write("payload/inner/file.txt", "inside\n");
  auto compression = GENERATE(as<std::string>{}, "", "gzip", "bzip2", "xz", "zstd");
  CAPTURE(compression);
  std::string flag = compression.empty() ? "" : "--" + compression;
  auto made = hoist_test::run_program(
      {"sh", "-c", "tar -C " + f.context() + "/payload " + flag + " -cf " + f.context() + "/archive.tar inner"});
  REQUIRE(made.exit_code == 0);
  std::string root = f.rootfs("FROM busybox:latest\nADD archive.tar /unpacked/\nCOPY archive.tar /copied/\n");
  CHECK(hoist_test::read_file(root + "/unpacked/inner/file.txt") == "inside\n");
  struct stat st;
  CHECK(::lstat((root + "/copied/archive.tar").c_str(), &st) == 0);
}

// `ADD rootfs.tar /` (how Debian's own images are made) failed with `setting times of "/"`
// on any base: the root was taken for a parent directory whose time to restore.
TEST_CASE("ADD of a tar archive into / extracts it at the root", "[builder][copy]") {
  BuildFixture f;
  f.write("payload/etc/added.txt", "at the root\n");
  auto made = hoist_test::run_program({"tar", "-C", f.context() + "/payload", "-cf", f.context() + "/rootfs.tar",
                                       "etc/added.txt"});
  REQUIRE(made.exit_code == 0);
  std::string root = f.rootfs("FROM busybox:latest\nADD rootfs.tar /\n");
  CHECK(hoist_test::read_file(root + "/etc/added.txt") == "at the root\n");
  CHECK(hoist_test::read_file(root + "/etc/passwd").starts_with("root:x:0:0:"));
}

// COPY --parents as the Dockerfile reference shows it ("COPY --parents"): each source keeps
// its path under the destination, "/./" is the pivot, `**` spans directories, --from works
// the same; the directories on the way keep their own metadata.
TEST_CASE("COPY --parents keeps the sources' parent directories", "[builder][copy][parents]") {
  BuildFixture f;
  for (const char* rel : {"x/a.txt", "y/a.txt", "x/y/b.txt", "x/y/c.md", "src/a.txt", "src/x/b.txt",
                          "src/x/y/c.txt", "src/x/y/d.md", "dir/sub/d.txt", "ignored.txt"})
    f.write(rel, std::string(rel) + "\n");
  f.write(".dockerignore", "ignored.txt\n");
  REQUIRE(::chmod((f.context() + "/dir/sub").c_str(), 0700) == 0);
  const std::string dockerfile =
      "FROM busybox:latest AS stage\n"
      "RUN mkdir -p /opt/app/lib && echo so > /opt/app/lib/l.so && echo no > /opt/app/other\n"
      "FROM busybox:latest\n"
      "WORKDIR /w\n"
      "COPY ./x/a.txt ./y/a.txt /no_parents/\n"
      "COPY --parents ./x/a.txt ./y/a.txt /parents/\n"
      "COPY --parents ./x/./y/*.txt /pivot/\n"
      "COPY --parents ./src/**/*.txt /glob/\n"
      "COPY --parents x /dirmatch\n"
      "COPY --parents --from=stage /opt/./app/lib/*.so /from/\n"
      "COPY --parents dir/sub/d.txt rel/\n"
      "COPY --parents --exclude=*.md x/y /ex/\n"
      "COPY --parents=false x/a.txt /off/\n";
  const std::string root = f.rootfs(dockerfile);
  auto exists = [&](const std::string& rel) {
    struct stat st;
    return ::lstat((root + "/" + rel).c_str(), &st) == 0;
  };
  for (const char* present : {"no_parents/a.txt", "parents/x/a.txt", "parents/y/a.txt", "pivot/y/b.txt",
                              "glob/src/a.txt", "glob/src/x/b.txt", "glob/src/x/y/c.txt", "dirmatch/x/a.txt",
                              "dirmatch/x/y/b.txt", "dirmatch/x/y/c.md", "from/app/lib/l.so",
                              "w/rel/dir/sub/d.txt", "ex/x/y/b.txt", "off/a.txt"}) {
    CAPTURE(present);
    CHECK(exists(present));
  }
  for (const char* absent : {"no_parents/x", "pivot/x", "pivot/b.txt", "pivot/y/c.md", "glob/src/x/y/d.md",
                             "glob/a.txt", "from/opt", "from/app/other", "ex/x/y/c.md", "off/x"}) {
    CAPTURE(absent);
    CHECK_FALSE(exists(absent));
  }
  CHECK(hoist_test::read_file(root + "/no_parents/a.txt") == "y/a.txt\n");
  CHECK(hoist_test::read_file(root + "/parents/x/a.txt") == "x/a.txt\n");
  struct stat st;
  REQUIRE(::lstat((root + "/w/rel/dir/sub").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);  // the context's directory, not a made-up 0755

  // The flag changes the result, so it changes the step's cache key.
  auto plain = f.build("FROM busybox:latest\nCOPY x/a.txt /k/\n");
  REQUIRE(plain.exit_code == 0);
  auto parents = f.build("FROM busybox:latest\nCOPY --parents x/a.txt /k/\n");
  INFO(parents.err);
  REQUIRE(parents.exit_code == 0);
  CHECK(build_test::count_lines_with(parents.err, "CACHED") == 0);
}

TEST_CASE("COPY --parents: a source that names nothing fails naming it", "[builder][copy][parents]") {
  auto copy = GENERATE(as<std::string>{}, "COPY --parents missing.txt /m/", "COPY --parents nothing* /m/",
                       "COPY --parents ../a.txt /m/", "COPY --parents ignored.txt /m/",
                       "COPY --parents missing/./a.txt /m/");
  CAPTURE(copy);
  BuildFixture f;
  f.write("a.txt", "a\n");
  f.write("ignored.txt", "i\n");
  f.write(".dockerignore", "ignored.txt\n");
  auto r = f.build("FROM busybox:latest\n" + copy + "\n");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("Dockerfile:2"));
}
