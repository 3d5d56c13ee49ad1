// Webhook payloads (server/webhooks.h): the part of a delivery read before
// any signature is checked, so the part anyone on the network reaches. Each
// input is read as a push of every forge: github, gitea, gitlab, generic.
//
// Properties beyond memory safety: an error message is valid UTF-8 (it is
// answered in a JSON body); the URLs found are normalised.
#include <cstddef>
#include <cstdint>
#include <string>

#include "check.h"
#include "server/webhooks.h"

using strake::fuzz::Check;
using strake::fuzz::JsonSafe;
using strake::server::Webhooks;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(strake::fuzz::AsText(data, size));
  for (const char* forge : {"github", "gitea", "gitlab", "generic"}) {
    auto urls = Webhooks::PayloadUrls(forge, body);
    if (!urls) {
      Check(JsonSafe(urls.error().message), "a payload error is valid UTF-8");
      continue;
    }
    for (const auto& url : *urls) {
      Check(url.empty() || url.back() != '/', "a normalised URL has no trailing slash");
    }
  }
  return 0;
}
