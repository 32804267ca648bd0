#include "builder/build.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>

#include "builder/outputs.h"
#include "builder/stage_executor.h"
#include "layers/blob_store.h"
#include "layers/compressed_layers.h"
#include "layers/store.h"
#include "layers/tar_writer.h"
#include "parser/dockerfile.h"
#include "parser/strict.h"
#include "registry/client.h"
#include "registry/reference.h"
#include "registry/settings.h"
#include "registry/transfer.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

constexpr size_t kMaxDockerfileBytes = 16 << 20;

Error diagnostic_error(const parser::Diagnostic& d, std::string_view source) {
  return Error(ErrorKind::InvalidInput, parser::format_with_source(d, source));
}

parser::Platform host_platform() {
  auto host = layers::Platform::host();
  return parser::Platform{host.os, host.architecture, host.variant};
}

// Pushes `stored` under every tag, its layers compressed with --compression as they go.
Result<void> push_image(const BuildOptions& options, layers::Store& store, const layers::Descriptor& stored,
                        const CacheMounts& cache_mounts, Progress& progress) {
  if (options.tags.empty()) return Error(ErrorKind::Usage, "--push needs a name: give -t NAME:TAG");
  for (const auto& tag : options.tags) {
    auto reference = registry::Reference::parse(tag);
    if (!reference) return std::move(reference).error();
    progress.note("pushing " + reference->str());
    registry::PushOptions push_options;
    push_options.compression = options.compression;
    if (auto mounts = cache_mounts.find(reference->domain()); mounts != cache_mounts.end())
      push_options.mount_from = mounts->second;
    auto pushed = registry::push_reference({options.insecure_registries, "", options.debug}, store, *reference,
                                           stored, push_options);
    if (!pushed) return std::move(pushed).error().context("pushing " + reference->str());
    progress.note("pushed " + reference->str() + "@" + pushed->str());
  }
  return {};
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> split_key_values(std::string_view flag, std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view part = text.substr(start, comma - start);
    start = comma + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string_view::npos)
      return Error(ErrorKind::Usage, std::string(flag) + " " + layers::quoted(text) + ": want KEY=VALUE, got " + layers::quoted(part));
    out.emplace_back(part.substr(0, eq), part.substr(eq + 1));
  }
  return out;
}

Result<OutputSpec> parse_output_spec(std::string_view text) {
  OutputSpec spec;
  const bool is_bare_path = text.find('=') == std::string_view::npos;
  bool has_type = is_bare_path;
  std::vector<std::pair<std::string, std::string>> pairs;
  if (is_bare_path) {
    spec.type = OutputSpec::Type::Local;
    spec.dest = std::string(text);
  } else {
    auto split = split_key_values("--output", text);
    if (!split) return std::move(split).error();
    pairs = std::move(*split);
  }
  for (const auto& [key, value] : pairs) {
    if (key == "type") {
      has_type = true;
      if (value == "image") spec.type = OutputSpec::Type::Image;
      else if (value == "oci") spec.type = OutputSpec::Type::Oci;
      else if (value == "docker") spec.type = OutputSpec::Type::Docker;
      else if (value == "local") spec.type = OutputSpec::Type::Local;
      else
        return Error(ErrorKind::Usage, "--output " + layers::quoted(text) + ": unknown type " + layers::quoted(value) +
                                           " (want image, oci, docker or local)");
    } else if (key == "dest") {
      spec.dest = std::string(value);
    } else if (key == "name") {
      continue;  // names come from -t
    } else {
      return Error(ErrorKind::Usage, "--output " + layers::quoted(text) + ": unknown key " + layers::quoted(key));
    }
  }
  if (!has_type) return Error(ErrorKind::Usage, "--output " + layers::quoted(text) + ": missing type=");
  if (spec.type != OutputSpec::Type::Image && spec.dest.empty())
    return Error(ErrorKind::Usage, "--output " + layers::quoted(text) + ": missing dest=");
  // dest=- is stdout, as with BuildKit, for the exporters that write one tar.
  if (spec.type == OutputSpec::Type::Local && spec.is_stdout())
    return Error(ErrorKind::Usage, "--output " + layers::quoted(text) +
                                       ": type=local writes a directory, not stdout (hoist has no type=tar; "
                                       "type=docker,dest=- or type=oci,dest=- write an image archive there)");
  return spec;
}

namespace {
std::atomic<CancelToken*> g_signalled_build = nullptr;
}

namespace {

// Saves the memos of the context and the named contexts (builder/context_memo.h); with
// --debug, says how many of the files read were hashed.
Result<void> save_context_memos(BuildSession& session) {
  std::vector<std::pair<std::string, ContextMemo*>> memos = {{"context", session.context.memo()}};
  for (const auto& [name, dir] : session.named_dirs) memos.emplace_back("--build-context " + name, dir.memo());
  for (const auto& [what, memo] : memos) {
    if (!memo) continue;
    if (session.options.debug)
      session.progress.note("debug: " + what + ": " + std::to_string(memo->files()) + " files, " +
                            std::to_string(memo->hashed()) + " hashed in all (memo " + memo->path() + ")");
    if (auto r = memo->save(); !r) return std::move(r).error().context(what);
  }
  return {};
}

}  // namespace

// Routes SIGINT/SIGTERM to the build's CancelToken; restores the previous handlers when
// the build ends.
class CancelOnSignal {
 public:
  explicit CancelOnSignal(CancelToken& token) {
    g_signalled_build = &token;
    struct sigaction action = {};
    action.sa_handler = [](int) {
      if (CancelToken* token = g_signalled_build.load()) token->request();
    };
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &old_int_);
    ::sigaction(SIGTERM, &action, &old_term_);
  }
  ~CancelOnSignal() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    g_signalled_build = nullptr;
  }

 private:
  struct sigaction old_int_ = {}, old_term_ = {};
};

Result<BuildResult> build(const BuildOptions& options) {
  Progress progress(options.progress, stderr);
  // Ctrl-C stops the build between steps and a running RUN at once, so temp dirs are
  // removed by their owners and nothing is tagged.
  CancelToken cancel;
  if (auto r = cancel.open(); !r) return r.error();
  CancelOnSignal cancel_on_signal(cancel);

  // The Dockerfile.
  std::string display_name = "Dockerfile";
  std::string text = options.dockerfile_text;
  if (options.dockerfile != "-") {
    std::string path = options.dockerfile.empty() ? options.context_dir + "/Dockerfile" : options.dockerfile;
    if (!options.dockerfile.empty()) display_name = options.dockerfile;
    auto read = layers::read_file(path, kMaxDockerfileBytes);
    if (!read) return std::move(read).error().context("reading the Dockerfile " + layers::quoted(path));
    text = std::move(*read);
  }
  auto parsed = parser::parse_dockerfile(text, display_name);
  for (const auto& d : parsed.diagnostics) {
    if (d.is_error()) return diagnostic_error(d, text);
    progress.note("warning: " + parser::format_headline(d));
  }
  for (const auto& d : parser::check_strict(parsed.file, display_name))
    if (d.is_error()) return diagnostic_error(d, text);

  if (!options.platform.empty()) {
    auto wanted = layers::Platform::parse(options.platform);
    if (!wanted) return Error(ErrorKind::Usage, "--platform: " + wanted.error().message());
    auto host = layers::Platform::host();
    if (wanted->os != host.os || wanted->architecture != host.architecture)
      return Error(ErrorKind::Unsupported, "--platform " + options.platform + ": hoist builds only for this machine's platform (" +
                                               host.str() + ") for now");
  }

  // Build args and the global scope.
  parser::Vars build_arg_values;
  for (const auto& [k, v] : options.build_args) build_arg_values[k] = v;
  parser::BuildArgs build_args(build_arg_values, host_platform(), host_platform());
  parser::ArgScope global = parser::ArgScope::global(build_args);
  const char escape = parsed.file.escape;
  for (const auto& ins : parsed.file.instructions) {
    if (ins.cmd == "from") break;
    if (ins.cmd != "arg") continue;
    for (const auto& word : ins.args) {
      size_t eq = word.find('=');
      auto name = parser::expand_word(word.substr(0, eq), global.vars(), escape);
      if (!name) return Error(ErrorKind::InvalidInput, display_name + ":" + std::to_string(ins.line) + ": " + name.error());
      std::optional<std::string> value;
      if (eq != std::string::npos) {
        auto v = parser::expand_word(word.substr(eq + 1), global.vars(), escape);
        if (!v) return Error(ErrorKind::InvalidInput, display_name + ":" + std::to_string(ins.line) + ": " + v.error());
        value = *v;
      }
      global.declare(*name, value);
    }
  }
  const parser::Vars global_vars = global.vars();
  parser::StageExpansion expansion;
  expansion.expand_base = [&](std::string_view raw) {
    auto r = parser::expand_word(raw, global_vars, escape);
    return r ? r.value() : std::string(raw);
  };
  expansion.expand_from = [&](std::string_view raw, int) {
    auto r = parser::expand_word(raw, global_vars, escape);
    return r ? r.value() : std::string(raw);
  };
  auto graph = parser::StageGraph::build(parsed.file, display_name, expansion);
  for (const auto& d : graph.diagnostics)
    if (d.is_error()) return diagnostic_error(d, text);
  auto target = graph.resolve_target(options.target);
  for (const auto& d : target.diagnostics)
    if (d.is_error()) return diagnostic_error(d, text);

  // The store, the context, the cache.
  auto store = layers::Store::open(options.store_root.empty() ? layers::Store::default_root() : options.store_root);
  if (!store) return std::move(store).error();
  auto gc_lock = store->gc_shared_lock();
  if (!gc_lock) return std::move(gc_lock).error();
  BuildContext context = BuildContext::empty();
  if (!options.context_dir.empty()) {
    auto opened = BuildContext::open(options.context_dir, options.dockerfile);
    if (!opened) return std::move(opened).error();
    context = std::move(*opened);
    if (!options.is_context_scratch) context.keep_memo(ContextMemo::load(*store, context.dir()));
  }
  auto epoch = layers::source_date_epoch_from_env();
  if (!epoch) return std::move(epoch).error();
  std::optional<int64_t> source_date_epoch = *epoch;
  if (options.reproducible && !source_date_epoch) source_date_epoch = 0;
  auto snapshotter = runtime::resolve_snapshotter(options.snapshotter);
  if (!snapshotter) return std::move(snapshotter).error();
  std::string scratch = store->root() + "/hoist-build";
  if (auto r = layers::make_dirs(scratch); !r) return std::move(r).error();

  BuildSession session{.options = options,
                       .store = *store,
                       .cache = BuildCache(store->cache_dir(), store->blobs()),
                       .progress = progress,
                       .cancel = cancel,
                       .context = context,
                       .build_args = build_args,
                       .global_scope = global,
                       .global_vars = global_vars,
                       .graph = graph,
                       .escape = escape,
                       .display_name = display_name,
                       .source_date_epoch = source_date_epoch,
                       .scratch_dir = scratch,
                       .total_stages = static_cast<int>(target.stages.size()),
                       .snapshotter = *snapshotter};
  for (const auto& [name, value] : options.build_contexts) {
    const std::string what = "--build-context " + name + "=" + value;
    for (const auto& stage : graph.stages)
      if (stage.name == name)
        return Error(ErrorKind::Unsupported, what + ": the Dockerfile has a stage of that name; replacing a stage is "
                                                    "not supported by hoist");
    if (value.starts_with("docker-image://")) {
      session.named_images[name] = value.substr(std::string_view("docker-image://").size());
    } else if (value.find("://") != std::string::npos) {
      return Error(ErrorKind::Unsupported, what + ": only a directory or docker-image://REF is supported by hoist");
    } else {
      auto opened = BuildContext::open(value, "");
      if (!opened) return std::move(opened).error().context(what);
      opened->keep_memo(ContextMemo::load(*store, opened->dir()));
      session.named_dirs.emplace(name, std::move(*opened));
    }
  }
  CacheMounts cache_mounts;
  if (!options.no_cache) cache_mounts = import_shared_caches(options.cache_from, options, *store, session.cache, progress);
  plan_steps(session, target.stages);
  if (options.debug) {
    std::string stages;
    for (int index : target.stages) stages += (stages.empty() ? "" : ", ") + std::to_string(index);
    progress.note("debug: store " + store->root() + ", scratch " + scratch + ", context " +
                  (options.context_dir.empty() ? std::string("(none)") : options.context_dir));
    progress.note("debug: stages to build: " + stages + " (target " + std::to_string(target.target) + "), --jobs " +
                  std::to_string(options.jobs));
  }
  StageScheduler scheduler(graph, target.stages, options.jobs, cancel);
  session.scheduler = &scheduler;
  auto built = scheduler.run([&](int index) { return run_stage(session, index); });
  session.scheduler = nullptr;
  // What was hashed is remembered even when a step failed: the next try reads less.
  auto memos_saved = save_context_memos(session);
  if (!built) return std::move(built).error();
  if (!memos_saved) return std::move(memos_saved).error();

  // The image.
  const StageState& final_state = session.finished.at(target.target);
  layers::ImageConfig config = final_state.config;
  for (const auto& [k, v] : options.labels) config.config.labels[k] = v;
  config.created = config.history.empty() ? session.now() : config.history.back().created;
  if (source_date_epoch) config.created = layers::format_rfc3339(*source_date_epoch);
  if (auto r = session.cache.ensure_blobs(final_state.layers); !r) return std::move(r).error().context("writing the image");
  auto manifest = store->put_image(config, final_state.layers);
  if (!manifest) return std::move(manifest).error().context("writing the image");
  auto image = store->load_image(*manifest);
  if (!image) return std::move(image).error();
  // The store keeps the layers uncompressed; what leaves the machine (a push, an OCI
  // layout) has them compressed with --compression, once for all those outputs.
  std::optional<layers::Descriptor> leaving;
  auto compressed = [&]() -> Result<layers::Descriptor> {
    if (leaving) return *leaving;
    auto packed = layers::compressed_image(*store, *manifest, options.compression);
    if (!packed) return std::move(packed).error().context("compressing the image's layers");
    leaving = *packed;
    return *packed;
  };

  bool to_store = options.outputs.empty();
  for (const auto& out : options.outputs) {
    switch (out.type) {
      case OutputSpec::Type::Image:
        to_store = true;
        break;
      case OutputSpec::Type::Oci: {
        auto packed = compressed();
        if (!packed) return std::move(packed).error().context("--output type=oci");
        if (auto r = write_oci_output(*store, *packed, options.tags, out.dest); !r)
          return std::move(r).error().context("--output type=oci");
        progress.note("exported the image to " + out.shown_dest());
        break;
      }
      case OutputSpec::Type::Docker: {
        std::vector<std::string> repo_tags;
        for (const auto& t : options.tags)
          if (auto reference = registry::Reference::parse(t)) repo_tags.push_back(reference->familiar());
        if (auto r = write_docker_output(*store, *manifest, repo_tags, out.dest); !r)
          return std::move(r).error().context("--output type=docker");
        progress.note("exported the image to " + out.shown_dest());
        break;
      }
      case OutputSpec::Type::Local:
        if (auto r = write_local_output(*store, *image, out.dest); !r)
          return std::move(r).error().context("--output type=local");
        progress.note("exported the root filesystem to " + out.dest);
        break;
    }
  }
  if (to_store || options.push) {
    if (options.tags.empty()) {
      if (auto r = store->add_untagged(*manifest); !r) return std::move(r).error();
    }
    for (const auto& tag : options.tags)
      if (auto r = store->set_tag(tag, *manifest); !r) return std::move(r).error();
  }
  if (options.push) {
    if (auto r = push_image(options, *store, *manifest, cache_mounts, progress); !r) return std::move(r).error();
  }
  for (const CacheSpec& to : options.cache_to) {
    std::map<layers::Digest, CacheRecord> records = final_state.records;
    if (to.max)
      for (const auto& [index, state] : session.finished) records.insert(state.records.begin(), state.records.end());
    if (auto r = export_shared_cache(to, records, options, *store, session.cache, progress); !r)
      return std::move(r).error().context("--cache-to");
  }
  progress.note("writing image " + image->id().str());
  for (const auto& tag : options.tags) progress.note("naming to " + tag);
  if (auto unused = build_args.unused(); !unused.empty()) {
    std::string list;
    for (const auto& u : unused) list += (list.empty() ? "" : " ") + u;
    progress.note("[Warning] One or more build-args [" + list + "] were not consumed");
  }
  if (!options.iidfile.empty())
    if (auto r = layers::write_file_atomic(options.iidfile, image->id().str()); !r) return std::move(r).error();

  BuildResult result;
  result.image_id = image->id();
  result.manifest_digest = manifest->digest;
  result.steps = session.steps;
  result.cached_steps = session.cached_steps;
  return result;
}

}  // namespace builder
