#include "delivery/sbom.h"

#include <fmt/format.h>

#include <utility>

#include "base/sha256.h"
#include "base/strings.h"
#include "delivery/image_discovery.h"
#include "images/registry.h"
#include "model/sbom.h"

namespace strake::delivery {

namespace {

constexpr std::string_view kSbomResult = "SBOM_BLOB_URL";
constexpr std::string_view kSbomDocument = "SBOM";

// The stem of a type hint's result ("WEB_" of "WEB_IMAGE", "" of
// "ARTIFACT"); nullopt for IMAGES, which names several images.
std::optional<std::string> Stem(const std::string& result) {
  for (std::string_view kind : {"IMAGE", "ARTIFACT"}) {
    if (result.size() >= kind.size() && result.ends_with(kind))
      return result.substr(0, result.size() - kind.size());
  }
  return std::nullopt;
}

// The SBOM result that goes with `artifact` among `results` (by name),
// given all that those results built.
std::optional<std::pair<std::string, Json>> Paired(const model::BuiltArtifact& artifact,
                                                   const std::map<std::string, Json>& results,
                                                   const std::vector<model::BuiltArtifact>& built) {
  for (std::string_view suffix : {kSbomResult, kSbomDocument}) {
    if (auto stem = Stem(artifact.result); stem && !stem->empty()) {
      const std::string name = *stem + std::string(suffix);
      if (auto it = results.find(name); it != results.end()) return *it;
    }
    // SBOM_BLOB_URL, SBOM: of the one thing these results built.
    if (built.size() != 1) continue;
    if (auto it = results.find(std::string(suffix)); it != results.end()) return *it;
  }
  return std::nullopt;
}

SbomReference Reference(const std::string& result, const std::string& task_run, const Json& v) {
  SbomReference out{result, task_run, "", "", "", "", std::nullopt};
  if (!result.ends_with(kSbomResult)) {
    // The document itself: an object result, or its text.
    out.reference = "result " + result + (task_run.empty() ? "" : " of TaskRun " + task_run);
    out.document = v.is_string() ? v.get<std::string>() : v.dump();
    out.digest = "sha256:" + Sha256Hex(*out.document);
    return out;
  }
  if (!v.is_string()) {
    out.problem = fmt::format("result {} is not a string", result);
    return out;
  }
  out.reference = std::string(Trim(v.get<std::string>()));
  auto ref = images::ParseReference(out.reference);
  if (!ref || ref->digest.empty() || ref->repo.IsLayout()) {
    out.problem = fmt::format("result {}: {} is not <repository>@sha256:<digest>{}", result,
                              Quote(out.reference), ref ? "" : ": " + ref.error().message);
    return out;
  }
  out.repository = ref->repo.Name();
  out.digest = ref->digest;
  return out;
}

// An image's SBOM blob is in the image's own repository (Konflux:
// `${IMAGE%:*}@sha256:…`): one named elsewhere may be any image's.
SbomReference Checked(SbomReference ref, const model::BuiltArtifact& artifact) {
  if (!ref.problem.empty() || ref.document || artifact.type != "image") return ref;
  auto image = images::ParseReference(artifact.uri);
  if (image && image->repo.Name() != ref.repository) {
    ref.problem = fmt::format("result {}: {} is not in the image's repository {}", ref.result,
                              Quote(ref.reference), image->repo.Name());
  }
  return ref;
}

}  // namespace

std::optional<SbomReference> FindSbomReference(const model::BuiltArtifact& artifact,
                                               const Json& run_results,
                                               const std::vector<model::BuiltArtifact>& built,
                                               const std::vector<store::Resource>& task_runs) {
  if (auto found = Paired(artifact, model::ResultsByName(run_results), built))
    return Checked(Reference(found->first, "", found->second), artifact);
  // The task that built it (a type hint of the same digest), if it gave
  // an SBOM of what it built.
  for (const auto& tr : task_runs) {
    const Json results = tr.status.is_object() ? tr.status.value("results", Json::array()) : Json();
    const model::TypeHints hints = model::ReadTypeHints(results);
    for (const auto& a : hints.artifacts) {
      if (a.digest != artifact.digest) continue;
      if (auto found = Paired(a, model::ResultsByName(results), hints.artifacts))
        return Checked(Reference(found->first, tr.key.name, found->second), artifact);
    }
  }
  return std::nullopt;
}

SbomFetcher RegistrySbomFetcher(store::Store& store, EgressPolicy egress,
                                std::vector<std::string> insecure) {
  return [&store, egress = std::move(egress), insecure = std::move(insecure)](
             const std::string& ns, const std::string& repository, const std::string& digest,
             size_t max) -> Result<std::string> {
    STRAKE_TRY_ASSIGN(repo, images::ParseRepository(repository));
    STRAKE_TRY_ASSIGN(creds, ImageCredentials(store, ns, repository));
    images::RegistryClient client(repo, std::move(creds), egress);
    if (images::IsInsecureRegistry(repo.registry, insecure)) client.SetInsecureRegistry();
    return client.Blob(digest, max);
  };
}

bool SbomFetchMayPass(const Error& e) { return e.code != ErrorCode::kInvalid; }

Json SbomRecord(const SbomReference& ref, const Result<std::string>& fetched) {
  const std::string from =
      fmt::format("{}{}", ref.result, ref.task_run.empty() ? "" : " of TaskRun " + ref.task_run);
  auto problem = [&](const std::string& why) {
    return Json{{"sbomProblems",
                 Json::array({fmt::format("SBOM {} ({}): {}", Quote(ref.reference), from, why)})}};
  };
  if (!ref.problem.empty()) return Json{{"sbomProblems", Json::array({ref.problem})}};
  if (!fetched) return problem("not fetched: " + fetched.error().message);
  auto sbom = model::ParseSbom(*fetched, ref.reference);
  if (!sbom) {
    Json problems = Json::array();
    for (const auto& line : Split(sbom.error().message, '\n')) problems.push_back(line);
    return {{"sbomProblems", std::move(problems)}};
  }
  if (sbom->components.size() > kMaxRecordedSbomComponents) {
    return problem(fmt::format("{} components: an Artifact records at most {}",
                               sbom->components.size(), kMaxRecordedSbomComponents));
  }
  Json out = model::SbomToJson(*sbom);
  out["reference"] = ref.reference;
  out["digest"] = ref.digest;
  out["result"] = ref.result;
  if (!ref.task_run.empty()) out["taskRun"] = ref.task_run;
  return {{"sbom", std::move(out)}};
}

}  // namespace strake::delivery
