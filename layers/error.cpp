#include "layers/error.h"

#include <cerrno>
#include <cstdio>
#include <iterator>
#include <cstring>

namespace layers {

std::string_view kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Io: return "io";
    case ErrorKind::NotFound: return "not found";
    case ErrorKind::Corrupt: return "corrupt";
    case ErrorKind::Unauthorized: return "unauthorized";
    case ErrorKind::InvalidInput: return "invalid input";
    case ErrorKind::Unsupported: return "unsupported";
    case ErrorKind::Network: return "network";
    case ErrorKind::Usage: return "usage";
    case ErrorKind::Cancelled: return "cancelled";
  }
  return "unknown";
}

Error Error::from_errno(std::string what) { return from_errno(errno, std::move(what)); }

Error Error::from_errno(int err, std::string what) {
  ErrorKind kind = ErrorKind::Io;
  if (err == ENOENT) kind = ErrorKind::NotFound;
  if (err == EINTR) kind = ErrorKind::Cancelled;
  return Error(kind, std::move(what), err);
}

std::string Error::describe() const {
  if (sys_errno_ == 0) return message_;
  std::string out = message_;
  out += ": ";
  out += std::strerror(sys_errno_);
  return out;
}

Error Error::context(std::string_view what) const& {
  Error copy = *this;
  return std::move(copy).context(what);
}

Error Error::context(std::string_view what) && {
  std::string joined(what);
  joined += ": ";
  joined += message_;
  message_ = std::move(joined);
  return std::move(*this);
}

std::string human_size(int64_t bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double size = static_cast<double>(bytes);
  size_t unit = 0;
  while (size >= 1000.0 && unit + 1 < std::size(kUnits)) {
    size /= 1000.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%s", size, kUnits[unit]);
  return buf;
}

std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace layers
