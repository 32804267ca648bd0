#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "builder/cli/args.h"
#include "builder/cli/command.h"
#include "builder/cli/store_access.h"
#include "layers/compressed_layers.h"
#include "layers/image_archive.h"

namespace builder::cli {

using layers::Error;
using layers::ErrorKind;

layers::Result<int> cmd_save(const GlobalOptions& global, const std::vector<std::string>& args) {
  std::string output, format = "docker";
  ArgParser parser("hoist save [OPTIONS] IMAGE [IMAGE...]",
                   "Write images to a tar archive: a docker-archive that 'docker load' reads "
                   "(default), or an OCI image layout.");
  parser.option("-o,--output", &output, "FILE", "write to FILE instead of stdout");
  parser.option("--format", &format, "docker|oci", "the archive format (default docker)");
  parser.positionals(1, -1, "IMAGE...");
  std::vector<std::string> positional;
  if (auto done = parser.parse_or_help(args, positional)) return std::move(*done);
  layers::ArchiveFormat archive_format;
  if (format == "docker" || format == "docker-archive") archive_format = layers::ArchiveFormat::Docker;
  else if (format == "oci") archive_format = layers::ArchiveFormat::Oci;
  else return Error(ErrorKind::Usage, "invalid --format " + layers::quoted(format) + ": want docker or oci");
  if (output.empty() || output == "-")
    if (auto refused = refuse_archive_to_terminal("", "use -o FILE or redirect stdout"); !refused)
      return std::move(refused).error();

  auto store = open_store(global);
  if (!store) return std::move(store).error();
  // Held until the archive is written: compressed manifests are in no index.
  auto gc_lock = store->gc_shared_lock();
  if (!gc_lock) return std::move(gc_lock).error();
  std::vector<layers::ArchiveImage> images;
  for (const auto& text : positional) {
    auto d = resolve_image(*store, text);
    if (!d) return std::move(d).error();
    std::vector<std::string> names;
    // A name saves that tag; an id saves every tag the image has, as docker does.
    if (auto name = normalized_name(text); name && store->find_tag(*name)) {
      names.push_back(*name);
    } else {
      auto all = store->names_of(d->digest);
      if (!all) return std::move(all).error();
      names = *all;
    }
    if (archive_format == layers::ArchiveFormat::Docker)
      for (auto& n : names) n = familiar_name(n);
    // An OCI layout carries compressed layers, as a registry does (docker-archive's are
    // plain tars whatever the store holds).
    if (archive_format == layers::ArchiveFormat::Oci) {
      auto packed = layers::compressed_image(*store, *d, layers::Compression::Gzip);
      if (!packed) return std::move(packed).error().context("saving " + text + ": compressing its layers");
      d = std::move(*packed);
    }
    // Two arguments naming the same image become one entry with both names.
    auto same = std::find_if(images.begin(), images.end(),
                             [&](const layers::ArchiveImage& i) { return i.descriptor.digest == d->digest; });
    if (same != images.end()) {
      for (auto& n : names)
        if (std::find(same->names.begin(), same->names.end(), n) == same->names.end())
          same->names.push_back(n);
    } else {
      images.push_back({*d, names});
    }
  }

  if (output.empty() || output == "-") {
    if (auto r = layers::write_image_archive(*store, images, archive_format, STDOUT_FILENO); !r)
      return std::move(r).error().context("saving to stdout");
    return 0;
  }
  if (auto r = layers::write_image_archive_file(*store, images, archive_format, output); !r)
    return std::move(r).error().context("saving");
  return 0;
}

}  // namespace builder::cli
