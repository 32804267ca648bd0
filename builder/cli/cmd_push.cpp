#include <cstdio>

#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "builder/cli/store_access.h"
#include "registry/client.h"
#include "registry/reference.h"
#include "registry/settings.h"
#include "registry/transfer.h"

namespace builder::cli {

layers::Result<int> cmd_push(const GlobalOptions& global, const std::vector<std::string>& args) {
  ArgParser parser("hoist push [OPTIONS] NAME[:TAG]",
                   "Upload an image from the local store to a registry.");
  std::string tls_ca, compression = "gzip";
  bool quiet = false;
  parser.option("--tls-ca", &tls_ca, "FILE", "also trust the CA certificates in FILE");
  parser.option("--compression", &compression, "gzip|zstd|none",
                "how layers stored uncompressed (built ones) are sent (default gzip)");
  parser.flag("-q,--quiet", &quiet, "print only the pushed digest reference");
  parser.positionals(1, 1, "NAME");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  auto reference = registry::Reference::parse(positional[0]);
  if (!reference) return std::move(reference).error();
  auto layer_compression = layers::parse_compression(compression);
  if (!layer_compression) return layers::Error(layers::ErrorKind::Usage, "--compression: " + layer_compression.error().message());
  auto store = open_store(global);
  if (!store) return std::move(store).error();
  auto stored = resolve_image(*store, positional[0]);
  if (!stored) return std::move(stored).error();
  // Held until the push ends: the compressed manifest is in no index until then.
  auto gc_lock = store->gc_shared_lock();
  if (!gc_lock) return std::move(gc_lock).error();
  registry::PushOptions options;
  options.compression = *layer_compression;
  if (!quiet) {
    options.observer = registry::progress_printer(stdout, /*pushing=*/true);
    std::printf("The push refers to repository [%s]\n", reference->familiar_repository().c_str());
  }
  auto digest = registry::push_reference({global.insecure_registries, tls_ca, global.debug}, *store, *reference,
                                         *stored, options);
  if (!digest) return std::move(digest).error().context("pushing " + reference->familiar());
  if (!quiet && !reference->tag().empty()) {
    // The manifest sent is in the store (push stores the compressed one).
    auto size = store->blobs().size(*digest);
    if (!size) return std::move(size).error().context("pushing " + reference->familiar());
    std::printf("%s: digest: %s size: %llu\n", reference->tag().c_str(), digest->str().c_str(),
                static_cast<unsigned long long>(*size));
  }
  std::printf("%s@%s\n", reference->familiar_repository().c_str(), digest->str().c_str());
  return 0;
}

}  // namespace builder::cli
