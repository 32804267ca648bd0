#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>
#include <thread>

#include "builder/build.h"
#include "builder/context.h"
#include "runtime/sandbox/temp_dir.h"
#include "builder/run_mounts.h"
#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "builder/cli/store_access.h"
#include "layers/store.h"

namespace builder::cli {

using layers::Error;
using layers::ErrorKind;

namespace {

layers::Result<std::vector<std::pair<std::string, std::string>>> key_values(const std::vector<std::string>& items,
                                                                            std::string_view flag) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : items) {
    size_t eq = item.find('=');
    if (eq == 0) return Error(ErrorKind::Usage, std::string(flag) + ": want KEY=VALUE, got " + layers::quoted(item));
    if (eq == std::string::npos) {
      // `--build-arg NAME` takes NAME's value from the environment, as docker does.
      const char* env = std::getenv(item.c_str());
      if (flag == "--build-arg" && env) out.emplace_back(item, env);
      else if (flag == "--label") out.emplace_back(item, "");
      continue;
    }
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}

}  // namespace

layers::Result<int> cmd_build(const GlobalOptions& global, const std::vector<std::string>& args) {
  std::vector<std::string> tags, build_args, labels, outputs, secrets, ssh, build_contexts, allow, cache_to,
      cache_from;
  std::string file, target, platform, network = "default", progress_text = "auto", iidfile, compression = "gzip";
  std::string snapshotter;
  std::string jobs = std::to_string(std::max(1u, std::thread::hardware_concurrency()));
  bool no_cache = false, explain = false, pull = false, push = false, reproducible = false, quiet = false;
  ArgParser parser("hoist build [OPTIONS] CONTEXT",
                   "Build an image from a Dockerfile, as docker build does, with no daemon.");
  parser.multi("-t,--tag", &tags, "NAME[:TAG]", "name the image (repeatable)");
  parser.option("-f,--file", &file, "FILE", "the Dockerfile (default CONTEXT/Dockerfile; - reads stdin)");
  parser.multi("--build-arg", &build_args, "KEY=VALUE", "set a build-time variable (repeatable)");
  parser.option("--target", &target, "STAGE", "build this stage and what it needs");
  parser.multi("--label", &labels, "KEY=VALUE", "add a label to the image (repeatable)");
  parser.flag("--no-cache", &no_cache, "do not use the build cache");
  parser.flag("--explain", &explain, "say for each step that is not cached which input changed since its last build");
  parser.flag("--pull", &pull, "always pull FROM images from their registry");
  parser.option("--platform", &platform, "OS/ARCH", "the target platform (only this machine's for now)");
  parser.option("--network", &network, "default|host|none",
                "the network RUN steps see: default (a namespace of their own, outbound through "
                "slirp4netns), host, or none (loopback only)");
  parser.multi("--secret", &secrets, "id=ID,src=FILE|env=VAR",
               "a secret for RUN --mount=type=secret: never in the image, the cache or the logs (repeatable)");
  parser.multi("--build-context", &build_contexts, "NAME=DIR|docker-image://REF",
               "a named context for FROM NAME, COPY --from=NAME and RUN --mount=from=NAME (repeatable)");
  parser.multi("--ssh", &ssh, "default|ID=SOCKET",
               "an ssh agent for RUN --mount=type=ssh (default: $SSH_AUTH_SOCK) (repeatable)");
  parser.multi("--allow", &allow, "security.insecure|network.host",
               "grant an entitlement: security.insecure lets RUN --security=insecure run privileged; "
               "network.host is granted anyway, as by docker's builder (repeatable)");
  parser.flag("--push", &push, "push the image to its registry after building");
  parser.multi("-o,--output", &outputs, "type=TYPE[,dest=PATH]", "image (default), oci, docker or local (repeatable)");
  parser.multi("--cache-to", &cache_to, "type=local,dest=DIR|type=registry,ref=REF[,mode=min|max]",
               "export the build cache to a directory (an OCI layout) or a registry (repeatable)");
  parser.multi("--cache-from", &cache_from, "type=local,src=DIR|type=registry,ref=REF",
               "import a build cache exported with --cache-to; layers are fetched when needed (repeatable)");
  parser.option("--progress", &progress_text, "auto|tty|plain|quiet", "how to show progress (default auto)");
  parser.option("--iidfile", &iidfile, "FILE", "write the image id to FILE");
  parser.option("--compression", &compression, "gzip|zstd|none",
                "how layers leave with --push, -o type=oci and --cache-to (default gzip; the store keeps "
                "them uncompressed)");
  parser.option("--snapshotter", &snapshotter, "auto|overlay|copy",
                "how RUN records its changes: an overlayfs upper dir, or a copy of the root and a diff "
                "(default auto: overlay where it can be mounted; or $HOIST_SNAPSHOTTER)");
  parser.option("--jobs", &jobs, "N",
                "build up to N independent stages at once (default: the number of cores; 1 builds them one "
                "after another)");
  parser.flag("--reproducible", &reproducible, "clamp times to SOURCE_DATE_EPOCH (0 when unset)");
  parser.flag("-q,--quiet", &quiet, "show no progress; print the image id");
  parser.positionals(1, 1, "CONTEXT");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);

  BuildOptions options;
  options.context_dir = positional[0];
  options.dockerfile = file;
  options.store_root = global.root.empty() ? layers::Store::default_root() : global.root;
  std::optional<runtime::sandbox::TempDir> stdin_scratch;
  if (positional[0] == "-") {
    // docker build -: stdin is the context as a tar, or the Dockerfile alone.
    if (file == "-") return Error(ErrorKind::Usage, "the context and the Dockerfile cannot both come from stdin");
    if (auto r = layers::make_dirs(options.store_root + "/hoist-build"); !r) return std::move(r).error();
    auto scratch = runtime::sandbox::TempDir::create_in(options.store_root + "/hoist-build", "stdin-");
    if (!scratch) return std::move(scratch).error();
    auto context = read_stdin_context(0, scratch->path(), file);
    if (!context) return std::move(context).error();
    options.context_dir = context->dir;
    options.is_context_scratch = true;
    options.dockerfile = "-";
    options.dockerfile_text = std::move(context->dockerfile_text);
    stdin_scratch.emplace(std::move(*scratch));
  } else if (file == "-") {
    std::string text;
    char buf[65536];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) text.append(buf, n);
    options.dockerfile_text = std::move(text);
  }
  for (const auto& tag : tags) {
    auto name = normalized_name(tag);
    if (!name) return Error(ErrorKind::Usage, "-t " + tag + ": " + name.error().message());
    options.tags.push_back(*name);
  }
  auto parsed_args = key_values(build_args, "--build-arg");
  if (!parsed_args) return std::move(parsed_args).error();
  options.build_args = std::move(*parsed_args);
  auto parsed_labels = key_values(labels, "--label");
  if (!parsed_labels) return std::move(parsed_labels).error();
  options.labels = std::move(*parsed_labels);
  options.target = target;
  options.no_cache = no_cache;
  options.explain = explain;
  options.pull = pull;
  options.platform = platform;
  auto parsed_network = runtime::sandbox::parse_network(network);
  if (!parsed_network) return std::move(parsed_network).error();
  options.network = *parsed_network;
  options.push = push;
  for (const auto& entitlement : allow) {
    if (entitlement == "security.insecure") options.allows_insecure = true;
    else if (entitlement != "network.host")
      return Error(ErrorKind::Usage, "--allow " + entitlement + ": unknown entitlement (want security.insecure or network.host)");
  }
  auto read_secrets = read_build_secrets(secrets);
  if (!read_secrets) return std::move(read_secrets).error();
  options.secrets = std::move(*read_secrets);
  auto named_contexts = key_values(build_contexts, "--build-context");
  if (!named_contexts) return std::move(named_contexts).error();
  for (auto& [name, value] : *named_contexts) options.build_contexts[name] = value;
  auto agents = read_ssh_agents(ssh);
  if (!agents) return std::move(agents).error();
  options.ssh_agents = std::move(*agents);
  int to_stdout = 0;
  for (const auto& out : outputs) {
    auto spec = parse_output_spec(out);
    if (!spec) return std::move(spec).error();
    options.outputs.push_back(*spec);
    to_stdout += spec->is_stdout();
  }
  if (to_stdout > 1) return Error(ErrorKind::Usage, "--output: only one output can go to stdout (dest=-)");
  if (to_stdout && quiet)
    return Error(ErrorKind::Usage, "--output dest=- and -q both write to stdout; use --iidfile FILE for the image id");
  if (to_stdout)
    if (auto refused = refuse_archive_to_terminal("--output dest=-", "redirect stdout"); !refused)
      return std::move(refused).error();
  for (const auto& [texts, to] : {std::pair{&cache_to, true}, std::pair{&cache_from, false}}) {
    for (const auto& text : *texts) {
      auto spec = parse_cache_spec(text, to);
      if (!spec) return std::move(spec).error();
      (to ? options.cache_to : options.cache_from).push_back(*spec);
    }
  }
  options.iidfile = iidfile;
  auto c = layers::parse_compression(compression);
  if (!c) return Error(ErrorKind::Usage, "--compression: " + c.error().message());
  options.compression = *c;
  options.reproducible = reproducible;
  int parsed_jobs = 0;
  auto [end, error] = std::from_chars(jobs.data(), jobs.data() + jobs.size(), parsed_jobs);
  if (error != std::errc() || end != jobs.data() + jobs.size() || parsed_jobs < 1)
    return Error(ErrorKind::Usage, "--jobs " + layers::quoted(jobs) + ": want a number of stages, 1 or more");
  options.jobs = parsed_jobs;
  if (!parse_progress_mode(progress_text, &options.progress))
    return Error(ErrorKind::Usage, "--progress " + progress_text + ": want auto, tty, plain or quiet");
  if (quiet) options.progress = ProgressMode::Quiet;
  if (!snapshotter.empty()) {
    runtime::Snapshotter chosen;
    if (!runtime::parse_snapshotter(snapshotter, &chosen))
      return Error(ErrorKind::Usage, "--snapshotter " + snapshotter + ": want auto, overlay or copy");
    options.snapshotter = chosen;
  }
  options.insecure_registries = global.insecure_registries;
  options.debug = global.debug;

  auto result = build(options);
  if (!result) return std::move(result).error();
  if (quiet) std::printf("%s\n", result->image_id.str().c_str());
  return 0;
}

}  // namespace builder::cli
