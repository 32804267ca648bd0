#pragma once
// Relative paths inside an image root ("usr/bin/sh", no leading slash): the one place that
// splits and joins them, for the applier, the layer index, the views over layers and COPY.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace layers {

// The non-empty components of `path` split on '/': "a//b/" gives {"a", "b"}; "." and ".."
// are kept, for the caller to resolve.
std::vector<std::string> path_components(std::string_view path);

// {parent, base}: "a/b/c" gives {"a/b", "c"}, "c" gives {"", "c"}.
std::pair<std::string, std::string> split_parent(const std::string& rel);

// `name` under `dir`; `name` alone when `dir` is "" (the root), `dir` alone when `name` is "".
std::string join_under(const std::string& dir, std::string_view name);

// Whether `path` lies strictly beneath the directory `dir` ("a/b" beneath "a", not "ab" nor
// "a" itself).
bool is_below(std::string_view path, std::string_view dir);

// Whether `path` (or a component) holds a wildcard of a COPY source (Go's filepath.Match:
// '*', '?', '['): COPY resolves the components before the first such one as a path and
// matches the rest (builder/copy.cpp), and RUN --mount=from / COPY --from materialize what
// that path names (runtime/layer_dirs.h). One rule for both.
bool has_wildcard(std::string_view path);

}  // namespace layers
