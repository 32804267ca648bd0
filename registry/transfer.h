#pragma once
// Pull and push: what `hoist pull` and `hoist push` do, on top of Client and the local
// Store.
//
// pull: fetches the manifest (or index, then the manifest for the chosen platform),
//   downloads the config and layers the store lacks, a bounded number at a time, each
//   verified before it lands (client.h); a foreign / non-distributable layer the registry
//   lacks comes from its descriptor's URLs (http/https, verified the same way). It stores the
//   manifest bytes exactly as served and only then tags the image, under gc_shared_lock(): an
//   interrupted pull leaves no tag and at worst some verified blobs. With
//   PullOptions::unpack, each layer downloaded is also unpacked as its bytes arrive.
// push: for the image (or index) a name points at, each blob is HEADed and skipped when
//   present, mounted from another repository of the same registry when a local tag says it
//   came from there, or uploaded from the store; foreign / non-distributable layers are
//   not pushed (as Docker does: the manifest keeps their URLs). Manifests are PUT with
//   their exact bytes and media type; the tag is PUT last, so a failed push tags nothing
//   and can be rerun.

#include <cstdint>
#include <map>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "layers/compress.h"
#include "layers/digest.h"
#include "layers/error.h"
#include "layers/image.h"
#include "layers/store.h"
#include "registry/client.h"
#include "registry/reference.h"

namespace registry {

// What a pull or push reports as it goes; called from worker threads, one call at a time.
// `mounted_from` is the repository a Mounted blob came from, empty for other states.
struct TransferObserver {
  enum class State { Waiting, Skipped, Mounted, Running, Done };
  std::function<void(const layers::Descriptor& blob, State state, uint64_t done, std::string_view mounted_from)>
      on_blob;
};

struct PullOptions {
  std::optional<layers::Platform> platform;  // default: the host's
  int parallel = 3;
  // Unpack each layer downloaded into the store's unpacked layers as its bytes arrive
  // (docker pull's extraction, overlapped with the download), so the first RUN or `hoist
  // run` finds it there. Best effort: a layer that cannot be unpacked so is unpacked at
  // its first use, which reports why.
  bool unpack = false;
  TransferObserver observer;
};

struct PullResult {
  std::string name;  // the tag written in the store (normalized reference)
  layers::Digest digest = layers::Digest::of("");  // what the registry serves for the reference
  layers::Descriptor image;                        // the image manifest stored and tagged
  bool was_up_to_date = false;                     // nothing needed downloading
};

layers::Result<PullResult> pull(Client& client, layers::Store& store, const Reference& reference,
                                const PullOptions& options = {});

// Picks the manifest for `platform` from an index: os and architecture must match; the
// variant must match when `platform` names one. NotFound listing what the index offers.
layers::Result<layers::Descriptor> choose_platform(const layers::Index& index,
                                                   const layers::Platform& platform);

struct PushOptions {
  int parallel = 3;
  // How the layers the store keeps uncompressed (built ones) are sent: each is compressed
  // once (layers/compressed_layers.h) and, the first time, uploaded while it is compressed;
  // the manifest pushed lists them compressed. None sends the image as stored.
  layers::Compression compression = layers::Compression::None;
  TransferObserver observer;
  // More repositories of the target's registry known to hold a blob (a build cache imported
  // from there), tried for a cross-repository mount as local tags' are.
  std::map<layers::Digest, std::string> mount_from;
};

// Pushes `image` (a manifest or index descriptor in `store`) as `reference` (its tag, or
// its digest when the reference has no tag). Returns the digest of the pushed top-level
// manifest (with options.compression, that of the compressed image, which is stored too:
// layers::compressed_image gives its descriptor).
layers::Result<layers::Digest> push(Client& client, const layers::Store& store,
                                    const Reference& reference, const layers::Descriptor& image,
                                    const PushOptions& options = {});

}  // namespace registry
