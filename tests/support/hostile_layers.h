#pragma once
// A corpus of hostile layer tars, generated here with libarchive (no checked-in files), for
// every entry point that unpacks untrusted bytes (tests/hardening/unpack.md lists them).
//
//   auto canary = hoist_test::Canary::plant(dir.path() + "/canary");
//   for (const auto& c : hoist_test::hostile_cases(canary.dir())) {
//     ... unpack c.layers (bottom first) somewhere outside canary.dir() ...
//     CHECK(canary.changes().empty());
//   }
//
// Each case aims at `canary`, an absolute directory outside whatever root the layers are
// unpacked into: absolute names and symlinks name it directly, relative ones climb to it
// with more ".." than any root is deep. The expected outcome is per way of unpacking:
// refused with an error naming an entry, or contained (written inside the root only).

#include <string>
#include <vector>

struct archive;

namespace hoist_test {

// One tar, built entry by entry with libarchive (pax), with no checks of its own.
class TarWriter {
 public:
  TarWriter();
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  TarWriter& file(const std::string& name, const std::string& content = "pwned", int mode = 0644,
                  int uid = 0, int gid = 0);
  TarWriter& dir(const std::string& name, int mode = 0755, int uid = 0, int gid = 0);
  TarWriter& symlink(const std::string& name, const std::string& target);
  TarWriter& hardlink(const std::string& name, const std::string& target);
  // A character ('c') or block ('b') device, or a FIFO ('p').
  TarWriter& node(const std::string& name, char type, int major = 0, int minor = 0);
  // A regular-file header declaring `size` bytes, and the tar cut right after it: a tar
  // bomb that must be refused from its header, before any data is read or written.
  TarWriter& bomb_header(const std::string& name, long long size);
  // The whole tar (end marker included, unless a bomb header cut it).
  std::string finish();

 private:
  TarWriter& add(const std::string& name, int type, int perm, const std::string& content,
                 const std::string* symlink, const std::string* hardlink, int uid = 0, int gid = 0,
                 unsigned long rdev = 0);
  static long write_cb(struct archive*, void* self, const void* buf, unsigned long n);
  struct archive* a_;
  std::string bytes_;
  bool cut_ = false;
};

enum class Outcome {
  Contained,  // the unpack succeeds; everything written is inside the root
  Refused,    // the unpack fails, InvalidInput, and the message names `entry`
};

struct Expected {
  Outcome outcome = Outcome::Contained;
  std::string entry;  // for Refused: a name the error message must contain
};

struct HostileCase {
  std::string name;                 // kebab-case, for test output and the report
  std::string what;                 // one line
  std::vector<std::string> layers;  // tar bytes, bottom first
  Expected apply;                   // layers applied into one rootfs (WhiteoutMode::Apply)
  Expected overlay;                 // each layer alone in its dir (WhiteoutMode::Overlay)
  Expected archive;                 // ADD of the top tar (WhiteoutMode::Keep)
  // Whether `hoist import` of the top layer and a build on it are expected to run: false
  // for cases that need several layers or that every unpack refuses anyway.
  bool is_single_layer() const { return layers.size() == 1; }
};

// Every case, aimed at the absolute directory `canary`.
std::vector<HostileCase> hostile_cases(const std::string& canary);

// The case the trust-boundary issue reported: a symlink to `canary` with whiteouts and
// an opaque marker beneath it.
HostileCase whiteouts_under_symlink_case(const std::string& canary);

}  // namespace hoist_test
