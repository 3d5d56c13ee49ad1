#include "delivery/credentials.h"

#include <algorithm>

#include "base/regex.h"
#include "images/registry.h"
#include "model/decode.h"
#include "model/kargo.h"

namespace strake::delivery {

namespace {

// A plain http:// URL to a host other than loopback: credentials would
// travel in the clear (Kargo refuses them too, unless told otherwise).
bool CleartextToAnotherHost(const std::string& url) {
  if (!url.starts_with("http://")) return false;
  std::string host = url.substr(7, url.find_first_of("/?#", 7) - 7);
  if (auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
  return !images::IsLoopbackHost(host);
}

}  // namespace

Result<std::optional<RepoCredentials>> KargoCredentials(store::Store& store, const std::string& ns,
                                                        const std::string& type,
                                                        const std::string& repo_url) {
  auto normalize = [&](const std::string& url) {
    return type == "image" ? images::NormalizeImageUrl(url) : model::NormalizeGitUrl(url);
  };
  if (type == "git" && CleartextToAnotherHost(repo_url)) return std::optional<RepoCredentials>();
  STRAKE_TRY_ASSIGN(secrets, store.List("Secret", ns));
  std::sort(secrets.begin(), secrets.end(), [](const store::Resource& a, const store::Resource& b) {
    return a.key.name < b.key.name;
  });
  const std::string normalized = normalize(repo_url);
  for (const auto& r : secrets) {
    auto label = r.labels.find("kargo.akuity.io/cred-type");
    if (label == r.labels.end() || label->second != type) continue;
    auto decoded = model::DecodeObject(r.object, "secret " + r.key.name);
    if (!decoded) continue;
    const auto& data = std::get<model::ConfigMap>(decoded->value).data.data;
    auto get = [&](const char* k) {
      auto it = data.find(k);
      return it == data.end() ? std::string() : it->second;
    };
    std::string url = get("repoURL");
    if (url.empty()) continue;
    bool match = false;
    if (get("repoURLIsRegex") == "true") {
      auto re = Regex::Compile(url);
      match = re && (re->PartialMatch(repo_url) || re->PartialMatch(normalized));
    } else {
      match = normalize(url) == normalized;
    }
    if (match) return RepoCredentials{get("username"), get("password"), get("sshPrivateKey")};
  }
  return std::optional<RepoCredentials>();
}

}  // namespace strake::delivery
