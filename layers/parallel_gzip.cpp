#include "layers/parallel_gzip.h"

#include <zlib.h>

#include <bit>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

namespace layers {

namespace {

// Go's gzip.DefaultCompression, which is what docker and containerd write.
constexpr int kGzipLevel = 6;
constexpr size_t kDictionaryBytes = 32 * 1024;  // deflate's window
// ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 (level 6) OS=255 (unknown, as Go writes): the
// same header wherever hoist was built.
constexpr unsigned char kGzipHeader[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
// Blocks in flight per thread: enough to keep every thread busy while the caller emits.
constexpr size_t kBlocksPerThread = 3;

// The block probe (choose_coding). A repeat is at least this long, within deflate's window.
constexpr size_t kProbeMatchBytes = 8;
constexpr unsigned kProbeHashBits = 14;
// Repeats covering less than 1/kScarceRepeats of a block are not worth LZ77's search: on
// a tar of 4 KiB files of random letters (repeats: the tar headers' fields, 6.5% of each
// block) level 6 codes a block to 0.623 of its size in four times the time Z_RLE takes to
// code it to 0.593; code and text cover 28-76% of their blocks.
constexpr size_t kScarceRepeats = 8;
// Runs of one byte covering 1/kRunsWorthCoding of a block are worth Z_RLE's time.
constexpr size_t kRunsWorthCoding = 32;
// A block whose repeats (and runs) leave at most 1/kMostlyRepeats of it uncovered, in
// matches of kLongRepeatBytes or more on average (a log line over and over, a table of
// one record), is deflated at level 1 without the dictionary: level 6's lazy search and
// its hashing of every byte inside each match buy nothing there (its matches are as long as
// deflate allows already). `yes` text: 150 -> 500 MB/s a core, 0.26% -> 0.52% of its size.
constexpr size_t kMostlyRepeats = 16;
constexpr size_t kLongRepeatBytes = 64;
constexpr int kRepeatsLevel = 1;
// Bits per byte at or above which Huffman coding saves under 0.6%: the block is stored.
constexpr double kStoredEntropyBits = 7.95;
constexpr size_t kEntropyStride = 4;
constexpr size_t kStoredChunkBytes = 65535;  // a stored deflate block's largest LEN

struct Block {
  std::vector<std::byte> dictionary;  // the input's last bytes before this block
  std::vector<std::byte> input;
  bool is_last = false;
  std::vector<std::byte> output;
  uLong crc = 0;
  std::string error;  // set instead of output on failure
  bool is_done = false;
  std::optional<Error> seen_error;  // what `seen` returned for this block, when it failed
  bool is_seen = false;
};

// The 8 bytes at `p` as a little-endian number on every machine, so that the probe's hashes
// and match lengths, hence each block's coding and the layer's digest, do not depend on the
// CPU's byte order (a no-op where it is little-endian).
uint64_t load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

// How many bytes, up to `most`, `at` repeats of `earlier` (8 or more: the first 8 are
// known equal); eight at a time. load64 is little-endian: the first byte that differs is
// the lowest set byte of the difference.
size_t match_length(const unsigned char* earlier, const unsigned char* at, size_t most) {
  size_t len = kProbeMatchBytes;
  for (; len + 8 <= most; len += 8)
    if (const uint64_t diff = load64(earlier + len) ^ load64(at + len); diff != 0)
      return len + static_cast<size_t>(std::countr_zero(diff)) / 8;
  while (len < most && earlier[len] == at[len]) ++len;
  return len;
}

// How a block is coded, from its bytes alone (so 1 and N threads still agree).
// LZ77 pays where the input repeats itself; where it does not (noise, compressed or
// encrypted files, packed numbers), zlib's match search costs most of its time and finds
// only chance matches of 3-5 bytes, which code no shorter than the literals. So: a quick
// LZ77-like pass over the block with a hash table of 8-byte sequences; if what repeats
// (within deflate's 32 KiB window) covers 1/8 of the block, deflate it as usual. Runs of
// one byte (the zeros padding each header of a tar of small files) are counted apart: if
// they cover 1/32 of it, the block is run-length coded (Z_RLE: matches at distance 1 only,
// as fast as Huffman alone), so a tar of 4 KiB files of noise or random text is not
// searched for matches it does not have. Else its bytes are Huffman-coded alone, or stored
// when their byte entropy says Huffman would save under 0.6%. A block with repeats is
// followed further while nearly all of it so far is long repeats: if the whole block is,
// it is deflated at level 1 (kMostlyRepeats); the first uncovered 1/16 ends the probe.
GzipCoding probe_coding(std::span<const std::byte> input, std::vector<uint32_t>& table) {
  const auto* p = reinterpret_cast<const unsigned char*>(input.data());
  const size_t n = input.size();
  if (n < 4096) return GzipCoding::Deflate;
  table.assign(size_t(1) << kProbeHashBits, 0);  // position + 1; 0 is empty
  const size_t enough = n / kScarceRepeats;
  const size_t most_uncovered = n / kMostlyRepeats;
  size_t covered = 0, runs = 0, misses = 0, matches = 0;
  // Once repeats are enough to deflate: level 6, unless they stay nearly all of the block.
  auto deflated_unless_mostly_repeats = [&](size_t scanned) {
    return scanned - covered - runs > most_uncovered || covered < kLongRepeatBytes * matches;
  };
  size_t capped_distance = 0;  // the distance of a match that stopped at deflate's longest
  for (size_t i = 0; i + kProbeMatchBytes <= n;) {
    const uint64_t v = load64(p + i);
    size_t candidate;  // the earlier position, + 1
    if (capped_distance != 0 && load64(p + i - capped_distance) == v) {
      candidate = i + 1 - capped_distance;  // the repeat goes on past 258 bytes
    } else {
      const size_t h = static_cast<size_t>((v * 0x9E3779B97F4A7C15ull) >> (64 - kProbeHashBits));
      candidate = table[h];
      table[h] = static_cast<uint32_t>(i + 1);
    }
    if (candidate != 0 && i + 1 - candidate <= kDictionaryBytes && load64(p + candidate - 1) == v) {
      const size_t len = match_length(p + candidate - 1, p + i, std::min<size_t>(258, n - i));
      const bool is_run = v == 0x0101010101010101ull * (v & 0xff);  // eight times one byte
      (is_run ? runs : covered) += len;
      matches += !is_run;
      capped_distance = len == 258 ? i + 1 - candidate : 0;
      i += len;
      if (covered >= enough && deflated_unless_mostly_repeats(i)) return GzipCoding::Deflate;
      misses = 0;
      continue;
    }
    // Past a run of misses, probe sparser (up to every 16th byte), as LZ4 does: noise costs
    // little, and a repeat long enough to matter is still met.
    capped_distance = 0;
    i += 1 + std::min<size_t>(misses++ >> 6, 15);
    if (covered >= enough && deflated_unless_mostly_repeats(i)) return GzipCoding::Deflate;
  }
  if (covered >= enough) return deflated_unless_mostly_repeats(n) ? GzipCoding::Deflate : GzipCoding::Repeats;
  if (runs >= n / kRunsWorthCoding) return GzipCoding::Rle;
  // The byte entropy of every kEntropyStride-th byte: 32,768 samples of a block are plenty
  // (the estimate is low by about 0.006 bits at 8), and counting is most of a probe of noise.
  uint32_t counts[256] = {};
  size_t samples = 0;
  for (size_t i = 0; i < n; i += kEntropyStride, ++samples) ++counts[p[i]];
  double bits = 0;
  for (uint32_t c : counts)
    if (c != 0) {
      const double q = static_cast<double>(c) / static_cast<double>(samples);
      bits -= q * std::log2(q);
    }
  return bits >= kStoredEntropyBits ? GzipCoding::Stored : GzipCoding::HuffmanOnly;
}

// Deflate's stored blocks (BTYPE 00) holding `input` as it is, byte-aligned at both ends;
// the last one final when `is_last`.
void store(std::span<const std::byte> input, bool is_last, std::vector<std::byte>& out) {
  const size_t chunks = (input.size() + kStoredChunkBytes - 1) / kStoredChunkBytes;
  out.resize(input.size() + 5 * chunks);
  std::byte* o = out.data();
  for (size_t pos = 0; pos < input.size();) {
    const size_t len = std::min(kStoredChunkBytes, input.size() - pos);
    const bool is_final = is_last && pos + len == input.size();
    const unsigned char header[5] = {static_cast<unsigned char>(is_final ? 1 : 0), static_cast<unsigned char>(len),
                                     static_cast<unsigned char>(len >> 8), static_cast<unsigned char>(~len),
                                     static_cast<unsigned char>(~len >> 8)};
    std::memcpy(o, header, sizeof header);
    std::memcpy(o + sizeof header, input.data() + pos, len);
    o += sizeof header + len;
    pos += len;
  }
}

// A raw deflate stream (no header), reused block after block.
class Deflater {
 public:
  Deflater() {
    auto init = [this](GzipCoding coding, int level, int strategy) {
      Stream& s = streams_[static_cast<size_t>(coding)];
      s.is_ok = deflateInit2(&s.zs, level, Z_DEFLATED, -15, 8, strategy) == Z_OK;
    };
    init(GzipCoding::Deflate, kGzipLevel, Z_DEFAULT_STRATEGY);
    init(GzipCoding::Repeats, kRepeatsLevel, Z_DEFAULT_STRATEGY);
    init(GzipCoding::Rle, kGzipLevel, Z_RLE);
    init(GzipCoding::HuffmanOnly, kGzipLevel, Z_HUFFMAN_ONLY);
  }
  ~Deflater() {
    for (Stream& s : streams_)
      if (s.is_ok) deflateEnd(&s.zs);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  void compress(Block& b) {
    b.crc = crc32(0, reinterpret_cast<const Bytef*>(b.input.data()), static_cast<uInt>(b.input.size()));
    const GzipCoding coding = probe_coding(b.input, probe_table_);
    if (coding == GzipCoding::Stored) return store(b.input, b.is_last, b.output);
    Stream& stream = streams_[static_cast<size_t>(coding)];
    z_stream& zs = stream.zs;
    if (!stream.is_ok || deflateReset(&zs) != Z_OK) return fail(b, zs, "starting deflate");
    // A Huffman-only block codes no match, a run-length one none beyond its own bytes, and
    // one of long repeats finds them in itself, so only a deflated block needs the dictionary.
    if (coding == GzipCoding::Deflate && !b.dictionary.empty() &&
        deflateSetDictionary(&zs, reinterpret_cast<const Bytef*>(b.dictionary.data()),
                             static_cast<uInt>(b.dictionary.size())) != Z_OK)
      return fail(b, zs, "setting the deflate dictionary");
    b.output.resize(deflateBound(&zs, b.input.size()) + 16);
    zs.next_in = reinterpret_cast<Bytef*>(b.input.data());
    zs.avail_in = static_cast<uInt>(b.input.size());
    const int flush = b.is_last ? Z_FINISH : Z_SYNC_FLUSH;
    size_t produced = 0;
    for (;;) {
      zs.next_out = reinterpret_cast<Bytef*>(b.output.data() + produced);
      zs.avail_out = static_cast<uInt>(b.output.size() - produced);
      int ret = deflate(&zs, flush);
      if (ret == Z_STREAM_ERROR) return fail(b, zs, "deflate");
      produced = b.output.size() - zs.avail_out;
      if (b.is_last ? ret == Z_STREAM_END : (zs.avail_in == 0 && zs.avail_out != 0)) break;
      b.output.resize(b.output.size() * 2);
    }
    b.output.resize(produced);
  }

 private:
  static void fail(Block& b, const z_stream& zs, std::string_view what) {
    b.error = std::string(what) + ": " + (zs.msg ? zs.msg : "zlib error");
  }
  struct Stream {
    z_stream zs{};
    bool is_ok = false;
  };
  Stream streams_[static_cast<size_t>(GzipCoding::Stored)];  // one per coding zlib does
  std::vector<uint32_t> probe_table_;
};

}  // namespace

GzipCoding gzip_block_coding(std::span<const std::byte> input) {
  std::vector<uint32_t> table;
  return probe_coding(input, table);
}

struct ParallelGzip::Impl {
  ByteSink out;
  ByteSink seen;  // may be empty
  std::vector<std::byte> pending;  // input not yet a block
  std::vector<std::byte> tail;     // the last kDictionaryBytes of input handed to blocks
  uLong crc = 0;
  uint64_t total = 0;
  bool is_header_written = false;
  size_t max_in_flight = 1;

  Deflater inline_deflater;  // with no workers
  std::vector<std::thread> workers;
  std::thread seer;  // calls `seen`, when there are workers and a `seen`
  std::mutex mu;
  std::condition_variable work_ready;  // workers wait here for the queue
  std::condition_variable to_see_ready;  // the seer waits here for to_see
  std::condition_variable oldest_done;  // the caller waits here for in_order's front
  std::deque<std::shared_ptr<Block>> queue;     // submitted, not yet taken by a worker
  std::deque<std::shared_ptr<Block>> to_see;    // submitted, not yet given to `seen`
  std::deque<std::shared_ptr<Block>> in_order;  // submitted, not yet emitted
  bool is_stopping = false;

  ~Impl() {
    {
      std::lock_guard lock(mu);
      is_stopping = true;
    }
    work_ready.notify_all();
    to_see_ready.notify_all();
    for (auto& t : workers) t.join();
    if (seer.joinable()) seer.join();
  }

  // The oldest block can go out: compressed, and its input seen.
  bool is_ready(const Block& b) const { return b.is_done && b.is_seen; }

  // The next block of `from`, once there is one (`ready` says so); null when stopping.
  std::shared_ptr<Block> take(std::condition_variable& ready, std::deque<std::shared_ptr<Block>>& from) {
    std::unique_lock lock(mu);
    ready.wait(lock, [&] { return is_stopping || !from.empty(); });
    if (is_stopping) return nullptr;
    auto b = std::move(from.front());
    from.pop_front();
    return b;
  }

  void see() {
    while (auto b = take(to_see_ready, to_see)) {
      auto r = seen(b->input);
      bool is_awaited;
      {
        std::lock_guard lock(mu);
        if (!r) b->seen_error = std::move(r).error();
        b->is_seen = true;
        is_awaited = in_order.front() == b && is_ready(*b);
      }
      if (is_awaited) oldest_done.notify_one();
    }
  }

  void work() {
    Deflater deflater;
    while (auto b = take(work_ready, queue)) {
      deflater.compress(*b);
      bool is_awaited;
      {
        std::lock_guard lock(mu);
        b->is_done = true;
        is_awaited = in_order.front() == b && is_ready(*b);  // a block done before the oldest wakes no one
      }
      if (is_awaited) oldest_done.notify_one();
    }
  }

  Result<void> emit(std::span<const std::byte> bytes) {
    if (bytes.empty()) return {};
    return out(bytes);
  }

  // Emits the oldest block once it is compressed.
  Result<void> emit_oldest() {
    std::shared_ptr<Block> b;
    {
      std::unique_lock lock(mu);
      oldest_done.wait(lock, [&] { return is_ready(*in_order.front()); });
      b = std::move(in_order.front());
      in_order.pop_front();
    }
    if (b->seen_error) return *b->seen_error;
    if (!b->error.empty()) return Error(ErrorKind::Io, "gzip compression: " + b->error);
    crc = crc32_combine(crc, b->crc, static_cast<z_off_t>(b->input.size()));
    total += b->input.size();
    return emit(b->output);
  }

  Result<void> submit(bool is_last) {
    if (!is_header_written) {
      is_header_written = true;
      if (auto r = emit(std::as_bytes(std::span(kGzipHeader))); !r) return r;
    }
    auto b = std::make_shared<Block>();
    b->dictionary = tail;
    b->input = std::move(pending);
    b->is_last = is_last;
    pending.clear();
    const size_t keep = std::min(kDictionaryBytes, b->input.size());
    tail.assign(b->input.end() - static_cast<ptrdiff_t>(keep), b->input.end());
    if (workers.empty()) {
      if (seen)
        if (auto r = seen(b->input); !r) b->seen_error = std::move(r).error();
      b->is_seen = true;
      inline_deflater.compress(*b);
      b->is_done = true;
      in_order.push_back(std::move(b));
      return emit_oldest();
    }
    {
      std::lock_guard lock(mu);
      queue.push_back(b);
      if (seen) to_see.push_back(b);
      else b->is_seen = true;
      in_order.push_back(std::move(b));
    }
    work_ready.notify_one();
    if (seen) to_see_ready.notify_one();
    while (in_order.size() >= max_in_flight)
      if (auto r = emit_oldest(); !r) return r;
    return {};
  }
};

ParallelGzip::ParallelGzip(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ParallelGzip::ParallelGzip(ParallelGzip&&) noexcept = default;
ParallelGzip& ParallelGzip::operator=(ParallelGzip&&) noexcept = default;
ParallelGzip::~ParallelGzip() = default;

Result<ParallelGzip> ParallelGzip::create(int threads, ByteSink out, ByteSink seen) {
  if (threads < 1) return Error(ErrorKind::InvalidInput, "gzip thread count must be at least 1, got " + std::to_string(threads));
  auto impl = std::make_unique<Impl>();
  impl->out = std::move(out);
  impl->seen = std::move(seen);
  impl->pending.reserve(kGzipBlockBytes);
  if (threads > 1) {
    impl->max_in_flight = kBlocksPerThread * static_cast<size_t>(threads);
    Impl* self = impl.get();
    try {
      for (int i = 0; i < threads; ++i) impl->workers.emplace_back([self] { self->work(); });
      if (impl->seen) impl->seer = std::thread([self] { self->see(); });
    } catch (const std::system_error& e) {  // ~Impl stops and joins those that started
      return Error(ErrorKind::Io, std::string("starting gzip threads: ") + e.what());
    }
  }
  return ParallelGzip(std::move(impl));
}

Result<void> ParallelGzip::write(std::span<const std::byte> data) {
  Impl& s = *impl_;
  while (!data.empty()) {
    const size_t n = std::min(kGzipBlockBytes - s.pending.size(), data.size());
    s.pending.insert(s.pending.end(), data.begin(), data.begin() + static_cast<ptrdiff_t>(n));
    data = data.subspan(n);
    if (s.pending.size() == kGzipBlockBytes)
      if (auto r = s.submit(false); !r) return r;
  }
  return {};
}

Result<void> ParallelGzip::finish() {
  Impl& s = *impl_;
  if (auto r = s.submit(true); !r) return r;
  while (!s.in_order.empty())
    if (auto r = s.emit_oldest(); !r) return r;
  unsigned char trailer[8];
  const uint32_t isize = static_cast<uint32_t>(s.total);  // the size modulo 2^32
  for (int i = 0; i < 4; ++i) {
    trailer[i] = static_cast<unsigned char>(s.crc >> (8 * i));
    trailer[4 + i] = static_cast<unsigned char>(isize >> (8 * i));
  }
  return s.emit(std::as_bytes(std::span(trailer)));
}

}  // namespace layers
