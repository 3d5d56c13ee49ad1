#include "base/http.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "base/strings.h"

namespace strake::http {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::optional<std::string_view> Head::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return std::nullopt;
}

namespace {

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True if the comma-separated list `value` holds `token` (case-insensitive).
bool ListHas(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    if (EqualsIgnoreCase(TrimOws(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// Splits header lines after the start line and derives the framing.
// RFC 9110 field values and RFC 9112 start lines hold no control
// character but HTAB: a bare CR or LF would be a line break to a lenient
// peer (an injected header), a NUL ends a C string early.
bool HasControl(std::string_view s, bool allow_tab) {
  return std::any_of(s.begin(), s.end(), [&](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && !(allow_tab && c == '\t')) || c == 0x7f;
  });
}

Status ParseHeaders(std::string_view lines, Head& head) {
  bool connection_close = false, connection_keep_alive = false, connection_upgrade = false;
  bool has_upgrade = false, has_te = false;
  while (!lines.empty()) {
    size_t eol = lines.find("\r\n");
    std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol == std::string_view::npos ? lines.size() : eol + 2);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      return Fail("obsolete header line folding is not accepted");
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Failf("malformed header line {}", Quote(line.substr(0, 80)));
    }
    std::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (!IsTokenChar(c)) return Failf("bad character in header name {}", Quote(name));
    }
    std::string_view value = TrimOws(line.substr(colon + 1));
    if (HasControl(value, true)) {
      return Failf("header {} holds a control character (a bare CR, LF or NUL)", Quote(name));
    }
    head.headers.emplace_back(name, value);
    if (EqualsIgnoreCase(name, "content-length")) {
      int64_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || n < 0 || value.empty()) {
        return Failf("bad Content-Length {}", Quote(value));
      }
      if (head.content_length >= 0 && head.content_length != n) {
        return Fail("conflicting Content-Length headers");
      }
      head.content_length = n;
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      if (has_te || !EqualsIgnoreCase(value, "chunked")) {
        return Failf("unsupported Transfer-Encoding {}", Quote(value));
      }
      has_te = true;
      head.chunked = true;
    } else if (EqualsIgnoreCase(name, "connection")) {
      connection_close = connection_close || ListHas(value, "close");
      connection_keep_alive = connection_keep_alive || ListHas(value, "keep-alive");
      connection_upgrade = connection_upgrade || ListHas(value, "upgrade");
    } else if (EqualsIgnoreCase(name, "upgrade")) {
      has_upgrade = true;
    }
  }
  if (head.chunked && head.content_length >= 0) {
    return Fail("both Content-Length and Transfer-Encoding given");
  }
  head.keep_alive = head.minor_version >= 1 ? !connection_close : connection_keep_alive;
  head.upgrade = connection_upgrade && has_upgrade;
  return Ok();
}

Result<int> ParseVersion(std::string_view v) {
  if (v == "HTTP/1.1") return 1;
  if (v == "HTTP/1.0") return 0;
  return Failf("unsupported protocol version {}", Quote(v.substr(0, 16)));
}

}  // namespace

Result<size_t> ParseRequestHead(std::string_view buf, Head& head) {
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) return size_t{0};
  head = Head{};
  std::string_view start = buf.substr(0, buf.find("\r\n"));
  if (HasControl(start, false)) return Fail("the request line holds a control character");
  size_t sp1 = start.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : start.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos)
    return Failf("malformed request line {}", Quote(start.substr(0, 80)));
  head.method = start.substr(0, sp1);
  head.target = start.substr(sp1 + 1, sp2 - sp1 - 1);
  for (char c : head.method) {
    if (!IsTokenChar(c)) return Failf("bad request method {}", Quote(head.method.substr(0, 16)));
  }
  if (head.method.empty() || head.target.empty()) return Fail("malformed request line");
  auto minor = ParseVersion(start.substr(sp2 + 1));
  if (!minor) return tl::unexpected(minor.error());
  head.minor_version = *minor;
  STRAKE_TRY(ParseHeaders(buf.substr(start.size() + 2, end + 2 - start.size()), head));
  return end + 4;
}

Result<size_t> ParseResponseHead(std::string_view buf, Head& head) {
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) return size_t{0};
  head = Head{};
  std::string_view start = buf.substr(0, buf.find("\r\n"));
  size_t sp1 = start.find(' ');
  if (sp1 == std::string_view::npos || start.size() < sp1 + 4) {
    return Failf("malformed status line {}", Quote(start.substr(0, 80)));
  }
  auto minor = ParseVersion(start.substr(0, sp1));
  if (!minor) return tl::unexpected(minor.error());
  head.minor_version = *minor;
  std::string_view code = start.substr(sp1 + 1, 3);
  auto [p, ec] = std::from_chars(code.data(), code.data() + 3, head.status);
  if (ec != std::errc() || p != code.data() + 3 || head.status < 100 || head.status > 999) {
    return Failf("malformed status line {}", Quote(start.substr(0, 80)));
  }
  STRAKE_TRY(ParseHeaders(buf.substr(start.size() + 2, end + 2 - start.size()), head));
  return end + 4;
}

bool ResponseHasNoBody(std::string_view request_method, int status) {
  return request_method == "HEAD" || (status >= 100 && status < 200) || status == 204 ||
         status == 304;
}

Result<size_t> ChunkedScanner::Feed(std::string_view data) {
  size_t i = 0;
  while (i < data.size() && state_ != State::kDone) {
    char c = data[i];
    switch (state_) {
      case State::kSize: {
        int digit = -1;
        if (c >= '0' && c <= '9') digit = c - '0';
        if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
        if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
        if (digit >= 0) {
          if (++size_digits_ > 15) return Fail("chunk size too large");
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(digit);
        } else if (size_digits_ == 0) {
          return Fail("malformed chunk size");
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::kExtension;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          return Fail("malformed chunk size");
        }
        ++i;
        break;
      }
      case State::kExtension:
        if (c == '\r') state_ = State::kSizeLf;
        ++i;
        break;
      case State::kSizeLf:
        if (c != '\n') return Fail("malformed chunk header");
        ++i;
        size_digits_ = 0;
        if (remaining_ == 0) {
          state_ = State::kTrailer;
          trailer_line_ = 0;
          trailer_cr_ = false;
        } else {
          state_ = State::kData;
        }
        break;
      case State::kData: {
        size_t take = std::min<uint64_t>(remaining_, data.size() - i);
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kDataCr;
        break;
      }
      case State::kDataCr:
        if (c != '\r') return Fail("chunk data longer than its size");
        state_ = State::kDataLf;
        ++i;
        break;
      case State::kDataLf:
        if (c != '\n') return Fail("chunk data longer than its size");
        state_ = State::kSize;
        ++i;
        break;
      case State::kTrailer:
        ++i;
        if (c == '\r') {
          trailer_cr_ = true;
        } else if (c == '\n' && trailer_cr_) {
          if (trailer_line_ == 0) state_ = State::kDone;
          trailer_line_ = 0;
          trailer_cr_ = false;
        } else {
          if (++trailer_line_ > 8192) return Fail("chunk trailer too long");
          trailer_cr_ = false;
        }
        break;
      case State::kDone:
        break;
    }
  }
  return i;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Entity";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

std::string UrlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string UrlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace strake::http
