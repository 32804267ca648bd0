#include "builder/outputs.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "runtime/layer_dirs.h"
#include "layers/json_text.h"
#include "layers/unique_fd.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

// One member of an archive or layout: a name, and either bytes or a blob.
struct Member {
  std::string name;
  std::string bytes;
  std::optional<layers::Digest> blob;
};

Result<std::vector<Member>> layout_members(const layers::Store& store, const layers::Descriptor& manifest,
                                           const std::vector<std::string>& names) {
  auto image = store.load_image(manifest);
  if (!image) return std::move(image).error();
  std::vector<Member> members;
  members.push_back({"oci-layout", R"({"imageLayoutVersion":"1.0.0"})", std::nullopt});
  layers::Index index;
  if (names.empty()) {
    index.manifests.push_back(manifest);
  }
  for (const auto& name : names) {
    layers::Descriptor d = manifest;
    d.annotations[std::string(layers::annotation::kRefName)] = name;
    d.annotations[std::string(layers::annotation::kContainerdImageName)] = name;
    index.manifests.push_back(d);
  }
  members.push_back({"index.json", index.to_json(), std::nullopt});
  auto add_blob = [&](const layers::Digest& d) {
    members.push_back({"blobs/sha256/" + std::string(d.hex()), "", d});
  };
  add_blob(manifest.digest);
  add_blob(image->manifest.config.digest);
  for (const auto& layer : image->manifest.layers) add_blob(layer.digest);
  return members;
}

struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};

Result<void> write_tar(const layers::Store& store, const std::vector<Member>& members, const std::string& dest) {
  std::string tmp = dest + ".tmp";
  std::unique_ptr<archive, ArchiveWriteFree> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  if (archive_write_open_filename(a.get(), tmp.c_str()) != ARCHIVE_OK)
    return Error(ErrorKind::Io, "creating " + layers::quoted(tmp) + ": " + archive_error_string(a.get()));
  std::set<std::string> dirs;
  auto write_dir = [&](const std::string& dir) {
    if (!dirs.insert(dir).second) return;
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), (dir + "/").c_str());
    archive_entry_set_filetype(e.get(), AE_IFDIR);
    archive_entry_set_perm(e.get(), 0755);
    archive_write_header(a.get(), e.get());
  };
  for (const auto& m : members) {
    for (size_t slash = m.name.find('/'); slash != std::string::npos; slash = m.name.find('/', slash + 1))
      write_dir(m.name.substr(0, slash));
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), m.name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    if (m.blob) {
      auto size = store.blobs().size(*m.blob);
      if (!size) return std::move(size).error();
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(*size));
      if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK)
        return Error(ErrorKind::Io, "writing " + layers::quoted(tmp) + ": " + archive_error_string(a.get()));
      auto fd = store.blobs().open_read(*m.blob);
      if (!fd) return std::move(fd).error();
      std::vector<char> buf(1 << 16);
      for (;;) {
        ssize_t n = ::read(fd->get(), buf.data(), buf.size());
        if (n < 0) return Error::from_errno("reading blob " + m.blob->str());
        if (n == 0) break;
        if (archive_write_data(a.get(), buf.data(), static_cast<size_t>(n)) < 0)
          return Error(ErrorKind::Io, "writing " + layers::quoted(tmp) + ": " + archive_error_string(a.get()));
      }
    } else {
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(m.bytes.size()));
      if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK ||
          archive_write_data(a.get(), m.bytes.data(), m.bytes.size()) < 0)
        return Error(ErrorKind::Io, "writing " + layers::quoted(tmp) + ": " + archive_error_string(a.get()));
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    return Error(ErrorKind::Io, "writing " + layers::quoted(tmp) + ": " + archive_error_string(a.get()));
  if (::rename(tmp.c_str(), dest.c_str()) != 0) return Error::from_errno("renaming into " + layers::quoted(dest));
  return {};
}

Result<void> write_layout_dir(const layers::Store& store, const layers::Descriptor& manifest,
                              const std::vector<std::string>& names, const std::string& dest) {
  auto out = layers::Store::open(dest);
  if (!out) return std::move(out).error();
  auto members = layout_members(store, manifest, names);
  if (!members) return std::move(members).error();
  for (const auto& m : *members) {
    if (!m.blob) continue;
    auto data = store.blobs().open_read(*m.blob);
    if (!data) return std::move(data).error();
    auto writer = out->blobs().begin_write();
    if (!writer) return std::move(writer).error();
    std::vector<char> buf(1 << 16);
    for (;;) {
      ssize_t n = ::read(data->get(), buf.data(), buf.size());
      if (n < 0) return Error::from_errno("reading blob " + m.blob->str());
      if (n == 0) break;
      if (auto r = writer->write(std::string_view(buf.data(), static_cast<size_t>(n))); !r) return r;
    }
    if (auto r = writer->commit(*m.blob); !r) return std::move(r).error();
  }
  if (names.empty()) return out->add_untagged(manifest);
  for (const auto& name : names)
    if (auto r = out->set_tag(name, manifest); !r) return r;
  return {};
}

}  // namespace

Result<void> write_oci_output(const layers::Store& store, const layers::Descriptor& manifest,
                              const std::vector<std::string>& names, const std::string& dest) {
  if (dest.empty()) return Error(ErrorKind::InvalidInput, "--output type=oci needs dest=DIR or dest=FILE.tar");
  if (dest.ends_with(".tar")) {
    auto members = layout_members(store, manifest, names);
    if (!members) return std::move(members).error();
    return write_tar(store, *members, dest);
  }
  return write_layout_dir(store, manifest, names, dest);
}

Result<void> write_docker_output(const layers::Store& store, const layers::Descriptor& manifest,
                                 const std::vector<std::string>& repo_tags, const std::string& dest) {
  if (dest.empty()) return Error(ErrorKind::InvalidInput, "--output type=docker needs dest=FILE.tar");
  auto image = store.load_image(manifest);
  if (!image) return std::move(image).error();
  auto members = layout_members(store, manifest, {});
  if (!members) return std::move(members).error();
  nlohmann::json entry = {{"Config", "blobs/sha256/" + std::string(image->manifest.config.digest.hex())},
                          {"RepoTags", repo_tags},
                          {"Layers", nlohmann::json::array()}};
  for (const auto& layer : image->manifest.layers) entry["Layers"].push_back("blobs/sha256/" + std::string(layer.digest.hex()));
  members->push_back({"manifest.json", layers::dump_json(nlohmann::json::array({entry})), std::nullopt});
  return write_tar(store, *members, dest);
}

Result<void> write_local_output(const layers::Store& store, const layers::Image& image, const std::string& dest) {
  if (dest.empty()) return Error(ErrorKind::InvalidInput, "--output type=local needs dest=DIR");
  if (auto r = layers::make_dirs(dest); !r) return r;
  return runtime::materialize_rootfs(store, image.manifest.layers, dest);
}

}  // namespace builder
