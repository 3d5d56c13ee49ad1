#include "base/regex.h"

#include <re2/re2.h>

namespace strake {

Result<Regex> Regex::Compile(std::string_view pattern) {
  RE2::Options options;
  options.set_log_errors(false);  // the error is returned, not printed
  options.set_max_mem(static_cast<int64_t>(kMaxProgramBytes));
  auto re = std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!re->ok()) return Fail(ErrorCode::kInvalid, re->error());
  Regex out;
  out.re_ = std::move(re);
  return out;
}

bool Regex::FullMatch(std::string_view s) const {
  return re_ && RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re_);
}

bool Regex::PartialMatch(std::string_view s) const {
  return re_ && RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), *re_);
}

const std::string& Regex::pattern() const {
  static const std::string kNone;
  return re_ ? re_->pattern() : kNone;
}

}  // namespace strake
