// SHA-256 hashing for content addressing (cache keys, artifact digests).
// Sha256 is an incremental hasher, not thread-safe; one per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace strake {

// Decodes standard base64 (line breaks and spaces ignored); nullopt if invalid.
std::optional<std::string> Base64Decode(std::string_view in);

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  // Adds a length-prefixed field so that ("ab","c") and ("a","bc") differ.
  void Field(std::string_view data);
  // Lower-case hex digest; the hasher is spent afterwards.
  std::string HexDigest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string Sha256Hex(std::string_view data);
// SHA-1, lower-case hex: only where another system's identifiers are
// SHA-1 (Kargo names Freight by one), never for new content addressing.
std::string Sha1Hex(std::string_view data);
// Lower-case hex of raw bytes.
std::string HexEncode(std::string_view bytes);
// HMAC-SHA256 of data under key, lower-case hex (as GitHub and Gitea sign).
std::string HmacSha256Hex(std::string_view key, std::string_view data);
// Compares in time that depends only on the lengths: for secrets and MACs.
bool ConstantTimeEquals(std::string_view a, std::string_view b);
// Standard base64 with padding.
std::string Base64Encode(std::string_view in);
// Cryptographically random bytes (OpenSSL's RAND_bytes).
std::string RandomBytes(size_t n);
Result<std::string> Sha256File(const std::string& path);
// The hex digest of what is left to read of fd; `name` is for errors.
Result<std::string> Sha256Fd(int fd, const std::string& name);

}  // namespace strake
