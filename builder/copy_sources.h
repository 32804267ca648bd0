#pragma once
// The sources of one COPY or ADD, sorted: paths (for CopyRequest::sources) and the files
// hoist makes itself (CopyRequest::file_sources), as BuildKit's dispatchCopy sorts them.
//
//  - A here-document source (`COPY <<EOF /dest`, `COPY <<a.txt <<b.txt /dir/`) becomes a
//    file named after its delimiter, mode 0644, mtime now (as BuildKit's Mkfile), holding
//    the body: `<<-` strips leading tabs, then the body is expanded with
//    parser::expand_heredoc unless the delimiter was quoted. Its cache key is its name
//    and content.
//  - An http(s) source of ADD is fetched by builder/url_fetch.h: resolved at collect()
//    (what the cache key needs), downloaded by fetch() when the step has to run.
//    `--checksum=sha256:<hex>` is for exactly one URL source; on COPY, on several
//    sources or on a path it is an error, as in Docker. COPY of a URL is an error.
//  - Every other source is expanded (parser::expand_word) and kept as a path.
// The files live in a temp dir under the scratch dir, removed with this object.

#include <optional>
#include <string>
#include <vector>

#include "builder/cache.h"
#include "builder/copy.h"
#include "runtime/sandbox/temp_dir.h"
#include "builder/url_fetch.h"
#include "layers/error.h"
#include "parser/ast.h"
#include "parser/commands.h"
#include "parser/expand.h"

namespace builder {

class CopySources {
 public:
  struct Options {
    const parser::Vars* vars = nullptr;  // what paths, --checksum and bodies expand with
    char escape = '\\';
    const BuildCache* cache = nullptr;  // ETag records of URLs
    std::string scratch_dir;            // where the temp dir goes
  };

  // Reads every source argument of `ins` (all but the last). Errors name the source.
  static layers::Result<CopySources> collect(const parser::Instruction& ins, const parser::CopyFlags& flags,
                                             const Options& options);

  std::vector<std::string> paths;
  std::vector<FileSource> files;

  // Downloads the URLs collect() did not download, verifying --checksum. Call only when
  // the step runs (a cache hit needs no download).
  layers::Result<void> fetch();

 private:
  std::optional<runtime::sandbox::TempDir> dir_;
  std::vector<UrlSource> urls_;
  std::optional<UrlFetcher> fetcher_;
};

}  // namespace builder
