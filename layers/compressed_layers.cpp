#include "layers/compressed_layers.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "layers/direct_io.h"
#include "layers/json_text.h"

namespace layers {

namespace {

constexpr size_t kMaxRecordBytes = 4096;

std::string records_dir(const Store& store) {
  return store.root() + "/hoist-compressed";
}

// The remembered blob, when its record parses and the store has that blob with that size.
std::optional<Descriptor> read_record(const Store& store, const std::string& path) {
  auto text = read_file(path, kMaxRecordBytes);
  if (!text) return std::nullopt;
  auto j = parse_json(*text, kMaxRecordBytes, "compressed layer record");
  if (!j) return std::nullopt;
  auto d = descriptor_from_json(*j, "compressed layer record");
  if (!d) return std::nullopt;
  auto size = store.blobs().size(d->digest);
  if (!size || static_cast<int64_t>(*size) != d->size) return std::nullopt;
  return *d;
}

}  // namespace

std::string compressed_media_type(std::string_view media_type, Compression c) {
  if (media_type.starts_with("application/vnd.docker.")) {
    std::string out(media_type);
    if (c != Compression::None) out += "." + std::string(compression_name(c));
    return out;
  }
  if (media_type.starts_with(media_type::kOciLayer)) return std::string(oci_layer_media_type(c));
  return std::string(media_type);
}

bool is_stored_uncompressed(const Descriptor& layer) {
  auto stored = compression_of_media_type(layer.media_type);
  return stored && *stored == Compression::None && !is_nondistributable_layer(layer.media_type);
}

std::string compressed_record_path(const Store& store, const Digest& diff_id, Compression c) {
  return records_dir(store) + "/" + std::string(diff_id.hex()) + "." + std::string(compression_name(c));
}

Result<Descriptor> compressed_layer(const Store& store, const Descriptor& layer, Compression c,
                                    const CompressionWatch& watch) {
  if (c == Compression::None || !is_stored_uncompressed(layer)) return layer;
  const std::string record = compressed_record_path(store, layer.digest, c);
  if (auto known = read_record(store, record)) return *known;

  auto in = store.blobs().open_read(layer.digest);
  if (!in) return std::move(in).error();
  // Read past the page cache, as a build wrote it (PageCache::Bypass): read once, not kept.
  // Where the filesystem has no direct I/O, read through the cache.
  (void)set_direct_io(in->get(), true);
  // The encoder hashes both streams: the source (checked below) and what it stores. The
  // blob goes to disk past the cache too (a push's upload follows it there, reading it past
  // the cache, layers/blob_store.h): on a machine where fresh cache pages are dear, writing
  // them cost about 1 s of CPU in the first push of a 512 MiB layer (270 MB compressed).
  auto writer = store.blobs().begin_write(Hashing::ByCaller, PageCache::Bypass);
  if (!writer) return std::move(writer).error();
  BlobWriter& blob = *writer;
  if (watch.on_begin) {
    auto reader = blob.open_reader();
    if (!reader) return std::move(reader).error();
    watch.on_begin(std::move(*reader));
  }
  std::atomic<uint64_t> read_bytes{0};  // the encoder may call its sink from its own threads
  auto encoder = LayerEncoder::create(c, [&](std::span<const std::byte> data) -> Result<void> {
    auto r = blob.write(data);
    if (r && watch.on_progress) watch.on_progress(read_bytes.load(), blob.bytes_on_file());
    return r;
  });
  if (!encoder) return std::move(encoder).error();
  // decompress() passes a plain blob through as it is; one that turns out compressed
  // fails the diff_id check below.
  auto read = decompress(in->get(), [&](std::span<const std::byte> data) {
    read_bytes += data.size();
    return encoder->write(data);
  });
  if (!read) return std::move(read).error().context("compressing layer " + layer.digest.str());
  auto digests = encoder->finish();
  if (!digests) return std::move(digests).error().context("compressing layer " + layer.digest.str());
  if (digests->diff_id != layer.digest)
    return Error(ErrorKind::Corrupt, "layer blob " + layer.digest.str() + " in the store holds a tar of digest " +
                                         digests->diff_id.str() + ", not its name");
  auto digest = blob.commit(digests->digest);
  if (!digest) return std::move(digest).error().context("storing the compressed layer " + layer.digest.str());

  Descriptor out = layer;
  out.media_type = compressed_media_type(layer.media_type, c);
  out.digest = *digest;
  out.size = static_cast<int64_t>(digests->size);
  // Remembered best-effort: a store we cannot write to compresses again next time.
  if (make_dirs(records_dir(store))) (void)write_file_atomic(record, dump_json(descriptor_to_json(out)));
  return out;
}

Result<Descriptor> compressed_image(const Store& store, const Descriptor& image, Compression c) {
  if (c == Compression::None || !is_manifest_type(image.media_type)) return image;
  auto text = store.blobs().read_all(image.digest, kMaxManifestBytes);
  if (!text) return std::move(text).error();
  auto manifest = parse_manifest(*text, "manifest " + image.digest.str());
  if (!manifest) return std::move(manifest).error();
  bool is_changed = false;
  for (Descriptor& layer : manifest->layers) {
    auto packed = compressed_layer(store, layer, c);
    if (!packed) return std::move(packed).error();
    is_changed = is_changed || *packed != layer;
    layer = *packed;
  }
  if (!is_changed) return image;
  const std::string json = manifest->to_json();
  auto digest = store.blobs().put_bytes(json);
  if (!digest) return std::move(digest).error().context("storing the compressed image's manifest");
  Descriptor out = image;
  out.digest = *digest;
  out.size = static_cast<int64_t>(json.size());
  return out;
}

void sweep_compressed_records(const Store& store, const std::set<Digest>& live_diff_ids, std::set<Digest>& blobs) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(records_dir(store), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string path = it->path().string();
    const std::string name = it->path().filename().string();
    auto diff_id = Digest::from_hex(name.substr(0, name.find('.')));
    std::optional<Descriptor> record;
    if (diff_id && live_diff_ids.count(*diff_id)) record = read_record(store, path);
    if (record) blobs.insert(record->digest);
    else (void)::unlink(path.c_str());
  }
}

}  // namespace layers
