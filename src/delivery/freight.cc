#include "delivery/freight.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "base/sha256.h"
#include "base/strings.h"

namespace strake::delivery {

namespace {

constexpr std::array<std::string_view, 64> kAdjectives = {
    "able",    "amber",    "ancient", "autumn",   "bold",      "brave",  "brisk",  "calm",
    "clever",  "cosmic",   "crimson", "crisp",    "curious",   "dapper", "daring", "eager",
    "early",   "electric", "fancy",   "fearless", "gentle",    "gilded", "glad",   "golden",
    "grand",   "happy",    "hidden",  "honest",   "jolly",     "keen",   "kind",   "lively",
    "lucky",   "mellow",   "merry",   "mighty",   "modest",    "nimble", "noble",  "olive",
    "patient", "plucky",   "polite",  "proud",    "quick",     "quiet",  "rapid",  "ready",
    "rustic",  "scarlet",  "shiny",   "silent",   "silver",    "steady", "sunny",  "swift",
    "tidy",    "tranquil", "velvet",  "vivid",    "wandering", "wise",   "witty",  "zesty"};
constexpr std::array<std::string_view, 64> kAnimals = {
    "albatross", "alpaca",  "badger",   "beaver", "bison",   "bobcat",   "buffalo",  "camel",
    "caribou",   "cheetah", "condor",   "coyote", "crane",   "dingo",    "dolphin",  "dragonfly",
    "eagle",     "falcon",  "ferret",   "finch",  "gazelle", "gecko",    "gibbon",   "heron",
    "hedgehog",  "ibis",    "jackal",   "jaguar", "kestrel", "koala",    "lemur",    "leopard",
    "lynx",      "magpie",  "marmot",   "marten", "meerkat", "mongoose", "moose",    "narwhal",
    "ocelot",    "octopus", "osprey",   "otter",  "panda",   "pelican",  "penguin",  "puffin",
    "quail",     "raven",   "reindeer", "salmon", "seal",    "sparrow",  "squirrel", "stork",
    "tapir",     "toucan",  "turtle",   "walrus", "weasel",  "wombat",   "yak",      "zebra"};

}  // namespace

std::string FreightName(const model::FreightOrigin& origin,
                        const std::vector<model::FreightCommit>& commits,
                        const std::vector<model::FreightArtifact>& artifacts,
                        const std::vector<model::FreightImage>& images) {
  std::vector<std::string> parts;
  parts.reserve(commits.size() + artifacts.size() + images.size());
  // Kargo's imageHashPart: tag and digest both, so a moved tag and a
  // re-tagged digest are each new Freight.
  for (const auto& i : images) {
    std::string part = i.repo_url + ":" + i.tag + "@" + i.digest;
    if (!i.subscription_name.empty()) part += ":" + i.subscription_name;
    parts.push_back(std::move(part));
  }
  // Kargo's artifactHashPart.
  for (const auto& a : artifacts)
    parts.push_back(a.artifact_type + ":" + a.subscription_name + ":" + a.version);
  for (const auto& c : commits) {
    std::string part = model::NormalizeGitUrl(c.repo_url) + ":";
    if (!c.tag.empty()) part += c.tag + ":";
    part += c.id;
    if (!c.subscription_name.empty()) part += ":" + c.subscription_name;
    parts.push_back(std::move(part));
  }
  std::sort(parts.begin(), parts.end());
  return Sha1Hex(origin.String() + ":" + Join(parts, "|"));
}

std::string FreightAlias(const std::string& name,
                         const std::function<bool(const std::string&)>& taken) {
  // Start where the name's hash points and walk every combination once.
  const std::string h = Sha1Hex(name);
  const size_t start = std::stoul(h.substr(0, 6), nullptr, 16);
  const size_t combinations = kAdjectives.size() * kAnimals.size();
  for (size_t i = 0; i < combinations; ++i) {
    size_t n = (start + i) % combinations;
    std::string alias =
        fmt::format("{}-{}", kAdjectives[n / kAnimals.size()], kAnimals[n % kAnimals.size()]);
    if (!taken(alias)) return alias;
  }
  size_t n = start % combinations;
  return fmt::format("{}-{}-{}", kAdjectives[n / kAnimals.size()], kAnimals[n % kAnimals.size()],
                     name.substr(0, 7));
}

std::string KargoChildName(std::string_view prefix, std::string_view id, std::string_view ulid) {
  constexpr size_t kMaxPrefix = 253 - 1 - 26 - 1 - 7;  // '.', the ULID, '.', the id's 7
  std::string_view cut = prefix.substr(0, kMaxPrefix);
  while (!cut.empty() && (cut.back() == '.' || cut.back() == '-')) cut.remove_suffix(1);
  return fmt::format("{}.{}.{}", cut, ToLower(ulid), id.substr(0, 7));
}

}  // namespace strake::delivery
