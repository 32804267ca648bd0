#pragma once
// Everything a registry command gathers before talking to a registry: insecure registries
// (from --insecure-registry and the config file), the extra CA file, and the credentials
// Docker's config holds for the registry.
//
// The config file is $HOIST_CONFIG, else /etc/hoist/config.json, with Docker's daemon.json
// spelling: {"insecure-registries": ["host:port", ...]}. Missing is fine; malformed is
// InvalidInput naming the file.

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "layers/error.h"
#include "registry/client.h"
#include "registry/transfer.h"

namespace registry {

struct Settings {
  std::vector<std::string> insecure_registries;  // from the command line
  std::string tls_ca;                            // --tls-ca FILE
  bool debug = false;                            // log requests (never headers) to stderr
};

// ClientOptions for `registry` (a reference's domain), credentials included.
layers::Result<ClientOptions> client_options(const Settings& settings, const std::string& registry);

// Reads the insecure-registries list of the config file.
layers::Result<std::vector<std::string>> configured_insecure_registries();

// A TransferObserver that prints one line per layer as docker does ("<id>: Pull complete",
// "<id>: Mounted from REPO"; the config blob is not listed), and, when `out` is a
// terminal, bytes and speed updated in place. Every line is flushed as it is printed.
TransferObserver progress_printer(std::FILE* out, bool pushing);

// Pulls `reference` into `store` with a client made from `settings` (client_options), as
// `hoist pull`, `hoist run` and a build's FROM do: progress in docker's words on `progress`
// ("TAG: Pulling from REPO", a line per layer, "Digest:", "Status:") unless null. With
// `unpack`, layers are unpacked as they download (PullOptions::unpack).
layers::Result<PullResult> pull_reference(const Settings& settings, layers::Store& store,
                                          const Reference& reference,
                                          const std::optional<layers::Platform>& platform,
                                          std::FILE* progress, bool unpack);

// Pushes `stored` (an image in `store`) as `reference` with a client made from `settings`,
// as `hoist push` and `hoist build --push` do, its built layers compressed as
// options.compression says (transfer.h), and records REPO@DIGEST among the repo digests of
// `stored`. Returns the pushed digest.
layers::Result<layers::Digest> push_reference(const Settings& settings, layers::Store& store,
                                              const Reference& reference, const layers::Descriptor& stored,
                                              const PushOptions& options);

}  // namespace registry
