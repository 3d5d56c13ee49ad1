#include "delivery/image_discovery.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/clock.h"
#include "base/regex.h"
#include "base/strings.h"
#include "delivery/credentials.h"
#include "delivery/semver.h"

namespace strake::delivery {
namespace {

using model::Json;

struct TagFilter {
  std::vector<Regex> allow, ignore;
  static Result<TagFilter> Compile(const model::ImageSubscription& sub) {
    TagFilter f;
    for (const auto& [list, out] : {std::pair{&sub.allow_tags_regexes, &f.allow},
                                    std::pair{&sub.ignore_tags_regexes, &f.ignore}}) {
      for (const std::string& re : *list) {
        STRAKE_TRY_ASSIGN(compiled, Regex::Compile(re));
        out->push_back(std::move(compiled));
      }
    }
    return f;
  }
  bool Keeps(const std::string& tag) const {
    for (const auto& re : ignore) {
      if (re.PartialMatch(tag)) return false;
    }
    if (allow.empty()) return true;
    return std::any_of(allow.begin(), allow.end(),
                       [&](const Regex& re) { return re.PartialMatch(tag); });
  }
};

bool OnPlatform(const images::ImageInfo& info, const std::string& platform) {
  if (platform.empty()) return true;
  return std::any_of(info.platforms.begin(), info.platforms.end(),
                     [&](const images::Platform& p) { return p.String() == platform; });
}

DiscoveredImage Discovered(const std::string& tag, images::ImageInfo info) {
  return {tag, std::move(info.digest), std::move(info.annotations), info.created_ms};
}

}  // namespace

Result<std::vector<std::string>> OrderTags(const model::ImageSubscription& sub,
                                           const std::vector<std::string>& tags) {
  const std::string& strategy = sub.image_selection_strategy;
  if (strategy == "Digest") return std::vector<std::string>{sub.constraint};
  STRAKE_TRY_ASSIGN(filter, TagFilter::Compile(sub));
  std::vector<std::string> kept;
  for (const auto& t : tags) {
    if (filter.Keeps(t)) kept.push_back(t);
  }
  if (strategy == "Lexical") {
    std::sort(kept.begin(), kept.end(), std::greater<>());
    return kept;
  }
  if (strategy == "NewestBuild") return kept;
  std::optional<SemVerConstraint> constraint;
  if (!sub.constraint.empty()) {
    STRAKE_TRY_ASSIGN(c, SemVerConstraint::Parse(sub.constraint));
    constraint = std::move(c);
  }
  std::vector<SemVer> versions;
  for (const auto& t : kept) {
    auto v = ParseSemVer(t, sub.strict_semvers);
    if (v && (!constraint || constraint->Matches(*v))) versions.push_back(std::move(*v));
  }
  std::sort(versions.begin(), versions.end(), SelectedBefore);
  std::vector<std::string> out;
  out.reserve(versions.size());
  for (auto& v : versions) out.push_back(std::move(v.original));
  return out;
}

Result<std::vector<DiscoveredImage>> SelectImages(const model::ImageSubscription& sub,
                                                  const std::vector<std::string>& tags,
                                                  const ImageByTag& image_by_tag) {
  STRAKE_TRY_ASSIGN(ordered, OrderTags(sub, tags));
  const size_t limit = static_cast<size_t>(std::max(1, sub.discovery_limit));
  std::vector<DiscoveredImage> out;
  bool newest_build = sub.image_selection_strategy == "NewestBuild";
  for (const std::string& tag : ordered) {
    if (!newest_build && out.size() >= limit) break;
    STRAKE_TRY_ASSIGN(info, image_by_tag(tag));
    if (!info || !OnPlatform(*info, sub.platform)) continue;
    out.push_back(Discovered(tag, std::move(*info)));
  }
  if (newest_build) {
    std::sort(out.begin(), out.end(), [](const DiscoveredImage& a, const DiscoveredImage& b) {
      int64_t ta = a.created_ms.value_or(INT64_MIN), tb = b.created_ms.value_or(INT64_MIN);
      if (ta != tb) return ta > tb;
      return a.tag > b.tag;
    });
    if (out.size() > limit) out.resize(limit);
  }
  return out;
}

Result<images::Credentials> ImageCredentials(store::Store& store, const std::string& ns,
                                             const std::string& repo_url) {
  STRAKE_TRY_ASSIGN(found, KargoCredentials(store, ns, "image", repo_url));
  if (!found) return images::Credentials{};
  return images::Credentials{found->username, found->password};
}

Json DiscoveredImagesJson(const std::string& repo_url, const std::string& platform,
                          const std::string& subscription_name,
                          const std::vector<DiscoveredImage>& found) {
  Json refs = Json::array();
  for (const auto& d : found) {
    Json ref = {{"tag", d.tag}, {"digest", d.digest}};
    if (!d.annotations.empty()) ref["annotations"] = d.annotations;
    if (d.created_ms) ref["createdAt"] = FormatRfc3339(FromUnixMillis(*d.created_ms));
    refs.push_back(std::move(ref));
  }
  Json out = {{"repoURL", repo_url}, {"references", std::move(refs)}};
  if (!platform.empty()) out["platform"] = platform;
  if (!subscription_name.empty()) out["subscriptionName"] = subscription_name;
  return out;
}

}  // namespace strake::delivery
