#pragma once
// What every store command needs: opening the store the global options name, turning what
// the user typed into an image, and printing names, sizes and times the way docker does.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "builder/cli/command.h"
#include "layers/error.h"
#include "layers/store.h"
#include "registry/reference.h"

namespace builder::cli {

using layers::human_size;

// Opens (creating when missing) the store at --root / $HOIST_ROOT, else
// layers::Store::default_root().
layers::Result<layers::Store> open_store(const GlobalOptions& global);

// An image named by the user: a reference ("busybox", "localhost:5000/app:v1") is
// normalized and looked up by tag (or by digest for "name@sha256:..."); otherwise the text
// is tried as an image id or manifest digest prefix. NotFound: "no such image: TEXT".
layers::Result<layers::Descriptor> resolve_image(const layers::Store& store, std::string_view text);

// The normalized name to store a tag under: Reference::parse(text).str(). InvalidInput for
// a malformed reference (with the reason), or one that has a digest when `allow_digest` is
// false (tags cannot point at a digest).
layers::Result<std::string> normalized_name(std::string_view text, bool allow_digest = false);

// How docker prints a stored full name: "docker.io/library/busybox:latest" -> "busybox:latest".
std::string familiar_name(std::string_view full);
// Splits a familiar name for `hoist images`: {"busybox", "latest"}, {"app", "<none>"} for a
// digest-only name.
std::pair<std::string, std::string> repository_and_tag(std::string_view full);

// "5 seconds ago", "About a minute ago", "3 hours ago", "2 weeks ago"; "N/A" when unknown.
std::string human_age(std::string_view rfc3339, int64_t now_unix);
// Parses "2024-05-01T12:00:00Z" (fractions and offsets allowed); -1 when it cannot.
int64_t parse_rfc3339(std::string_view text);

// Prints rows as left-aligned columns separated by three spaces, as docker's tables are.
void print_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace builder::cli
