// The examples that install Debian packages at build time (examples/sklearn,
// examples/pytorch), built with hoist and run, their output checked against their READMEs.
// They need the Debian mirror apt is configured with and take minutes (python3-torch is
// large), so they are a suite of their own that CI does not run:
//
//   meson test -C build --suite slow
//
// debian:bookworm comes from examples/base-images/make-bases.sh --mirror (debootstrap, as
// root; the root filesystem is cached in ~/.cache/hoist/bases between runs). Each case skips
// visibly when the mirror does not answer or debootstrap cannot run.

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/builder/build_fixture.h"
#include "tests/builder/hoist_runner.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/skip.h"

using build_test::count_lines_with;
using hoist_test::HoistRunner;
using hoist_test::RunResult;

namespace {

// Why the examples cannot be built here ("" when they can), after making debian:bookworm in
// `hoist`'s store with make-bases.sh. The mirror is the one make-bases.sh uses (MIRROR, else
// apt's bookworm source); it is only asked for its Release file here.
std::string debian_base(const HoistRunner& hoist) {
  if (::geteuid() != 0) return "make-bases.sh --mirror runs debootstrap, which needs root";
  if (hoist_test::run_program({"sh", "-c", "command -v debootstrap"}).exit_code != 0)
    return "debootstrap not installed (Debian package debootstrap)";
  const std::string script = hoist_test::source_root() + "/examples/base-images/make-bases.sh";
  if (::access(script.c_str(), R_OK) != 0) return script + " missing";
  // The first bookworm source in apt's configuration, one-line or deb822.
  auto probe = hoist_test::run_program(
      {"python3", "-c",
       "import glob, os, re, sys, urllib.request\n"
       "url = os.environ.get('MIRROR')\n"
       "files = ['/etc/apt/sources.list'] + sorted(glob.glob('/etc/apt/sources.list.d/*'))\n"
       "for f in files if not url else []:\n"
       "    try: text = open(f).read()\n"
       "    except OSError: continue\n"
       "    m = re.search(r'^deb\\s+(?:\\[[^]]*\\]\\s+)?(\\S+)\\s+bookworm\\s', text, re.M) or \\\n"
       "        re.search(r'^URIs:\\s*(\\S+)\\s*\\nSuites:[^\\n]*\\bbookworm\\b', text, re.M)\n"
       "    if m: url = m.group(1); break\n"
       "if not url: sys.exit('no bookworm source in ' + ', '.join(files))\n"
       "url = url.rstrip('/') + '/dists/bookworm/Release'\n"
       "try: urllib.request.urlopen(url, timeout=15).read(1)\n"
       "except Exception as e: sys.exit(url + ': ' + str(e))\n"});
  if (probe.exit_code != 0) return "the Debian mirror does not answer: " + probe.err;
  auto made = hoist_test::run_program({"bash", script, "--mirror", "debian:bookworm"},
                                      {"HOIST=" + hoist_test::hoist_bin(), "HOIST_ROOT=" + hoist.root()});
  INFO(made.out << made.err);
  REQUIRE(made.exit_code == 0);
  return "";
}

RunResult build_example(const HoistRunner& hoist, const std::string& name, const std::string& tag) {
  auto r = hoist.run({"build", "--progress", "plain", "-t", tag, hoist_test::source_root() + "/examples/" + name});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return r;
}

// stdout of `hoist run --rm --pull never IMAGE [ARGS...]`, which must succeed.
std::string run_image(const HoistRunner& hoist, const std::vector<std::string>& image_and_args) {
  std::vector<std::string> argv = {"run", "--rm", "--pull", "never"};
  argv.insert(argv.end(), image_and_args.begin(), image_and_args.end());
  auto r = hoist.run(argv);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  return r.out;
}

nlohmann::json image_config(const HoistRunner& hoist, const std::string& tag) {
  auto r = hoist.run({"inspect", tag});
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  if (j.is_array()) j = j.at(0);
  return j.at("ImageConfig").at("config");
}

// How many lines of `text` match `pattern` whole.
int count_lines_matching(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern);
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += std::regex_match(line, re) ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("examples/sklearn: a model trained at build time, predictions beside the truth", "[slow][examples-sklearn]") {
  HoistRunner hoist;
  if (auto why = debian_base(hoist); !why.empty()) HOIST_SKIP(why);
  auto built = build_example(hoist, "sklearn", "demo2-sklearn:0.1");
  const std::string progress = built.out + built.err;
  CHECK_THAT(progress, Catch::Contains("Setting up python3-sklearn"));
  CHECK_THAT(progress, Catch::Contains("trained on 800 samples, training accuracy"));
  CHECK_THAT(progress, Catch::Contains("saved /home/jovyan/model/clf.joblib"));

  auto config = image_config(hoist, "demo2-sklearn:0.1");
  CHECK(config.at("Cmd") == nlohmann::json({"python3", "inference.py"}));
  const auto env = config.at("Env").dump();
  CHECK_THAT(env, Catch::Contains("MODEL_DIR=/home/jovyan/model"));
  CHECK_THAT(env, Catch::Contains("MODEL_FILE=clf.joblib"));

  const std::string predictions = run_image(hoist, {"demo2-sklearn:0.1"});
  CHECK_THAT(predictions, Catch::StartsWith("loaded /home/jovyan/model/clf.joblib\nsample  predicted  truth\n"));
  CHECK(count_lines_matching(predictions, " +[0-9] +[0-2] +[0-2]( +<- wrong)?") == 10);
  CHECK(count_lines_matching(predictions, "accuracy on 200 held-out samples: 0\\.9[0-9]{2} \\([0-9]+ correct\\)") == 1);

  // The packages apt downloaded stayed in the cache mount (in the store), not in the image,
  // and the package lists were removed.
  CHECK(run_image(hoist, {"demo2-sklearn:0.1", "sh", "-c",
                          "find /var/cache/apt /var/lib/apt/lists -name 'python3-sklearn_*.deb' -o -name '*_Packages' | wc -l"}) ==
        "0\n");
  auto cached = hoist_test::run_program(
      {"sh", "-c", "find \"$1\"/hoist-cache-mounts -name 'python3-sklearn_*.deb' | wc -l", "sh", hoist.root()});
  CHECK(cached.out == "1\n");
}

TEST_CASE("examples/pytorch: a CNN trained at build time for one epoch; ENTRYPOINT, CMD, LABEL, EXPOSE, --serve",
          "[slow][examples-pytorch]") {
  HoistRunner hoist;
  if (auto why = debian_base(hoist); !why.empty()) HOIST_SKIP(why);
  auto built = build_example(hoist, "pytorch", "demo3:v1.0.0");
  const std::string progress = built.out + built.err;
  CHECK_THAT(progress, Catch::Contains("Setting up python3-torch"));
  CHECK(count_lines_matching(progress, "(#[0-9]+ )?epoch 1 step +[0-9]+: loss [0-9.]+") >= 3);
  CHECK(count_lines_matching(progress, "(#[0-9]+ )?epoch 1: loss [0-9]\\.[0-9]{4}, training accuracy 0\\.[0-9]{3}") == 1);
  CHECK_THAT(progress, Catch::Contains("saved /opt/demo3/cnn.pt"));

  auto config = image_config(hoist, "demo3:v1.0.0");
  CHECK(config.at("Entrypoint") == nlohmann::json({"python3", "/app/predict.py"}));
  CHECK(config.at("Cmd") == nlohmann::json({"--samples", "8"}));
  CHECK(config.at("ExposedPorts").contains("8080/tcp"));
  CHECK(config.at("Labels").value("org.opencontainers.image.version", "") == "1.0.0");

  // CMD's default arguments, then arguments of our own in their place.
  const std::string eight = run_image(hoist, {"demo3:v1.0.0"});
  CHECK_THAT(eight, Catch::StartsWith("loaded /opt/demo3/cnn.pt\n"));
  CHECK(count_lines_with(eight, ": predicted ") == 8);
  CHECK(count_lines_matching(eight, "accuracy on 1000 held-out images: 0\\.9[0-9]{2}") == 1);
  CHECK(count_lines_with(run_image(hoist, {"demo3:v1.0.0", "--samples", "3"}), ": predicted ") == 3);

  // --serve PORT (the EXPOSEd port's use), on the host's network: one prediction as JSON.
  const int port = hoist_test::free_port();
  hoist_test::TempDir io("hoist-serve");
  const pid_t server = hoist_test::spawn_program(
      {hoist_test::hoist_bin(), "run", "--rm", "--pull", "never", "--network", "host", "demo3:v1.0.0", "--serve",
       std::to_string(port)},
      {"HOIST_ROOT=" + hoist.root()}, "/dev/null", io.path() + "/out", io.path() + "/err", true);
  REQUIRE(server > 0);
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1, 0);
  auto answer = client.Get("/predict?seed=3");
  for (int i = 0; i < 120 && !answer; ++i) {  // Python and torch start in seconds
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    answer = client.Get("/predict?seed=3");
  }
  ::kill(-server, SIGTERM);
  int status = 0;
  ::waitpid(server, &status, 0);
  INFO(hoist_test::read_file(io.path() + "/out") << hoist_test::read_file(io.path() + "/err"));
  REQUIRE(answer);
  CHECK(answer->status == 200);
  auto json = nlohmann::json::parse(answer->body, nullptr, false);
  REQUIRE(json.is_object());
  CHECK(json.value("seed", -1) == 3);
  CHECK(json.value("truth", "") == "square");
  CHECK(json.contains("predicted"));
  CHECK(json.contains("probability"));
}
