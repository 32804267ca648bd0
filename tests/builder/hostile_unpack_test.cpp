// The generated hostile corpus (tests/support/hostile_layers.h) through the real hoist
// binary: `hoist import` of the layer, `hoist load` of a docker-archive stacking it on
// busybox, `hoist build` FROM that image with `RUN true` (the trust-boundary issue's
// reproduction), `hoist run IMAGE true`, and `ADD` of the tar in a build. Whatever the
// outcome (refused naming an entry, or contained), the canary beside the store must be
// untouched, and no trusted.overlay.opaque may appear on it.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "layers/digest.h"
#include "layers/image.h"
#include "layers/unique_fd.h"
#include "registry/client.h"
#include "tests/builder/build_fixture.h"
#include "tests/builder/hoist_runner.h"
#include "tests/support/canary.h"
#include "tests/support/hostile_layers.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/skip.h"

using hoist_test::Outcome;

namespace {

// An image config with busybox's PATH and CMD ["sh"], over layers `diff_ids`.
nlohmann::json image_config(const nlohmann::json& diff_ids) {
  return {
      {"architecture", "amd64"},
      {"os", "linux"},
      {"config", {{"Env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
                  {"Cmd", {"sh"}}}},
      {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}},
  };
}

// A docker-archive (docker save's format) of one image: `base` then `layers`, tagged `tag`.
std::string docker_archive(const std::string& base, const std::vector<std::string>& layers,
                           const std::string& tag) {
  std::vector<std::string> all = {base};
  all.insert(all.end(), layers.begin(), layers.end());
  nlohmann::json diff_ids = nlohmann::json::array(), files = nlohmann::json::array();
  hoist_test::TarWriter out;
  for (size_t i = 0; i < all.size(); ++i) {
    diff_ids.push_back(layers::Digest::of(all[i]).str());
    std::string name = "layer" + std::to_string(i) + ".tar";
    files.push_back(name);
    out.file(name, all[i]);
  }
  const nlohmann::json config = image_config(diff_ids);
  std::string config_text = config.dump();
  std::string config_name = std::string(layers::Digest::of(config_text).hex()) + ".json";
  out.file(config_name, config_text);
  nlohmann::json manifest = nlohmann::json::array(
      {{{"Config", config_name}, {"RepoTags", {tag}}, {"Layers", files}}});
  out.file("manifest.json", manifest.dump());
  return out.finish();
}

// Passes when hoist either succeeded or failed naming one of `entries`.
void check_refused_or_ok(const hoist_test::RunResult& r, const std::vector<std::string>& entries,
                         bool must_succeed) {
  INFO("exit " << r.exit_code << ": " << r.err);
  if (must_succeed) {
    CHECK(r.exit_code == 0);
    return;
  }
  if (r.exit_code == 0) return;
  CHECK(r.exit_code == 1);
  bool named = false;
  for (const auto& e : entries) named = named || r.err.find(e) != std::string::npos;
  CHECK(named);
}

// Puts `blobs` (bottom first: layers, uncompressed) and a config listing them as one image
// into `registry` at `repo:latest`, byte for byte: blobs, config and manifest go up through
// the registry client's upload API, so nothing checks or rewrites the hostile tars.
void put_raw_image(const hoist_test::RegistryServer& registry, const std::string& repo,
                   const std::vector<std::string>& blobs, const std::string& scratch) {
  registry::Client client(registry.host(), registry::ClientOptions{});
  auto upload = [&](const std::string& bytes) {
    const auto digest = layers::Digest::of(bytes);
    const std::string file = scratch + "/blob";
    hoist_test::write_file(file, bytes);
    layers::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    auto r = client.upload_blob(repo, digest, int64_t(bytes.size()), fd.get());
    INFO((r ? std::string() : r.error().message()));
    REQUIRE(r);
    return nlohmann::json{{"digest", digest.str()}, {"size", bytes.size()}};
  };
  nlohmann::json diff_ids = nlohmann::json::array(), layer_descs = nlohmann::json::array();
  for (const auto& blob : blobs) {
    auto desc = upload(blob);
    diff_ids.push_back(desc["digest"]);
    desc["mediaType"] = std::string(layers::media_type::kOciLayer);
    layer_descs.push_back(desc);
  }
  const nlohmann::json config = image_config(diff_ids);
  auto config_desc = upload(config.dump());
  config_desc["mediaType"] = "application/vnd.oci.image.config.v1+json";
  nlohmann::json manifest = {{"schemaVersion", 2},
                             {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"config", config_desc},
                             {"layers", layer_descs}};
  auto put = client.put_manifest(repo, "latest", manifest.dump(),
                                 "application/vnd.oci.image.manifest.v1+json");
  INFO((put ? std::string() : put.error().message()));
  REQUIRE(put);
}

bool has_opaque_xattr(const std::string& dir) {
  char value[2];
  return ::lgetxattr(dir.c_str(), "trusted.overlay.opaque", value, sizeof value) >= 0;
}

}  // namespace

TEST_CASE("hostile corpus through import, load, build FROM + RUN, run and ADD",
          "[builder][hostile][corpus]") {
  if (::geteuid() != 0) {
    HOIST_SKIP("RUN and hoist run need root (namespaces, overlayfs)");
  }
  build_test::BuildFixture f;
  hoist_test::TempDir outside("hoist-canary");
  auto canary = hoist_test::Canary::plant(outside.path() + "/canary");
  const std::string busybox = hoist_test::read_file(hoist_test::busybox_rootfs_tar());
  REQUIRE(!busybox.empty());
  const auto cases = hoist_test::hostile_cases(canary.dir());
  auto untouched = [&] {
    CHECK(canary.changes() == std::vector<std::string>{});
    CHECK_FALSE(has_opaque_xattr(canary.dir()));
    CHECK_FALSE(has_opaque_xattr(canary.dir() + "/sub"));
  };

  for (const auto& c : cases) {
    CAPTURE(c.name);
    const std::string tag = "hostile/" + c.name + ":latest";
    const std::string layer_file = f.context() + "/" + c.name + ".tar";
    hoist_test::write_file(layer_file, c.layers.back());
    const bool layer_ok = c.apply.outcome == Outcome::Contained &&
                          c.overlay.outcome == Outcome::Contained;
    const std::vector<std::string> names = {c.apply.entry.empty() ? "\x01" : c.apply.entry,
                                            c.overlay.entry.empty() ? "\x01" : c.overlay.entry};

    // hoist import stores the tar as it is; unpacking comes later.
    if (c.is_single_layer()) {
      auto r = f.hoist().run({"import", layer_file, "imported/" + c.name + ":latest"});
      INFO(r.err);
      CHECK(r.exit_code == 0);
      untouched();
      auto run = f.hoist().run({"run", "--rm", "imported/" + c.name + ":latest", "true"});
      // No shell or `true` in a lone hostile layer: a refusal must name the entry, and
      // any other failure is the missing program, not an unpack.
      if (run.exit_code != 0 && c.overlay.outcome == Outcome::Refused) {
        INFO(run.err);
        CHECK_THAT(run.err, Catch::Contains(c.overlay.entry) || Catch::Contains(c.apply.entry));
      }
      untouched();
    }

    // hoist load of busybox + the case's layers, then FROM it + RUN true, and hoist run.
    const std::string archive = f.out_dir() + "/" + c.name + "-image.tar";
    hoist_test::write_file(archive, docker_archive(busybox, c.layers, tag));
    auto loaded = f.hoist().run({"load", "-i", archive});
    {
      INFO(loaded.err);
      REQUIRE(loaded.exit_code == 0);
    }
    untouched();
    const bool hides_shell = c.name == "whiteout-of-symlink";  // an opaque root hides busybox
    // Where the copy executor unpacks it (contained, as the applier does), the command is
    // what fails: the shell is gone.
    auto run_names = names;
    if (hides_shell) run_names.push_back("setting up the container: executing \"");
    auto built = f.build("FROM " + tag + "\nRUN true\n", "built-" + c.name);
    check_refused_or_ok(built, run_names, layer_ok && !hides_shell);
    untouched();
    auto ran = f.hoist().run({"run", "--rm", tag, "true"});
    check_refused_or_ok(ran, run_names, layer_ok && !hides_shell);
    untouched();

    // ADD of the tar: extracted beneath the destination, whiteout names kept as files.
    auto added = f.build("FROM busybox:latest\nADD " + c.name + ".tar /added/\n", "added-" + c.name);
    check_refused_or_ok(added, {c.archive.entry.empty() ? "\x01" : c.archive.entry},
                        c.archive.outcome == Outcome::Contained);
    untouched();
  }
}

TEST_CASE("hostile corpus through pull from a real registry, then FROM + RUN and run",
          "[builder][hostile][corpus][pull]") {
  if (::geteuid() != 0) {
    HOIST_SKIP("RUN and hoist run need root (namespaces, overlayfs)");
  }
  if (::access("/usr/bin/docker-registry", X_OK) != 0) {
    HOIST_SKIP("docker-registry not installed (Debian package docker-registry)");
  }
  hoist_test::RegistryServer registry({});
  REQUIRE(registry.start_error() == "");
  hoist_test::TempDir outside("hoist-canary"), scratch("hoist-pull-ctx");
  auto canary = hoist_test::Canary::plant(outside.path() + "/canary");
  const std::string busybox = hoist_test::read_file(hoist_test::busybox_rootfs_tar());
  REQUIRE(!busybox.empty());
  auto untouched = [&] {
    CHECK(canary.changes() == std::vector<std::string>{});
    CHECK_FALSE(has_opaque_xattr(canary.dir()));
    CHECK_FALSE(has_opaque_xattr(canary.dir() + "/sub"));
  };
  auto fsck_clean = [](const hoist_test::HoistRunner& store) {
    auto fsck = store.run({"fsck"});
    INFO(fsck.out << fsck.err);
    CHECK(fsck.exit_code == 0);
  };

  for (const auto& c : hoist_test::hostile_cases(canary.dir())) {
    CAPTURE(c.name);
    std::vector<std::string> blobs = {busybox};
    blobs.insert(blobs.end(), c.layers.begin(), c.layers.end());
    const std::string repo = "hostile/" + c.name;
    put_raw_image(registry, repo, blobs, scratch.path());
    const std::string ref = registry.host() + "/" + repo + ":latest";

    // The layers are fetched and stored as they are (the digests match); unpacking, and so
    // any refusal, comes at build or run.
    hoist_test::HoistRunner store;
    auto pulled = store.run({"pull", ref});
    {
      INFO(pulled.err);
      REQUIRE(pulled.exit_code == 0);
    }
    untouched();
    fsck_clean(store);

    const bool layer_ok = c.apply.outcome == Outcome::Contained &&
                          c.overlay.outcome == Outcome::Contained;
    const std::vector<std::string> names = {c.apply.entry.empty() ? "\x01" : c.apply.entry,
                                            c.overlay.entry.empty() ? "\x01" : c.overlay.entry};
    const bool hides_shell = c.name == "whiteout-of-symlink";  // an opaque root hides busybox
    // Where the copy executor unpacks it (contained, as the applier does), the command is
    // what fails: the shell is gone.
    auto run_names = names;
    if (hides_shell) run_names.push_back("setting up the container: executing \"");
    hoist_test::write_file(scratch.path() + "/Dockerfile", "FROM " + ref + "\nRUN true\n");
    auto built = store.run({"build", "--progress", "plain", "-t", "built-" + c.name, scratch.path()});
    check_refused_or_ok(built, run_names, layer_ok && !hides_shell);
    untouched();
    auto ran = store.run({"run", "--rm", ref, "true"});
    check_refused_or_ok(ran, run_names, layer_ok && !hides_shell);
    untouched();
    fsck_clean(store);
  }
}

TEST_CASE("the issue's reproduction: FROM an image with whiteouts beneath a symlink to the host, RUN true",
          "[builder][hostile]") {
  if (::geteuid() != 0) {
    HOIST_SKIP("RUN needs root (namespaces, overlayfs)");
  }
  build_test::BuildFixture f;
  hoist_test::TempDir outside("hoist-canary");
  auto canary = hoist_test::Canary::plant(outside.path() + "/canary");
  auto c = hoist_test::whiteouts_under_symlink_case(canary.dir());
  const std::string layer_file = f.context() + "/layer.tar";
  hoist_test::write_file(layer_file, c.layers[0]);
  auto imported = f.hoist().run({"import", layer_file, "evil:latest"});
  REQUIRE(imported.exit_code == 0);
  auto built = f.build("FROM evil:latest\nRUN true\n", "evil-child");
  INFO(built.err);
  CHECK(built.exit_code == 1);
  // The overlay form refuses the whiteout; the copy executor's applier contains it (nothing
  // is written through the symlink) and the image, which has no shell, cannot run RUN.
  if (f.hoist().auto_executor().starts_with("copy"))
    CHECK_THAT(built.err, Catch::Contains("executing \"/bin/sh\""));
  else
    CHECK_THAT(built.err, Catch::Contains("a/b/.wh.x"));
  struct stat st;
  CHECK(::lstat((canary.dir() + "/b/x").c_str(), &st) == 0);
  CHECK(::lstat((canary.dir() + "/sub/new").c_str(), &st) != 0);
  CHECK_FALSE(has_opaque_xattr(canary.dir() + "/sub"));
  CHECK(canary.changes() == std::vector<std::string>{});
}

TEST_CASE("the store is private: root, hoist-unpacked and hoist-containers are 0700, and tightened",
          "[builder][hostile][store]") {
  hoist_test::TempDir dir;
  const std::string root = dir.path() + "/store";
  hoist_test::HoistRunner hoist(root);
  REQUIRE(hoist.run({"images"}).exit_code == 0);
  auto mode_of = [](const std::string& path) {
    struct stat st;
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
  };
  for (const std::string& d : {root, root + "/hoist-unpacked", root + "/hoist-containers"}) {
    CAPTURE(d);
    CHECK(mode_of(d) == 0700);
  }
  // An older store, open to everyone, is tightened on the next open.
  REQUIRE(::chmod(root.c_str(), 0755) == 0);
  REQUIRE(::chmod((root + "/hoist-unpacked").c_str(), 0777) == 0);
  REQUIRE(hoist.run({"images"}).exit_code == 0);
  CHECK(mode_of(root) == 0700);
  CHECK(mode_of(root + "/hoist-unpacked") == 0700);
  // A shared sticky directory is never made the store.
  auto sticky = hoist_test::HoistRunner(dir.path() + "/shared");
  REQUIRE(::mkdir((dir.path() + "/shared").c_str(), 01777) == 0);
  REQUIRE(::chmod((dir.path() + "/shared").c_str(), 01777) == 0);
  auto r = sticky.run({"images"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("sticky bit"));
  CHECK(mode_of(dir.path() + "/shared") == 01777);
}
