// --cache-to / --cache-from: two stores on one machine play two CI runners. Runner A builds
// and exports its cache (to a directory, or a real registry on 127.0.0.1); runner B, with an
// empty store, imports it and runs no RUN step (each RUN prints a marker only when it runs),
// giving the same image id; after a one-file change only the steps that depend on it run.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <set>

#include "tests/builder/build_fixture.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/skip.h"

using build_test::count_lines_with;
using hoist_test::read_file;
using hoist_test::write_file;

namespace {

// The output line "RAN:x" appears only when the step runs: its title shows "RAN:"x.
const char* kSharedCacheDockerfile =
    "FROM busybox:latest\n"
    "COPY a.txt /a.txt\n"
    "RUN cat /a.txt > /a.copy && echo \"RAN:\"a\n"
    "COPY b.txt /b.txt\n"
    "RUN cat /b.txt > /b.copy && echo \"RAN:\"b\n";

const char* kTwoStages =
    "FROM busybox:latest AS builder\n"
    "RUN echo built > /built && echo \"RAN:\"builder\n"
    "FROM busybox:latest\n"
    "COPY --from=builder /built /built\n"
    "RUN cat /built > /final && echo \"RAN:\"final\n";

// A runner: a store of its own with the same busybox image as every other runner's.
class Runner {
 public:
  Runner() {
    auto imported = hoist_.import_busybox("busybox:latest", {"SOURCE_DATE_EPOCH=1700000000"});
    INFO(imported.err);
    REQUIRE(imported.exit_code == 0);
  }
  // hoist build --progress plain [extra...] CONTEXT; the image id in *iid.
  hoist_test::RunResult build(const std::string& context, std::vector<std::string> extra, std::string* iid = nullptr) {
    std::string iid_file = out_.path() + "/iid";
    std::vector<std::string> args = {"build", "--progress", "plain", "--iidfile", iid_file};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(context);
    auto r = hoist_.run(args);
    if (iid && r.exit_code == 0) *iid = read_file(iid_file);
    return r;
  }
  const hoist_test::HoistRunner& hoist() const { return hoist_; }

 private:
  hoist_test::HoistRunner hoist_;
  hoist_test::TempDir out_{"hoist-out"};
};

struct Context {
  hoist_test::TempDir dir{"hoist-ctx"};
  Context(const std::string& dockerfile) {
    write_file(dir.path() + "/Dockerfile", dockerfile);
    write_file(dir.path() + "/a.txt", "a\n");
    write_file(dir.path() + "/b.txt", "b\n");
  }
  std::string path() const { return dir.path(); }
};

// The output lines of steps that ran (a title shows `"RAN:"x`, an output line ` RAN:x`).
int runs(const hoist_test::RunResult& r) { return count_lines_with(r.err, " RAN:"); }

// Runner A exports to `to`; runner B imports `from`: no RUN runs, same image id; then a
// change to b.txt runs only the steps after COPY b.txt.
void check_two_runners(const std::string& to, const std::string& from) {
  Context context(kSharedCacheDockerfile);
  Runner a, b;
  std::string iid_a, iid_b;
  auto built = a.build(context.path(), {"--cache-to", to}, &iid_a);
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  CHECK(runs(built) == 2);
  CHECK_THAT(built.err, Catch::Contains("exported cache to"));

  auto imported = b.build(context.path(), {"--cache-from", from}, &iid_b);
  INFO(imported.err);
  REQUIRE(imported.exit_code == 0);
  CHECK(runs(imported) == 0);
  CHECK(count_lines_with(imported.err, "CACHED") == 4);
  CHECK(iid_b == iid_a);
  auto ran = b.hoist().run({"run", "--rm", iid_b, "cat", "/a.copy", "/b.copy"});
  INFO(ran.err);
  CHECK(ran.out == "a\nb\n");

  write_file(context.path() + "/b.txt", "changed\n");
  auto changed = b.build(context.path(), {"--cache-from", from}, &iid_b);
  INFO(changed.err);
  REQUIRE(changed.exit_code == 0);
  CHECK(count_lines_with(changed.err, " RAN:a") == 0);
  CHECK(count_lines_with(changed.err, " RAN:b") == 1);
  CHECK(count_lines_with(changed.err, "CACHED") == 2);
}

bool have_registry() { return ::access("/usr/bin/docker-registry", X_OK) == 0; }

// A runner of its own builds `context` and exports its cache to `dir`.
void export_local(const Context& context, const std::string& dir) {
  Runner a;
  auto built = a.build(context.path(), {"--cache-to", "type=local,dest=" + dir});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
}

// The cache manifest a type=local directory's index.json tags.
nlohmann::json cache_manifest(const std::string& dir) {
  auto index = nlohmann::json::parse(read_file(dir + "/index.json"));
  const std::string digest = index.at("manifests").at(0).at("digest").get<std::string>();
  return nlohmann::json::parse(read_file(dir + "/blobs/sha256/" + digest.substr(7)));
}

}  // namespace

TEST_CASE("shared cache: type=local, runner B runs no RUN step and gets runner A's image",
          "[builder][shared_cache]") {
  hoist_test::TempDir cache("hoist-cache");
  check_two_runners("type=local,dest=" + cache.path(), "type=local,src=" + cache.path());
  // The directory is an OCI layout whose index tags the cache manifest "latest".
  auto index = nlohmann::json::parse(read_file(cache.path() + "/index.json"));
  REQUIRE(index.at("manifests").size() == 1);
  CHECK(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "latest");
}

TEST_CASE("shared cache: type=registry, runner B runs no RUN step and gets runner A's image",
          "[builder][shared_cache][push]") {
  if (!have_registry()) HOIST_SKIP("docker-registry not installed (Debian package docker-registry)");
  hoist_test::RegistryServer registry({});
  REQUIRE(registry.start_error() == "");
  const std::string ref = registry.host() + "/hoist/cache:v1";
  check_two_runners("type=registry,ref=" + ref + ",mode=max", "type=registry,ref=" + ref);
}

TEST_CASE("shared cache: mode=min exports the final stage's steps, mode=max every stage's",
          "[builder][shared_cache]") {
  Context context(kTwoStages);
  hoist_test::TempDir min_dir("hoist-cache"), max_dir("hoist-cache");
  Runner a;
  auto built = a.build(context.path(), {"--cache-to", "type=local,dest=" + min_dir.path() + ",mode=min", "--cache-to",
                                        "type=local,dest=" + max_dir.path() + ",mode=max"});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);
  CHECK(runs(built) == 2);

  Runner with_min;
  auto from_min = with_min.build(context.path(), {"--cache-from", "type=local,src=" + min_dir.path()});
  INFO(from_min.err);
  REQUIRE(from_min.exit_code == 0);
  CHECK(count_lines_with(from_min.err, " RAN:builder") == 1);
  CHECK(count_lines_with(from_min.err, " RAN:final") == 0);

  Runner with_max;
  auto from_max = with_max.build(context.path(), {"--cache-from", "type=local,src=" + max_dir.path()});
  INFO(from_max.err);
  REQUIRE(from_max.exit_code == 0);
  CHECK(runs(from_max) == 0);
}

TEST_CASE("shared cache: a missing or damaged cache warns, naming it, and the build goes on",
          "[builder][shared_cache]") {
  Context context(kSharedCacheDockerfile);
  hoist_test::TempDir cache("hoist-cache");
  export_local(context, cache.path());

  SECTION("missing directory") {
    Runner b;
    const std::string missing = cache.path() + "/nothing-here";
    auto r = b.build(context.path(), {"--cache-from", "type=local,src=" + missing});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains("warning: --cache-from type=local \"" + missing + "\""));
    CHECK(runs(r) == 2);
  }
  SECTION("a layer blob damaged: nothing of that cache is trusted") {
    const std::string layer = cache_manifest(cache.path())["layers"][0]["digest"].get<std::string>().substr(7);
    write_file(cache.path() + "/blobs/sha256/" + layer, "not the layer");
    Runner b;
    auto r = b.build(context.path(), {"--cache-from", "type=local,src=" + cache.path()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains("warning: --cache-from type=local"));
    CHECK_THAT(r.err, Catch::Contains(layer));
    CHECK(runs(r) == 2);
  }
  SECTION("a registry without the cache") {
    if (!have_registry()) HOIST_SKIP("docker-registry not installed (Debian package docker-registry)");
    hoist_test::RegistryServer registry({});
    REQUIRE(registry.start_error() == "");
    const std::string ref = registry.host() + "/hoist/nocache:v1";
    Runner b;
    auto r = b.build(context.path(), {"--cache-from", "type=registry,ref=" + ref});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains("warning: --cache-from type=registry " + ref));
    CHECK(runs(r) == 2);
  }
}

TEST_CASE("shared cache: what hoist does not implement is refused, naming it", "[builder][shared_cache]") {
  Context context(kSharedCacheDockerfile);
  hoist_test::HoistRunner hoist;
  struct Case {
    std::string flag, value, named;
  };
  for (const Case& c : {Case{"--cache-to", "type=gha", "\"gha\""}, Case{"--cache-to", "type=inline", "\"inline\""},
                        Case{"--cache-from", "type=s3,ref=x", "\"s3\""},
                        Case{"--cache-to", "type=registry,ref=127.0.0.1:1/c:v1,compression=zstd", "\"compression\""},
                        Case{"--cache-to", "type=local,dest=/tmp/x,mode=all", "\"all\""},
                        Case{"--cache-from", "type=local,src=/tmp/x,mode=max", "\"mode\""},
                        Case{"--cache-to", "type=local,src=/tmp/x", "\"src\""}}) {
    auto r = hoist.run({"build", c.flag, c.value, context.path()});
    INFO(c.flag << " " << c.value << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(c.flag) && Catch::Contains(c.named));
  }
}

TEST_CASE("shared cache: an imported layer is fetched only when the build needs it", "[builder][shared_cache]") {
  Context context(kSharedCacheDockerfile);
  hoist_test::TempDir cache("hoist-cache");
  export_local(context, cache.path());

  // Runner B builds the first three steps only: all CACHED, and the cache's other layers
  // (COPY b.txt, the RUN after it) never reach its store.
  write_file(context.path() + "/Dockerfile", "FROM busybox:latest\nCOPY a.txt /a.txt\n"
                                             "RUN cat /a.txt > /a.copy && echo \"RAN:\"a\n");
  Runner b;
  std::string iid;
  auto r = b.build(context.path(), {"-t", "prefix", "--cache-from", "type=local,src=" + cache.path()}, &iid);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(runs(r) == 0);
  auto inspected = b.hoist().run({"inspect", "prefix"});
  REQUIRE(inspected.exit_code == 0);
  auto image = nlohmann::json::parse(inspected.out);
  if (image.is_array()) image = image.at(0);
  std::set<std::string> in_image;
  for (const auto& l : image.at("Manifest").at("layers")) in_image.insert(l.at("digest").get<std::string>());
  const nlohmann::json manifest = cache_manifest(cache.path());
  int not_needed = 0;
  for (const auto& l : manifest.at("layers")) {
    const std::string digest = l.at("digest").get<std::string>();
    const bool fetched = ::access((b.hoist().root() + "/blobs/sha256/" + digest.substr(7)).c_str(), F_OK) == 0;
    INFO(digest);
    CHECK(fetched == (in_image.count(digest) == 1));
    not_needed += in_image.count(digest) == 0;
  }
  CHECK(not_needed == 2);
}

TEST_CASE("shared cache: --push to the cache's registry mounts the cached layers instead of uploading them",
          "[builder][shared_cache][push]") {
  if (!have_registry()) HOIST_SKIP("docker-registry not installed (Debian package docker-registry)");
  hoist_test::RegistryServer registry({});
  REQUIRE(registry.start_error() == "");
  const std::string cache_ref = registry.host() + "/hoist/cache:v1", app = registry.host() + "/hoist/app:v1";
  Context context(kSharedCacheDockerfile);
  Runner a, b;
  auto built = a.build(context.path(), {"--cache-to", "type=registry,ref=" + cache_ref});
  INFO(built.err);
  REQUIRE(built.exit_code == 0);

  hoist_test::TempDir out("hoist-out");
  auto pushed = b.hoist().run({"--debug", "build", "--progress", "plain", "--cache-from", "type=registry,ref=" + cache_ref,
                               "--push", "-t", app, context.path()});
  INFO(pushed.err);
  REQUIRE(pushed.exit_code == 0);
  CHECK(runs(pushed) == 0);
  // The four cached layers are mounted from hoist/cache (a POST that answers 201); only
  // the base layer and the config are uploaded (202, then PUT).
  CHECK(count_lines_with(pushed.err, "/v2/hoist/app/blobs/uploads/ -> 201") == 4);
  CHECK(count_lines_with(pushed.err, "/v2/hoist/app/blobs/uploads/ -> 202") == 2);
  hoist_test::HoistRunner c;
  auto pulled = c.run({"pull", app});
  INFO(pulled.err);
  CHECK(pulled.exit_code == 0);
}
