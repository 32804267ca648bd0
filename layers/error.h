#pragma once
// Errors as values. Nothing in hoist's APIs throws: a function that can fail returns
// Result<T> (a T or an Error), and every caller on the way up adds what *it* was doing
// with Error::context, so the message that reaches the user reads outermost first,
// cause last: `COPY model.bin /opt/: storing layer: fsync "/x/.tmp-1": No space left`.

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace layers {

// A kind exists because some caller treats it differently.
enum class ErrorKind {
  Io,            // the OS said no (see sys_errno())
  NotFound,      // try the next source
  Corrupt,       // bad digest or unreadable data: drop it, refetch
  Unauthorized,  // suggest `hoist login`
  InvalidInput,  // hostile or malformed input, refused
  Unsupported,   // valid, but not something hoist does (yet)
  Network,       // connection-level failure talking to a peer; retryable
  Usage,         // the command line is wrong: exit code 2
  Cancelled,     // interrupted by a signal
};

std::string_view kind_name(ErrorKind kind);

class Error {
 public:
  Error(ErrorKind kind, std::string message, int sys_errno = 0)
      : kind_(kind), sys_errno_(sys_errno), message_(std::move(message)) {}

  // `what` says what was being done to what: "fsync \"/x/y\"". Reads errno.
  static Error from_errno(std::string what);
  static Error from_errno(int err, std::string what);

  ErrorKind kind() const { return kind_; }
  int sys_errno() const { return sys_errno_; }
  // The message without the OS reason.
  const std::string& message() const { return message_; }
  // One sentence for the user: the message, then strerror when the OS was involved.
  std::string describe() const;

  // Prefixes what the caller was doing: context("storing layer") -> "storing layer: <msg>".
  Error context(std::string_view what) const&;
  Error context(std::string_view what) &&;

 private:
  ErrorKind kind_;
  int sys_errno_;
  std::string message_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(const T& value) : v_(std::in_place_index<0>, value) {}
  Result(T&& value) : v_(std::in_place_index<0>, std::move(value)) {}
  template <class U>
    requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, Error> &&
             !std::is_same_v<std::decay_t<U>, Result>)
  Result(U&& value) : v_(std::in_place_index<0>, T(std::forward<U>(value))) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { assert(!has_value()); return std::get<1>(v_); }
  Error&& error() && { assert(!has_value()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}

  bool has_value() const { return !error_.has_value(); }
  explicit operator bool() const { return has_value(); }
  const Error& error() const& { assert(error_); return *error_; }
  Error&& error() && { assert(error_); return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

// Wraps a path or name in double quotes for messages: quoted("/a b") -> "\"/a b\"".
std::string quoted(std::string_view text);
// The same for a std::string (and so, to stay unambiguous, a C string). Where <iomanip> is
// seen (any header may bring it in), argument-dependent lookup also finds std::quoted, a
// template that takes a std::string without conversion, so it would win over the
// string_view overload (and its result does not add to a string); these take one without
// conversion too, and a function that is not a template wins such a tie.
inline std::string quoted(const std::string& text) { return quoted(std::string_view(text)); }
inline std::string quoted(std::string& text) { return quoted(std::string_view(text)); }
inline std::string quoted(const char* text) { return quoted(std::string_view(text)); }

// A size as docker prints one: powers of 1000, three significant digits: "4.1MB", "512B".
std::string human_size(int64_t bytes);

}  // namespace layers
