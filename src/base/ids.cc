#include "base/ids.h"

#include <sys/random.h>

#include <cstdio>

namespace strake {

static void Random(unsigned char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(buf + got, n - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
  }
}

std::string NewUid() {
  unsigned char b[16];
  Random(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

std::string RandomSuffix(size_t n) {
  static const char* alphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  unsigned char b[32];
  Random(b, sizeof b);
  for (size_t i = 0; i < n && i < sizeof b; ++i) out += alphabet[b[i] % 27];
  return out;
}

std::string NewUlid(int64_t unix_ms) {
  static const char* alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  unsigned char b[16];
  auto t = static_cast<uint64_t>(unix_ms);
  for (int i = 5; i >= 0; --i) {
    b[i] = static_cast<unsigned char>(t & 0xff);
    t >>= 8;
  }
  Random(b + 6, 10);
  // 128 bits as 26 five-bit digits, most significant first (the first
  // digit carries the top 3 bits).
  std::string out;
  for (int digit = 0; digit < 26; ++digit) {
    int first = digit * 5 - 2;  // bit index of the digit's top bit (of 130, 2 leading zeros)
    unsigned value = 0;
    for (int bit = first; bit < first + 5; ++bit) {
      bool set = bit >= 0 && (b[bit / 8] >> (7 - bit % 8)) & 1;
      value = (value << 1) | (set ? 1u : 0u);
    }
    out += alphabet[value];
  }
  return out;
}

}  // namespace strake
