#include "registry/settings.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

namespace registry {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

Result<std::vector<std::string>> configured_insecure_registries() {
  std::string path = "/etc/hoist/config.json";
  if (const char* p = std::getenv("HOIST_CONFIG"); p && *p) path = p;
  auto text = read_config_file(path, 1 << 20);
  if (!text) {
    if (text.error().kind() == ErrorKind::NotFound) return std::vector<std::string>();
    return std::move(text).error();
  }
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return Error(ErrorKind::InvalidInput, layers::quoted(path) + ": not a JSON object");
  std::vector<std::string> out;
  if (auto it = doc.find("insecure-registries"); it != doc.end()) {
    if (!it->is_array())
      return Error(ErrorKind::InvalidInput,
                   layers::quoted(path) + ": \"insecure-registries\" is not a list");
    for (const auto& h : *it) {
      if (!h.is_string())
        return Error(ErrorKind::InvalidInput,
                     layers::quoted(path) + ": \"insecure-registries\" holds a non-string");
      out.push_back(h.get<std::string>());
    }
  }
  return out;
}

Result<ClientOptions> client_options(const Settings& settings, const std::string& registry) {
  ClientOptions options;
  auto limits = HttpLimits::from_env();
  if (!limits) return std::move(limits).error();
  options.limits = *limits;
  options.tls.insecure_hosts = settings.insecure_registries;
  auto configured = configured_insecure_registries();
  if (!configured) return std::move(configured).error();
  for (auto& h : *configured) options.tls.insecure_hosts.push_back(std::move(h));
  options.tls.ca_file = settings.tls_ca;
  if (!settings.tls_ca.empty() && ::access(settings.tls_ca.c_str(), R_OK) != 0)
    return Error::from_errno("reading --tls-ca " + layers::quoted(settings.tls_ca));
  auto config = DockerConfig::load();
  if (!config) return std::move(config).error().context("reading registry credentials");
  auto credentials = config->get(registry);
  if (!credentials) return std::move(credentials).error();
  options.credentials = *credentials;
  if (settings.debug)
    options.debug_log = [](const std::string& line) {
      std::fprintf(stderr, "debug: %s\n", line.c_str());
    };
  return options;
}

namespace {

struct ProgressState {
  std::FILE* out;
  bool tty;
  bool pushing;
  std::map<std::string, std::chrono::steady_clock::time_point> started;
  std::map<std::string, std::chrono::steady_clock::time_point> last_print;
};

}  // namespace

TransferObserver progress_printer(std::FILE* out, bool pushing) {
  auto state = std::make_shared<ProgressState>();
  state->out = out;
  state->tty = ::isatty(::fileno(out));
  state->pushing = pushing;
  TransferObserver observer;
  observer.on_blob = [state](const layers::Descriptor& blob, TransferObserver::State s, uint64_t done,
                             std::string_view mounted_from) {
    using S = TransferObserver::State;
    // Layers only, as docker lists them: the config blob travels too, unnamed.
    if (!layers::is_layer_type(blob.media_type)) return;
    const std::string id = blob.digest.short_id();
    auto now = std::chrono::steady_clock::now();
    auto line = [&](const std::string& text) {
      if (state->tty)
        std::fprintf(state->out, "\r\033[K%s: %s\n", id.c_str(), text.c_str());
      else
        std::fprintf(state->out, "%s: %s\n", id.c_str(), text.c_str());
      std::fflush(state->out);
    };
    switch (s) {
      case S::Waiting:
        line("Waiting");
        break;
      case S::Skipped:
        if (state->pushing && layers::is_nondistributable_layer(blob.media_type))
          line("Skipped foreign layer");  // as docker push says
        else
          line(state->pushing ? "Layer already exists" : "Already exists");
        break;
      case S::Mounted:
        line("Mounted from " + std::string(mounted_from));
        break;
      case S::Running: {
        if (!state->started.contains(id)) {
          state->started[id] = now;
          if (!state->tty) line(state->pushing ? "Pushing" : "Downloading");
          break;
        }
        if (!state->tty) break;
        auto& last = state->last_print[id];
        if (now - last < std::chrono::milliseconds(200)) break;
        last = now;
        double secs = std::chrono::duration<double>(now - state->started[id]).count();
        std::string speed = secs > 0 ? layers::human_size(static_cast<int64_t>(static_cast<double>(done) / secs)) + "/s" : "";
        std::fprintf(state->out, "\r\033[K%s: %s %s/%s %s", id.c_str(),
                     state->pushing ? "Pushing" : "Downloading",
                     layers::human_size(static_cast<int64_t>(done)).c_str(),
                     layers::human_size(blob.size).c_str(), speed.c_str());
        std::fflush(state->out);
        break;
      }
      case S::Done:
        line(state->pushing ? "Pushed" : "Pull complete");
        break;
    }
  };
  return observer;
}

layers::Result<PullResult> pull_reference(const Settings& settings, layers::Store& store,
                                          const Reference& reference,
                                          const std::optional<layers::Platform>& platform,
                                          std::FILE* progress, bool unpack) {
  auto client_settings = client_options(settings, reference.domain());
  if (!client_settings) return std::move(client_settings).error();
  Client client(reference.domain(), std::move(*client_settings));
  PullOptions options;
  options.platform = platform;
  options.unpack = unpack;
  if (progress) {
    options.observer = progress_printer(progress, /*pushing=*/false);
    std::fprintf(progress, "%s: Pulling from %s\n",
                 reference.tag().empty() ? reference.digest()->str().c_str() : reference.tag().c_str(),
                 reference.path().c_str());
  }
  auto pulled = pull(client, store, reference, options);
  if (!pulled) return std::move(pulled).error();
  if (progress) {
    std::fprintf(progress, "Digest: %s\n", pulled->digest.str().c_str());
    std::fprintf(progress, "Status: %s for %s\n",
                 pulled->was_up_to_date ? "Image is up to date" : "Downloaded newer image",
                 reference.familiar().c_str());
  }
  return pulled;
}

layers::Result<layers::Digest> push_reference(const Settings& settings, layers::Store& store,
                                              const Reference& reference, const layers::Descriptor& stored,
                                              const PushOptions& options) {
  auto client_settings = client_options(settings, reference.domain());
  if (!client_settings) return std::move(client_settings).error();
  Client client(reference.domain(), std::move(*client_settings));
  auto pushed = push(client, store, reference, stored, options);
  if (!pushed) return std::move(pushed).error();
  if (auto r = store.add_repo_digest(stored.digest, reference.repository() + "@" + pushed->str()); !r)
    return std::move(r).error().context("recording the digest of " + reference.familiar());
  return pushed;
}

}  // namespace registry
