#include "pipeline/credentials.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "base/http.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "model/secrets.h"

namespace strake::pipeline {
namespace {

constexpr char kSshAuth[] = "kubernetes.io/ssh-auth";
constexpr char kBasicAuth[] = "kubernetes.io/basic-auth";
constexpr char kDockerConfigJson[] = "kubernetes.io/dockerconfigjson";

Result<std::string> Key(const Credential& c, const std::map<std::string, model::ConfigMapData>& s,
                        const std::string& key) {
  auto it = s.find(c.secret);
  if (it == s.end()) return Failf("credentials: Secret \"{}\" not found", c.secret);
  auto k = it->second.data.find(key);
  if (k == it->second.data.end()) {
    return Failf("credentials: Secret \"{}\" ({}) has no key \"{}\"", c.secret, c.type, key);
  }
  return k->second;
}

// The host (and port) of an annotation's URL: "github.com",
// "https://github.com", "ssh://git@host:2222/x".
std::pair<std::string, std::string> HostPort(std::string url) {
  if (auto scheme = url.find("://"); scheme != std::string::npos) url = url.substr(scheme + 3);
  if (auto at = url.find('@'); at != std::string::npos) url = url.substr(at + 1);
  if (auto slash = url.find('/'); slash != std::string::npos) url = url.substr(0, slash);
  if (auto colon = url.rfind(':'); colon != std::string::npos) {
    return {url.substr(0, colon), url.substr(colon + 1)};
  }
  return {url, ""};
}

std::string WithScheme(const std::string& url) {
  return url.find("://") == std::string::npos ? "https://" + url : url;
}

Status AddSsh(const Credential& c, const std::map<std::string, model::ConfigMapData>& s,
              const std::string& home, std::map<std::string, CredentialFile>& out) {
  STRAKE_TRY_ASSIGN(key, Key(c, s, "ssh-privatekey"));
  std::string id = ".ssh/id_" + c.secret;
  out[id] = {key, 0600};
  auto [host, port] = HostPort(c.url);
  std::string& config = out[".ssh/config"].content;
  config += fmt::format("Host {}\n    HostName {}\n    IdentityFile {}/{}\n", host, host, home, id);
  if (!port.empty()) config += fmt::format("    Port {}\n", port);
  auto known = s.at(c.secret).data.find("known_hosts");
  if (known != s.at(c.secret).data.end()) {
    std::string& hosts = out[".ssh/known_hosts"].content;
    hosts += known->second;
    if (!hosts.empty() && hosts.back() != '\n') hosts += '\n';
  }
  return Ok();
}

Status AddBasic(const Credential& c, const std::map<std::string, model::ConfigMapData>& s,
                std::map<std::string, CredentialFile>& out, Json& docker) {
  STRAKE_TRY_ASSIGN(user, Key(c, s, "username"));
  STRAKE_TRY_ASSIGN(password, Key(c, s, "password"));
  if (c.kind == "docker") {
    docker["auths"][c.url] = {
        {"username", user}, {"password", password}, {"auth", Base64Encode(user + ":" + password)}};
    return Ok();
  }
  std::string url = WithScheme(c.url);
  std::string& config = out[".gitconfig"].content;
  if (config.empty()) config = "[credential]\n    helper = store\n";
  config += fmt::format("[credential \"{}\"]\n    username = {}\n", url, user);
  auto scheme = url.find("://");
  out[".git-credentials"].content +=
      fmt::format("{}://{}:{}@{}\n", url.substr(0, scheme), http::UrlEncode(user),
                  http::UrlEncode(password), url.substr(scheme + 3));
  return Ok();
}

Status AddDockerConfig(const Credential& c, const std::map<std::string, model::ConfigMapData>& s,
                       Json& docker) {
  const bool is_json = c.type == kDockerConfigJson;
  STRAKE_TRY_ASSIGN(text, Key(c, s, model::DockerConfigKey(c.type).value_or(".dockercfg")));
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_object()) return Failf("credentials: Secret \"{}\": not a JSON object", c.secret);
  const Json& auths = is_json ? j.value("auths", Json::object()) : j;
  for (const auto& [registry, auth] : auths.items()) docker["auths"][registry] = auth;
  return Ok();
}

}  // namespace

std::vector<Credential> CredentialsOf(const Json& service_account,
                                      const std::map<std::string, Json>& secrets) {
  std::vector<Credential> out;
  if (!service_account.is_object()) return out;
  for (const auto& ref : service_account.value("secrets", Json::array())) {
    auto it = secrets.find(ref.value("name", ""));
    if (it == secrets.end()) continue;
    const Json& secret = it->second;
    std::string type = secret.value("type", "Opaque");
    if (model::DockerConfigKey(type)) {
      out.push_back({it->first, type, "docker", ""});
      continue;
    }
    if (type != kSshAuth && type != kBasicAuth) continue;
    const Json annotations =
        secret.value("metadata", Json::object()).value("annotations", Json::object());
    for (const auto& [key, value] : annotations.items()) {
      for (const char* kind : {"git", "docker"}) {
        if (StartsWith(key, fmt::format("tekton.dev/{}-", kind)) && value.is_string()) {
          if (type == kSshAuth && std::string_view(kind) == "docker") continue;
          out.push_back({it->first, type, kind, value.get<std::string>()});
        }
      }
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.secret < b.secret; });
  return out;
}

Json ToJson(const std::vector<Credential>& creds) {
  Json out = Json::array();
  for (const auto& c : creds) {
    out.push_back({{"secret", c.secret}, {"type", c.type}, {"kind", c.kind}, {"url", c.url}});
  }
  return out;
}

std::vector<Credential> CredentialsFromJson(const Json& j) {
  std::vector<Credential> out;
  if (!j.is_array()) return out;
  for (const auto& c : j) {
    out.push_back(
        {c.value("secret", ""), c.value("type", ""), c.value("kind", ""), c.value("url", "")});
  }
  return out;
}

Result<std::map<std::string, CredentialFile>> CredentialFiles(
    const std::vector<Credential>& creds,
    const std::map<std::string, model::ConfigMapData>& secrets, const std::string& home) {
  std::map<std::string, CredentialFile> out;
  Json docker = Json::object();
  for (const auto& c : creds) {
    if (c.type == kSshAuth) {
      STRAKE_TRY(AddSsh(c, secrets, home, out));
    } else if (c.type == kBasicAuth) {
      STRAKE_TRY(AddBasic(c, secrets, out, docker));
    } else {
      STRAKE_TRY(AddDockerConfig(c, secrets, docker));
    }
  }
  if (!docker.empty()) out[".docker/config.json"] = {docker.dump(2) + "\n", 0600};
  return out;
}

}  // namespace strake::pipeline
