#include "model/secrets.h"

#include "base/sha256.h"

namespace strake::model {
namespace {

const Json* StringAt(const Json& secret, const char* field, const std::string& key) {
  if (!secret.is_object() || !secret.contains(field) || !secret[field].is_object()) return nullptr;
  auto it = secret[field].find(key);
  return it != secret[field].end() && it->is_string() ? &*it : nullptr;
}

}  // namespace

std::optional<std::string> SecretValue(const Json& secret, const std::string& key) {
  if (const Json* plain = StringAt(secret, "stringData", key)) return plain->get<std::string>();
  if (const Json* raw = StringAt(secret, "data", key)) {
    return Base64Decode(raw->get<std::string>());
  }
  return std::nullopt;
}

std::vector<std::string> SecretValues(const Json& secret) {
  std::vector<std::string> out;
  for (const char* field : {"data", "stringData"}) {
    if (!secret.is_object() || !secret.contains(field) || !secret[field].is_object()) continue;
    for (const auto& [key, v] : secret[field].items()) {
      if (!v.is_string()) continue;
      if (field[0] == 's') {
        out.push_back(v.get<std::string>());
      } else if (auto raw = Base64Decode(v.get<std::string>())) {
        out.push_back(std::move(*raw));
      }
    }
  }
  return out;
}

std::optional<std::string> DockerConfigKey(const std::string& type) {
  if (type == "kubernetes.io/dockerconfigjson") return ".dockerconfigjson";
  if (type == "kubernetes.io/dockercfg") return ".dockercfg";
  return std::nullopt;
}

}  // namespace strake::model
