#pragma once
// The build context: the directory `hoist build` was given, seen through .dockerignore,
// and the content digests that COPY/ADD cache keys are made of.
//
// Paths handed to and returned by this class are relative to the context root,
// '/'-separated, cleaned. The ignore file is the first of
// parser::ignore_file_candidates() that exists; a malformed pattern in it fails open().

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layers/digest.h"
#include "layers/error.h"
#include "parser/dockerignore.h"

namespace builder {

class BuildContext {
 public:
  // `dir` must be a directory. `dockerfile_path` is where the Dockerfile came from ("-"
  // for stdin), for the `<Dockerfile>.dockerignore` rule.
  static layers::Result<BuildContext> open(const std::string& dir, std::string_view dockerfile_path);
  // A context with nothing in it (`-f -` with no usable directory, or tests).
  static BuildContext empty();

  const std::string& dir() const { return dir_; }
  const parser::IgnoreRules& ignore() const { return ignore_; }
  bool excludes(std::string_view rel) const { return !rel.empty() && rel != "." && ignore_.excludes(rel); }

 private:
  std::string dir_;
  parser::IgnoreRules ignore_;
};

// Hashes what a copy reads, so a cache key follows content and metadata but not mtime:
// add() each (destination, source path) in a fixed order; regular files by their bytes,
// symlinks by target, everything by type, mode and owner.
class ContentHasher {
 public:
  layers::Result<void> add(std::string_view dest_rel, const std::string& host_path);
  void add_text(std::string_view text);
  layers::Digest finish() { return hash_.finish(); }

 private:
  layers::Sha256 hash_;
};

}  // namespace builder
