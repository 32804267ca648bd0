#pragma once
// COPY and ADD: from source paths to a layer, with Docker's path rules.
//
// The rules (Dockerfile reference, "COPY" and "ADD"), applied by plan_copy:
//   - Sources are relative to the source root (the context, or a stage's or image's root
//     filesystem for --from); a leading "/" means the same. One that climbs out of it
//     ("../x") is refused. Sources may hold wildcards (`*`, `?`, `[...]`, per path
//     component, Go filepath.Match rules); a wildcard matching nothing is an error, as
//     is a plain source that does not exist or that .dockerignore excludes.
//   - A relative destination is taken from WORKDIR.
//   - Symlinks in the destination (the last component too) are followed inside the image,
//     as BuildKit follows them: an absolute target starts at the image's root, ".." stops
//     there (`COPY f /link/` with link -> /real writes /real/f; the link stays).
//   - The destination is a directory when it ends with "/" (or is "." / ends with "/."),
//     or already is a directory in the image; then each source file lands in it under its
//     own name. Otherwise the destination is the file's new path.
//   - With more than one source (given, or from a wildcard) the destination must be a
//     directory and end with "/".
//   - Every component of a source path, the last too, is resolved inside the source root
//     as BuildKit resolves it (a chroot's view: an absolute symlink target starts at the
//     root, ".." stops there), so a symlink in the context never reaches the host: with
//     `link -> /home/me`, `COPY link/secret /x` reads CONTEXT/home/me/secret (not found,
//     usually). A wildcard's fixed prefix is resolved the same way; below the first
//     wildcard component only real directories are descended.
//   - A source directory copies its contents, not itself; a symlink named as a source is
//     followed (inside the source root), symlinks met while walking are copied as links.
//   - Device nodes are copied as nodes (never opened); named pipes and sockets met while
//     walking a directory are left out, as BuildKit's copy leaves them; one named as a
//     source is an error naming it. Only regular files are ever opened for reading.
//   - Copied entries are written without following any symlink an earlier source put in
//     the destination tree; a path through one is an error.
//   - Missing parent directories are created (0755); parents the image already has keep
//     their mode, owner and mtime in the layer. Copied entries keep mode and mtime, and are
//     owned by 0:0 unless --chown says otherwise (names from the image's /etc/passwd and
//     /etc/group); --chmod sets the mode of every copied file and directory.
//   - --exclude patterns (.dockerignore syntax) leave matching paths out, and so does the
//     context's .dockerignore.
//   - ADD of a local tar archive (plain, gzip, bzip2, xz, zstd) extracts it into the
//     destination directory instead of copying the file.
//   - --parents (BuildKit's COPY --parents, builder/copy.cpp's add_with_parents): each
//     source keeps its path below the source root under the destination, which is then
//     always a directory (`COPY --parents x/a.txt /out` writes /out/x/a.txt). A "/./" in
//     a source is the pivot: only the part after it is kept (`x/./y/*.txt` -> /out/y/...);
//     the part before it is resolved inside the root (symlinks followed) and the part
//     after it is a pattern matched against real entries below it, where a `**`
//     component matches any number of components, none included. A matched directory
//     is copied whole, a matched symlink as a link. The directories between the pivot and
//     a match are copied with their own metadata (and --chown/--chmod), except those the
//     image already has as directories, which keep theirs. Unlike BuildKit (moby/buildkit
//     issue 4900, open), a source that matches nothing is an error here, as without
//     --parents.
//   - File sources (a here-document's body, an ADD URL's download; builder/copy_sources.h)
//     follow the rules of a single file named FileSource::name: into a directory
//     destination under that name, else as the destination itself. They are never
//     extracted, keep their file's mode (unless --chmod) and mtime, and come after the
//     path sources, as in BuildKit.
// Nothing is copied by plan_copy: it lists what will be read (for the cache key); copy_layer
// turns it into the layer's entries, read straight from the sources into the tar, and
// execute_copy writes the same entries as a tree (a bind mount's).

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "builder/context.h"
#include "runtime/layer_dirs.h"
#include "layers/digest.h"
#include "layers/error.h"
#include "layers/tar_writer.h"
#include "layers/unique_fd.h"
#include "parser/dockerignore.h"

namespace builder {

// A source that is a file hoist made rather than a path below source_root. `host_path`
// need not exist at plan time (a URL whose step may be cached is downloaded only when
// the step runs); `key` stands for its content and metadata in the cache key.
struct FileSource {
  std::string name;       // the file's name in a directory destination; no '/'
  std::string host_path;  // a regular file by execute_copy time
  std::string key;
};

struct CopyRequest {
  bool is_add = false;
  bool parents = false;              // COPY --parents
  std::vector<std::string> sources;  // expanded
  std::vector<FileSource> file_sources;
  std::string dest;                  // expanded
  std::string workdir;               // the image's WORKDIR ("" is "/")
  std::string source_root;           // host directory the sources are relative to
  const parser::IgnoreRules* ignore = nullptr;  // the context's .dockerignore, or null
  ContextMemo* memo = nullptr;                  // the source root's file digests, or null
  std::vector<std::string> excludes;            // --exclude patterns
  std::optional<std::string> chmod;             // --chmod, octal
  uint32_t uid = 0, gid = 0;                    // --chown, resolved
};

struct CopyItem {
  enum class Kind { Entry, ExtractTar };
  Kind kind = Kind::Entry;
  // Entry: the physical path (symlinks resolved, the last component not followed)
  // beneath CopyPlan::source_root, opened again by execute_copy the same way; or, with
  // is_file_source, the host path of a file or directory hoist made (a FileSource's,
  // WORKDIR's empty directory).
  // ExtractTar: a name that opens the archive (/proc/self/fd/N of a CopyPlan::held fd).
  std::string source;
  std::string dest;  // relative to the image root, no leading "/"
  bool is_file_source = false;
  // Entry: the lstat the plan's directory walk took of `source`, when it took one. A
  // regular file's is what its layer entry says (the bytes are read by open_source_data,
  // which checks the file is still that one, and the size while reading).
  std::optional<struct stat> listed;
};

struct CopyPlan {
  std::shared_ptr<layers::UniqueFd> source_root;        // open while the plan lives
  std::vector<std::shared_ptr<layers::UniqueFd>> held;  // the archives of ExtractTar items
  // Parents before children. A deque: a vector of 20,000 items is moved to new pages
  // each time it grows: a fifth of a no-change rebuild (issue 12).
  std::deque<CopyItem> items;
  layers::Digest content = layers::Digest::of("");  // what the items read, for the cache key
  EntryList entries;  // the same by source path ("<<NAME" for a file source), for --explain
  size_t files = 0, files_hashed = 0;  // regular files read for `content`, and how many were hashed
  std::optional<uint32_t> mode;
  uint32_t uid = 0, gid = 0;
};

layers::Result<CopyPlan> plan_copy(const CopyRequest& request, const runtime::LayerView& image);

// A COPY's layer with no tree on disk: the plan's items resolved by the copy rules into the
// entries the layer holds, sorted by path (builder/copy.cpp's CopyResolver: a later source
// replaces an earlier one, a path through an earlier non-directory is refused, missing
// parents take the image's metadata or 0755 0:0 now, an archive's entries land as the tar
// applier puts them), and where each regular file's bytes come from. Written by
// layers::write_given_layer.
struct CopyLayer {
  std::vector<layers::GivenEntry> entries;
  layers::DataOpener open_data;  // reads the sources of the plan given: keep the plan alive
};

// The plan's layer entries. An archive to extract (ADD) is extracted by the tar applier
// into a staging directory made in `staging_dir` (on the store's filesystem), removed when
// the CopyLayer goes.
layers::Result<CopyLayer> copy_layer(const CopyPlan& plan, const runtime::LayerView& image,
                                     const std::string& staging_dir);

// The same entries written as a tree beneath `scratch` (an empty directory): a bind mount's
// source. A plan with an archive to extract is refused (InvalidInput).
layers::Result<void> execute_copy(const CopyPlan& plan, const runtime::LayerView& image,
                                  const std::string& scratch);

// Whether `path` is a tar archive ADD should extract (any compression libarchive reads).
bool is_tar_archive(const std::string& path);

// Parses a --chmod value: octal digits only, at most 07777. InvalidInput otherwise.
layers::Result<uint32_t> parse_chmod(std::string_view text);

}  // namespace builder
