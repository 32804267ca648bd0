#include "layers/compress.h"

#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "layers/direct_io.h"
#include "layers/parallel_gzip.h"
#include "layers/read_ahead.h"

#include <algorithm>
#include <optional>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

namespace layers {

namespace {

constexpr size_t kBufferBytes = 128 * 1024;
// decompress()'s reads (ReadAhead chunks): big, for a read that waits for the disk each
// time (O_DIRECT): 8 MiB in the ring.
constexpr size_t kDecompressReadBytes = size_t(1) << 20;
// zlib counts in 32-bit uInt; larger spans go through in pieces of this size.
constexpr size_t kZlibChunk = size_t(1) << 30;
constexpr int kZstdLevel = 3;

constexpr unsigned char kGzipMagic[] = {0x1f, 0x8b};
constexpr unsigned char kZstdMagic[] = {0x28, 0xb5, 0x2f, 0xfd};
constexpr unsigned char kXzMagic[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
constexpr unsigned char kBzip2Magic[] = {'B', 'Z', 'h'};
constexpr size_t kMagicBytes = sizeof(kXzMagic);  // the longest one

template <size_t N>
bool starts_with(std::span<const std::byte> data, const unsigned char (&magic)[N]) {
  return data.size() >= N && std::memcmp(data.data(), magic, N) == 0;
}

// xz and bzip2 are common enough to deserve a clear refusal instead of "not a tar".
Result<void> refuse_unsupported(std::span<const std::byte> head) {
  if (starts_with(head, kXzMagic))
    return Error(ErrorKind::Unsupported, "xz-compressed input is not supported (use gzip or zstd)");
  if (starts_with(head, kBzip2Magic) && head.size() >= 4 && head[3] >= std::byte{'1'} &&
      head[3] <= std::byte{'9'})
    return Error(ErrorKind::Unsupported,
                 "bzip2-compressed input is not supported (use gzip or zstd)");
  return {};
}

std::string zlib_message(const z_stream& strm, int ret) {
  if (strm.msg) return strm.msg;
  return "zlib error " + std::to_string(ret);
}

}  // namespace

std::string_view compression_name(Compression c) {
  switch (c) {
    case Compression::None:
      return "none";
    case Compression::Gzip:
      return "gzip";
    case Compression::Zstd:
      return "zstd";
  }
  return "none";
}

Result<Compression> parse_compression(std::string_view name) {
  if (name == "gzip") return Compression::Gzip;
  if (name == "zstd") return Compression::Zstd;
  if (name == "none" || name == "uncompressed") return Compression::None;
  return Error(ErrorKind::InvalidInput,
               "unknown compression " + quoted(name) + " (choose gzip, zstd or none)");
}

std::string_view oci_layer_media_type(Compression c) {
  switch (c) {
    case Compression::None:
      return "application/vnd.oci.image.layer.v1.tar";
    case Compression::Gzip:
      return "application/vnd.oci.image.layer.v1.tar+gzip";
    case Compression::Zstd:
      return "application/vnd.oci.image.layer.v1.tar+zstd";
  }
  return "application/vnd.oci.image.layer.v1.tar";
}

Result<Compression> compression_of_media_type(std::string_view media_type) {
  struct Known {
    std::string_view media_type;
    Compression compression;
  };
  static constexpr Known kKnown[] = {
      {"application/vnd.oci.image.layer.v1.tar", Compression::None},
      {"application/vnd.oci.image.layer.v1.tar+gzip", Compression::Gzip},
      {"application/vnd.oci.image.layer.v1.tar+zstd", Compression::Zstd},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar", Compression::None},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Compression::Gzip},
      {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", Compression::Zstd},
      {"application/vnd.docker.image.rootfs.diff.tar", Compression::None},
      {"application/vnd.docker.image.rootfs.diff.tar.gzip", Compression::Gzip},
      {"application/vnd.docker.image.rootfs.diff.tar.zstd", Compression::Zstd},
      {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Compression::Gzip},
  };
  for (const auto& k : kKnown)
    if (k.media_type == media_type) return k.compression;
  return Error(ErrorKind::NotFound, "media type " + quoted(media_type) + " is not a layer");
}

Compression detect_compression(std::span<const std::byte> head) {
  if (starts_with(head, kGzipMagic)) return Compression::Gzip;
  if (starts_with(head, kZstdMagic)) return Compression::Zstd;
  return Compression::None;
}

// ---------------------------------------------------------------------------------------
// LayerEncoder

struct LayerEncoder::Impl {
  Compression compression = Compression::None;
  ByteSink out;
  Sha256 plain_hash;
  Sha256 packed_hash;
  uint64_t packed_size = 0;
  std::vector<std::byte> buffer = std::vector<std::byte>(kBufferBytes);
  bool is_usable = true;

  std::optional<ParallelGzip> gz;
  ZSTD_CCtx* zc = nullptr;

  ~Impl() {
    if (zc) ZSTD_freeCCtx(zc);
  }

  Result<void> emit(std::span<const std::byte> bytes) {
    if (bytes.empty()) return {};
    packed_hash.update(bytes);
    packed_size += bytes.size();
    return out(bytes);
  }
  Result<void> emit(size_t n) { return emit(std::span<const std::byte>(buffer.data(), n)); }

  Result<void> zstd(std::span<const std::byte> data, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    for (;;) {
      ZSTD_outBuffer outb{buffer.data(), buffer.size(), 0};
      size_t ret = ZSTD_compressStream2(zc, &outb, &in, mode);
      if (ZSTD_isError(ret))
        return Error(ErrorKind::Io, std::string("zstd compression: ") + ZSTD_getErrorName(ret));
      if (auto r = emit(outb.pos); !r) return r;
      if (mode == ZSTD_e_end ? ret == 0 : in.pos == in.size) return {};
    }
  }
};

LayerEncoder::LayerEncoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LayerEncoder::LayerEncoder(LayerEncoder&&) noexcept = default;
LayerEncoder& LayerEncoder::operator=(LayerEncoder&&) noexcept = default;
LayerEncoder::~LayerEncoder() = default;

Compression LayerEncoder::compression() const {
  return impl_->compression;
}

Result<LayerEncoder> LayerEncoder::create(Compression compression, ByteSink out, int threads) {
  if (threads < 0)
    return Error(ErrorKind::InvalidInput, "compression thread count must not be negative, got " + std::to_string(threads));
  int workers = threads == 0 ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) : threads;
  auto impl = std::make_unique<Impl>();
  impl->compression = compression;
  impl->out = std::move(out);
  if (compression == Compression::Gzip) {
    Impl* self = impl.get();
    // The diff_id's hash runs beside the compressors, on the input they are given, not in
    // write(): it was a third of the caller's time (the caller also hashes the output).
    auto gz = ParallelGzip::create(
        workers, [self](std::span<const std::byte> bytes) { return self->emit(bytes); },
        [self](std::span<const std::byte> bytes) -> Result<void> {
          self->plain_hash.update(bytes);
          return {};
        });
    if (!gz) return std::move(gz).error();
    impl->gz.emplace(std::move(*gz));
  } else if (compression == Compression::Zstd) {
    impl->zc = ZSTD_createCCtx();
    if (!impl->zc) return Error(ErrorKind::Io, "starting zstd: out of memory");
    // Multi-threaded output is the same for any worker count >= 1, but differs from
    // single-threaded (0 workers) output; so always at least one worker, capped at what
    // this libzstd allows (0 when built without threads, which we then accept).
    ZSTD_bounds bounds = ZSTD_cParam_getBounds(ZSTD_c_nbWorkers);
    if (!ZSTD_isError(bounds.error)) workers = std::min(workers, bounds.upperBound);
    for (auto [param, value] :
         {std::pair{ZSTD_c_compressionLevel, kZstdLevel}, std::pair{ZSTD_c_checksumFlag, 1},
          std::pair{ZSTD_c_nbWorkers, workers}}) {
      size_t ret = ZSTD_CCtx_setParameter(impl->zc, param, value);
      if (ZSTD_isError(ret))
        return Error(ErrorKind::Io, std::string("configuring zstd: ") + ZSTD_getErrorName(ret));
    }
  }
  return LayerEncoder(std::move(impl));
}

Result<void> LayerEncoder::write(std::span<const std::byte> data) {
  Impl& s = *impl_;
  if (!s.is_usable) return Error(ErrorKind::Io, "layer encoder used after an error or finish");
  if (s.compression != Compression::Gzip) s.plain_hash.update(data);  // ParallelGzip's `seen` does it
  Result<void> r;
  switch (s.compression) {
    case Compression::None:  // the digest is the diff_id: one hash pass, not two
      s.packed_size += data.size();
      if (!data.empty()) r = s.out(data);
      break;
    case Compression::Gzip:
      r = s.gz->write(data);
      break;
    case Compression::Zstd:
      r = s.zstd(data, ZSTD_e_continue);
      break;
  }
  if (!r) s.is_usable = false;
  return r;
}

Result<LayerDigests> LayerEncoder::finish() {
  Impl& s = *impl_;
  if (!s.is_usable) return Error(ErrorKind::Io, "layer encoder used after an error or finish");
  s.is_usable = false;
  Result<void> r;
  if (s.compression == Compression::Gzip) r = s.gz->finish();
  if (s.compression == Compression::Zstd) r = s.zstd({}, ZSTD_e_end);
  if (!r) return std::move(r).error();
  LayerDigests d{.diff_id = Digest::of(""), .digest = Digest::of("")};
  d.uncompressed_size = s.plain_hash.bytes();
  d.diff_id = s.plain_hash.finish();
  d.size = s.packed_size;
  d.digest = s.compression == Compression::None ? d.diff_id : s.packed_hash.finish();
  return d;
}

// ---------------------------------------------------------------------------------------
// LayerDecoder

struct LayerDecoder::Impl {
  ByteSink out;
  bool is_detected = false;
  bool is_usable = true;
  Compression compression = Compression::None;
  std::vector<std::byte> head;  // first bytes, held until the format is known
  std::vector<std::byte> buffer = std::vector<std::byte>(kBufferBytes);
  uint64_t in_bytes = 0;
  uint64_t out_bytes = 0;

  z_stream zs{};
  bool has_zs = false;
  bool is_between_members = false;  // gzip: at the end of a member, no partial one started
  ZSTD_DCtx* zd = nullptr;
  bool is_between_frames = true;  // zstd: last ZSTD_decompressStream returned 0

  ~Impl() {
    if (has_zs) inflateEnd(&zs);
    if (zd) ZSTD_freeDCtx(zd);
  }

  Result<void> emit(std::span<const std::byte> bytes) {
    if (bytes.empty()) return {};
    out_bytes += bytes.size();
    return out(bytes);
  }

  Result<void> start(std::span<const std::byte> first) {
    is_detected = true;
    if (auto r = refuse_unsupported(first); !r) return r;
    compression = detect_compression(first);
    if (compression == Compression::Gzip) {
      int ret = inflateInit2(&zs, 15 + 16);
      if (ret != Z_OK) return Error(ErrorKind::Io, "starting gunzip: " + zlib_message(zs, ret));
      has_zs = true;
    } else if (compression == Compression::Zstd) {
      zd = ZSTD_createDCtx();
      if (!zd) return Error(ErrorKind::Io, "starting zstd: out of memory");
      // The default window limit (128 MiB) bounds memory; a frame asking for more is refused.
    }
    return {};
  }

  Result<void> gunzip(std::span<const std::byte> data) {
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    // Loops while input remains, and once more after a full output buffer: zlib may hold
    // output back (the rest of a match) when it runs out of room.
    bool is_output_full = false;
    while (zs.avail_in > 0 || is_output_full) {
      if (is_between_members) {
        if (zs.avail_in == 0) break;
        // Another member follows (`cat a.gz b.gz` is valid gzip); it must be gzip too.
        int ret = inflateReset(&zs);
        if (ret != Z_OK) return Error(ErrorKind::Io, "gunzip: " + zlib_message(zs, ret));
        is_between_members = false;
      }
      zs.next_out = reinterpret_cast<Bytef*>(buffer.data());
      zs.avail_out = static_cast<uInt>(buffer.size());
      int ret = inflate(&zs, Z_NO_FLUSH);
      if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
        return Error(ErrorKind::Corrupt, "gzip data is damaged: " + zlib_message(zs, ret));
      if (auto r = emit({buffer.data(), buffer.size() - zs.avail_out}); !r) return r;
      if (ret == Z_STREAM_END) is_between_members = true;
      if (ret == Z_BUF_ERROR) break;  // no progress possible: needs more input
      is_output_full = zs.avail_out == 0;
    }
    return {};
  }

  Result<void> unzstd(std::span<const std::byte> data) {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size) {
      ZSTD_outBuffer outb{buffer.data(), buffer.size(), 0};
      size_t ret = ZSTD_decompressStream(zd, &outb, &in);
      if (ZSTD_isError(ret))
        return Error(ErrorKind::Corrupt,
                     std::string("zstd data is damaged: ") + ZSTD_getErrorName(ret));
      if (auto r = emit({buffer.data(), outb.pos}); !r) return r;
      is_between_frames = ret == 0;
    }
    // Output may still be buffered inside zstd with all input consumed.
    for (;;) {
      ZSTD_outBuffer outb{buffer.data(), buffer.size(), 0};
      size_t ret = ZSTD_decompressStream(zd, &outb, &in);
      if (ZSTD_isError(ret))
        return Error(ErrorKind::Corrupt,
                     std::string("zstd data is damaged: ") + ZSTD_getErrorName(ret));
      if (auto r = emit({buffer.data(), outb.pos}); !r) return r;
      if (outb.pos < outb.size) {
        if (ret == 0) is_between_frames = true;
        return {};
      }
    }
  }

  Result<void> decode(std::span<const std::byte> data) {
    switch (compression) {
      case Compression::None:
        return emit(data);
      case Compression::Gzip:
        for (size_t off = 0; off < data.size(); off += kZlibChunk)
          if (auto r = gunzip(data.subspan(off, std::min(kZlibChunk, data.size() - off))); !r)
            return r;
        return {};
      case Compression::Zstd:
        return unzstd(data);
    }
    return {};
  }
};

LayerDecoder::LayerDecoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LayerDecoder::LayerDecoder(LayerDecoder&&) noexcept = default;
LayerDecoder& LayerDecoder::operator=(LayerDecoder&&) noexcept = default;
LayerDecoder::~LayerDecoder() = default;

Result<LayerDecoder> LayerDecoder::create(ByteSink out) {
  auto impl = std::make_unique<Impl>();
  impl->out = std::move(out);
  return LayerDecoder(std::move(impl));
}

Compression LayerDecoder::compression() const {
  return impl_->compression;
}
uint64_t LayerDecoder::compressed_bytes() const {
  return impl_->in_bytes;
}
uint64_t LayerDecoder::uncompressed_bytes() const {
  return impl_->out_bytes;
}

Result<void> LayerDecoder::write(std::span<const std::byte> data) {
  Impl& s = *impl_;
  if (!s.is_usable) return Error(ErrorKind::Io, "layer decoder used after an error or finish");
  s.in_bytes += data.size();
  Result<void> r;
  if (s.is_detected) {
    r = s.decode(data);
  } else {
    s.head.insert(s.head.end(), data.begin(), data.end());
    if (s.head.size() >= kMagicBytes) {
      r = s.start(s.head);
      if (r) r = s.decode(s.head);
      s.head.clear();
    }
  }
  if (!r) s.is_usable = false;
  return r;
}

Result<void> LayerDecoder::finish() {
  Impl& s = *impl_;
  if (!s.is_usable) return Error(ErrorKind::Io, "layer decoder used after an error or finish");
  s.is_usable = false;
  if (!s.is_detected) {
    if (auto r = s.start(s.head); !r) return r;
    if (auto r = s.decode(s.head); !r) return r;
  }
  if (s.compression == Compression::Gzip && !s.is_between_members)
    return Error(ErrorKind::Corrupt, "gzip data is truncated");
  if (s.compression == Compression::Zstd && !s.is_between_frames)
    return Error(ErrorKind::Corrupt, "zstd data is truncated");
  return {};
}

Result<Compression> decompress(int fd, ByteSink out) {
  auto decoder = LayerDecoder::create(std::move(out));
  if (!decoder) return std::move(decoder).error();
  // The reads in a thread of their own, a few chunks ahead (layers/read_ahead.h), into page
  // aligned buffers, so that `fd` may have O_DIRECT (compressed_layer's read of a blob):
  // such a read waits for the disk (1 MiB took about 1 ms here), and the decoder's sink (a
  // compressor) goes on meanwhile. A direct read refused (an unaligned end) drops O_DIRECT.
  auto ahead = ReadAhead::start([fd](std::span<std::byte> buf) -> Result<size_t> {
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n >= 0) return size_t(n);
      if (errno == EINTR) continue;
      if (errno == EINVAL && has_direct_io(fd) && set_direct_io(fd, false)) continue;
      return Error::from_errno("reading compressed input");
    }
  }, kDecompressReadBytes);
  if (!ahead) return std::move(ahead).error();
  for (;;) {
    auto chunk = ahead->next();
    if (!chunk) return std::move(chunk).error();
    if (chunk->empty()) break;
    if (auto r = decoder->write(*chunk); !r) return std::move(r).error();
  }
  if (auto r = decoder->finish(); !r) return std::move(r).error();
  return decoder->compression();
}

// ---------------------------------------------------------------------------------------
// DecompressingReader

struct DecompressingReader::Impl {
  int fd = -1;
  Compression compression = Compression::None;
  bool is_started = false;
  bool is_eof = false;  // the fd has no more bytes
  std::vector<std::byte> in = std::vector<std::byte>(kBufferBytes);
  size_t in_pos = 0, in_len = 0;
  uint64_t in_total = 0;

  z_stream zs{};
  bool has_zs = false;
  bool is_between_members = false;
  ZSTD_DCtx* zd = nullptr;
  bool is_between_frames = true;

  ~Impl() {
    if (has_zs) inflateEnd(&zs);
    if (zd) ZSTD_freeDCtx(zd);
  }

  size_t available() const { return in_len - in_pos; }

  // Appends to the unread input (moving it to the front first); false at the end of fd.
  Result<bool> refill() {
    if (is_eof) return false;
    if (in_pos > 0) {
      std::memmove(in.data(), in.data() + in_pos, available());
      in_len -= in_pos;
      in_pos = 0;
    }
    for (;;) {
      ssize_t n = ::read(fd, in.data() + in_len, in.size() - in_len);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error::from_errno("reading compressed input");
      if (n == 0) {
        is_eof = true;
        return false;
      }
      in_len += size_t(n);
      in_total += uint64_t(n);
      return true;
    }
  }

  Result<void> start() {
    is_started = true;
    while (available() < kMagicBytes) {
      auto more = refill();
      if (!more) return std::move(more).error();
      if (!*more) break;
    }
    std::span<const std::byte> head(in.data() + in_pos, available());
    if (auto r = refuse_unsupported(head); !r) return r;
    compression = detect_compression(head);
    if (compression == Compression::Gzip) {
      int ret = inflateInit2(&zs, 15 + 16);
      if (ret != Z_OK) return Error(ErrorKind::Io, "starting gunzip: " + zlib_message(zs, ret));
      has_zs = true;
    } else if (compression == Compression::Zstd) {
      zd = ZSTD_createDCtx();
      if (!zd) return Error(ErrorKind::Io, "starting zstd: out of memory");
    }
    return {};
  }

  Result<size_t> plain(std::span<std::byte> out) {
    if (available() == 0) {
      auto more = refill();
      if (!more) return std::move(more).error();
      if (!*more) return size_t(0);
    }
    size_t n = std::min(out.size(), available());
    std::memcpy(out.data(), in.data() + in_pos, n);
    in_pos += n;
    return n;
  }

  Result<size_t> gunzip(std::span<std::byte> out) {
    out = out.first(std::min(out.size(), kZlibChunk));
    for (;;) {
      if (available() == 0) {
        auto more = refill();
        if (!more) return std::move(more).error();
        if (!*more) {
          if (is_between_members) return size_t(0);
          // zlib may still hold output for a full buffer; otherwise the stream stopped short.
        }
      }
      if (is_between_members) {
        int ret = inflateReset(&zs);
        if (ret != Z_OK) return Error(ErrorKind::Io, "gunzip: " + zlib_message(zs, ret));
        is_between_members = false;
      }
      zs.next_in = reinterpret_cast<Bytef*>(in.data() + in_pos);
      zs.avail_in = static_cast<uInt>(available());
      zs.next_out = reinterpret_cast<Bytef*>(out.data());
      zs.avail_out = static_cast<uInt>(out.size());
      int ret = inflate(&zs, Z_NO_FLUSH);
      in_pos = in_len - zs.avail_in;
      size_t produced = out.size() - zs.avail_out;
      if (ret == Z_STREAM_END) is_between_members = true;
      if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
        return Error(ErrorKind::Corrupt, "gzip data is damaged: " + zlib_message(zs, ret));
      if (produced > 0) return produced;
      if (ret == Z_BUF_ERROR && available() == 0 && is_eof)
        return Error(ErrorKind::Corrupt, "gzip data is truncated");
    }
  }

  Result<size_t> unzstd(std::span<std::byte> out) {
    for (;;) {
      ZSTD_inBuffer inb{in.data() + in_pos, available(), 0};
      ZSTD_outBuffer outb{out.data(), out.size(), 0};
      size_t ret = ZSTD_decompressStream(zd, &outb, &inb);
      in_pos += inb.pos;
      if (ZSTD_isError(ret))
        return Error(ErrorKind::Corrupt,
                     std::string("zstd data is damaged: ") + ZSTD_getErrorName(ret));
      if (inb.pos > 0 || outb.pos > 0) is_between_frames = ret == 0;
      if (outb.pos > 0) return outb.pos;
      if (available() == 0) {
        auto more = refill();
        if (!more) return std::move(more).error();
        if (!*more) {
          if (is_between_frames) return size_t(0);
          return Error(ErrorKind::Corrupt, "zstd data is truncated");
        }
      }
    }
  }
};

DecompressingReader::DecompressingReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DecompressingReader::DecompressingReader(DecompressingReader&&) noexcept = default;
DecompressingReader& DecompressingReader::operator=(DecompressingReader&&) noexcept = default;
DecompressingReader::~DecompressingReader() = default;

Result<DecompressingReader> DecompressingReader::open(int fd) {
  auto impl = std::make_unique<Impl>();
  impl->fd = fd;
  return DecompressingReader(std::move(impl));
}

Compression DecompressingReader::compression() const {
  return impl_->compression;
}
uint64_t DecompressingReader::compressed_bytes() const {
  return impl_->in_total;
}

Result<size_t> DecompressingReader::read(std::span<std::byte> out) {
  Impl& s = *impl_;
  if (!s.is_started)
    if (auto r = s.start(); !r) return std::move(r).error();
  if (out.empty()) return size_t(0);
  switch (s.compression) {
    case Compression::None:
      return s.plain(out);
    case Compression::Gzip:
      return s.gunzip(out);
    case Compression::Zstd:
      return s.unzstd(out);
  }
  return size_t(0);
}

}  // namespace layers
