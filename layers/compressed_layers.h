#pragma once
// Layers are compressed when they leave the machine, once each.
//
// A build stores the layers it makes uncompressed (their digest is their diff_id), so the
// build does not wait for a compressor. A push, an OCI layout or archive (`hoist save
// --format oci`, `-o type=oci`) and an exported build cache carry compressed layers, as
// docker's do: compressed_image() gives the image's manifest with each uncompressed layer
// replaced by its compressed blob. The image id (the config digest, which lists diff_ids)
// is the same either way.
//
// The compressed blob of a diff_id is remembered in the store, a small record per diff_id
// and compression:
//
//   ROOT/hoist-compressed/<diff_id hex>.<gzip|zstd>   the compressed blob's descriptor (JSON)
//
// written atomically after the blob is stored, and used only when it parses and names a
// blob the store has with that size; otherwise the layer is compressed again. Output is
// reproducible (layers/compress.h), so the same diff_id always compresses to the same
// bytes, on any machine: two builds of the same image push the same manifest digest.
//
// Garbage collection keeps a record and its blob while some image the index reaches lists
// its diff_id (sweep_compressed_records), so a second push does not compress again.

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "layers/compress.h"
#include "layers/digest.h"
#include "layers/error.h"
#include "layers/image.h"
#include "layers/store.h"

namespace layers {

// The media type of `media_type` (an uncompressed layer type, OCI or Docker) compressed with `c`.
std::string compressed_media_type(std::string_view media_type, Compression c);

// Lets a caller follow a compression while it happens: a push uploads the compressed blob
// as it is written, instead of after.
struct CompressionWatch {
  // Called once, before the first byte is written, with a descriptor reading the blob being
  // written. Not called when the blob is remembered already (nothing is compressed).
  std::function<void(UniqueFd reader)> on_begin;
  // After each write: bytes of the layer read so far, bytes of the compressed blob on the
  // reader's file so far. The reader has O_DIRECT when the store's filesystem grants it
  // (BlobWriter::open_reader): page-aligned reads.
  std::function<void(uint64_t read, uint64_t written)> on_progress;
};

// True for a layer compressed_layer compresses: an uncompressed, distributable layer
// (one hoist built; the store keeps it so).
bool is_stored_uncompressed(const Descriptor& layer);

// The path of the record for (`diff_id`, `c`).
std::string compressed_record_path(const Store& store, const Digest& diff_id, Compression c);

// `layer` (an uncompressed layer blob in the store: its digest is its diff_id) compressed
// with `c`: the remembered blob, or the blob compressed now, stored and remembered. The
// source is hashed on the way: Corrupt when it is not its name. Returns `layer` itself
// for Compression::None, a compressed layer, a foreign one, or a blob that is no layer.
// `watch` follows the compression, when there is one.
Result<Descriptor> compressed_layer(const Store& store, const Descriptor& layer, Compression c,
                                    const CompressionWatch& watch = {});

// The image `image` (a manifest in the store) as it leaves the machine: when it has
// uncompressed layers, a manifest (stored) listing them compressed with `c`, the same
// config, the other layers (pulled ones, foreign ones) as they are; else `image` itself,
// byte for byte, so a pulled image keeps its digest. An index, and Compression::None,
// give `image` unchanged.
Result<Descriptor> compressed_image(const Store& store, const Descriptor& image, Compression c);

// For gc: keeps the records whose diff_id is in `live_diff_ids`, adding their blobs to
// `blobs`; removes the others and anything else in hoist-compressed/.
void sweep_compressed_records(const Store& store, const std::set<Digest>& live_diff_ids, std::set<Digest>& blobs);

}  // namespace layers
