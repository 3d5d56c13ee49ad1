// What a fuzz target asserts beyond "no crash, no leak, no hang": a broken
// property prints what broke and aborts, so libFuzzer keeps the input as a
// crash artifact like any other.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace strake::fuzz {

inline void Check(bool ok, const char* property) {
  if (!ok) {
    std::fprintf(stderr, "fuzz: property broken: %s\n", property);
    std::abort();
  }
}

// True if `text` can go into a JSON body as a string, as the API server's
// error responses put messages (nlohmann's dump throws on invalid UTF-8).
inline bool JsonSafe(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace strake::fuzz
