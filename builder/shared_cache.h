#pragma once
// The build cache shared between machines: `--cache-to` exports the records of a build,
// `--cache-from` imports them, so a CI runner that starts with an empty store finds every
// unchanged step CACHED.
//
// What is exported is one OCI image manifest used as an artifact:
//
//   config  mediaType application/vnd.hoist.cache.config.v1+json, a JSON object
//             {"records": {"sha256:<step key>": {"created": RFC3339,
//                                                "layer": DESCRIPTOR | null,
//                                                "diff_id": "sha256:..."}, ...}}
//           (a record as builder/cache.h keeps it: the step's history time, and the
//           layer it made, if any)
//   layers  every layer a record names, once each, so a registry keeps them and `hoist
//           fsck`/`prune` reach them.
//
// type=local,dest=DIR writes it to DIR, an OCI image layout (layers/store.h), tagged
// "latest" in index.json (the index is replaced atomically; blobs no longer reached are
// then removed). type=registry,ref=REF pushes it as REF with the registry client (same
// auth, retries and digest checks as `hoist push`). mode=min (the default) exports the
// records of the final image's steps (its stage and the stages it is FROM); mode=max those
// of every stage built.
//
// Import reads the manifest and config (each verified against its digest) and adds the
// records to BuildCache's imported layer. A layer blob is fetched only when the build
// needs it (BuildCache::ensure_blobs), verified against its digest and diff_id. A missing
// or damaged cache is a warning naming it; the build goes on without it. A --push to a
// registry cache's registry mounts its layers from the cache's repository (CacheMounts).

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "builder/cache.h"
#include "builder/progress.h"
#include "layers/digest.h"
#include "layers/error.h"
#include "layers/store.h"

namespace builder {

struct BuildOptions;

inline constexpr std::string_view kCacheConfigType = "application/vnd.hoist.cache.config.v1+json";
// The ref.name of the cache manifest in a type=local directory's index.json.
inline constexpr std::string_view kLocalCacheTag = "latest";

struct CacheSpec {
  enum class Type { Local, Registry };
  Type type = Type::Registry;
  std::string location;  // DIR (dest= or src=), or REF (ref=)
  bool max = false;      // mode=max (--cache-to only)
};

// Parses the value of --cache-to (`to`) or --cache-from: type=local,dest=DIR|src=DIR,
// type=registry,ref=REF, [mode=min|max] for --cache-to; a bare REF is type=registry,ref=REF
// as buildx reads it. Any other type or key is refused, naming it (Usage).
layers::Result<CacheSpec> parse_cache_spec(std::string_view text, bool to);

// Where imported layers are on registries: by registry domain, blob -> repository path. A
// --push to that registry mounts them from there instead of uploading them.
using CacheMounts = std::map<std::string, std::map<layers::Digest, std::string>>;

// Imports every spec of `from` into `cache`. Never fails: a cache that cannot be read is a
// warning naming it. Returns the registry caches' layers for CacheMounts.
CacheMounts import_shared_caches(const std::vector<CacheSpec>& from, const BuildOptions& options, const layers::Store& store,
                          BuildCache& cache, Progress& progress);

// Exports `records` (by step key) as `to` says. Layer blobs the store lacks are fetched
// from the imported caches first.
layers::Result<void> export_shared_cache(const CacheSpec& to, const std::map<layers::Digest, CacheRecord>& records,
                                         const BuildOptions& options, const layers::Store& store,
                                         const BuildCache& cache, Progress& progress);

}  // namespace builder
