#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/users.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using runtime::ResolvedUser;
using runtime::UserPurpose;
using Ids = std::vector<uint32_t>;

namespace {

const char kPasswd[] =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "broken line without fields\n"
    "app:x:1000:1001:App:/home/app:/bin/sh\r\n"
    "svc:x:998:998::/:/bin/false\n";
const char kGroup[] =
    "root:x:0:\n"
    "daemon:x:1:\n"
    "appgrp:x:1001:\n"
    "staff:x:50:app,svc\n"
    "audio:x:29:daemon,app\n"
    "svc:x:998:\n";

// The shared temp dir (tests/support/temp_dir.h), under the name and `path` this file uses.
struct Scratch {
  hoist_test::TempDir dir{"hoist-users"};
  const std::string& path = dir.path();
};

void write_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

}  // namespace

TEST_CASE("users: USER specs resolve like Docker's", "[builder][users]") {
  auto [spec, uid, gid, groups] = GENERATE(table<std::string, uint32_t, uint32_t, Ids>({
      {"root", 0, 0, {0}},
      {"0", 0, 0, {0}},
      {"app", 1000, 1001, {29, 50, 1001}},
      {"1000", 1000, 1001, {29, 50, 1001}},
      {"app:staff", 1000, 50, {50}},
      {"app:7", 1000, 7, {7}},
      {"1000:50", 1000, 50, {50}},
      {"svc", 998, 998, {50, 998}},
      {"4242", 4242, 0, {0}},        // not in passwd: gid 0, as Docker
      {"4242:4242", 4242, 4242, {4242}},
      {"4294967294", 4294967294u, 0, {0}},
  }));
  CAPTURE(spec);
  auto user = runtime::resolve_user_in(spec, kPasswd, kGroup, runtime::UserPurpose::Run);
  REQUIRE(user);
  CHECK(user->uid == uid);
  CHECK(user->gid == gid);
  CHECK(user->supplementary_gids == groups);
}

TEST_CASE("users: --chown without a group uses the uid as gid", "[builder][users]") {
  auto [spec, uid, gid] = GENERATE(table<std::string, uint32_t, uint32_t>({
      {"app", 1000, 1000},
      {"1000", 1000, 1000},
      {"4242", 4242, 4242},
      {"app:staff", 1000, 50},
      {"10:11", 10, 11},
  }));
  CAPTURE(spec);
  auto user = runtime::resolve_user_in(spec, kPasswd, kGroup, runtime::UserPurpose::Chown);
  REQUIRE(user);
  CHECK(user->uid == uid);
  CHECK(user->gid == gid);
  CHECK(user->supplementary_gids.empty());
}

TEST_CASE("users: bad specs and unknown names are refused", "[builder][users]") {
  auto [spec, kind, says] = GENERATE(table<std::string, layers::ErrorKind, std::string>({
      {"", layers::ErrorKind::InvalidInput, "user[:group]"},
      {"a:b:c", layers::ErrorKind::InvalidInput, "user[:group]"},
      {":staff", layers::ErrorKind::InvalidInput, "user[:group]"},
      {"app:", layers::ErrorKind::InvalidInput, "user[:group]"},
      {"4294967295", layers::ErrorKind::InvalidInput, "out of range"},
      {"99999999999999999999", layers::ErrorKind::InvalidInput, "out of range"},
      {"app:4294967295", layers::ErrorKind::InvalidInput, "out of range"},
      {"nobody", layers::ErrorKind::NotFound, "unable to find user \"nobody\""},
      {"app:wheel", layers::ErrorKind::NotFound, "unable to find group \"wheel\""},
      {"-1", layers::ErrorKind::NotFound, "unable to find user \"-1\""},
  }));
  CAPTURE(spec);
  auto user = runtime::resolve_user_in(spec, kPasswd, kGroup, runtime::UserPurpose::Run);
  REQUIRE_FALSE(user);
  CHECK(user.error().kind() == kind);
  CHECK_THAT(user.error().message(), Catch::Contains(says));
}

TEST_CASE("users: passwd and group are read from the root", "[builder][users]") {
  Scratch s;
  const std::string root = s.path + "/root";
  write_file(root + "/etc/passwd", "img:x:2000:2000::/home/img:/bin/sh\n");
  write_file(root + "/etc/group", "img:x:2000:\nextra:x:3000:img\n");
  auto user = runtime::resolve_user(root, "img", runtime::UserPurpose::Run);
  REQUIRE(user);
  CHECK(user->uid == 2000);
  CHECK(user->home == "/home/img");
  CHECK(user->supplementary_gids == Ids{2000, 3000});
}

TEST_CASE("users: a symlinked /etc/passwd never leaves the root", "[builder][users]") {
  Scratch s;
  const std::string root = s.path + "/root";
  // Outside the root, where a naive open would land.
  write_file(s.path + "/outside/passwd", "evil:x:666:666::/:/bin/sh\n");
  // Inside the root, where the same link lands when the root is "/".
  write_file(root + "/outside/passwd", "good:x:1000:1000::/:/bin/sh\n");
  fs::create_directories(root + "/etc");
  auto target = GENERATE(as<std::string>{}, "../../outside/passwd", "/outside/passwd");
  CAPTURE(target);
  fs::create_symlink(target, root + "/etc/passwd");

  auto evil = runtime::resolve_user(root, "evil", runtime::UserPurpose::Run);
  REQUIRE_FALSE(evil);
  CHECK(evil.error().kind() == layers::ErrorKind::NotFound);
  auto good = runtime::resolve_user(root, "good", runtime::UserPurpose::Run);
  REQUIRE(good);
  CHECK(good->uid == 1000);
}

TEST_CASE("users: missing files mean numeric ids only", "[builder][users]") {
  Scratch s;
  fs::create_directories(s.path + "/root");
  auto numeric = runtime::resolve_user(s.path + "/root", "123:456", runtime::UserPurpose::Run);
  REQUIRE(numeric);
  CHECK(numeric->uid == 123);
  CHECK(numeric->gid == 456);
  auto named = runtime::resolve_user(s.path + "/root", "app", runtime::UserPurpose::Run);
  REQUIRE_FALSE(named);
  CHECK(named.error().kind() == layers::ErrorKind::NotFound);
}

TEST_CASE("users: a FIFO as /etc/passwd is refused, not waited on", "[builder][users]") {
  Scratch s;
  fs::create_directories(s.path + "/root/etc");
  REQUIRE(::mkfifo((s.path + "/root/etc/passwd").c_str(), 0644) == 0);
  auto user = runtime::resolve_user(s.path + "/root", "app", runtime::UserPurpose::Run);
  REQUIRE_FALSE(user);
  CHECK(user.error().kind() == layers::ErrorKind::InvalidInput);
  CHECK_THAT(user.error().message(), Catch::Contains("not a regular file"));
}
