// The gates a Promotion passes before it runs, read from the store: the
// promotion windows and freeze periods of the Project's ProjectConfig and of
// the ClusterConfig (delivery/window.h), and a stopped line, the Project's
// or the whole server's, which lets through only the Freight its exceptions
// name. Checked when a Promotion is created (the API refuses it, naming the
// gate and its values), when the Stage would promote by itself (it waits,
// and wakes when the gate opens), and again when a queued Promotion would
// start (it stays Pending): a Promotion that was admitted while open does
// not start in a freeze.
//
// Fail closed: a ProjectConfig, ClusterConfig or window that cannot be read
// any more closes the schedule, and the reason says why.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "delivery/approval.h"
#include "delivery/criteria.h"
#include "delivery/window.h"
#include "model/kargo.h"
#include "store/store.h"

namespace strake::delivery {

// A stopped line that holds for one Stage: who stopped it, why, and the
// Freight that the exceptions for this Stage let through, by name (its
// fingerprint: an alias can be moved from one Freight to another by anyone
// who may write Freight, so it names nothing here).
struct StoppedLine {
  std::string source;  // "ProjectConfig demo", "ClusterConfig"
  std::string reason;
  std::vector<std::string> exceptions;  // their names
  std::vector<std::string> freight;     // what they let through

  bool Excepts(const std::string& freight_name) const;
  std::string Describe() const;  // "line stopped by ProjectConfig demo: INC-42 (exceptions: fix)"
};

// An approval policy that selects the Stage: its name, where it was
// written ("ProjectConfig demo", "ClusterConfig") and its rules.
struct PolicyGate {
  std::string name;
  std::string source;
  ApprovalConfig config;
  // Where its responses are kept: PolicyKey of its name, or of
  // "ClusterConfig/<name>" for the server's (names may repeat across the two).
  std::string Key() const {
    return PolicyKey(source == "ClusterConfig" ? "ClusterConfig/" + name : name);
  }
};

// What the approval policies say of one Promotion: met (nullopt), waiting
// (Running, with what is missing) or rejected (Failed, by whom and why).
struct PolicyHold {
  StepStatus status = StepStatus::kRunning;
  std::string message;
};

// What the Project and the server say about one Stage at one instant.
struct ProjectGates {
  std::optional<model::ProjectConfig> config;  // none, or not readable
  WindowState windows;
  bool any_window = false;            // some window selects the Stage (or cannot be read)
  std::vector<StoppedLine> lines;     // stopped lines that cover the Stage
  std::vector<Criterion> criteria;    // the promotion criteria that select the Stage
  std::vector<PolicyGate> approvals;  // the approval policies that select it
  std::string stage;
  int64_t now_ms = 0;
  ArtifactReader read_artifact;      // for the criteria's evidence
  ProvenanceReader read_provenance;  // and their provenance

  // Nullopt when a Promotion of `freight` (the stored Freight) may start,
  // else why not: "line stopped by ProjectConfig demo: INC-42", "promotion
  // window: window holiday-freeze closed until 2027-01-04T09:00:00Z",
  // "criteria coverage: 78.3 < 80 (PipelineRun build-42, task test)". Only
  // a store failure is an error.
  Result<std::optional<std::string>> Denial(const store::Resource& freight) const;
  // The approval policies' answer for a Promotion whose metadata
  // annotations are `annotations` (its responses, its creator).
  std::optional<PolicyHold> ApprovalHold(const model::Json& annotations) const;
  // What holds every Freight (the windows, a line without exceptions).
  std::optional<std::string> DenialForAll() const;
  // When the windows' answer next changes (ms), or 0 when not known.
  int64_t NextChangeMs() const;
  // The Stage's status.stopTheLine: null when no line is stopped.
  model::Json LineStatusToJson() const;
};

// Where gate decisions go (the server's audit log): the object decided on
// ("promotion demo/prod.01h…", "stage demo/prod"), the decision
// ("gate.hold", "gate.pass", "gate.closed", "gate.open", "auto-promotion")
// and what it rests on (the gate and its values). Called after the
// decision is in the store, so a crash between the two records it again
// when it is made again, never one that was not made.
using GateRecord = std::function<void(const std::string& target, const std::string& decision,
                                      const std::string& detail)>;

// The gates of `stage` at `now_ms`, from its namespace's ProjectConfig and
// the ClusterConfig; criteria read provenance through `provenance`. Only a
// store failure is an error.
Result<ProjectGates> ReadGates(store::Store& store, const model::Stage& stage, int64_t now_ms,
                               ProvenanceReader provenance);

// Whether the Project `ns` is in a deploy freeze at `now_ms`, as GitLab's
// CI_DEPLOY_FREEZE says it: a freeze period of its ProjectConfig or of the
// ClusterConfig that selects no particular Stage is active, or its line (or
// the server's) is stopped. The reason, or nullopt.
Result<std::optional<std::string>> DeployFreeze(store::Store& store, const std::string& ns,
                                                int64_t now_ms);

}  // namespace strake::delivery
