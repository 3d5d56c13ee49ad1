// The software bill of materials of what a run built, recorded with its
// Artifact (delivery/artifact.h) so that promotion criteria can read its
// components (delivery/criteria.h: `sbom`, sbomOf(subscription)).
//
// Where it is: the result `SBOM` itself (a CycloneDX or SPDX JSON
// document as an object result or a string: for small ones — results are
// small), or Konflux's convention (its buildah task), a result
// `SBOM_BLOB_URL` = "<repository>@sha256:<hex>", the SBOM document pushed
// as a blob of that repository (`cosign attach sbom` does so), named by the
// digest of its bytes. Tekton Chains has no SBOM type hint (its proposal,
// IMAGE_SBOM_URL, was never merged), so strake pairs the result with an
// artifact by the type hints' stem: `<X>SBOM_BLOB_URL` (or `<X>SBOM`) goes with
// `<X>IMAGE_URL` / `<X>ARTIFACT_URI` / `<X>ARTIFACT_OUTPUTS`
// (`WEB_SBOM_BLOB_URL` with `WEB_IMAGE_URL`), and a bare `SBOM_BLOB_URL`
// with the run's only artifact. Looked for in the PipelineRun's results
// first, then in its TaskRuns': the task that built the artifact (a type
// hint with the same digest) and gave an SBOM of it, as Konflux's build
// task does without the pipeline passing the result on.
//
// What is recorded: the document fetched (at most kMaxSbomBytes, the limit
// Chains' proposal set), checked against its digest and read
// (model/sbom.h), as spec.sbom {reference, digest, result, taskRun, format,
// specVersion, components}; at most kMaxRecordedSbomComponents components
// (an Artifact object is at most 3 MiB). One that cannot be recorded —
// not a reference, not found, not an SBOM, too large — is spec.sbomProblems
// with the reason, and a criterion that reads it denies: fail closed.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/egress.h"
#include "base/result.h"
#include "model/type_hints.h"
#include "store/store.h"

namespace strake::delivery {

using model::Json;

inline constexpr size_t kMaxSbomBytes = size_t{10} << 20;
inline constexpr size_t kMaxRecordedSbomComponents = 10'000;

// Where one artifact's SBOM is, as a run's results say.
struct SbomReference {
  std::string result;     // "SBOM_BLOB_URL", "WEB_SBOM_BLOB_URL", "SBOM"
  std::string task_run;   // the TaskRun whose result it is; "" for the PipelineRun's
  std::string reference;  // as written: "<repository>@sha256:<hex>"
  std::string repository;
  std::string digest;
  std::string problem;                  // why the result names no blob ("" when it does)
  std::optional<std::string> document;  // the SBOM itself, when the result is one
};

// The SBOM reference for `artifact` among the run's results and its
// TaskRuns' (see above); nullopt when none gives one. Pure.
std::optional<SbomReference> FindSbomReference(const model::BuiltArtifact& artifact,
                                               const Json& run_results,
                                               const std::vector<model::BuiltArtifact>& built,
                                               const std::vector<store::Resource>& task_runs);

// Fetches the blob `digest` of `repository` for namespace `ns` (its
// credentials), at most `max` bytes, checked against the digest. Errors as
// images::RegistryClient::Blob gives them: kInvalid is final, the rest may
// pass (kUnavailable, kNotFound while a registry settles, credentials an
// admin adds).
using SbomFetcher = std::function<Result<std::string>(
    const std::string& ns, const std::string& repository, const std::string& digest, size_t max)>;

// An SbomFetcher over registries: Kargo's image credentials of the
// namespace (delivery/credentials.h), the egress policy, and plain HTTP for
// the `insecure` registries (Docker's insecure-registries) and loopback.
SbomFetcher RegistrySbomFetcher(store::Store& store, EgressPolicy egress,
                                std::vector<std::string> insecure);

// What an Artifact records of `ref`: {"sbom": {…}} or {"sbomProblems":
// [...]}, from the fetched bytes or the fetch's error. Pure.
Json SbomRecord(const SbomReference& ref, const Result<std::string>& fetched);

// A fetch error worth trying again while the run is young.
bool SbomFetchMayPass(const Error& e);

// How long after a run finished a failing fetch is tried again before the
// Artifact is recorded with the problem, and how often.
inline constexpr std::chrono::minutes kSbomPatience{10};
inline constexpr std::chrono::seconds kSbomRetry{10};

}  // namespace strake::delivery
