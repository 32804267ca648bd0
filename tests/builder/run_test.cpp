// `hoist run`, `hoist ps`, `hoist rm`: Docker's rules for what a container starts with
// (as tables over runtime/container.h), then end to end through the real hoist binary on
// an imported busybox image.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/container.h"
#include "tests/builder/hoist_runner.h"
#include "tests/support/files.h"
#include "tests/support/skip.h"

extern char** environ;

using hoist_test::HoistRunner;
using hoist_test::read_file;
using hoist_test::RunResult;
using Words = std::vector<std::string>;

namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Words lines_of(const std::string& text) {
  Words out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Mount points of this process's namespace that lie under `dir`.
Words mounts_under(const std::string& dir) {
  Words out;
  for (const auto& line : lines_of(read_file("/proc/self/mountinfo"))) {
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    fields >> id >> parent >> devno >> root >> mount_point;
    if (mount_point.starts_with(dir)) out.push_back(line);
  }
  return out;
}

// How many processes have exactly this command line (words separated by NULs).
size_t processes_running(std::string_view cmdline) {
  std::string wanted(cmdline.data(), cmdline.size());
  wanted.push_back('\0');
  size_t n = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (read_file("/proc/" + pid + "/cmdline") == wanted) ++n;
  }
  return n;
}

size_t container_dirs(const HoistRunner& hoist) {
  size_t n = 0;
  std::error_code ec;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator(hoist.root() + "/hoist-containers", ec))
    ++n;
  return n;
}

// busybox:latest, plus images with an Entrypoint for the command-line rules.
void import_images(const HoistRunner& hoist) {
  RunResult bb = hoist.import_busybox();
  INFO(bb.err);
  REQUIRE(bb.exit_code == 0);
  RunResult ep = hoist.run({"import", "--change", R"(ENTRYPOINT ["echo", "ep"])", "--change",
                            R"(CMD ["cmd"])", hoist_test::busybox_rootfs_tar(), "ep:latest"});
  INFO(ep.err);
  REQUIRE(ep.exit_code == 0);
  RunResult ep_only = hoist.run({"import", "--change", R"(ENTRYPOINT ["echo", "only"])",
                                 hoist_test::busybox_rootfs_tar(), "ep-only:latest"});
  REQUIRE(ep_only.exit_code == 0);
}

}  // namespace

// ---- The rules, as tables ----

TEST_CASE("run: Entrypoint and Cmd combine as docker run does", "[builder][run]") {
  layers::ContainerConfig with_both;
  with_both.entrypoint = Words{"/bin/echo", "ep"};
  with_both.cmd = Words{"cmd"};
  layers::ContainerConfig cmd_only;
  cmd_only.cmd = Words{"sh"};
  layers::ContainerConfig neither;

  auto [image_name, entrypoint, args, expected] =
      GENERATE(table<std::string, std::optional<std::string>, Words, Words>({
          {"both", std::nullopt, {}, {"/bin/echo", "ep", "cmd"}},
          {"both", std::nullopt, {"a", "b"}, {"/bin/echo", "ep", "a", "b"}},
          {"both", "env", {}, {"env"}},
          {"both", "env", {"x"}, {"env", "x"}},
          {"both", "", {"ls", "/"}, {"ls", "/"}},
          {"cmd", std::nullopt, {}, {"sh"}},
          {"cmd", std::nullopt, {"id", "-u"}, {"id", "-u"}},
          {"cmd", "/bin/ls", {}, {"/bin/ls"}},
          {"none", std::nullopt, {"true"}, {"true"}},
      }));
  const layers::ContainerConfig& image = image_name == "both"  ? with_both
                                         : image_name == "cmd" ? cmd_only
                                                               : neither;
  CAPTURE(image_name, entrypoint.value_or("<unset>"), args);
  auto argv = runtime::container_argv(image, entrypoint, args);
  REQUIRE(argv);
  CHECK(*argv == expected);
}

TEST_CASE("run: an empty command is refused", "[builder][run]") {
  layers::ContainerConfig both;
  both.entrypoint = Words{"echo"};
  both.cmd = Words{"hi"};
  CHECK_FALSE(runtime::container_argv(layers::ContainerConfig{}, std::nullopt, {}));
  // --entrypoint "" clears both, leaving nothing to run.
  auto cleared = runtime::container_argv(both, std::string(), {});
  REQUIRE_FALSE(cleared);
  CHECK(cleared.error().message() == "no command specified");
}

TEST_CASE("run: the environment, in Docker's order", "[builder][run]") {
  const std::string default_path = "PATH=" + std::string(runtime::sandbox::kDefaultPath);
  auto [image_env, overrides, expected] = GENERATE_REF(table<Words, Words, Words>({
      {{}, {}, {default_path, "HOSTNAME=abc"}},
      {{"PATH=/bin"}, {}, {"PATH=/bin", "HOSTNAME=abc"}},
      {{"A=1", "B=2"}, {"A=3"}, {default_path, "HOSTNAME=abc", "A=3", "B=2"}},
      {{"HOME=/img"}, {}, {default_path, "HOSTNAME=abc", "HOME=/img"}},
      {{}, {"HOME=/x", "HOSTNAME=mine"}, {default_path, "HOSTNAME=mine", "HOME=/x"}},
      {{}, {"EMPTY="}, {default_path, "HOSTNAME=abc", "EMPTY="}},
      // -e values come before the image's own entries (checked against Docker 20.10.24).
      {{"A=1", "PATH=/opt/bin:/bin"}, {"B=2"}, {"PATH=/opt/bin:/bin", "HOSTNAME=abc", "B=2", "A=1"}},
      {{"A=1", "PATH=/opt/bin:/bin"},
       {"B=2", "A=3", "PATH=/x:/bin", "HOSTNAME=h"},
       {"PATH=/x:/bin", "HOSTNAME=h", "B=2", "A=3"}},
  }));
  CAPTURE(image_env, overrides);
  CHECK(runtime::container_env(image_env, overrides, "abc") == expected);
}

TEST_CASE("run: -e KEY takes hoist's value or nothing", "[builder][run]") {
  auto lookup = [](const std::string& key) -> std::optional<std::string> {
    if (key == "SET") return std::string("from-host");
    return std::nullopt;
  };
  auto env = runtime::resolve_env_flags({"A=1", "SET", "UNSET", "B=", "C=x=y"}, lookup);
  REQUIRE(env);
  CHECK(*env == Words{"A=1", "SET=from-host", "B=", "C=x=y"});
  CHECK_FALSE(runtime::resolve_env_flags({"=v"}, lookup));
  CHECK_FALSE(runtime::resolve_env_flags({""}, lookup));
}

TEST_CASE("run: -v values", "[builder][run]") {
  auto [text, ok, host, container, read_only] =
      GENERATE(table<std::string, bool, std::string, std::string, bool>({
          {"/srv/data:/data", true, "/srv/data", "/data", false},
          {"/srv/data:/data:ro", true, "/srv/data", "/data", true},
          {"/srv/data:/data:rw", true, "/srv/data", "/data", false},
          {"/srv/data:/data:z", false, "", "", false},
          {"data:/data", false, "", "", false},  // a named volume
          {"/srv/data", false, "", "", false},   // an anonymous volume
          {"/srv/data:data", false, "", "", false},
          {"/srv/data:/", false, "", "", false},
          {"/a:/b:ro:x", false, "", "", false},
          {":/data", false, "", "", false},
      }));
  CAPTURE(text);
  auto bind = runtime::parse_bind(text);
  REQUIRE(bool(bind) == ok);
  if (!ok) return;
  CHECK(bind->host_path == host);
  CHECK(bind->container_path == container);
  CHECK(bind->read_only == read_only);
}

TEST_CASE("run: --tmpfs values", "[builder][run][tmpfs]") {
  // error: "" when accepted, else what the message names.
  auto [text, error, target, read_only, noexec, size] =
      GENERATE(table<std::string, std::string, std::string, bool, bool, int64_t>({
          {"/run", "", "/run", false, true, 0},  // Docker's defaults: noexec, nosuid, nodev
          {"/run:rw,noexec,nosuid,size=65536k", "", "/run", false, true, 65536 * 1024},
          {"/cache:exec,size=2m", "", "/cache", false, false, 2 << 20},
          {"/cache:ro,nodev,size=1G", "", "/cache", true, true, int64_t(1) << 30},
          {"/cache:size=4096", "", "/cache", false, true, 4096},
          {"run", "the path must be absolute", "", false, false, 0},
          {"/", "cannot mount over the container's root", "", false, false, 0},
          {"/run:suid", "option \"suid\" is not supported", "", false, false, 0},
          {"/run:mode=1770", "option \"mode=1770\" is not supported", "", false, false, 0},
          {"/run:size=50%", "\"size=50%\" is not supported", "", false, false, 0},
          {"/run:size=", "\"size=\" is not supported", "", false, false, 0},
      }));
  CAPTURE(text);
  auto mount = runtime::parse_tmpfs(text);
  if (!error.empty()) {
    REQUIRE_FALSE(mount);
    CHECK_THAT(mount.error().describe(), Catch::Contains(error) && Catch::Contains("--tmpfs"));
    return;
  }
  REQUIRE(mount);
  CHECK(mount->kind == runtime::sandbox::StepMount::Kind::Tmpfs);
  CHECK(mount->target == target);
  CHECK(mount->read_only == read_only);
  CHECK(mount->is_noexec == noexec);
  CHECK(mount->size_bytes == size);
}

TEST_CASE("run: container names", "[builder][run]") {
  auto [name, ok] = GENERATE(table<std::string, bool>({
      {"web", true},
      {"web-1.a_b", true},
      {"9lives", true},
      {"", false},
      {"-web", false},
      {"a/b", false},
      {"a b", false},
      {"..", false},
  }));
  CAPTURE(name);
  CHECK(bool(runtime::check_container_name(name)) == ok);
}

TEST_CASE("run: container records round-trip and bad ones are refused", "[builder][run]") {
  runtime::ContainerRecord r;
  r.id = std::string(64, 'a');
  r.name = "web";
  r.image = "busybox";
  r.image_id = "sha256:" + std::string(64, 'b');
  r.command = {"sh", "-c", "echo \"hi\""};
  r.created = "2026-01-01T00:00:00Z";
  r.status = runtime::ContainerStatus::Exited;
  r.exit_code = 3;
  auto back = runtime::parse_container_record(r.to_json(), "record");
  REQUIRE(back);
  CHECK(back->id == r.id);
  CHECK(back->command == r.command);
  CHECK(back->status == runtime::ContainerStatus::Exited);
  CHECK(back->exit_code == 3);

  auto bad = GENERATE(
      as<std::string>{}, "", "[]", R"({"Id":"x","Name":"a","Status":"exited"})",
      R"({"Id":")" + std::string(64, 'a') + R"(","Name":"a","Status":"paused"})",
      R"({"Id":")" + std::string(64, 'a') + R"(","Name":1,"Status":"exited"})",
      R"({"Id":")" + std::string(64, 'a') + R"(","Name":"a","Status":"exited","Command":[1]})");
  CAPTURE(bad);
  CHECK_FALSE(runtime::parse_container_record(bad, "record"));
}

// ---- End to end ----

TEST_CASE("run: output, exit code and stdin", "[builder][run][e2e]") {
  HoistRunner hoist;
  import_images(hoist);

  RunResult r = hoist.run({"run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"});
  CHECK(r.exit_code == 3);
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");

  // The command is PID 1, which its own namespace cannot kill: a child killed by a
  // signal shows through the shell's status, as under Docker.
  RunResult killed =
      hoist.run({"run", "--rm", "busybox", "sh", "-c", "sh -c 'kill -9 $$'; exit $?"});
  CHECK(killed.exit_code == 128 + 9);

  RunResult cat = hoist.run({"run", "--rm", "busybox", "cat"}, "piped through\n");
  CHECK(cat.exit_code == 0);
  CHECK(cat.out == "piped through\n");

  // The image's Cmd (sh) reads the script from stdin.
  RunResult sh = hoist.run({"run", "--rm", "busybox"}, "echo from the default cmd\n");
  CHECK(sh.out == "from the default cmd\n");

  RunResult missing = hoist.run({"run", "--rm", "busybox", "no-such-program"});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("no-such-program"));

  // --pull never: the default would ask Docker Hub (a pull of a missing image is
  // build_push_test.cpp's, from a loopback registry).
  RunResult no_image = hoist.run({"run", "--rm", "--pull", "never", "nosuchimage"});
  CHECK(no_image.exit_code == 1);
  CHECK_THAT(no_image.err, Catch::Contains("no such image"));

  CHECK(hoist.run({"run", "--rm", "--network", "bridge", "busybox", "true"}).exit_code == 2);
  CHECK(container_dirs(hoist) == 0);
  CHECK(mounts_under(hoist.root()).empty());
}

TEST_CASE("run: Entrypoint and Cmd end to end", "[builder][run][e2e]") {
  HoistRunner hoist;
  import_images(hoist);
  auto [args, expected] = GENERATE(table<Words, std::string>({
      {{"ep"}, "ep cmd\n"},
      {{"ep", "a", "b"}, "ep a b\n"},
      {{"--entrypoint", "echo", "ep"}, "\n"},
      {{"--entrypoint", "echo", "ep", "x"}, "x\n"},
      {{"--entrypoint", "", "ep", "echo", "y"}, "y\n"},
      {{"ep-only"}, "only\n"},
      {{"ep-only", "z"}, "only z\n"},
      {{"busybox", "echo", "plain"}, "plain\n"},
  }));
  CAPTURE(args);
  Words argv = {"run", "--rm"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = hoist.run(argv);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == expected);
}

TEST_CASE("run: environment, working directory and user", "[builder][run][e2e]") {
  HoistRunner hoist;
  import_images(hoist);

  RunResult env = hoist.run({"run", "--rm", "-e", "FOO=bar", "-e", "FROM_HOST", "-e",
                             "NOT_SET_ANYWHERE", "busybox", "env"},
                            "", {"FROM_HOST=passed"});
  INFO(env.err);
  REQUIRE(env.exit_code == 0);
  Words lines = lines_of(env.out);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] == "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  CHECK(lines[1].starts_with("HOSTNAME="));
  CHECK(lines[1].size() == 9 + 12);
  CHECK(lines[2] == "FOO=bar");
  CHECK(lines[3] == "FROM_HOST=passed");
  CHECK(lines[4] == "HOME=/root");

  // The hostname is the container's short id.
  RunResult hostname =
      hoist.run({"run", "--rm", "busybox", "sh", "-c", "echo $HOSTNAME; hostname"});
  Words names = lines_of(hostname.out);
  REQUIRE(names.size() == 2);
  // Without a UTS namespace (the copy+chroot executor) the command sees the host's name.
  char host_name[256] = {};
  REQUIRE(::gethostname(host_name, sizeof host_name - 1) == 0);
  CHECK(names[1] == (hoist.chroot_executor() ? std::string(host_name) : names[0]));

  // An image without Env still gets Docker's PATH.
  RunResult path = hoist.run({"run", "--rm", "--entrypoint", "/bin/sh", "ep", "-c", "echo $PATH"});
  CHECK(path.out == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");

  RunResult pwd = hoist.run({"run", "--rm", "-w", "/made/for/me", "busybox", "pwd"});
  CHECK(pwd.exit_code == 0);
  CHECK(pwd.out == "/made/for/me\n");
  CHECK(hoist.run({"run", "--rm", "-w", "relative", "busybox", "pwd"}).exit_code == 1);

  auto [user, expected_id, expected_home] = GENERATE(table<std::string, std::string, std::string>({
      {"", "0 0", "/root"},
      {"www-data", "33 33", "/var/www"},
      {"daemon:www-data", "1 33", "/usr/sbin"},
      {"1000", "1000 0", "/"},
      {"1000:33", "1000 33", "/"},
      {"nobody", "65534 65534", "/nonexistent"},
  }));
  CAPTURE(user);
  Words argv = {"run", "--rm"};
  if (!user.empty()) argv.insert(argv.end(), {"-u", user});
  argv.insert(argv.end(), {"busybox", "sh", "-c", "echo $(id -u) $(id -g); echo $HOME"});
  RunResult id = hoist.run(argv);
  INFO(id.err);
  CHECK(id.exit_code == 0);
  CHECK(id.out == expected_id + "\n" + expected_home + "\n");

  RunResult unknown = hoist.run({"run", "--rm", "-u", "nosuchuser", "busybox", "true"});
  CHECK(unknown.exit_code == 1);
  CHECK_THAT(unknown.err, Catch::Contains("nosuchuser"));
  CHECK(mounts_under(hoist.root()).empty());
}

TEST_CASE("run: HOME as docker run sets it", "[builder][run][e2e]") {
  HoistRunner hoist;
  import_images(hoist);
  // HOME as `docker run` (runc 1.1.5, Docker 20.10.24) sets it: -e HOME=/x wins, an empty
  // HOME= is filled in from the user's passwd entry.
  auto [flags, expected_env_home] = GENERATE(table<Words, std::string>({
      {{"-e", "HOME=/x"}, "/x"},
      {{"-u", "daemon", "-e", "HOME=/y"}, "/y"},
      {{"-e", "HOME="}, "/root"},
      {{"-u", "daemon", "-e", "HOME="}, "/usr/sbin"},
  }));
  CAPTURE(flags);
  Words home_argv = {"run", "--rm"};
  home_argv.insert(home_argv.end(), flags.begin(), flags.end());
  home_argv.insert(home_argv.end(), {"busybox", "sh", "-c", "echo $HOME; env | grep -c ^HOME="});
  RunResult home = hoist.run(home_argv);
  INFO(home.err);
  CHECK(home.out == expected_env_home + "\n1\n");
}

TEST_CASE("run: --rm leaves nothing, ps lists, rm removes", "[builder][run][e2e]") {
  HoistRunner hoist;
  import_images(hoist);

  REQUIRE(hoist.run({"run", "--rm", "busybox", "sh", "-c", "echo x > /file"}).exit_code == 0);
  CHECK(container_dirs(hoist) == 0);
  CHECK(trimmed(hoist.run({"ps", "-a", "-q"}).out).empty());

  RunResult kept =
      hoist.run({"run", "--name", "keeper", "busybox", "sh", "-c", "echo x > /file; exit 4"});
  CHECK(kept.exit_code == 4);
  RunResult unnamed = hoist.run({"run", "busybox", "true"});
  CHECK(unnamed.exit_code == 0);
  CHECK(container_dirs(hoist) == 2);

  // Not running: only -a shows them.
  RunResult ps = hoist.run({"ps"});
  REQUIRE(ps.exit_code == 0);
  CHECK(lines_of(ps.out).size() == 1);
  CHECK_THAT(ps.out,
             Catch::StartsWith("CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   NAMES"));
  RunResult all = hoist.run({"ps", "-a"});
  REQUIRE(all.exit_code == 0);
  Words rows = lines_of(all.out);
  REQUIRE(rows.size() == 3);
  CHECK_THAT(all.out, Catch::Contains("Exited (4)"));
  CHECK_THAT(all.out, Catch::Contains("Exited (0)"));
  CHECK_THAT(all.out, Catch::Contains("keeper"));
  CHECK_THAT(all.out, Catch::Contains("\"sh -c echo x > /fil…\""));

  Words ids = lines_of(hoist.run({"ps", "-a", "-q", "--no-trunc"}).out);
  REQUIRE(ids.size() == 2);
  // The writable layer is kept with the container.
  bool found_file = false;
  for (const auto& id : ids) {
    CHECK(id.size() == 64);
    std::error_code ec;
    if (std::filesystem::exists(hoist.root() + "/hoist-containers/" + id + "/upper/file", ec) ||
        std::filesystem::exists(hoist.root() + "/hoist-containers/" + id + "/rootfs/file", ec))
      found_file = true;
  }
  CHECK(found_file);

  // A name is unique while its container exists.
  RunResult taken = hoist.run({"run", "--name", "keeper", "busybox", "true"});
  CHECK(taken.exit_code == 1);
  CHECK_THAT(taken.err, Catch::Contains("already in use"));

  RunResult rm = hoist.run({"rm", "keeper"});
  CHECK(rm.exit_code == 0);
  CHECK(rm.out == "keeper\n");
  Words left = lines_of(hoist.run({"ps", "-a", "-q"}).out);
  REQUIRE(left.size() == 1);
  // By a short id, as ps shows it.
  RunResult by_id = hoist.run({"rm", left[0]});
  CHECK(by_id.exit_code == 0);
  CHECK(container_dirs(hoist) == 0);

  RunResult missing = hoist.run({"rm", "keeper"});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("no such container: keeper"));
  CHECK(mounts_under(hoist.root()).empty());
}

// A command line no other test uses: processes_running counts every process on the machine.
const std::string_view kSleeper(
    "sleep\0"
    "4321",
    10);

TEST_CASE("run: a running container is listed, and rm needs -f", "[builder][run][e2e]") {
  HoistRunner hoist;
  import_images(hoist);

  std::string root_env = "HOIST_ROOT=" + hoist.root();
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  envp.push_back(root_env.data());
  envp.push_back(nullptr);
  std::string bin = hoist_test::hoist_bin();
  Words args = {bin, "run", "--name", "sleeper", "busybox", "sleep", "4321"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  hoist_test::TempDir logs("hoist-run-log");
  std::string err_path = logs.path() + "/stderr";
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  REQUIRE(processes_running(kSleeper) == 0);
  pid_t pid = 0;
  // If a REQUIRE below fails, the backgrounded hoist (and with it the container) goes too.
  struct Reaper {
    pid_t* pid;
    ~Reaper() {
      if (*pid <= 0) return;
      ::kill(*pid, SIGTERM);
      ::waitpid(*pid, nullptr, 0);
    }
  } reaper{&pid};
  REQUIRE(::posix_spawn(&pid, bin.c_str(), &actions, nullptr, argv.data(), envp.data()) == 0);
  posix_spawn_file_actions_destroy(&actions);

  // Wait until the command runs (bounded, so a broken run fails the test instead of hanging).
  for (int i = 0; i < 600 && processes_running(kSleeper) == 0; ++i) ::usleep(100 * 1000);
  REQUIRE(processes_running(kSleeper) == 1);
  RunResult ps = hoist.run({"ps"});
  CHECK_THAT(ps.out, Catch::Contains("sleeper"));
  CHECK_THAT(ps.out, Catch::Contains("Up "));
  CHECK_THAT(ps.out, Catch::Contains("\"sleep 4321\""));

  RunResult refused = hoist.run({"rm", "sleeper"});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("running"));

  RunResult forced = hoist.run({"rm", "-f", "sleeper"});
  REQUIRE(forced.exit_code == 0);  // else the reaper stops it: waitpid below would wait 72 min
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  pid = 0;
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK_THAT(read_file(err_path), Catch::Contains("the container was stopped"));
  // The sandbox killed the container when its hoist was stopped.
  CHECK(processes_running(kSleeper) == 0);
  CHECK(trimmed(hoist.run({"ps", "-a", "-q"}).out).empty());
  CHECK(container_dirs(hoist) == 0);
  CHECK(mounts_under(hoist.root()).empty());
}

TEST_CASE("run: -v binds, read-only binds and --network none", "[builder][run][e2e]") {
  HoistRunner hoist;
  import_images(hoist);
  if (hoist.chroot_executor()) {
    // No mount or network namespace: both are refused, by name.
    RunResult bind = hoist.run({"run", "--rm", "-v", "/tmp:/data", "busybox", "true"});
    CHECK(bind.exit_code == 1);
    CHECK_THAT(bind.err, Catch::Contains("-v/--volume cannot be honoured here"));
    RunResult none = hoist.run({"run", "--rm", "--network", "none", "busybox", "true"});
    CHECK(none.exit_code == 1);
    CHECK_THAT(none.err, Catch::Contains("--network none"));
    HOIST_SKIP("-v and --network none need the sandbox's namespaces; RUN executor: " << hoist.auto_executor());
  }
  hoist_test::TempDir host("hoist-run-bind");
  { std::ofstream(host.path() + "/given") << "from the host\n"; }
  std::string missing_host_dir = host.path() + "/created/by/run";

  RunResult rw = hoist.run({"run", "--rm", "-v", host.path() + ":/data", "-v",
                            missing_host_dir + ":/made", "busybox", "sh", "-c",
                            "cat /data/given; echo back > /data/written; touch /made/x"});
  INFO(rw.err);
  CHECK(rw.exit_code == 0);
  CHECK(rw.out == "from the host\n");
  CHECK(read_file(host.path() + "/written") == "back\n");
  CHECK(std::filesystem::exists(missing_host_dir + "/x"));

  RunResult ro = hoist.run({"run", "--rm", "-v", host.path() + ":/data:ro", "busybox", "sh", "-c",
                            "cat /data/given && echo no > /data/refused"});
  CHECK(ro.exit_code != 0);
  CHECK(ro.out == "from the host\n");
  CHECK_THAT(ro.err, Catch::Contains("Read-only file system"));
  CHECK_FALSE(std::filesystem::exists(host.path() + "/refused"));

  CHECK(hoist.run({"run", "--rm", "-v", "named:/data", "busybox", "true"}).exit_code == 1);

  // Only loopback, and it is up.
  RunResult none =
      hoist.run({"run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"});
  INFO(none.err);
  CHECK(none.exit_code == 0);
  CHECK(none.out == "lo\n");
  RunResult host_net =
      hoist.run({"run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"});
  CHECK(host_net.exit_code == 0);
  Words host_interfaces;
  for (const auto& e : std::filesystem::directory_iterator("/sys/class/net"))
    host_interfaces.push_back(e.path().filename().string());
  std::sort(host_interfaces.begin(), host_interfaces.end());
  CHECK(lines_of(host_net.out) == host_interfaces);
  CHECK(mounts_under(hoist.root()).empty());
  CHECK(mounts_under(host.path()).empty());
}

TEST_CASE("run: --cap-add and --cap-drop set what root in the container holds",
          "[builder][run][e2e][capabilities]") {
  HoistRunner hoist;
  import_images(hoist);
  // The effect: chown to another owner needs CAP_CHOWN.
  const std::string chown = "touch /f && chown 1 /f && echo chowned";
  RunResult kept = hoist.run({"run", "--rm", "busybox", "sh", "-c", chown});
  INFO(kept.err);
  CHECK(kept.out == "chowned\n");
  RunResult dropped = hoist.run({"run", "--rm", "--cap-drop", "chown", "busybox", "sh", "-c", chown});
  CHECK(dropped.exit_code != 0);
  CHECK(dropped.out.empty());
  CHECK_THAT(dropped.err, Catch::Contains("Operation not permitted"));
  RunResult only = hoist.run(
      {"run", "--rm", "--cap-drop", "ALL", "--cap-add", "CAP_CHOWN", "busybox", "sh", "-c", chown});
  CHECK(only.out == "chowned\n");

  if (hoist.chroot_executor()) HOIST_SKIP("no /proc under copy+chroot to read CapEff from");
  auto caps = [&](const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {"run", "--rm"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    for (const char* word : {"busybox", "sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status"})
      argv.push_back(word);
    RunResult r = hoist.run(argv);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    return r.out;
  };
  CHECK(caps({}) == "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n");
  // NET_RAW (13) out, NET_ADMIN (12) in.
  CHECK(caps({"--cap-drop", "NET_RAW", "--cap-add", "net_admin"}) ==
        "CapEff:\t00000000a80415fb\nCapBnd:\t00000000a80415fb\n");
  CHECK(caps({"--cap-drop", "ALL", "--cap-add", "SYS_CHROOT,KILL"}) ==
        "CapEff:\t0000000000040020\nCapBnd:\t0000000000040020\n");
}

TEST_CASE("run: unknown capabilities and adds hoist cannot honour are refused by name",
          "[builder][run][capabilities]") {
  HoistRunner hoist;
  for (const auto& [flag, value, message] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--cap-add", "CAP_FOO", "--cap-add FOO: unknown capability"},
           {"--cap-drop", "bogus", "--cap-drop BOGUS: unknown capability"},
           {"--cap-add", "SYS_ADMIN", "--cap-add SYS_ADMIN: not supported"},
       }) {
    RunResult r = hoist.run({"run", "--rm", "--pull", "never", flag, value, "busybox", "true"});
    CAPTURE(flag, value);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(message));
  }
}

TEST_CASE("run: --read-only mounts the root read-only, volumes and /dev stay writable",
          "[builder][run][e2e][read-only]") {
  HoistRunner hoist;
  import_images(hoist);
  if (hoist.chroot_executor()) {
    RunResult r = hoist.run({"run", "--rm", "--read-only", "busybox", "true"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("--read-only cannot be honoured here"));
    HOIST_SKIP("--read-only needs the sandbox's mount namespace; RUN executor: " << hoist.auto_executor());
  }
  hoist_test::TempDir host("hoist-run-ro");
  RunResult r = hoist.run({"run", "--rm", "--read-only", "-v", host.path() + ":/work", "busybox", "sh",
                           "-c",
                           "touch /x 2>&1; touch /tmp/x 2>&1; echo in > /work/made && "
                           "echo > /dev/null && echo ok"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out ==
        "touch: /x: Read-only file system\ntouch: /tmp/x: Read-only file system\nok\n");
  CHECK(read_file(host.path() + "/made") == "in\n");
  RunResult writable = hoist.run({"run", "--rm", "busybox", "sh", "-c", "touch /x && echo ok"});
  CHECK(writable.out == "ok\n");
}

TEST_CASE("run: --tmpfs mounts a fresh tmpfs, noexec unless exec, writable under --read-only",
          "[builder][run][e2e][tmpfs]") {
  HoistRunner hoist;
  import_images(hoist);
  if (hoist.chroot_executor()) {
    RunResult r = hoist.run({"run", "--rm", "--tmpfs", "/tmp", "busybox", "true"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("--tmpfs cannot be honoured here"));
    HOIST_SKIP("--tmpfs needs the sandbox's mount namespace; RUN executor: " << hoist.auto_executor());
  }
  RunResult r = hoist.run(
      {"run", "--rm", "--read-only", "--tmpfs", "/tmp", "--tmpfs", "/scratch:exec,size=8m", "busybox", "sh", "-c",
       "echo data > /tmp/f && cat /tmp/f && cp /bin/busybox /tmp/echo && cp /bin/busybox /scratch/echo && "
       "/scratch/echo exec-ok && { /tmp/echo ran-from-noexec 2>/dev/null || echo noexec-refused; } && "
       "grep -E ' /(tmp|scratch) ' /proc/mounts | cut -d' ' -f2-4 && touch /x 2>&1"});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.out, Catch::StartsWith("data\nexec-ok\nnoexec-refused\n"));
  CHECK_THAT(r.out, Catch::Contains("/tmp tmpfs rw,nosuid,nodev,noexec,"));
  CHECK_THAT(r.out, Catch::Contains("/scratch tmpfs rw,nosuid,nodev,") && Catch::Contains("size=8192k"));
  CHECK_THAT(r.out, Catch::EndsWith("touch: /x: Read-only file system\n"));
  // A fresh one each run: the image's /tmp is untouched.
  RunResult after = hoist.run({"run", "--rm", "busybox", "ls", "-A", "/tmp"});
  CHECK(after.out.empty());
}

// A default `docker run` or Kubernetes pod around hoist: no CAP_SYS_ADMIN (capsh drops it),
// so containers run chrooted into a copy. Flags that need a mount or a namespace are refused
// by name before anything is copied; capabilities still apply; /proc is the image's empty
// directory, /dev/null works.
TEST_CASE("run: without CAP_SYS_ADMIN, flags that need namespaces are refused by name",
          "[builder][run][chroot]") {
  if (hoist_test::run_program({"sh", "-c", "command -v capsh"}).exit_code != 0)
    HOIST_SKIP("capsh missing (Debian package libcap2-bin; run .ci/deps.sh --test)");
  HoistRunner hoist;
  import_images(hoist);
  hoist.set_launcher({"capsh", "--drop=cap_sys_admin", "--", "-c", "exec \"$0\" \"$@\""});
  hoist_test::TempDir host("hoist-run-chroot");
  for (const std::vector<std::string>& flags : std::vector<std::vector<std::string>>{
           {"-v", host.path() + ":/data"}, {"--tmpfs", "/tmp"}, {"--read-only"}, {"--network", "none"}}) {
    std::vector<std::string> argv = {"run", "--rm"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), {"busybox", "true"});
    RunResult r = hoist.run(argv);
    CAPTURE(flags);
    CHECK(r.exit_code == 1);
    const std::string flag = flags[0] == "-v" ? "-v/--volume" : flags[0] == "--network" ? "--network none" : flags[0];
    CHECK_THAT(r.err, Catch::Contains(flag + " cannot be honoured here: no mount or network namespace can be made "
                                             "(copy+chroot (no mount namespace: "));
  }
  RunResult ran = hoist.run({"run", "--rm", "--cap-drop", "CHOWN", "busybox", "sh", "-c",
                             "ls -A /proc | wc -l; echo x > /dev/null && cat /dev/null; "
                             "touch /f && chown 1 /f || echo chown-refused"});
  INFO(ran.err);
  CHECK(ran.exit_code == 0);
  CHECK(ran.out == "0\nchown-refused\n");
  CHECK(container_dirs(hoist) == 0);
}
