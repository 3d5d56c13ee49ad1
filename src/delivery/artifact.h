// Artifacts: what a PipelineRun built, kept as immutable, content-addressed
// objects (strake.dev/v1 Artifact) with the evidence of how it was built
// and tested, so that the Freight a Stage promotes carries its proof.
//
// What a run built is what its results say, in Tekton Chains' type hints
// (docs/slsa-provenance.md of tektoncd/chains): the pipeline's results
// `<X>IMAGE_URL` with `<X>IMAGE_DIGEST`, `<X>ARTIFACT_URI` with
// `<X>ARTIFACT_DIGEST`, `IMAGES` (url@digest, by commas or lines), and
// object results `<X>ARTIFACT_OUTPUTS` ({uri, digest}). A digest is
// "<algorithm>:<hex>" (sha256, sha384, sha512). A hint with no partner, or a
// digest that is not one, builds nothing and is said (Problems).
//
// The evidence is every result of every task of the run, by pipeline task
// ({"test": {"taskRun": …, "results": {"COVERAGE": "78.3"}}}), and where
// the run came from (the Pipelines-as-Code push: repository, commit, branch).
// It is recorded when the run Succeeded, by the server (nobody may write an
// Artifact through the API, so evidence cannot be made up), named by the
// fingerprint of its uri and digest: the same bytes built again are the
// same Artifact, recorded once, never rewritten.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "controller/controller.h"
#include "delivery/sbom.h"
#include "model/kargo.h"
#include "model/type_hints.h"
#include "rollout/expr.h"
#include "store/store.h"

namespace strake::delivery {

using model::Json;

inline constexpr const char* kArtifactApiVersion = "strake.dev/v1";

using model::ArtifactName;
using model::BuiltArtifact;
using model::ImageRepoAndTag;
using model::ReadTypeHints;
using model::ResultsByName;
using model::TypeHints;

// The evidence of a run: its TaskRuns' results by pipeline task.
Json EvidenceOf(const std::vector<store::Resource>& task_runs);

// Where the run came from and what it was: pipelineRun, uid, pipeline,
// repoURL, commit, branch, finishedAt ("" fields left out).
Json BuiltBy(const store::Resource& run);

// The Artifact object for `a`, built by `run`; `sbom` ({"sbom": …} or
// {"sbomProblems": …}, delivery/sbom.h) joins its spec.
Json ArtifactObject(const store::Resource& run, const BuiltArtifact& a, const Json& evidence,
                    const Json& sbom = Json::object());

// The metadata a Freight's artifact carries, from the recorded Artifact
// `name` with `spec`: artifact, uri, digest, result, pipelineRun, and the
// repoURL, commit and branch it was built from.
Json FreightArtifactMetadata(const std::string& name, const Json& spec);

// A Freight's artifacts as the recorded Artifacts say (each found by the
// fingerprint of its uri and version, its metadata the server's), or an
// error naming one that no recorded Artifact is.
using ArtifactLookup =
    std::function<Result<std::optional<store::Resource>>(const std::string& name)>;
Result<Json> RecordedArtifacts(const Json& artifacts, const ArtifactLookup& read);
// The recorded Artifact's spec of one of a Freight's artifacts (found by the
// fingerprint of its uri and version, and checked to be that), or why not.
Result<Json> RecordedSpec(const Json& artifact, const ArtifactLookup& read);

// The commits a Freight object references: its own, then those its
// Artifacts were built from ({repoURL, id, branch}), each repository once.
Json CommitsOf(const Json& freight);

// Kargo's artifactFrom(subscriptionName) over a Freight object's artifacts:
// {ArtifactType, SubscriptionName, Version, Metadata}.
rollout::HostFunction ArtifactFrom(Json artifacts);
// Kargo's imageFrom(repoURL) over a Freight object's images (what image
// subscriptions found: {RepoURL, Tag, Digest, Annotations}) and then its
// image artifacts ({RepoURL, Tag, Digest}, the tag as the artifact's uri
// names it, or "").
rollout::HostFunction ImageFrom(Json artifacts, Json images = Json::array());

// What uses an Artifact, so that deleting it is refused: each Freight that
// references it and is in a Stage ("Freight <name> (<alias>) in Stage dev").
Result<std::vector<std::string>> ArtifactUsers(store::Store& store,
                                               const store::Resource& artifact);

// Records the Artifacts of PipelineRuns that Succeeded (keys "ns/name"),
// each with its SBOM when the run names one (delivery/sbom.h). Idempotent:
// an Artifact that exists is left as it is, so a run looked at again after
// a restart records nothing twice. An SBOM whose fetch may pass later (the
// registry is down) holds its Artifact back, tried again every kSbomRetry
// for kSbomPatience after the run finished; then the Artifact is recorded
// with the problem.
class ArtifactRecorder {
 public:
  explicit ArtifactRecorder(store::Store& store) : store_(store) {}
  // How SBOMs are fetched (unset: one a run names is recorded as a problem).
  void SetSbomFetcher(SbomFetcher fetch, const Clock& clock) {
    fetch_ = std::move(fetch);
    clock_ = &clock;
  }
  Result<controller::ReconcileResult> Reconcile(const std::string& key);

 private:
  // {"sbom": …} or {"sbomProblems": …} for `ref`; nullopt to try again later.
  std::optional<Json> Sbom(const store::Resource& run, const SbomReference& ref);

  store::Store& store_;
  SbomFetcher fetch_;
  const Clock* clock_ = nullptr;
};

}  // namespace strake::delivery
