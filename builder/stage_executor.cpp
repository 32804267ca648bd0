#include "builder/stage_executor.h"

#include <sys/stat.h>

#include <algorithm>
#include <functional>

#include "builder/copy.h"
#include "builder/copy_sources.h"
#include "builder/explain.h"
#include "runtime/layer_dirs.h"
#include "builder/metadata.h"
#include "builder/root_copy.h"
#include "builder/run_mounts.h"
#include "runtime/executor.h"
#include "builder/run_step.h"
#include "runtime/sandbox/temp_dir.h"
#include "runtime/users.h"
#include "layers/tar_writer.h"
#include "parser/commands.h"
#include "parser/dockerfile.h"
#include "parser/heredoc.h"
#include "registry/client.h"
#include "registry/reference.h"
#include "registry/settings.h"
#include "registry/transfer.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

// A RUN step's network is part of what it ran, as in BuildKit's ExecOp.
const char* network_key(runtime::sandbox::Network network) {
  switch (network) {
    case runtime::sandbox::Network::Default: return "default";
    case runtime::sandbox::Network::Host: return "host";
    case runtime::sandbox::Network::None: return "none";
  }
  return "default";
}

}  // namespace

std::string BuildSession::now() const {
  return layers::format_rfc3339(source_date_epoch ? *source_date_epoch : layers::creation_time());
}

void BuildSession::finish_stage(int index, StageState state) {
  std::lock_guard lock(finished_mutex);
  finished.insert_or_assign(index, std::move(state));
}

Result<const StageState*> BuildSession::finished_stage(int index) {
  if (scheduler)
    if (auto r = scheduler->await(index); !r) return std::move(r).error();
  std::lock_guard lock(finished_mutex);
  auto it = finished.find(index);
  if (it == finished.end())
    return Error(ErrorKind::NotFound,
                 "stage " + layers::quoted(graph.stages[static_cast<size_t>(index)].display_name()) + " was not built");
  return &it->second;  // map entries stay where they are; a built stage is never changed
}

namespace {

std::string vars_text(const parser::Vars& vars) {
  std::string out;
  for (const auto& [k, v] : vars) out += k + "=" + v + "\n";
  return out;
}

// Pulls `reference` into the store through the registry client, as `hoist pull` does;
// its layers unpacked as they download when the Dockerfile has a RUN (which will want
// them on disk), else left packed (COPY and metadata read the layers' index).
Result<layers::Descriptor> pull_image(BuildSession& s, const registry::Reference& reference) {
  s.progress.note("pulling " + reference.str());
  bool has_run = false;
  for (const auto& stage : s.graph.stages)
    for (const auto& ins : stage.instructions) has_run = has_run || ins.cmd == "run";
  auto pulled = registry::pull_reference({s.options.insecure_registries, "", s.options.debug}, s.store,
                                         reference, std::nullopt, nullptr, has_run);
  if (!pulled) return std::move(pulled).error();
  return pulled->image;
}

// The stage `stage` is FROM: the index of a stage of the Dockerfile, else -1 and the
// base's text (an image, "scratch", or a --build-context name).
std::pair<int, std::string> base_of(const parser::Stage& stage) {
  std::pair<int, std::string> base{-1, stage.base};
  for (const auto& dep : stage.dependencies)
    if (dep.kind == parser::StageDependency::Kind::Base) base = {dep.stage, dep.reference};
  return base;
}

// Whether `base` (not a stage) is an image to look up.
bool is_image_base(const BuildSession& s, const std::string& base) {
  return base != "scratch" && !s.named_dirs.count(base);
}

class StageRunner {
 public:
  StageRunner(BuildSession& s, int index)
      : s_(s), stage_(s.graph.stages[static_cast<size_t>(index)]), index_(index), next_step_(s.first_step.at(index)) {}

  Result<void> run() {
    auto base = start_from_base();
    if (!base) return base;
    // ONBUILD triggers of the base run first, and are not inherited by this image. They
    // get the same checks as the Dockerfile's own instructions (parser::parse_command).
    std::vector<parser::Command> instructions;
    auto first_error = [](const std::vector<parser::Diagnostic>& diagnostics) {
      for (const auto& d : diagnostics)
        if (d.is_error()) return d.message + (d.hint.empty() ? "" : " (" + d.hint + ")");
      return std::string("unparsable");
    };
    for (const auto& trigger : state_->config.config.on_build) {
      parser::Instruction onbuild;
      onbuild.cmd = "onbuild";
      onbuild.args = {trigger};
      onbuild.line = stage_.line;
      onbuild.original = "ONBUILD " + trigger;
      auto parsed = parser::parse_onbuild_trigger(onbuild, s_.escape, s_.display_name);
      std::string problem;
      if (parser::has_errors(parsed.diagnostics) || parsed.file.instructions.size() != 1) {
        problem = first_error(parsed.diagnostics);
      } else {
        auto command = parser::parse_command(parsed.file.instructions.front(), s_.display_name);
        if (command.command) instructions.push_back(std::move(*command.command));
        else problem = first_error(command.diagnostics);
      }
      if (!problem.empty())
        return Error(ErrorKind::InvalidInput, s_.display_name + ":" + std::to_string(stage_.line) + ": ONBUILD trigger " +
                                                  layers::quoted(trigger) + " of the base image: " + problem);
    }
    state_->config.config.on_build.clear();
    for (const auto& ins : stage_.instructions) {
      auto command = parser::parse_command(ins, s_.display_name);
      if (!command.command)
        return Error(ErrorKind::InvalidInput, s_.display_name + ":" + std::to_string(ins.line) + ": " +
                                                  first_error(command.diagnostics));
      instructions.push_back(std::move(*command.command));
    }

    total_ = static_cast<int>(instructions.size()) + 1;
    for (size_t i = 0; i < instructions.size(); ++i) {
      const auto& ins = instructions[i].in;
      if (s_.cancel.is_requested()) return Error(ErrorKind::Cancelled, "build interrupted");
      int step = begin_step(label(static_cast<int>(i) + 2) + ins.original);
      identity_ = step_identity(static_cast<int>(i) + 1, ins.cmd);
      auto r = dispatch(instructions[i], step);
      std::string where = s_.display_name + ":" + std::to_string(ins.line) + ": " + ins.original;
      if (!r) {
        report_failure(step, r.error());
        return std::move(r).error().context(where);
      }
    }
    s_.finish_stage(index_, std::move(*state_));
    return {};
  }

 private:
  // The step across builds, for --explain: its stage (name, else index), its place in the
  // stage and its instruction; nothing of the context, so a fresh checkout finds it again.
  std::string step_identity(int n, std::string_view cmd) const {
    return "stage " + (stage_.name.empty() ? std::to_string(index_) : stage_.name) + " step " + std::to_string(n) + " " +
           std::string(cmd);
  }

  // Steps are numbered in the stage's own range (BuildSession::first_step), so numbers do
  // not depend on which stage runs first.
  int begin_step(std::string title) {
    const int step = next_step_++;
    ++s_.steps;
    s_.progress.begin(step, std::move(title));
    return step;
  }

  // A step stopped because another stage failed (or Ctrl-C) is not an error of its own.
  void report_failure(int step, const Error& error) {
    if (error.kind() == ErrorKind::Cancelled) s_.progress.canceled(step);
    else s_.progress.failed(step, error.describe());
  }

  std::string label(int n) const {
    std::string name = stage_.name.empty() ? (s_.total_stages > 1 ? stage_.display_name() : "") : stage_.name;
    return "[" + (name.empty() ? "" : name + " ") + std::to_string(n) + "/" + std::to_string(total_) + "] ";
  }

  Result<void> start_from_base() {
    auto [base_stage, base] = base_of(stage_);
    if (stage_.platform) {
      auto platform = parser::expand_word(*stage_.platform, s_.global_vars, s_.escape);
      if (!platform) return Error(ErrorKind::InvalidInput, platform.error());
      auto parsed = layers::Platform::parse(*platform);
      if (!parsed) return std::move(parsed).error();
      if (parsed->os != layers::Platform::host().os || parsed->architecture != layers::Platform::host().architecture)
        return Error(ErrorKind::Unsupported, "FROM --platform=" + *platform + ": building for a platform other than " +
                                                 layers::Platform::host().str() + " is not supported yet");
    }
    total_ = static_cast<int>(stage_.instructions.size()) + 1;
    int step = begin_step(label(1) + "FROM " + base);
    auto fail = [&](Error e) {
      report_failure(step, e);
      return std::move(e).context(s_.display_name + ":" + std::to_string(stage_.line) + ": FROM " + base);
    };
    StageState state{layers::ImageConfig{}, {}, s_.global_scope.stage(), layers::Digest::of(""), false};
    StepInputs inputs;
    if (base_stage >= 0) {
      auto built = s_.finished_stage(base_stage);
      if (!built) return fail(std::move(built).error());
      const StageState& from = **built;
      state.config = from.config;
      state.layers = from.layers;
      state.records = from.records;
      state.key = CacheKeyBuilder().add("stage").add(from.key.str()).finish();
      inputs.base = "stage " + base + " (key " + from.key.str() + ")";
    } else if (base == "scratch") {
      auto host = layers::Platform::host();
      state.config.architecture = host.architecture;
      state.config.os = host.os;
      state.config.variant = host.variant;
      state.key = CacheKeyBuilder().add("scratch").finish();
      inputs.base = "scratch";
    } else if (s_.named_dirs.count(base)) {
      return fail(Error(ErrorKind::Unsupported, "FROM " + base + ": a directory given with --build-context cannot be a "
                                                                  "base in hoist (use it with COPY --from)"));
    } else {
      const auto& image = s_.base_images.at(index_);
      if (!image) return fail(image.error());
      state.config = image->config;
      state.layers = image->manifest.layers;
      // The image id (its config: diff_ids and settings), not the manifest: the same image
      // stored with other compression (docker load, another registry) keeps its keys.
      state.key = CacheKeyBuilder().add("image").add(image->id().str()).finish();
      inputs.base = image->id().str();
    }
    bool has_path = std::any_of(state.config.config.env.begin(), state.config.config.env.end(),
                                [](const std::string& e) { return e.starts_with("PATH="); });
    if (!has_path) state.config.config.env.push_back("PATH=" + std::string(runtime::sandbox::kDefaultPath));
    state.key = CacheKeyBuilder()
                    .add(state.key.str())
                    .add(s_.source_date_epoch ? std::to_string(*s_.source_date_epoch) : "")
                    .finish();
    inputs.instruction = "FROM " + base;
    inputs.settings = {{"SOURCE_DATE_EPOCH", s_.source_date_epoch ? std::to_string(*s_.source_date_epoch) : ""}};
    // FROM always runs; with --explain it says when its key moved, which every later step
    // of the stage then reports as "an earlier step changed".
    identity_ = step_identity(0, "from");
    if (s_.options.explain) {
      auto last = log_.last_key(identity_);
      if (last && *last != state.key) s_.progress.explain(step, log_.explain(identity_, state.key, inputs));
    }
    if (auto r = remember(state.key, inputs); !r) return fail(std::move(r).error());
    state_.emplace(std::move(state));
    s_.progress.done(step);
    return {};
  }

  // The step's common end: reuse the cached result for `key`, or produce it and record it.
  // `inputs` name what went into `key`, for --explain (builder/explain.h); `files`, when
  // given, lists the files the step read, into `inputs`: only when it misses the cache,
  // since a hit saves no inputs (a COPY of 20,000 files would list them for nothing).
  Result<void> commit(int step, const layers::Digest& key, StepInputs inputs, const std::string& created_by,
                      const std::function<Result<std::optional<LayerResult>>()>& produce,
                      const std::function<EntryInputs()>& files = nullptr) {
    inputs.parent = state_->key.str();
    if (s_.options.debug) s_.progress.step_note(step, "debug: cache key " + key.str() + ", parent " + inputs.parent);
    if (!s_.options.no_cache) {
      if (auto record = s_.cache.lookup(key)) {
        if (record->layer) {
          state_->layers.push_back(*record->layer);
          state_->config.diff_ids.push_back(*record->diff_id);
        }
        state_->config.history.push_back({record->created, created_by, "", "", !record->layer.has_value()});
        state_->key = key;
        state_->records.insert_or_assign(key, *record);
        ++s_.cached_steps;
        if (auto r = log_.save_last_key(identity_, key); !r) return r;
        s_.progress.cached(step);
        return {};
      }
    }
    if (files) inputs.set_files(files());
    if (s_.options.explain)
      s_.progress.explain(step, s_.options.no_cache ? "--no-cache" : log_.explain(identity_, key, inputs));
    auto produced = produce();
    if (!produced) return std::move(produced).error();
    CacheRecord record;
    record.created = s_.now();
    if (*produced && !(*produced)->is_empty) {
      record.layer = (*produced)->layer;
      record.diff_id = (*produced)->diff_id;
      state_->layers.push_back(*record.layer);
      state_->config.diff_ids.push_back(*record.diff_id);
    }
    if (s_.options.debug)
      s_.progress.step_note(step, record.layer ? "debug: layer " + record.layer->digest.str() + " (" +
                                                     layers::human_size(record.layer->size) + ", " + record.layer->media_type + ")"
                                               : std::string("debug: no layer"));
    if (auto r = s_.cache.save(key, record); !r) return r;
    if (auto r = remember(key, inputs); !r) return r;
    state_->config.history.push_back({record.created, created_by, "", "", !record.layer.has_value()});
    state_->key = key;
    state_->records.insert_or_assign(key, record);
    s_.progress.done(step);
    return {};
  }

  // Keeps what --explain compares a later build of this step with.
  Result<void> remember(const layers::Digest& key, const StepInputs& inputs) {
    if (auto r = log_.save(key, inputs); !r) return r;
    return log_.save_last_key(identity_, key);
  }

  LayerWriteOptions layer_options() const { return {s_.source_date_epoch}; }

  // The stage's root as layers unpacked, for step `step`. Layers found in an imported cache
  // are fetched here, when a step needs the filesystem (and by build() for the final
  // image). Layers unpacked now are charged to the step in a line of their own.
  Result<runtime::LayerView> view(int step) {
    const auto started = std::chrono::steady_clock::now();
    int unpacking = 0;
    int64_t bytes = 0;
    for (size_t i = 0; i < state_->layers.size() && i < state_->config.diff_ids.size(); ++i)
      if (::access(s_.store.unpacked_path(state_->config.diff_ids[i]).c_str(), F_OK) != 0) {
        ++unpacking;
        bytes += state_->layers[i].size;
      }
    if (auto r = s_.cache.ensure_blobs(state_->layers); !r) return std::move(r).error();
    auto view = runtime::view_of(s_.store, state_->layers, state_->config.diff_ids);
    if (view && unpacking > 0) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      char line[160];
      std::snprintf(line, sizeof line, "unpacked %d layer%s (%s) %.1fs", unpacking, unpacking == 1 ? "" : "s",
                    layers::human_size(bytes).c_str(), secs);
      s_.progress.step_note(step, line);
    }
    return view;
  }

  // The stage's root as COPY and WORKDIR consult it: layers unpacked already are read
  // there, the others through their index, so a stage without RUN never unpacks its base
  // (runtime::index_view_of).
  Result<runtime::LayerView> lookup_view() {
    if (auto r = s_.cache.ensure_blobs(state_->layers); !r) return std::move(r).error();
    return runtime::index_view_of(s_.store, state_->layers, state_->config.diff_ids);
  }

  Result<void> dispatch(const parser::Command& command, int step) {
    const parser::Instruction& ins = command.in;
    if (auto* flags = std::get_if<parser::RunFlags>(&command.flags)) return run(ins, *flags, step);
    if (auto* flags = std::get_if<parser::CopyFlags>(&command.flags)) return copy(ins, *flags, step);
    if (ins.cmd == "from") return Error(ErrorKind::InvalidInput, "FROM inside a stage");
    if (!is_metadata_instruction(ins.cmd)) return Error(ErrorKind::InvalidInput, "unknown instruction " + layers::quoted(ins.cmd));
    auto described = [&] {
      std::lock_guard lock(s_.args_mutex);  // ARG marks the build args it uses
      return apply_metadata(command, *state_, s_.escape);
    }();
    if (!described) return std::move(described).error();
    layers::ImageConfig only_config;
    only_config.config = state_->config.config;
    only_config.author = state_->config.author;
    // The config's JSON writes invalid UTF-8 as U+FFFD, so two instructions differing
    // only there would share a key: the raw instruction text keeps them apart.
    auto key = CacheKeyBuilder()
                   .add(state_->key.str())
                   .add("meta")
                   .add(*described)
                   .add(ins.original)
                   .add(only_config.to_json())
                   .finish();
    std::string created_by = metadata_history(ins, state_->config.config, *described);
    StepInputs inputs;
    inputs.instruction = *described;
    inputs.settings = {{"the image config", layers::Digest::of(only_config.to_json()).str()}};
    if (ins.cmd != "workdir") return commit(step, key, inputs, created_by, [] { return std::optional<LayerResult>(); });
    // WORKDIR creates its directory when the image lacks it.
    return commit(step, key, inputs, created_by, [&]() -> Result<std::optional<LayerResult>> {
      std::string dir = state_->config.config.working_dir;
      auto image = lookup_view();
      if (!image) return std::move(image).error();
      // Made through the symlinks on the way, inside the image, as BuildKit makes it.
      auto rel = image->resolve(dir);
      if (!rel) return std::move(rel).error();
      if (rel->empty() || image->lookup(*rel)) return std::optional<LayerResult>();
      auto scratch = runtime::sandbox::TempDir::create_in(s_.scratch_dir, "workdir-");
      if (!scratch) return std::move(scratch).error();
      // The directory's metadata: an empty directory made here, copied as a file source is.
      const std::string empty = scratch->path() + "/empty";
      if (::mkdir(empty.c_str(), 0755) != 0 || ::chmod(empty.c_str(), 0755) != 0)
        return Error::from_errno("creating a scratch directory");
      CopyPlan plan;
      plan.items.push_back({CopyItem::Kind::Entry, empty, *rel, /*is_file_source=*/true});
      return write_copy_layer(plan, *image);
    });
  }

  // The layer of a copy, written straight from its sources (builder/copy.h); a later RUN
  // unpacks it from the store when it needs the files.
  Result<std::optional<LayerResult>> write_copy_layer(const CopyPlan& plan, const runtime::LayerView& image) {
    auto entries = copy_layer(plan, image, s_.scratch_dir);
    if (!entries) return std::move(entries).error();
    auto write = [&](const layers::WriteOptions& o, layers::ByteSink out) {
      return layers::write_given_layer(entries->entries, entries->open_data, o, std::move(out));
    };
    auto layer = store_written_layer(s_.store, write, entries->entries.empty(), layer_options());
    if (!layer) return std::move(layer).error();
    return std::optional<LayerResult>(*layer);
  }

  Result<void> run(const parser::Instruction& ins, const parser::RunFlags& flags, int step) {
    // The mounts, their values expanded with the stage's variables, as BuildKit does.
    std::vector<parser::Mount> mounts;
    {
      const parser::Vars vars = expansion_vars(*state_);
      parser::WordExpander expander = [&](std::string_view word) { return parser::expand_word(word, vars, s_.escape); };
      for (const std::string& text : flags.mounts) {
        auto mount = parser::parse_mount(text, expander);
        if (!mount) return Error(ErrorKind::InvalidInput, "--mount=" + text + ": " + mount.error());
        mounts.push_back(*mount);
      }
    }
    // Checked before the cache, as BuildKit checks entitlements before it solves anything.
    if (flags.is_insecure && !s_.options.allows_insecure)
      return Error(ErrorKind::InvalidInput,
                   "--security=insecure: security.insecure is not allowed (grant it with "
                   "hoist build --allow security.insecure)");
    const std::string step_cwd =
        state_->config.config.working_dir.empty() ? "/" : state_->config.config.working_dir;
    // Bind mounts are keyed on the content they show, planned once for key and run.
    std::string bind_keys;
    std::map<const parser::Mount*, BoundSource> bound;
    for (const parser::Mount& m : mounts) {
      if (m.type != parser::Mount::Type::Bind) continue;
      auto source = plan_bind_source(m);
      if (!source) return std::move(source).error().context("--mount=type=bind,source=" + m.source);
      bind_keys += (m.from.empty() ? "context:" : "from:") + source->plan.content.str() + "\n";
      bound.emplace(&m, std::move(*source));
    }
    // What the bind mounts show ("FROM:path", "path" for the context), for --explain.
    auto bind_files = [&] {
      EntryInputs files;
      for (const parser::Mount& m : mounts)
        if (auto it = bound.find(&m); it != bound.end())
          for (auto& [path, entry] : entry_inputs(it->second.plan.entries))
            files.emplace((m.from.empty() ? "" : m.from + ":") + path, std::move(entry));
      return files;
    };
    const runtime::sandbox::Network network = !flags.network ? s_.options.network
                                              : *flags.network == parser::NetworkMode::Host ? runtime::sandbox::Network::Host
                                              : *flags.network == parser::NetworkMode::None ? runtime::sandbox::Network::None
                                                                                            : runtime::sandbox::Network::Default;
    const auto& config = state_->config.config;
    std::vector<std::string> argv;
    if (ins.json) {
      argv = ins.args;
    } else {
      argv = config.shell.empty() ? std::vector<std::string>{"/bin/sh", "-c"} : config.shell;
      std::string command = ins.args.empty() ? "" : ins.args[0];
      if (!ins.heredocs.empty()) {
        std::string script, message;
        if (!parser::run_command_with_heredocs(command, ins.heredocs, &script, &message))
          return Error(ErrorKind::Unsupported, message);
        command = std::move(script);
      }
      argv.push_back(command);
    }
    if (argv.empty()) return Error(ErrorKind::InvalidInput, "RUN needs a command");
    parser::Vars run_args = state_->args.run_args();
    std::vector<std::string> env = config.env;
    auto env_now = env_vars(config);
    for (const auto& [k, v] : run_args)
      if (!env_now.count(k)) env.push_back(k + "=" + v);
    for (const auto& [k, v] : state_->args.proxy_args())
      if (!env_now.count(k)) env.push_back(k + "=" + v);

    std::string joined;
    for (const auto& a : argv) joined += (joined.empty() ? "" : " ") + a;
    std::string created_by = "RUN ";
    std::string arg_prefix;
    int visible_args = 0;
    for (const auto& [k, v] : run_args) {
      if (env_now.count(k)) continue;
      arg_prefix += " " + k + "=" + v;
      ++visible_args;
    }
    if (visible_args) created_by += "|" + std::to_string(visible_args) + arg_prefix + " ";
    created_by += joined + " # buildkit";

    CacheKeyBuilder argv_key;  // raw bytes: a JSON text would write invalid UTF-8 as U+FFFD
    for (const auto& arg : argv) argv_key.add(arg);
    CacheKeyBuilder run_key;
    run_key.add(state_->key.str())
        .add("run")
        .add(argv_key.finish().str())
        .add(vars_text(run_args))
        .add(network_key(network))
        .add(run_mounts_key(mounts, step_cwd))
        .add(bind_keys);
    if (flags.is_insecure) run_key.add("security=insecure");  // sandboxed steps keep their keys
    const layers::Digest key = run_key.finish();
    StepInputs inputs;
    inputs.instruction = "RUN " + joined;
    for (const auto& [k, v] : run_args) inputs.args[k] = layers::Digest::of(v).str();
    inputs.settings = {{"--network", network_key(network)}, {"the mounts", run_mounts_key(mounts, step_cwd)}};
    if (flags.is_insecure) inputs.settings["--security"] = "insecure";
    return commit(step, key, inputs, created_by, [&]() -> Result<std::optional<LayerResult>> {
      RunRequest request;
      request.privileged = flags.is_insecure;
      request.argv = argv;
      request.env = env;
      request.cwd = step_cwd;
      request.user = config.user;
      request.network = network;
      std::vector<runtime::sandbox::TempDir> bind_sources;  // removed after the step
      auto bind = [&](const parser::Mount& m, const std::string& target) {
        return bind_mount_source(bound.at(&m), m, target, bind_sources);
      };
      auto prepared =
          prepare_run_mounts(mounts, step_cwd, {s_.options.secrets, s_.options.ssh_agents, s_.store, s_.scratch_dir, bind});
      if (!prepared) return std::move(prepared).error();
      request.mounts = prepared->mounts;
      for (const std::string& entry : prepared->env) {
        const size_t eq = entry.find('=');
        set_env(request.env, entry.substr(0, eq), entry.substr(eq + 1));
      }
      auto executor = [&] {
        std::lock_guard lock(s_.executor_mutex);
        return executor_for_build(s_.run_executor, s_.snapshotter, s_.scratch_dir, s_.progress, step);
      }();
      if (!executor) return std::move(executor).error();
      if (executor->kind == runtime::RunExecutor::Kind::Copy) {
        // One copy of the root serves every RUN of the stage (builder/root_copy.h).
        if (!root_copy_) {
          auto made = RootCopy::create(s_.scratch_dir);
          if (!made) return std::move(made).error();
          root_copy_.emplace(std::move(*made));
        }
        if (auto r = s_.cache.ensure_blobs(state_->layers); !r) return std::move(r).error();
        if (auto r = root_copy_->sync(s_.store, state_->layers, state_->config.diff_ids); !r)
          return std::move(r).error().context("copying the root filesystem for RUN");
        request.root_copy = &*root_copy_;
        request.chroot_only = executor->chroot;
      } else {
        auto image = view(step);
        if (!image) return std::move(image).error();
        request.lower_dirs = image->dirs();
      }
      request.scratch_dir = s_.scratch_dir;
      request.cancel_fd = s_.cancel.fd();
      request.on_output = [&](int, std::string_view bytes) { s_.progress.output(step, bytes); };
      auto outcome = run_step(s_.store, request, layer_options());
      if (!outcome) return std::move(outcome).error();
      if (outcome->exit_code != 0)
        return Error(ErrorKind::InvalidInput, "process " + layers::quoted(joined) +
                                                  " did not complete successfully: exit code: " +
                                                  std::to_string(outcome->exit_code));
      return outcome->layer;
    }, bind_files);
  }

  Result<void> copy(const parser::Instruction& ins, const parser::CopyFlags& flags, int step) {
    const bool is_add = flags.add;
    const parser::Vars vars = expansion_vars(*state_);
    auto expand = [&](std::string_view word) -> Result<std::string> {
      auto r = parser::expand_word(word, vars, s_.escape);
      if (!r) return Error(ErrorKind::InvalidInput, r.error());
      return r.value();
    };
    if (ins.args.size() < 2)
      return Error(ErrorKind::InvalidInput, upper(ins.cmd) + " requires at least two arguments");
    // Here-documents and ADD URLs become files; the rest are paths (builder/copy_sources.h).
    auto sources = CopySources::collect(ins, flags, {&vars, s_.escape, &s_.cache, s_.scratch_dir});
    if (!sources) return std::move(sources).error();
    CopyRequest request;
    request.is_add = is_add;
    request.parents = flags.parents;
    request.sources = sources->paths;
    request.file_sources = sources->files;
    auto dest = expand(ins.args.back());
    if (!dest) return std::move(dest).error();
    request.dest = *dest;
    request.workdir = state_->config.config.working_dir;
    for (const auto& e : flags.excludes) {
      auto x = expand(e);
      if (!x) return std::move(x).error();
      request.excludes.push_back(*x);
    }
    if (const auto& chmod = flags.chmod) {
      auto x = expand(*chmod);
      if (!x) return std::move(x).error();
      request.chmod = *x;
    }

    auto image = lookup_view();
    if (!image) return std::move(image).error();
    if (const auto& chown = flags.chown) {
      auto spec = expand(*chown);
      if (!spec) return std::move(spec).error();
      std::string account_files[2];
      for (int i = 0; i < 2; ++i) {
        const std::string rel = i == 0 ? "etc/passwd" : "etc/group";
        auto text = image->read_regular_file(rel, runtime::kMaxAccountFileBytes);
        if (!text) return std::move(text).error().context("--chown=" + *spec + ": reading /" + rel + " of the image");
        account_files[i] = text->value_or("");
      }
      auto user = runtime::resolve_user_in(*spec, account_files[0], account_files[1], runtime::UserPurpose::Chown);
      if (!user) return std::move(user).error().context("--chown=" + *spec);
      request.uid = user->uid;
      request.gid = user->gid;
    }

    // Where the sources come from: the context, or a stage's or an image's root.
    std::optional<runtime::sandbox::TempDir> from_root;
    std::string from_text;
    if (const auto& from = flags.from) {
      auto x = expand(*from);
      if (!x) return std::move(x).error();
      if (auto named = s_.named_dirs.find(*x); named != s_.named_dirs.end()) {
        // --build-context NAME=DIR: read as the main context is, with its own .dockerignore.
        request.source_root = named->second.dir();
        request.ignore = &named->second.ignore();
        request.memo = named->second.memo();
        from_text = "named-context:" + *x;
      } else {
        // Keyed on what is copied (plan->content), not on the stage or image it comes
        // from, as BuildKit does: a change elsewhere in that stage keeps this step cached.
        auto root = materialize_from(*x, "COPY --from", request.sources);
        if (!root) return std::move(root).error();
        request.source_root = root->path();
        from_text = "from";
        from_root.emplace(std::move(*root));
      }
    } else {
      request.source_root = s_.context.dir();
      request.ignore = &s_.context.ignore();
      request.memo = s_.context.memo();
      if (request.source_root.empty() && !request.sources.empty())
        return Error(ErrorKind::InvalidInput, "there is no build context to copy from");
    }

    auto plan = plan_copy(request, *image);
    if (!plan) return std::move(plan).error();
    if (s_.options.debug)
      s_.progress.step_note(step, std::string("debug: ") + (request.memo ? "context" : "source") + ": " +
                                      std::to_string(plan->files) + " files, " + std::to_string(plan->files_hashed) +
                                      " hashed");
    std::string described = upper(ins.cmd);
    for (const auto& f : ins.flags) described += " " + f;
    for (const auto& src : request.sources) described += " " + src;
    described += " " + request.dest;
    auto key = CacheKeyBuilder()
                   .add(state_->key.str())
                   .add(ins.cmd)
                   .add(described)
                   .add(request.workdir)
                   .add(from_text)
                   .add(plan->content.str())
                   .finish();
    StepInputs inputs;
    inputs.instruction = described;
    inputs.settings = {{"WORKDIR", request.workdir}, {"the source", from_text}};
    auto files = [&] { return entry_inputs(plan->entries); };
    return commit(step, key, inputs, ins.original + " # buildkit", [&]() -> Result<std::optional<LayerResult>> {
      if (auto r = sources->fetch(); !r) return std::move(r).error();
      return write_copy_layer(*plan, *image);
    }, files);
  }

  // The layers of `name` (an earlier stage, else an image, pulled if need be), with their
  // diff_ids, for COPY --from and RUN --mount=from.
  struct FromLayers {
    std::vector<layers::Descriptor> layers;
    std::vector<layers::Digest> diff_ids;
  };
  Result<FromLayers> resolve_from(const std::string& name, std::string_view what) {
    if (auto named = s_.named_images.find(name); named != s_.named_images.end()) {
      auto image = find_image(s_, named->second);
      if (!image) return std::move(image).error().context("--build-context " + name);
      return FromLayers{image->manifest.layers, image->config.diff_ids};
    }
    const parser::Stage* stage = s_.graph.find(name);
    if (stage && stage->index < index_) {
      auto built = s_.finished_stage(stage->index);
      if (!built) return std::move(built).error();
      return FromLayers{(*built)->layers, (*built)->config.diff_ids};
    }
    if (stage) return Error(ErrorKind::InvalidInput, std::string(what) + "=" + name + " names this stage or a later one");
    auto from_image = find_image(s_, name);
    if (!from_image) return std::move(from_image).error();
    return FromLayers{from_image->manifest.layers, from_image->config.diff_ids};
  }

  // What reading `sources` in the root filesystem of `name` (see resolve_from) takes, in a
  // scratch dir (runtime::materialize_sources): a COPY --from of one directory of a big
  // stage writes that directory, not the stage's whole tree.
  Result<runtime::sandbox::TempDir> materialize_from(const std::string& name, std::string_view what,
                                                     const std::vector<std::string>& sources) {
    auto from = resolve_from(name, what);
    if (!from) return std::move(from).error();
    auto root = runtime::sandbox::TempDir::create_in(s_.scratch_dir, "from-");
    if (!root) return std::move(root).error();
    if (auto r = s_.cache.ensure_blobs(from->layers); !r) return std::move(r).error();
    auto left_out = runtime::materialize_sources(s_.store, from->layers, from->diff_ids, sources, root->path());
    if (!left_out) return std::move(left_out).error().context(std::string(what) + "=" + name);
    if (s_.options.debug)
      s_.progress.note("debug: " + std::string(what) + "=" + name + ": " + std::to_string(*left_out) +
                       " entries of its layers not needed, left out");
    return root;
  }

  // A bind mount's source: the COPY plan that selects `source` (default the root) of the
  // context, or of `from`'s root, materialized in `root` (resolved beneath its root,
  // .dockerignore applied for the context). Its content digest is the mount's cache key.
  struct BoundSource {
    std::optional<runtime::sandbox::TempDir> root;
    CopyPlan plan;
  };
  Result<BoundSource> plan_bind_source(const parser::Mount& m) {
    const auto named = s_.named_dirs.find(m.from);
    std::string source_root = named == s_.named_dirs.end() ? s_.context.dir() : named->second.dir();
    const parser::IgnoreRules* ignore = named == s_.named_dirs.end() ? &s_.context.ignore() : &named->second.ignore();
    ContextMemo* memo = named == s_.named_dirs.end() ? s_.context.memo() : named->second.memo();
    BoundSource bound;
    if (!m.from.empty() && named == s_.named_dirs.end()) {
      auto root = materialize_from(m.from, "RUN --mount=from", {m.source.empty() ? "/" : m.source});
      if (!root) return std::move(root).error();
      source_root = root->path();
      ignore = nullptr;
      memo = nullptr;
      bound.root.emplace(std::move(*root));
    }
    if (source_root.empty()) return Error(ErrorKind::InvalidInput, "there is no build context to bind from");
    CopyRequest request;
    request.sources = {m.source.empty() ? "/" : m.source};
    request.dest = "/m";
    request.source_root = source_root;
    request.ignore = ignore;
    request.memo = memo;
    auto empty = runtime::view_of(s_.store, {}, {});
    if (!empty) return std::move(empty).error();
    auto plan = plan_copy(request, *empty);
    if (!plan) return std::move(plan).error();
    bound.plan = std::move(*plan);
    return bound;
  }

  // RUN --mount=type=bind: the planned source copied by the COPY rules into a scratch dir
  // that is bound at the target; writes with rw land in that copy and are thrown away
  // with it, as BuildKit discards them.
  Result<runtime::sandbox::StepMount> bind_mount_source(const BoundSource& source, const parser::Mount& m,
                                                         const std::string& target,
                                                         std::vector<runtime::sandbox::TempDir>& keep) {
    auto empty = runtime::view_of(s_.store, {}, {});
    if (!empty) return std::move(empty).error();
    auto scratch = runtime::sandbox::TempDir::create_in(s_.scratch_dir, "bind-");
    if (!scratch) return std::move(scratch).error();
    const std::string root = scratch->path() + "/root";
    if (::mkdir(root.c_str(), 0755) != 0) return Error::from_errno("creating " + layers::quoted(root));
    if (auto r = execute_copy(source.plan, *empty, root); !r) return std::move(r).error();
    runtime::sandbox::StepMount mount{runtime::sandbox::StepMount::Kind::Bind, target};
    mount.host_path = root + "/m";
    mount.read_only = m.read_only;
    keep.push_back(std::move(*scratch));
    return mount;
  }

  BuildSession& s_;
  const parser::Stage& stage_;
  int index_;
  int next_step_;
  int total_ = 0;
  std::optional<StageState> state_;
  std::optional<RootCopy> root_copy_;  // the copy executor's root, kept across RUN steps
  StepLog log_{s_.store.cache_dir()};
  std::string identity_;  // the running step's, for --explain (step_identity)
};

}  // namespace

Result<layers::Image> find_image(BuildSession& s, const std::string& name) {
  auto reference = registry::Reference::parse(name);
  if (!reference) return std::move(reference).error().context("image name " + layers::quoted(name));
  std::optional<layers::Descriptor> descriptor;
  if (!s.options.pull) {
    auto found = reference->digest() ? s.store.resolve(reference->str()) : s.store.find_tag(reference->str());
    if (found) descriptor = *found;
    else if (found.error().kind() != ErrorKind::NotFound) return std::move(found).error();
  }
  if (!descriptor) {
    auto pulled = pull_image(s, *reference);
    if (!pulled)
      return std::move(pulled).error().context(layers::quoted(name) + " is not in the local store (run hoist pull or hoist "
                                                              "import first), and pulling it failed");
    descriptor = *pulled;
  }
  auto image = s.store.load_image(*descriptor);
  if (!image) return std::move(image).error().context("loading " + layers::quoted(name));
  return image;
}

void plan_steps(BuildSession& s, const std::vector<int>& order) {
  int next = 1;
  for (int index : order) {
    const parser::Stage& stage = s.graph.stages[static_cast<size_t>(index)];
    s.first_step[index] = next;
    size_t triggers = 0;
    auto [base_stage, base] = base_of(stage);
    if (base_stage >= 0) {
      // A stage's ONBUILD list is its own ONBUILD instructions (start_from_base clears
      // what its base had), so its children's trigger steps are known without building it.
      for (const auto& ins : s.graph.stages[static_cast<size_t>(base_stage)].instructions)
        if (ins.cmd == "onbuild") ++triggers;
    } else if (is_image_base(s, base)) {
      auto named = s.named_images.find(base);
      auto image = find_image(s, named == s.named_images.end() ? base : named->second);
      if (image) triggers = image->config.config.on_build.size();
      s.base_images.emplace(index, std::move(image));
    }
    next += 1 + static_cast<int>(stage.instructions.size() + triggers);
  }
}

Result<void> run_stage(BuildSession& session, int index) { return StageRunner(session, index).run(); }

}  // namespace builder
