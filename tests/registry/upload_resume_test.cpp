// Chunked uploads that lose a PATCH: hoist asks the registry (GET on the upload URL) how
// much it holds and goes on from there; when the registry cannot say, the upload starts
// over. Against docker-registry, through the fault proxy.

#include <catch2/catch.hpp>

#include "layers/store.h"
#include "registry/client.h"
#include "registry/reference.h"
#include "registry/transfer.h"
#include "tests/registry/fault_proxy.h"
#include "tests/support/registry_fixture.h"
#include "tests/registry/test_image.h"

using registry_test::FaultProxy;
using hoist_test::RegistryServer;
using hoist_test::TempDir;
using Fault = FaultProxy::Fault;

namespace {

// Recorded requests that start with `prefix` and end with `suffix` (" -> 204").
int count_lines(const FaultProxy& proxy, const std::string& prefix, const std::string& suffix) {
  int n = 0;
  for (const auto& line : proxy.requests())
    if (line.starts_with(prefix) && line.ends_with(suffix)) ++n;
  return n;
}

}  // namespace

TEST_CASE("upload-status Range headers", "[registry][upload]") {
  auto [range, offset] = GENERATE(table<std::string, std::optional<uint64_t>>({
      {"0-131071", 131072},
      {"bytes=0-9", 10},
      {"0-1", 2},
      {"0-0", std::nullopt},  // docker-registry: nothing, or one byte
      {"", std::nullopt},
      {"5-9", std::nullopt},
      {"0-", std::nullopt},
      {"0-12x", std::nullopt},
      {"0--1", std::nullopt},
      {"0-99999999999999999999", std::nullopt},
  }));
  CAPTURE(range);
  CHECK(registry::parse_upload_range(range) == offset);
}

TEST_CASE("a chunked upload cut mid-PATCH resumes where the registry says, or starts over",
          "[registry][upload][faults]") {
  // CutBody: the cut PATCH never reached the registry, which still holds the earlier
  // chunks: hoist resumes. CutBodyForwarded: the registry got half a chunk and (as
  // docker-registry does) invalidates the upload: hoist starts over with a new POST.
  auto [fault, resumes] = GENERATE(table<Fault, bool>({
      {Fault::CutBody, true},
      {Fault::CutBodyForwarded, false},
  }));
  CAPTURE(static_cast<int>(fault));
  RegistryServer server({});
  REQUIRE(server.start_error() == "");
  TempDir a, b;
  auto store = layers::Store::open(a.path());
  REQUIRE(store);
  // One layer of ~300 KB in 64 KiB chunks: five PATCHes; the third one is cut.
  auto image = registry_test::make_image(*store, "resume", {300000});
  const auto& layer = image.layers[0];
  REQUIRE(layer.size > 4 * (64 << 10));
  FaultProxy proxy(server.port(), fault, 1, "PATCH /v2/resume/app/blobs/uploads/");
  proxy.skip_matches(2);
  const auto target = *registry::Reference::parse(proxy.host() + "/resume/app:v1");
  registry::ClientOptions options;
  options.backoff = std::chrono::milliseconds(10);
  options.chunk_size = 64 << 10;
  registry::Client client(target.domain(), options);
  auto pushed = registry::push(client, *store, target, image.manifest);
  INFO([&] {
    std::string all;
    for (const auto& line : proxy.requests()) all += line + "\n";
    return all;
  }());
  REQUIRE(pushed);
  CHECK(proxy.faults_applied() == 1);
  CHECK(proxy.count_requests("PATCH /v2/resume/app/blobs/uploads/") >= 1);
  CHECK(proxy.count_requests(" -> cut") == 1);
  // The status GET after the cut: 204 with the Range held, or the upload is gone.
  const int status_gets = proxy.count_requests("GET /v2/resume/app/blobs/uploads/");
  CHECK(status_gets == 1);
  // POSTs: one for the config's monolithic upload, one for the layer, plus one restart.
  const int posts = proxy.count_requests("POST /v2/resume/app/blobs/uploads/");
  if (resumes) {
    CHECK(count_lines(proxy, "GET /v2/resume/app/blobs/uploads/", " -> 204") == 1);
    CHECK(posts == 2);
    // Five chunks, the cut one sent twice, nothing before it sent again.
    CHECK(proxy.count_requests("PATCH /v2/resume/app/blobs/uploads/") == 6);
  } else {
    CHECK(count_lines(proxy, "GET /v2/resume/app/blobs/uploads/", " -> 404") == 1);
    CHECK(posts == 3);
  }

  // The registry holds exactly the right bytes: they pull back and verify.
  auto direct = *registry::Reference::parse(server.host() + "/resume/app:v1");
  registry::Client reader(direct.domain(), options);
  auto store_b = layers::Store::open(b.path());
  auto pulled = registry::pull(reader, *store_b, direct);
  REQUIRE(pulled);
  CHECK(pulled->image.digest == image.manifest.digest);
  CHECK(store_b->blobs().verify(layer.digest));
}
