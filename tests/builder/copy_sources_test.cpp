// COPY/ADD sources that are not paths: ADD of http(s) URLs (served by a loopback
// cpp-httplib server inside the test) and here-documents.

#include <httplib.h>
#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "layers/digest.h"
#include "tests/builder/build_fixture.h"

using build_test::BuildFixture;
using build_test::count_lines_with;
using hoist_test::read_file;

namespace {

constexpr const char* kLastModified = "Wed, 21 Oct 2015 07:28:00 GMT";
constexpr int64_t kLastModifiedSeconds = 1445412480;

// Serves /files/plain.txt (Last-Modified, ETag, answers If-None-Match with 304),
// /nolm/data.bin (neither), /redirect (302 to plain.txt), /missing (404) and
// /archive.tar (a real tar, which ADD must not extract).
class FileServer {
 public:
  FileServer() {
    server_.Get("/files/plain.txt", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      ++plain_requests_;
      std::string etag = "\"" + std::string(layers::Digest::of(plain_).hex().substr(0, 16)) + "\"";
      if (req.get_header_value("If-None-Match") == etag) {
        ++not_modified_;
        res.status = 304;
        res.set_header("ETag", etag);
        return;
      }
      res.set_header("ETag", etag);
      res.set_header("Last-Modified", kLastModified);
      res.set_content(plain_, "text/plain");
    });
    server_.Get("/nolm/data.bin", [this](const httplib::Request&, httplib::Response& res) {
      ++nolm_requests_;
      res.set_content("no dates here\n", "application/octet-stream");
    });
    server_.Get("/redirect", [](const httplib::Request&, httplib::Response& res) {
      res.status = 302;
      res.set_header("Location", "/files/plain.txt");
    });
    server_.Get("/archive.tar", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(archive_, "application/x-tar");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FileServer() {
    server_.stop();
    thread_.join();
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  void set_plain(const std::string& text) {
    std::lock_guard lock(mutex_);
    plain_ = text;
  }
  void set_archive(std::string bytes) { archive_ = std::move(bytes); }
  int plain_requests() {
    std::lock_guard lock(mutex_);
    return plain_requests_;
  }
  int not_modified() {
    std::lock_guard lock(mutex_);
    return not_modified_;
  }
  int nolm_requests() const { return nolm_requests_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::string plain_ = "hello\n";
  std::string archive_;
  int plain_requests_ = 0;
  int not_modified_ = 0;
  std::atomic<int> nolm_requests_{0};
};

struct stat stat_of(const std::string& path) {
  struct stat st {};
  INFO(path);
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st;
}

}  // namespace

TEST_CASE("ADD URL: name from the URL, mode 0600, Last-Modified mtime, never extracted, --chown",
          "[builder][add-url]") {
  BuildFixture f;
  FileServer server;
  f.write("t/inner.txt", "inside\n");
  std::string tar = f.out_dir() + "/a.tar";
  REQUIRE(std::system(("tar -cf " + tar + " -C " + f.context() + "/t inner.txt").c_str()) == 0);
  server.set_archive(read_file(tar));

  std::string root = f.rootfs(
      "FROM scratch\n"
      "ADD " +
      server.url("/files/plain.txt") +
      " /dir/\n"
      "ADD " +
      server.url("/files/plain.txt?x=1") +
      " /named.txt\n"
      "ADD " +
      server.url("/nolm/data.bin") +
      " /nolm\n"
      "ADD --chown=1000:1001 " +
      server.url("/redirect") +
      " /redir/\n"
      "ADD " +
      server.url("/archive.tar") + " /tars/\n");
  CHECK(read_file(root + "/dir/plain.txt") == "hello\n");
  auto plain = stat_of(root + "/dir/plain.txt");
  CHECK((plain.st_mode & 07777) == 0600);
  CHECK(plain.st_mtime == kLastModifiedSeconds);
  CHECK(plain.st_uid == 0);

  CHECK(read_file(root + "/named.txt") == "hello\n");
  CHECK(S_ISREG(stat_of(root + "/named.txt").st_mode));

  CHECK(read_file(root + "/nolm") == "no dates here\n");
  CHECK(stat_of(root + "/nolm").st_mtime == 0);  // no Last-Modified: 1970, as BuildKit

  // The name comes from the URL as written, the bytes from where it redirected.
  CHECK(read_file(root + "/redir/redirect") == "hello\n");
  auto redirected = stat_of(root + "/redir/redirect");
  CHECK(redirected.st_uid == 1000);
  CHECK(redirected.st_gid == 1001);

  CHECK(read_file(root + "/tars/archive.tar") == read_file(tar));
  CHECK_FALSE(std::filesystem::exists(root + "/tars/inner.txt"));
}

TEST_CASE("ADD URL: a 404 fails the step, naming the URL and the status", "[builder][add-url]") {
  BuildFixture f;
  FileServer server;
  auto r = f.build("FROM scratch\nADD " + server.url("/missing") + " /x\n");
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("Dockerfile:2"));
  CHECK_THAT(r.err, Catch::Contains(server.url("/missing")));
  CHECK_THAT(r.err, Catch::Contains("404"));
}

TEST_CASE("ADD --checksum verifies the download and is only for one URL", "[builder][add-url]") {
  BuildFixture f;
  FileServer server;
  const std::string good = layers::Digest::of(std::string_view("hello\n")).str();
  const std::string bad = layers::Digest::of(std::string_view("other\n")).str();

  SECTION("a matching checksum builds; a rebuild asks the server nothing") {
    std::string df =
        "FROM scratch\nADD --checksum=" + good + " " + server.url("/files/plain.txt") + " /p\n";
    auto first = f.build(df);
    INFO(first.err);
    REQUIRE(first.exit_code == 0);
    int requests = server.plain_requests();
    CHECK(requests == 1);
    auto second = f.build(df);
    REQUIRE(second.exit_code == 0);
    CHECK(count_lines_with(second.err, "CACHED") == 1);
    CHECK(server.plain_requests() == requests);
  }
  SECTION("a mismatch fails with the step, the URL, expected and actual digest") {
    auto r = f.build("FROM scratch\nADD --checksum=" + bad + " " + server.url("/files/plain.txt") +
                     " /p\n");
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains("Dockerfile:2: ADD --checksum="));
    CHECK_THAT(r.err, Catch::Contains(server.url("/files/plain.txt")));
    CHECK_THAT(r.err, Catch::Contains("expected " + bad));
    CHECK_THAT(r.err, Catch::Contains("got " + good));
  }
  SECTION("misuse is refused") {
    f.write("local.txt", "x\n");
    auto local = f.build("FROM scratch\nADD --checksum=" + good + " local.txt /p\n");
    CHECK(local.exit_code != 0);
    CHECK_THAT(local.err, Catch::Contains("non-HTTP(S) sources"));
    auto copy = f.build("FROM scratch\nCOPY --checksum=" + good + " local.txt /p\n");
    CHECK(copy.exit_code != 0);
    CHECK_THAT(copy.err, Catch::Contains("checksum"));
    auto malformed = f.build("FROM scratch\nADD --checksum=sha256:nothex " +
                             server.url("/files/plain.txt") + " /p\n");
    CHECK(malformed.exit_code != 0);
    CHECK_THAT(malformed.err, Catch::Contains("--checksum=sha256:nothex"));
    auto url_copy = f.build("FROM scratch\nCOPY " + server.url("/files/plain.txt") + " /p\n");
    CHECK(url_copy.exit_code != 0);
    CHECK_THAT(url_copy.err, Catch::Contains("use ADD"));
  }
}

TEST_CASE("ADD URL cache: asked again every build, cached while the content is the same",
          "[builder][add-url]") {
  BuildFixture f;
  FileServer server;
  const std::string df = "FROM scratch\nADD " + server.url("/files/plain.txt") + " /p\nADD " +
                         server.url("/nolm/data.bin") + " /n\n";
  auto first = f.build(df);
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(count_lines_with(first.err, "CACHED") == 0);

  // With an ETag: one conditional request, answered 304; without: downloaded again.
  auto second = f.build(df);
  REQUIRE(second.exit_code == 0);
  CHECK(count_lines_with(second.err, "CACHED") == 2);
  CHECK(server.plain_requests() == 2);
  CHECK(server.not_modified() == 1);
  CHECK(server.nolm_requests() == 2);

  // New content (and so a new ETag) rebuilds the step with the new bytes.
  server.set_plain("changed\n");
  std::string root = f.rootfs(df);
  CHECK(read_file(root + "/p") == "changed\n");
  CHECK(server.not_modified() == 1);
}

TEST_CASE("COPY heredocs: content, mode, expansion unless quoted, several files",
          "[builder][heredoc]") {
  BuildFixture f;
  const std::string df =
      "FROM scratch\n"
      "ENV NAME=world\n"
      "COPY <<EOF /hello.txt\n"
      "hello $NAME \"quoted\" \\$NAME\n"
      "EOF\n"
      "COPY <<'EOF' /raw.txt\n"
      "hello $NAME\n"
      "EOF\n"
      "COPY <<a.txt <<b.txt /dir/\n"
      "first\n"
      "a.txt\n"
      "second\n"
      "b.txt\n"
      "ADD --chmod=0755 <<-EOF /script.sh\n"
      "\t#!/bin/sh\n"
      "\techo hi\n"
      "\tEOF\n";
  std::string root = f.rootfs(df);
  CHECK(read_file(root + "/hello.txt") == "hello world \"quoted\" $NAME\n");
  CHECK((stat_of(root + "/hello.txt").st_mode & 07777) == 0644);
  CHECK(read_file(root + "/raw.txt") == "hello $NAME\n");
  CHECK(read_file(root + "/dir/a.txt") == "first\n");
  CHECK(read_file(root + "/dir/b.txt") == "second\n");
  CHECK(read_file(root + "/script.sh") == "#!/bin/sh\necho hi\n");
  CHECK((stat_of(root + "/script.sh").st_mode & 07777) == 0755);

  SECTION("a rebuild is cached; a changed body rebuilds") {
    auto again = f.build(df);
    REQUIRE(again.exit_code == 0);
    CHECK(count_lines_with(again.err, "CACHED") == 5);
    std::string changed = df;
    changed.replace(changed.find("ENV NAME=world"), 14, "ENV NAME=there");
    std::string root2 = f.rootfs(changed);
    CHECK(read_file(root2 + "/hello.txt") == "hello there \"quoted\" $NAME\n");
    CHECK(read_file(root2 + "/raw.txt") == "hello $NAME\n");
  }
  SECTION("several heredocs need a directory destination") {
    auto r = f.build("FROM scratch\nCOPY <<a <<b /file\nx\na\ny\nb\n");
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains("must be a directory"));
  }
}
