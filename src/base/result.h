// Result<T>: the value of an operation that can fail in an expected way.
//
// Expected failures (bad input, a missing file, a step that exits non-zero)
// are values, never exceptions. An Error carries one human sentence that gains
// context on its way up: "pipelinerun demo-7: task build: step compile: exit
// status 2". Ignoring a Result is written out (`(void)`), enforced by
// [[nodiscard]] on tl::expected.
#pragma once

#include <fmt/format.h>

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace strake {

struct Error {
  std::string message;

  // Returns a copy with `context: ` in front, for errors on their way up.
  [[nodiscard]] Error Wrap(std::string_view context) const {
    return Error{fmt::format("{}: {}", context, message)};
  }
};

template <typename T>
using Result = tl::expected<T, Error>;

using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> Fail(std::string message) {
  return tl::unexpected<Error>(Error{std::move(message)});
}

template <typename... Args>
tl::unexpected<Error> Failf(fmt::format_string<Args...> f, Args&&... args) {
  return tl::unexpected<Error>(Error{fmt::format(f, std::forward<Args>(args)...)});
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
