#include "model/type_hints.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "base/sha256.h"
#include "base/strings.h"

namespace strake::model {

namespace {

bool IsHex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// "sha256:<64 hex>" and its kin; else why not.
std::optional<std::string> DigestProblem(const std::string& digest) {
  static const std::map<std::string, size_t, std::less<>> kSizes = {
      {"sha256", 64}, {"sha384", 96}, {"sha512", 128}};
  size_t colon = digest.find(':');
  if (colon == std::string::npos) return "has no algorithm (\"sha256:…\")";
  auto size = kSizes.find(std::string_view(digest).substr(0, colon));
  if (size == kSizes.end()) return "is not sha256, sha384 or sha512";
  std::string_view hex = std::string_view(digest).substr(colon + 1);
  if (hex.size() != size->second || !IsHex(hex))
    return fmt::format("is not {} lower-case hex digits", size->second);
  return std::nullopt;
}

bool EndsWithText(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class HintReader {
 public:
  explicit HintReader(const Json& results) : by_name_(ResultsByName(results)) {}

  TypeHints Read() {
    for (const auto& [name, value] : by_name_) {
      if (EndsWithText(name, "IMAGE_URL")) Pair(name, "_URL", "_DIGEST", "image");
      if (EndsWithText(name, "ARTIFACT_URI")) Pair(name, "_URI", "_DIGEST", "artifact");
      if (EndsWithText(name, "ARTIFACT_OUTPUTS")) Outputs(name, value);
      if (name == "IMAGES") Images(value);
    }
    return std::move(out_);
  }

 private:
  // <X>IMAGE_URL with <X>IMAGE_DIGEST (and the ARTIFACT_URI kin).
  void Pair(const std::string& name, std::string_view url_suffix, std::string_view digest_suffix,
            const std::string& type) {
    std::string stem = name.substr(0, name.size() - url_suffix.size());
    std::string digest_name = stem + std::string(digest_suffix);
    auto digest = by_name_.find(digest_name);
    if (digest == by_name_.end()) {
      out_.problems.push_back(fmt::format("result {} has no {}", name, digest_name));
      return;
    }
    Add(stem, type, by_name_[name], digest->second, name);
  }

  // <X>ARTIFACT_OUTPUTS: an object {uri, digest}.
  void Outputs(const std::string& name, const Json& value) {
    if (!value.is_object()) {
      out_.problems.push_back(fmt::format("result {} is not an object {{uri, digest}}", name));
      return;
    }
    Add(name.substr(0, name.size() - std::string_view("_OUTPUTS").size()), "artifact",
        value.value("uri", Json()), value.value("digest", Json()), name);
  }

  // IMAGES: url@digest, separated by commas or lines.
  void Images(const Json& value) {
    if (!value.is_string()) {
      out_.problems.emplace_back("result IMAGES is not a string");
      return;
    }
    std::string text = value.get<std::string>();
    std::replace(text.begin(), text.end(), '\n', ',');
    for (const auto& part : Split(text, ',')) {
      std::string ref(Trim(part));
      if (ref.empty()) continue;
      size_t at = ref.rfind('@');
      if (at == std::string::npos) {
        out_.problems.push_back(fmt::format("result IMAGES: {} has no @digest", Quote(ref)));
        continue;
      }
      Add("IMAGES", "image", ref.substr(0, at), ref.substr(at + 1), "IMAGES");
    }
  }

  void Add(const std::string& result, const std::string& type, const Json& uri, const Json& digest,
           const std::string& from) {
    if (!uri.is_string() || Trim(uri.get<std::string>()).empty()) {
      out_.problems.push_back(fmt::format("result {}: no uri", from));
      return;
    }
    if (!digest.is_string()) {
      out_.problems.push_back(fmt::format("result {}: the digest is not a string", from));
      return;
    }
    BuiltArtifact a{result, type, std::string(Trim(uri.get<std::string>())),
                    std::string(Trim(digest.get<std::string>()))};
    if (auto bad = DigestProblem(a.digest)) {
      out_.problems.push_back(fmt::format("result {}: digest {} {}", from, Quote(a.digest), *bad));
      return;
    }
    if (!seen_.insert(a.uri + "@" + a.digest).second) return;
    out_.artifacts.push_back(std::move(a));
  }

  std::map<std::string, Json> by_name_;
  std::set<std::string> seen_;
  TypeHints out_;
};

}  // namespace

std::map<std::string, Json> ResultsByName(const Json& results) {
  std::map<std::string, Json> out;
  if (!results.is_array()) return out;
  for (const auto& r : results) {
    if (!r.is_object() || !r.contains("name") || !r["name"].is_string()) continue;
    Json v = r.value("value", Json());
    if (v.is_string()) v = std::string(Trim(v.get<std::string>()));
    out[r["name"].get<std::string>()] = std::move(v);
  }
  return out;
}

std::string ArtifactName(const std::string& uri, const std::string& digest) {
  return Sha256Hex(uri + "@" + digest).substr(0, 40);
}

TypeHints ReadTypeHints(const Json& results) { return HintReader(results).Read(); }

std::pair<std::string, std::string> ImageRepoAndTag(const std::string& uri) {
  std::string ref = uri.substr(0, uri.find('@'));
  size_t slash = ref.rfind('/');
  size_t colon = ref.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return {ref, ""};
  return {ref.substr(0, colon), ref.substr(colon + 1)};
}

}  // namespace strake::model
