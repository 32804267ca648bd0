// End to end: the store commands through the real hoist binary, and the store read by
// skopeo and umoci.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <random>

#include <nlohmann/json.hpp>

#include "tests/builder/hoist_runner.h"
#include "tests/support/skip.h"

using hoist_test::HoistRunner;
using hoist_test::RunResult;

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool have_program(const std::string& name) {
  return hoist_test::run_program({"sh", "-c", "command -v " + name}).exit_code == 0;
}

}  // namespace

TEST_CASE("store cli: import, images, inspect, history, tag, rmi", "[builder][store_cli]") {
  HoistRunner hoist;
  RunResult imported = hoist.import_busybox();
  INFO(imported.err);
  REQUIRE(imported.exit_code == 0);
  std::string id = trimmed(imported.out);
  REQUIRE(id.starts_with("sha256:"));
  REQUIRE(id.size() == 71);

  RunResult images = hoist.run({"images"});
  REQUIRE(images.exit_code == 0);
  CHECK_THAT(images.out, Catch::StartsWith("REPOSITORY   TAG      IMAGE ID       CREATED"));
  CHECK_THAT(images.out, Catch::Contains("busybox      latest   " + id.substr(7, 12)));

  RunResult inspect = hoist.run({"inspect", "busybox"});
  REQUIRE(inspect.exit_code == 0);
  auto j = nlohmann::json::parse(inspect.out, nullptr, false);
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 1);
  CHECK(j[0]["Id"] == id);
  CHECK(j[0]["RepoTags"] == nlohmann::json::array({"busybox:latest"}));
  CHECK(j[0]["Config"]["Cmd"] == nlohmann::json::array({"sh"}));
  CHECK(j[0]["Os"] == "linux");
  CHECK(j[0]["RootFS"]["Layers"].size() == 1);
  CHECK(j[0]["Manifest"]["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip");

  // By id prefix, as docker allows.
  CHECK(hoist.run({"inspect", id.substr(7, 8)}).exit_code == 0);

  RunResult history = hoist.run({"history", "busybox:latest"});
  REQUIRE(history.exit_code == 0);
  CHECK_THAT(history.out, Catch::Contains("Imported from"));

  REQUIRE(hoist.run({"tag", "busybox", "localhost:5000/tools/bb:v1"}).exit_code == 0);
  images = hoist.run({"images"});
  CHECK_THAT(images.out, Catch::Contains("localhost:5000/tools/bb"));

  // An id shared by two names needs --force.
  RunResult refused = hoist.run({"rmi", id.substr(7, 12)});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("must be forced"));

  RunResult untag = hoist.run({"rmi", "localhost:5000/tools/bb:v1"});
  REQUIRE(untag.exit_code == 0);
  CHECK(untag.out == "Untagged: localhost:5000/tools/bb:v1\n");
  RunResult removed = hoist.run({"rmi", "busybox"});
  REQUIRE(removed.exit_code == 0);
  CHECK(removed.out == "Untagged: busybox:latest\nDeleted: " + id + "\n");
  CHECK(hoist.run({"images", "-q"}).out.empty());
  // rmi freed the blobs at once: nothing was writing.
  CHECK(std::filesystem::is_empty(hoist.root() + "/blobs/sha256"));
  CHECK(hoist.run({"fsck"}).exit_code == 0);

  RunResult missing = hoist.run({"inspect", "nope"});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("no such image: nope"));
}

TEST_CASE("store cli: import refuses what is not a tarball", "[builder][store_cli]") {
  HoistRunner hoist;
  hoist_test::TempDir dir;
  std::ofstream(dir.path() + "/junk.tar") << std::string(4096, 'x');
  auto [args, code, fragment] = GENERATE_REF(table<std::vector<std::string>, int, std::string>({
      {{"import", dir.path() + "/junk.tar", "x:1"}, 1, "not a tar archive"},
      {{"import", dir.path() + "/missing.tar", "x:1"}, 1, "opening"},
      // Docker's daemon refuses it with this message (exit 1, not a usage error).
      {{"import", "--change", "RUN true", hoist_test::busybox_rootfs_tar(), "x:1"}, 1,
       "RUN is not a valid change command"},
      {{"import", hoist_test::busybox_rootfs_tar(), "Bad:Name"}, 1, "must be lowercase"},
  }));
  RunResult r = hoist.run(args);
  CAPTURE(r.err);
  CHECK(r.exit_code == code);
  CHECK_THAT(r.err, Catch::Contains(fragment));
  CHECK(hoist.run({"images", "-q"}).out.empty());
  CHECK(hoist.run({"fsck"}).exit_code == 0);
}

TEST_CASE("store cli: --change takes HEALTHCHECK and STOPSIGNAL, as docker import does",
          "[builder][store_cli]") {
  HoistRunner hoist;
  RunResult r = hoist.run({"import", "-c", "HEALTHCHECK --interval=10s --retries=2 CMD wget -q x",
                           "-c", "STOPSIGNAL SIGINT", hoist_test::busybox_rootfs_tar(), "hc:1"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(hoist.run({"inspect", "hc:1"}).out, nullptr, false);
  REQUIRE(j.is_array());
  const auto& c = j[0]["Config"];
  CHECK(c["Healthcheck"]["Test"] == nlohmann::json::array({"CMD-SHELL", "wget -q x"}));
  CHECK(c["Healthcheck"]["Interval"] == 10'000'000'000);
  CHECK(c["Healthcheck"]["Retries"] == 2);
  CHECK(c["StopSignal"] == "SIGINT");
}

TEST_CASE("store cli: --change sets the config", "[builder][store_cli]") {
  HoistRunner hoist;
  RunResult r = hoist.run({"import", "-c", "ENV A=1 B=\"two words\"", "-c", "WORKDIR /srv", "-c",
                           "EXPOSE 80 53/udp", "-c", "ENTRYPOINT [\"/bin/sh\", \"-c\"]", "-c",
                           "LABEL org.x=y", "-c", "USER nobody", "-c", "CMD echo hi",
                           hoist_test::busybox_rootfs_tar(), "imp:1"},
                          "", {"SOURCE_DATE_EPOCH=1700000000"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(hoist.run({"inspect", "imp:1"}).out, nullptr, false);
  REQUIRE(j.is_array());
  const auto& c = j[0]["Config"];
  CHECK(c["Env"] == nlohmann::json::array({"A=1", "B=two words"}));
  CHECK(c["WorkingDir"] == "/srv");
  CHECK(c["ExposedPorts"].contains("80/tcp"));
  CHECK(c["ExposedPorts"].contains("53/udp"));
  CHECK(c["Entrypoint"] == nlohmann::json::array({"/bin/sh", "-c"}));
  CHECK(c["Cmd"] == nlohmann::json::array({"/bin/sh", "-c", "echo hi"}));
  CHECK(c["Labels"]["org.x"] == "y");
  CHECK(c["User"] == "nobody");
  CHECK(j[0]["Created"] == "2023-11-14T22:13:20Z");

  // SOURCE_DATE_EPOCH makes import reproducible: same input, same image id.
  HoistRunner other;
  RunResult again = other.run({"import", "-c", "ENV A=1 B=\"two words\"", "-c", "WORKDIR /srv", "-c",
                               "EXPOSE 80 53/udp", "-c", "ENTRYPOINT [\"/bin/sh\", \"-c\"]", "-c",
                               "LABEL org.x=y", "-c", "USER nobody", "-c", "CMD echo hi",
                               hoist_test::busybox_rootfs_tar(), "imp:1"},
                              "", {"SOURCE_DATE_EPOCH=1700000000"});
  CHECK(again.out == r.out);
}

TEST_CASE("store cli: skopeo and umoci read the store", "[builder][store_cli][interop]") {
  if (!have_program("skopeo") || !have_program("umoci")) {
    HOIST_SKIP("skopeo or umoci missing; run .ci/deps.sh --test");
  }
  HoistRunner hoist;
  REQUIRE(hoist.import_busybox().exit_code == 0);
  REQUIRE(hoist.run({"tag", "busybox", "localhost:5000/bb:v1"}).exit_code == 0);

  RunResult skopeo = hoist_test::run_program(
      {"skopeo", "inspect", "oci:" + hoist.root() + ":docker.io/library/busybox:latest"});
  INFO(skopeo.err);
  REQUIRE(skopeo.exit_code == 0);
  auto j = nlohmann::json::parse(skopeo.out, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j["Os"] == "linux");
  CHECK(j["Layers"].size() == 1);
  CHECK(j["Env"][0] == "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");

  hoist_test::TempDir bundle;
  RunResult umoci = hoist_test::run_program({"umoci", "unpack", "--image",
                                             hoist.root() + ":localhost:5000/bb:v1",
                                             bundle.path() + "/b"});
  INFO(umoci.err);
  REQUIRE(umoci.exit_code == 0);
  CHECK(std::filesystem::is_regular_file(bundle.path() + "/b/rootfs/bin/busybox"));
  CHECK(std::filesystem::is_symlink(bundle.path() + "/b/rootfs/bin/sh"));
  CHECK(std::filesystem::is_regular_file(bundle.path() + "/b/rootfs/etc/passwd"));
  CHECK(hoist.run({"fsck"}).exit_code == 0);
}

TEST_CASE("store cli: an import killed at any moment leaves a sound store",
          "[builder][store_cli][crash]") {
  hoist_test::TempDir dir;
  // A tarball large enough that import takes a while: random bytes do not compress.
  std::string big = dir.path() + "/big";
  std::filesystem::create_directories(big);
  {
    std::mt19937_64 rng(42);
    std::ofstream out(big + "/random.bin", std::ios::binary);
    for (int i = 0; i < (48 << 20) / 8; ++i) {
      uint64_t v = rng();
      out.write(reinterpret_cast<const char*>(&v), 8);
    }
  }
  REQUIRE(hoist_test::run_program({"tar", "-C", big, "-cf", dir.path() + "/big.tar", "."}).exit_code == 0);

  HoistRunner hoist;
  REQUIRE(hoist.import_busybox().exit_code == 0);
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 6; ++round) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::setenv("HOIST_ROOT", hoist.root().c_str(), 1);
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      std::string bin = hoist_test::hoist_bin();
      std::string tar = dir.path() + "/big.tar";
      ::execl(bin.c_str(), bin.c_str(), "import", tar.c_str(), "big:latest", nullptr);
      ::_exit(127);
    }
    // Kill it somewhere between start-up and the end of the import.
    ::usleep(std::uniform_int_distribution<useconds_t>(0, 1'500'000)(rng));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    RunResult fsck = hoist.run({"fsck"});
    INFO("round " << round << ": " << fsck.out << fsck.err);
    CHECK(fsck.exit_code == 0);
  }
  // busybox survived every round, and prune sweeps what the killed imports left.
  CHECK(hoist.run({"inspect", "busybox"}).exit_code == 0);
  REQUIRE(hoist.run({"prune"}).exit_code == 0);
  CHECK(std::filesystem::is_empty(hoist.root() + "/hoist-tmp"));
  CHECK(hoist.run({"fsck"}).exit_code == 0);
  // And an import left to finish works.
  RunResult done = hoist.run({"import", dir.path() + "/big.tar", "big:latest"});
  INFO(done.err);
  CHECK(done.exit_code == 0);
  CHECK(hoist.run({"fsck"}).exit_code == 0);
}

TEST_CASE("store cli: save and load round trips in both formats", "[builder][store_cli][archive]") {
  HoistRunner hoist;
  RunResult imported = hoist.import_busybox();
  REQUIRE(imported.exit_code == 0);
  std::string id = trimmed(imported.out);
  REQUIRE(hoist.run({"tag", "busybox", "localhost:5000/bb:v1"}).exit_code == 0);
  hoist_test::TempDir dir;

  auto [format, file] = GENERATE(table<std::string, std::string>({
      {"docker", "docker.tar"},
      {"oci", "oci.tar"},
  }));
  CAPTURE(format);
  std::string path = dir.path() + "/" + file;
  RunResult saved = hoist.run({"save", "--format", format, "-o", path, "busybox", "localhost:5000/bb:v1"});
  INFO(saved.err);
  REQUIRE(saved.exit_code == 0);
  // Deterministic: saving again gives the same bytes.
  REQUIRE(hoist.run({"save", "--format", format, "-o", path + ".again", "busybox",
                     "localhost:5000/bb:v1"}).exit_code == 0);
  CHECK(hoist_test::run_program({"cmp", path, path + ".again"}).exit_code == 0);
  // Into a FIFO, as into a device such as /dev/null: written into, never replaced by a file
  // (a rename over /dev/null had turned it into one).
  const std::string fifo = dir.path() + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto reader = std::async(std::launch::async, [&] {
    return hoist_test::run_program({"timeout", "60", "sh", "-c", "cat \"$0\" > \"$1\"", fifo, path + ".fifo"});
  });
  RunResult to_fifo = hoist.run({"save", "--format", format, "-o", fifo, "busybox", "localhost:5000/bb:v1"});
  INFO(to_fifo.err);
  CHECK(to_fifo.exit_code == 0);
  CHECK(reader.get().exit_code == 0);
  struct stat st;
  REQUIRE(::lstat(fifo.c_str(), &st) == 0);
  CHECK(S_ISFIFO(st.st_mode));
  // The same archive (libarchive pads the last block where the output is no regular file,
  // as on stdout, so the bytes differ at the end: the entries do not).
  auto listed = hoist_test::run_program({"tar", "-tvf", path});
  auto listed_fifo = hoist_test::run_program({"tar", "-tvf", path + ".fifo"});
  CHECK(listed.exit_code == 0);
  CHECK(listed_fifo.exit_code == 0);
  CHECK(listed_fifo.out == listed.out);

  HoistRunner other;
  RunResult loaded = other.run({"load", "-i", path});
  INFO(loaded.err);
  REQUIRE(loaded.exit_code == 0);
  CHECK(loaded.out == "Loaded image: busybox:latest\nLoaded image: localhost:5000/bb:v1\n");
  auto j = nlohmann::json::parse(other.run({"inspect", "busybox"}).out, nullptr, false);
  REQUIRE(j.is_array());
  // The config travels byte for byte: the image id survives.
  CHECK(j[0]["Id"] == id);
  CHECK(j[0]["Config"]["Cmd"] == nlohmann::json::array({"sh"}));
  CHECK(other.run({"fsck"}).exit_code == 0);

  // And stdin works too.
  HoistRunner third;
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  RunResult from_stdin = third.run({"load"}, bytes);
  INFO(from_stdin.err);
  CHECK(from_stdin.exit_code == 0);
  CHECK(third.run({"inspect", "localhost:5000/bb:v1"}).exit_code == 0);
}

TEST_CASE("store cli: skopeo reads hoist's docker-archive and OCI archives",
          "[builder][store_cli][archive][interop]") {
  if (!have_program("skopeo")) {
    HOIST_SKIP("skopeo missing; run .ci/deps.sh --test");
  }
  HoistRunner hoist;
  REQUIRE(hoist.import_busybox().exit_code == 0);
  hoist_test::TempDir dir;
  REQUIRE(hoist.run({"save", "-o", dir.path() + "/d.tar", "busybox"}).exit_code == 0);
  RunResult docker = hoist_test::run_program({"skopeo", "inspect", "docker-archive:" + dir.path() + "/d.tar"});
  INFO(docker.err);
  REQUIRE(docker.exit_code == 0);
  auto j = nlohmann::json::parse(docker.out, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j["Os"] == "linux");
  CHECK(j["Layers"].size() == 1);

  // skopeo can copy it back into an OCI layout that hoist then loads as its own.
  RunResult copy = hoist_test::run_program(
      {"skopeo", "copy", "docker-archive:" + dir.path() + "/d.tar", "oci:" + dir.path() + "/layout:bb:1"});
  INFO(copy.err);
  REQUIRE(copy.exit_code == 0);
  REQUIRE(hoist_test::run_program({"tar", "-C", dir.path() + "/layout", "-cf", dir.path() + "/l.tar", "."}).exit_code == 0);
  HoistRunner other;
  RunResult loaded = other.run({"load", "-i", dir.path() + "/l.tar"});
  INFO(loaded.err);
  CHECK(loaded.exit_code == 0);
  CHECK(loaded.out == "Loaded image: bb:1\n");
}

TEST_CASE("store cli: load refuses damaged archives", "[builder][store_cli][archive]") {
  HoistRunner hoist;
  hoist_test::TempDir dir;
  std::string root = dir.path() + "/a";
  std::filesystem::create_directories(root);
  std::string digest_hex(64, 'a');
  auto [manifest, fragment] = GENERATE_REF(table<std::string, std::string>({
      {"[{\"Config\": \"c.json\", \"Layers\": []}]", "the archive has no \"c.json\""},
      {"{\"not\": \"an array\"}", "want a JSON array"},
      {"[{\"Layers\": 5}]", "want {\"Config\""},
  }));
  std::ofstream(root + "/manifest.json") << manifest;
  REQUIRE(hoist_test::run_program({"tar", "-C", root, "-cf", dir.path() + "/x.tar", "."}).exit_code == 0);
  RunResult r = hoist.run({"load", "-i", dir.path() + "/x.tar"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains(fragment));

  // An OCI blob whose bytes do not match its name is Corrupt, and never lands in the store.
  std::string oci = dir.path() + "/oci";
  std::filesystem::create_directories(oci + "/blobs/sha256");
  std::ofstream(oci + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
  std::ofstream(oci + "/index.json") << R"({"schemaVersion":2,"manifests":[]})";
  std::ofstream(oci + "/blobs/sha256/" + digest_hex) << "not what the name says";
  REQUIRE(hoist_test::run_program({"tar", "-C", oci, "-cf", dir.path() + "/o.tar", "."}).exit_code == 0);
  RunResult bad = hoist.run({"load", "-i", dir.path() + "/o.tar"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("expected sha256:" + digest_hex));
  CHECK(hoist.run({"fsck"}).exit_code == 0);
}
