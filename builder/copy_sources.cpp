#include "builder/copy_sources.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "layers/unique_fd.h"
#include "parser/heredoc.h"

namespace builder {

using layers::Error;
using layers::ErrorKind;
using layers::Result;

namespace {

bool is_url(std::string_view source) {
  return source.starts_with("http://") || source.starts_with("https://");
}

Result<void> write_file(const std::string& path, std::string_view data, mode_t mode) {
  layers::UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) return Error::from_errno("creating " + layers::quoted(path));
  for (size_t done = 0; done < data.size();) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("writing " + layers::quoted(path));
    }
    done += static_cast<size_t>(n);
  }
  if (::fchmod(fd.get(), mode) != 0) return Error::from_errno("chmod " + layers::quoted(path));
  return {};
}

}  // namespace

Result<CopySources> CopySources::collect(const parser::Instruction& ins, const parser::CopyFlags& flags,
                                         const Options& options) {
  const bool is_add = ins.cmd == "add";
  const char* cmd = is_add ? "ADD" : "COPY";
  auto expand = [&](std::string_view word) -> Result<std::string> {
    auto r = parser::expand_word(word, *options.vars, options.escape);
    if (!r) return Error(ErrorKind::InvalidInput, r.error());
    return r.value();
  };
  CopySources out;
  auto temp_dir = [&]() -> Result<std::string> {
    if (!out.dir_) {
      auto dir = runtime::sandbox::TempDir::create_in(options.scratch_dir, "sources-");
      if (!dir) return std::move(dir).error();
      out.dir_.emplace(std::move(*dir));
    }
    return out.dir_->path();
  };
  // A directory per file source: two heredocs or URLs may share a name.
  auto new_file_dir = [&](size_t index) -> Result<std::string> {
    auto dir = temp_dir();
    if (!dir) return dir;
    std::string path = *dir + "/" + std::to_string(index);
    if (::mkdir(path.c_str(), 0700) != 0)
      return Error::from_errno("creating " + layers::quoted(path));
    return path;
  };

  std::optional<layers::Digest> checksum;
  if (const auto& flag = flags.checksum) {
    auto text = expand(*flag);
    if (!text) return std::move(text).error();
    auto parsed = parse_checksum(*text);
    if (!parsed) return std::move(parsed).error();
    checksum = *parsed;
    if (ins.args.size() != 2)
      return Error(ErrorKind::InvalidInput, "--checksum can't be specified for multiple sources");
  }

  size_t next_heredoc = 0;
  for (size_t i = 0; i + 1 < ins.args.size(); ++i) {
    const std::string& arg = ins.args[i];
    if (!ins.json && next_heredoc < ins.heredocs.size() && parser::heredoc_of_word(arg)) {
      const parser::Heredoc& doc = ins.heredocs[next_heredoc++];
      if (checksum)
        return Error(ErrorKind::InvalidInput,
                     "--checksum can't be specified for non-HTTP(S) sources");
      if (doc.name.find('/') != std::string::npos || doc.name == "." || doc.name == "..")
        return Error(ErrorKind::InvalidInput,
                     "here-document name " + layers::quoted(doc.name) + " is not a file name");
      std::string body = doc.chomp ? parser::chomp_heredoc(doc.content) : doc.content;
      if (doc.expand) {
        auto expanded = parser::expand_heredoc(body, *options.vars);
        if (!expanded)
          return Error(ErrorKind::InvalidInput, "<<" + doc.name + ": " + expanded.error());
        body = expanded.value();
      }
      auto dir = new_file_dir(i);
      if (!dir) return std::move(dir).error();
      std::string path = *dir + "/" + doc.name;
      if (auto r = write_file(path, body, 0644); !r) return std::move(r).error();
      out.files.push_back(
          {doc.name, path, "heredoc " + doc.name + " " + layers::Digest::of(body).str()});
      continue;
    }
    auto source = expand(arg);
    if (!source) return std::move(source).error();
    if (source->starts_with("git@"))
      return Error(ErrorKind::Unsupported,
                   std::string(cmd) + " of a git repository is not supported yet");
    if (!is_url(*source)) {
      if (checksum)
        return Error(ErrorKind::InvalidInput,
                     "--checksum can't be specified for non-HTTP(S) sources");
      out.paths.push_back(*source);
      continue;
    }
    if (!is_add)
      return Error(ErrorKind::InvalidInput,
                   "COPY cannot copy from a URL (" + layers::quoted(*source) + "); use ADD");
    auto url = registry::Url::parse(*source);
    if (!url) return std::move(url).error();
    UrlSource remote;
    remote.url = *source;
    remote.name = url_file_name(*url);
    remote.checksum = checksum;
    auto dir = new_file_dir(i);
    if (!dir) return std::move(dir).error();
    remote.host_path = *dir + "/" + remote.name;
    if (!out.fetcher_) out.fetcher_.emplace(*options.cache, registry::TlsOptions{});
    if (auto r = out.fetcher_->resolve(remote); !r) return std::move(r).error();
    out.files.push_back({remote.name, remote.host_path, remote.cache_key()});
    out.urls_.push_back(std::move(remote));
  }
  return out;
}

Result<void> CopySources::fetch() {
  for (auto& url : urls_)
    if (auto r = fetcher_->download(url); !r) return r;
  return {};
}

}  // namespace builder
