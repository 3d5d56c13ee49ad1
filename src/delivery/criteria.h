// Promotion criteria (strake's, ProjectConfig or ClusterConfig
// `promotionCriteria`): expr-lang expressions (rollout/expr.h) over a
// Freight's evidence and history that must all be true for a Promotion of
// it into a Stage they select to start. Checked with the other gates
// (delivery/gates.h): at the Promotion's creation, by auto-promotion, and
// again when a queued Promotion would start.
//
// What an expression sees:
// - `freight`: {name, alias, origin: {kind, name}}; `stage`: the Stage's name.
// - evidence(task[, subscription]): the results of pipeline task `task`
//   of the run that built the Freight's artifact (of that subscription;
//   without one, the first of its artifacts whose run has that task), a
//   result whose whole text is a number as that number. Read from the
//   Artifact object the server recorded (delivery/artifact.h), found by the
//   fingerprint of the artifact's uri and digest, never from what the
//   Freight says: evidence cannot be written by hand.
// - artifactFrom(subscription), imageFrom(repository), commitFrom(repoURL):
//   Kargo's, over the Freight (commitFrom also finds the commit an
//   artifact was built from).
// - verifiedIn(stage), approvedFor(stage): booleans from the Freight's
//   status; soakTime(stage): seconds it has soaked there (Kargo's longest
//   soak; 0 when not verified there).
// - `provenance`: the signed provenance of the Freight's one artifact
//   (insight/provenance.h): {verified, reason, source: {repo, commit, ref},
//   builder: {id}, buildType, pipelineRun, subjects…}, verified against the
//   project's key when the criterion is checked; provenanceOf(subscription)
//   the same for one of several artifacts. A Freight with no artifact, or
//   with several, has a `provenance` that is not verified and says why.
// - `sbom`: the SBOM recorded with the Freight's one artifact
//   (delivery/sbom.h): {format, specVersion, reference, components: [{name,
//   version, group, purl, type, licenses}]}; sbomOf(subscription) the same
//   for one of several. An artifact with no SBOM recorded, or one whose
//   SBOM could not be, denies a criterion that reads it, saying why.
// - semverMatches(version, constraint): delivery/semver.h's constraint; a
//   version that is not one is an error.
//
// A false all(), any() or none() is explained by the first element that
// decided it.
//
// A criterion that is false denies with its values ("criteria coverage:
// 78.3 < 80 (PipelineRun build-42, task test)"); one that cannot be
// evaluated (no such evidence, a type error) denies with the error: fail
// closed. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "rollout/expr.h"
#include "store/store.h"

namespace strake::delivery {

// The functions a criterion may call besides expr-lang's own.
const std::set<std::string>& CriteriaFunctionNames();

// Compiles an expression as a criterion; the error names the column.
Result<rollout::Expr> CompileCriterion(const std::string& expression);

// A criterion as the gates hold it: its name, where it was written
// ("ProjectConfig demo", "ClusterConfig") and its compiled expression.
struct Criterion {
  std::string name;
  std::string source;
  rollout::Expr expr;
  std::string expression;  // as written
};

// Reads an Artifact object by name (nullopt: there is none).
using ArtifactReader =
    std::function<Result<std::optional<store::Resource>>(const std::string& name)>;

// An Artifact's provenance as gates see it, from the recorded Artifact's
// spec in namespace `ns` (implemented by the server over its keys: delivery
// signs and verifies nothing itself). Only a store failure is an error.
using ProvenanceReader =
    std::function<Result<store::Json>(const std::string& ns, const store::Json& artifact_spec)>;

// Nullopt when every criterion holds for `freight` (the stored object, with
// its status) going into `stage` at `now_ms`; else why not, naming the
// first that does not. Only a store failure is an error.
Result<std::optional<std::string>> CriteriaDenial(const std::vector<Criterion>& criteria,
                                                  const store::Resource& freight,
                                                  const std::string& stage, int64_t now_ms,
                                                  const ArtifactReader& read,
                                                  const ProvenanceReader& provenance);

}  // namespace strake::delivery
