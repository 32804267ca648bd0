#include <cstdio>

#include "builder/cache.h"
#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "builder/cli/store_access.h"
#include "builder/context_memo.h"
#include "builder/leftovers.h"
#include "builder/run_mounts.h"

namespace builder::cli {

layers::Result<int> cmd_prune(const GlobalOptions& global, const std::vector<std::string>& args) {
  bool all = false, force = false, cache_mounts = false;
  ArgParser parser("hoist prune [OPTIONS]",
                   "Remove blobs and unpacked layers that no tagged image uses, temp files left by "
                   "interrupted writes, and context memos of directories that no longer exist. "
                   "Tagged images are never removed.");
  // `docker image prune -a` also removes tagged images no container uses; hoist prune
  // never removes a tagged image, so -a is refused rather than quietly doing less.
  parser.flag("-a,--all", &all, "refused: hoist prune never removes tagged images (use hoist rmi)");
  parser.flag("-f,--force", &force, "do not prompt (hoist never prompts)");
  parser.flag("--cache-mounts", &cache_mounts,
              "also remove RUN --mount=type=cache directories no running step uses");
  parser.positionals(0, 0, "");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  if (all)
    return layers::Error(layers::ErrorKind::Usage,
                         "hoist prune --all is not supported: docker's -a removes tagged images no "
                         "container uses, hoist prune never removes a tagged image (remove them "
                         "with hoist rmi)");
  auto store = open_store(global);
  if (!store) return std::move(store).error();
  // Under gc's locks: the scratch of dead builds and container temp dirs too.
  const std::string root = store->root();
  auto report = store->gc(true, [&root] { return builder::sweep_leftovers(root); });
  if (!report) return std::move(report).error().context("pruning " + layers::quoted(store->root()));
  const layers::GcReport& r = **report;
  std::printf("Deleted %zu blobs, %zu unpacked layers, %zu temp files\n", r.blobs_removed,
              r.unpacked_removed, r.temp_files_removed);
  auto memos = builder::ContextMemo::prune(*store);
  if (!memos) return std::move(memos).error().context("pruning context memos");
  std::printf("Deleted %zu context memos of directories that no longer exist\n", *memos);
  auto records = builder::BuildCache::prune(store->cache_dir(), store->blobs());
  if (!records) return std::move(records).error().context("pruning build cache records");
  std::printf("Deleted %zu build cache records and --explain inputs whose layers are gone\n", *records);
  if (cache_mounts) {
    auto removed = builder::prune_cache_mounts(*store);
    if (!removed) return std::move(removed).error().context("pruning cache mounts");
    std::printf("Deleted %zu cache mounts\n", *removed);
  }
  std::printf("Total reclaimed space: %s\n",
              human_size(static_cast<int64_t>(r.bytes_removed)).c_str());
  return 0;
}

}  // namespace builder::cli
