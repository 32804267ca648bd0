#pragma once
// `hoist build`: a Dockerfile and a context in, an image out.
//
// build() reads and parses the Dockerfile (every parse and strict-check error is
// reported with its place), picks the stages the target needs, runs them, independent
// ones at once up to --jobs (builder/stage_scheduler.h, builder/stage_executor.h), and
// writes the outputs: the local store under every tag (default), a registry (push), an
// OCI layout or archive, a `docker load` archive, or the final root filesystem as a
// directory. It holds the store's gc_shared_lock from the first layer written until the
// image is tagged, so an interrupted build leaves no tag and at worst unreferenced blobs
// and cache records (which prune removes).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "builder/progress.h"
#include "builder/shared_cache.h"
#include "runtime/executor.h"
#include "runtime/sandbox/sandbox.h"
#include "layers/compress.h"
#include "layers/digest.h"
#include "layers/error.h"

namespace builder {

struct OutputSpec {
  enum class Type { Image, Oci, Docker, Local };
  Type type = Type::Image;
  std::string dest;  // a directory, or a file ending in ".tar" (oci); a file (docker); "-": stdout (oci, docker)
  bool is_stdout() const { return dest == "-"; }
  std::string shown_dest() const { return is_stdout() ? "stdout" : dest; }  // for progress lines
};

// Splits a flag's "KEY=VALUE[,KEY=VALUE]..." value (--output, --cache-to, --cache-from) into
// its pairs, in order; empty parts are skipped. Usage naming `flag` and the part that is
// not KEY=VALUE.
layers::Result<std::vector<std::pair<std::string, std::string>>> split_key_values(std::string_view flag,
                                                                                  std::string_view text);

// Parses "type=image|oci|docker|local[,dest=PATH]" (the value of --output); a bare path
// means type=local,dest=PATH, as Docker reads `-o DIR`; dest=- is stdout (oci and docker
// only). Usage naming the value.
layers::Result<OutputSpec> parse_output_spec(std::string_view text);

struct BuildOptions {
  std::string context_dir;            // CONTEXT
  bool is_context_scratch = false;    // CONTEXT is stdin's tar unpacked: no memo of it is kept
  std::string dockerfile;             // -f: a path, "-" for stdin, "" for CONTEXT/Dockerfile
  std::string dockerfile_text;        // the text when the caller read it already (stdin)
  std::vector<std::string> tags;      // -t, normalized
  std::vector<std::pair<std::string, std::string>> build_args;  // --build-arg K=V
  std::vector<std::pair<std::string, std::string>> labels;      // --label K=V
  std::string target;                 // --target
  bool no_cache = false;
  bool explain = false;               // --explain: say why each step that runs is not cached
  bool pull = false;                  // --pull: always ask the registry for FROM images
  std::string platform;               // --platform; only the host's is accepted
  // --network: default (own namespace, slirp4netns), host, none.
  runtime::sandbox::Network network = runtime::sandbox::Network::Default;
  bool push = false;
  std::vector<OutputSpec> outputs;    // none: the store
  std::string iidfile;
  layers::Compression compression = layers::Compression::Gzip;
  bool reproducible = false;          // --reproducible: SOURCE_DATE_EPOCH or 0
  ProgressMode progress = ProgressMode::Auto;
  std::optional<runtime::Snapshotter> snapshotter;  // --snapshotter; unset: HOIST_SNAPSHOTTER, else auto
  std::vector<std::string> insecure_registries;
  bool debug = false;
  std::string store_root;             // the store to build in
  std::map<std::string, std::string> secrets;     // --secret, by id (builder/run_mounts.h)
  std::map<std::string, std::string> ssh_agents;  // --ssh: id -> agent socket
  bool allows_insecure = false;  // --allow security.insecure: RUN --security=insecure may run
  // --build-context NAME=DIR|docker-image://REF: what FROM NAME, COPY --from=NAME and
  // RUN --mount=from=NAME read instead of a stage or image of that name.
  std::map<std::string, std::string> build_contexts;
  std::vector<CacheSpec> cache_to;    // --cache-to (builder/shared_cache.h)
  std::vector<CacheSpec> cache_from;  // --cache-from
  // --jobs: how many stages may build at once (builder/stage_scheduler.h); 1 builds them
  // one after another. The image is the same either way. `hoist build` defaults to the
  // number of cores and refuses less than 1.
  int jobs = 1;
};

struct BuildResult {
  layers::Digest image_id = layers::Digest::of("");        // the config digest
  layers::Digest manifest_digest = layers::Digest::of("");
  int steps = 0;
  int cached_steps = 0;
};

layers::Result<BuildResult> build(const BuildOptions& options);

}  // namespace builder
