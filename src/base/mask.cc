#include "base/mask.h"

#include <algorithm>

#include "base/sha256.h"
#include "base/strings.h"

namespace strake {

namespace {

constexpr std::string_view kMask = "***";

// The characters of base64(secret) that do not depend on the bytes around
// it, when the secret starts `offset` bytes into a 3-byte group.
std::string Base64Core(std::string_view secret, size_t offset) {
  std::string padded(offset, '\0');
  padded.append(secret);
  std::string enc = Base64Encode(padded);
  while (!enc.empty() && enc.back() == '=') enc.pop_back();
  // The last character of an incomplete group mixes in the next byte.
  if (padded.size() % 3 != 0 && !enc.empty()) enc.pop_back();
  size_t lead = offset == 0 ? 0 : offset == 1 ? 2 : 3;  // chars mixing in the prefix
  return lead < enc.size() ? enc.substr(lead) : "";
}

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

bool SecretMasker::Add(std::string_view secret) {
  if (secret.size() < kMinSecretLength) return false;
  std::vector<std::string> forms = {std::string(secret), UrlEncode(secret)};
  for (size_t offset = 0; offset < 3; ++offset) forms.push_back(Base64Core(secret, offset));
  if (secret.find('\n') != std::string_view::npos) {
    for (auto line : Split(secret, '\n')) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      forms.push_back(line);
    }
  }
  for (auto& f : forms) {
    if (f.size() < kMinSecretLength) continue;
    if (std::find(patterns_.begin(), patterns_.end(), f) != patterns_.end()) continue;
    longest_ = std::max(longest_, f.size());
    patterns_.push_back(std::move(f));
  }
  // Longest first: a form that contains another is replaced whole.
  std::sort(patterns_.begin(), patterns_.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return true;
}

void SecretMasker::Drain(std::string& buf, std::string& out, bool final) const {
  // Unless final, a secret may start in the last longest_-1 bytes and end in
  // the next chunk: those bytes wait.
  size_t safe = final ? buf.size() : (buf.size() >= longest_ ? buf.size() - (longest_ - 1) : 0);
  size_t pos = 0;
  while (true) {
    // The earliest match from pos; at one position, the longest form.
    size_t best = std::string::npos, best_len = 0;
    for (const auto& p : patterns_) {
      size_t at = buf.find(p, pos);
      if (at < best) {
        best = at;
        best_len = p.size();
      }
    }
    if (best == std::string::npos || best >= safe) {
      size_t upto = std::max(pos, safe);
      out.append(buf, pos, upto - pos);
      pos = upto;
      break;
    }
    out.append(buf, pos, best - pos);
    out += kMask;
    pos = best + best_len;
  }
  buf.erase(0, pos);
}

std::string SecretMasker::Feed(std::string_view chunk) {
  if (patterns_.empty()) return std::string(chunk);
  held_.append(chunk);
  std::string out;
  Drain(held_, out, false);
  return out;
}

std::string SecretMasker::Flush() {
  std::string out;
  Drain(held_, out, true);
  held_.clear();
  return out;
}

std::string SecretMasker::Mask(std::string_view text) const {
  std::string buf(text), out;
  Drain(buf, out, true);
  return out;
}

}  // namespace strake
