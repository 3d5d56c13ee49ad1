// Result<T>: the value of an operation that can fail in an expected way.
//
// Expected failures (bad input, a missing file, a step that exits non-zero)
// are values, never exceptions. An Error carries a code, for callers that
// branch on what went wrong (never on the text), and one human sentence that
// gains context on its way up: "pipelinerun demo-7: task build: step
// compile: exit status 2". Result is [[nodiscard]]: ignoring one is written
// out (`(void)`), and an unwritten one does not compile (-Werror).
#pragma once

#include <fmt/format.h>

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace strake {

// What kind of failure: what a caller may branch on. One function maps each
// to an HTTP status (server/); the message is for people.
enum class ErrorCode {
  kUnknown,        // anything not classified below
  kInvalid,        // bad input: a request, a manifest, an argument
  kNotFound,       // the object or file is not there
  kAlreadyExists,  // create of an object that exists
  kConflict,       // a write lost a race (resourceVersion moved)
  kForbidden,      // authenticated, but the role does not allow it
  kUnauthenticated,
  kUnavailable,  // try again later: busy, locked, a peer is down
  kTooLarge,     // over a limit on size
};

// The code's name, for logs and API "reason" fields ("NotFound").
const char* ErrorCodeName(ErrorCode code);

struct Error {
  std::string message;
  ErrorCode code = ErrorCode::kUnknown;

  // Returns a copy with `context: ` in front, for errors on their way up.
  [[nodiscard]] Error Wrap(std::string_view context) const {
    return Error{fmt::format("{}: {}", context, message), code};
  }
  bool Is(ErrorCode c) const { return code == c; }
};

// tl::expected with [[nodiscard]] on the type.
template <typename T>
class [[nodiscard]] Result : public tl::expected<T, Error> {
 public:
  using tl::expected<T, Error>::expected;
  Result(const tl::expected<T, Error>& e) : tl::expected<T, Error>(e) {}  // NOLINT: implicit
  Result(tl::expected<T, Error>&& e)                                      // NOLINT: implicit
      : tl::expected<T, Error>(std::move(e)) {}
};

using Status = Result<void>;

inline tl::unexpected<Error> Fail(std::string message) {
  return tl::unexpected<Error>(Error{std::move(message)});
}
inline tl::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{std::move(message), code});
}

template <typename... Args>
tl::unexpected<Error> Failf(fmt::format_string<Args...> f, Args&&... args) {
  return tl::unexpected<Error>(Error{fmt::format(f, std::forward<Args>(args)...)});
}
template <typename... Args>
tl::unexpected<Error> Failf(ErrorCode code, fmt::format_string<Args...> f, Args&&... args) {
  return tl::unexpected<Error>(Error{fmt::format(f, std::forward<Args>(args)...), code});
}

inline Status Ok() { return {}; }

}  // namespace strake

// Propagates the error of a Result expression, else yields nothing.
#define STRAKE_TRY(expr)                                       \
  do {                                                         \
    auto strake_try_r_ = (expr);                               \
    if (!strake_try_r_) {                                      \
      return tl::unexpected(std::move(strake_try_r_).error()); \
    }                                                          \
  } while (0)

// Declares `name` as the value of a Result expression, or propagates its
// error: STRAKE_TRY_ASSIGN(table, Decode(j));
#define STRAKE_TRY_ASSIGN(name, expr)                         \
  auto name##_result_ = (expr);                               \
  if (!name##_result_) {                                      \
    return tl::unexpected(std::move(name##_result_).error()); \
  }                                                           \
  auto name = std::move(*name##_result_) /* NOLINT(bugprone-macro-parentheses): a declarator */
