// What a Warehouse's image subscription discovers, as Kargo selects it
// (pkg/image/*_selector.go at akuity/kargo 1c764767), over a registry's
// answers (images/registry.h):
//
//   SemVer (default): tags that parse as versions (strictSemvers) and meet
//     `constraint`, highest first (delivery/semver.h, Kargo's order).
//   Lexical: tags in reverse byte order.
//   NewestBuild: every tag's image, newest build first (the OCI
//     `created` annotation, else the config's `created`; a tie or no date:
//     the greater tag first).
//   Digest: the one tag `constraint` names, whatever it names now.
//
// All but Digest drop tags matching an ignoreTagsRegexes entry, then keep
// those matching an allowTagsRegexes entry (none: all). With `platform`, an
// image offered for another platform only is passed over. At most
// discoveryLimit images, read in the strategy's order (NewestBuild reads
// every tag first). Each image is named by the tag it was found by and the
// digest that tag names now; a tag that vanished between the listing and
// the read is passed over.
//
// OrderTags and SelectImages are pure (the registry is a function);
// thread-safe. ImageCredentials reads the store.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "images/registry.h"
#include "model/kargo.h"
#include "store/store.h"

namespace strake::delivery {

// One discovered image (Kargo's DiscoveredImageReference).
struct DiscoveredImage {
  std::string tag;
  std::string digest;
  std::map<std::string, std::string> annotations;
  std::optional<int64_t> created_ms;
};

// The tags to read, in the strategy's order (NewestBuild: as listed).
Result<std::vector<std::string>> OrderTags(const model::ImageSubscription& sub,
                                           const std::vector<std::string>& tags);

using ImageByTag = std::function<Result<std::optional<images::ImageInfo>>(const std::string& tag)>;

Result<std::vector<DiscoveredImage>> SelectImages(const model::ImageSubscription& sub,
                                                  const std::vector<std::string>& tags,
                                                  const ImageByTag& image_by_tag);

// Kargo's image credentials (delivery/credentials.h); none: anonymous.
Result<images::Credentials> ImageCredentials(store::Store& store, const std::string& ns,
                                             const std::string& repo_url);

// status.discoveredArtifacts.images, as Kargo writes it.
model::Json DiscoveredImagesJson(const std::string& repo_url, const std::string& platform,
                                 const std::string& subscription_name,
                                 const std::vector<DiscoveredImage>& found);

}  // namespace strake::delivery
