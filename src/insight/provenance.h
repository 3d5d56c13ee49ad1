// Provenance: every finished PipelineRun and TaskRun gets an in-toto
// Statement with the SLSA v1 provenance predicate, filled as Tekton Chains
// fills it (its "slsa/v2alpha3" format, buildType
// https://tekton.dev/chains/v2/slsa), signed as a DSSE envelope with the
// project's ECDSA P-256 key (model/provenance.h), and kept as a
// strake.dev/v1 Attestation named as Chains names its payloads
// ("pipelinerun-<uid>", "taskrun-<uid>"). What goes in:
//
// - subject: what the run built, by Chains' type hints (model/type_hints.h)
//   found anywhere in it: a PipelineRun's own results and every result of
//   every TaskRun under it, nested pipelines included (Chains' "deep
//   inspection", here always on: no hint is propagated by hand). An image
//   is named by its repository (no tag), an artifact by its uri.
// - buildDefinition: buildType; externalParameters.runSpec (the run's
//   spec as written); internalParameters: which run of which namespace
//   ("strake.dev/run") and how strake ran the steps; resolvedDependencies:
//   "pipeline"/"task" (the resolved definition, by the sha256 of its JSON),
//   the source ("inputs/result": the push the run came from,
//   "git+<url>@refs/heads/<branch>", annotated model::kSourceAnnotation, the
//   one source a gate trusts; and what the run only claims: Chains'
//   CHAINS-GIT_URL/CHAINS-GIT_COMMIT params and results, "git+<url>.git",
//   and `*ARTIFACT_INPUTS` results), every step's image
//   ("oci://<repository>" with its digest).
// - runDetails: builder.id, metadata.invocationId (the run's uid),
//   startedOn/finishedOn, byproducts ("pipelineRunResults/<name>",
//   "taskRunResults/<name>": each result's JSON, base64).
//
// Keys (Keyring) live in the data directory, which no step sees (the
// sandbox mounts an empty tmpfs over it); they never appear in a step's
// environment, a log or an API response: only public keys leave.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/signing.h"
#include "controller/controller.h"
#include "model/provenance.h"
#include "store/store.h"

namespace strake::insight {

using model::Json;

inline constexpr const char* kChainsBuildType = "https://tekton.dev/chains/v2/slsa";
inline constexpr const char* kDefaultBuilderId = "https://strake.dev/builder/v1";

// The signing keys under a directory (<data-dir>/keys, mode 0700): each
// namespace (Kargo's project) has its own, projects/<namespace>.key (a
// P-256 private key in PEM), made at its first use (mode 0600, written
// durably) or placed there by an administrator. One namespace's key never
// signs another's runs, so a statement one namespace's run got signed is
// no evidence in another. Thread-safe. Fails (nothing signed, nothing
// verified: callers fail closed) when the name is not a namespace's, or the
// key file cannot be read or is not an unencrypted P-256 key: another key
// is never used instead. Asking for a namespace's public key makes its key
// if it has none.
class Keyring {
 public:
  explicit Keyring(std::string dir) : dir_(std::move(dir)) {}

  // The key that signs, and verifies, the attestations of namespace `ns`.
  Result<EcKey> KeyFor(const std::string& ns) const;
  // Its public half, as a PEM SubjectPublicKeyInfo (cosign.pub's form).
  Result<std::string> PublicKeyFor(const std::string& ns) const;

 private:
  std::string dir_;
  mutable std::mutex mu_;  // making a key
};

struct ProvenanceOptions {
  std::string builder_id = kDefaultBuilderId;
};

// The Attestation's name for a run: "pipelinerun-<uid>", "taskrun-<uid>".
std::string AttestationName(const std::string& kind, const std::string& uid);

// The Statement of a finished PipelineRun; `task_runs` are the TaskRuns
// under it (children and those of nested PipelineRuns), `children` the
// nested PipelineRuns. Pure.
Json PipelineRunStatement(const store::Resource& run, const std::vector<store::Resource>& task_runs,
                          const std::vector<store::Resource>& children,
                          const ProvenanceOptions& options);
// The Statement of a finished TaskRun; `task_spec` is the Task it ran
// (null when unknown), `push_source` its PipelineRun's status.strake.source
// (null when none). Pure.
Json TaskRunStatement(const store::Resource& task_run, const Json& task_spec,
                      const Json& push_source, const ProvenanceOptions& options);

// The Attestation object of `run` (its statement signed by `key`).
Result<Json> AttestationObject(const store::Resource& run, const Json& statement, const EcKey& key);

// What a gate sees of an Artifact's provenance (the recorded Artifact's
// spec in namespace `ns`): {verified, reason (when not), keyID,
// attestation, pipelineRun} and the statement's facts
// (model::ProvenanceFacts: buildType, builder, source {repo, commit, ref},
// claimedSources, subjects…). Verified means: the Attestation of the run
// that built it (by the uid the Artifact recorded) exists, a signature
// verifies with the namespace's key, the statement is about that run
// (invocationId), and a subject has the Artifact's digest. Only a store
// failure is an error.
Result<Json> ArtifactProvenance(store::Store& store, const Keyring& keys, const std::string& ns,
                                const Json& artifact_spec);

// Signs finished runs: keys "PipelineRun/ns/name" and "TaskRun/ns/name".
// Idempotent: a run with an Attestation is left as it is, so every run may
// be looked at again at start.
class ProvenanceRecorder final : public controller::Reconciler {
 public:
  ProvenanceRecorder(store::Store& store, const Keyring& keys, ProvenanceOptions options = {})
      : store_(store), keys_(keys), options_(std::move(options)) {}

  static std::string KeyOf(const store::Key& key);
  Result<controller::ReconcileResult> Reconcile(const std::string& key) override;

 private:
  Result<Json> StatementOf(const store::Resource& run);

  store::Store& store_;
  const Keyring& keys_;
  ProvenanceOptions options_;
};

}  // namespace strake::insight
