// Store: where every resource and every state change lives. (Step logs are
// files under the data directory, indexed by their TaskRun's status.)
//
// Resources are Kubernetes-shaped JSON objects keyed by (kind, namespace,
// name), each with a uid, a generation (bumped on spec changes) and a
// resourceVersion, which is the global revision of its last write. Every
// write appends a Change to one ordered log in the same transaction: the
// change log is both the watch stream and the event history, so no state
// change can happen without its event. Writes with expected_version != 0
// fail with a conflict if the resource moved on (optimistic concurrency).
// A failed write's Error says why by its code: kConflict, kNotFound,
// kAlreadyExists, kUnavailable (SQLite busy, locked or out of disk).
//
// Implementations are thread-safe. A returned Status is durable against a
// crash of strake (kill -9) once it is returned.
#pragma once

#include <climits>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace strake::store {

using Json = nlohmann::ordered_json;

struct Key {
  std::string kind;
  std::string ns;
  std::string name;
  std::string ToString() const { return kind + "/" + ns + "/" + name; }
};

struct Resource {
  Key key;
  std::string uid;
  int64_t generation = 0;
  int64_t resource_version = 0;
  int64_t created_ms = 0;
  std::string owner;  // uid of the owning resource, "" if none
  std::map<std::string, std::string> labels;
  Json object;  // apiVersion, kind, metadata, spec as given
  Json status;  // written by controllers

  // The label's value, `otherwise` when it has none.
  std::string Label(const std::string& name, const std::string& otherwise = "") const {
    auto it = labels.find(name);
    return it == labels.end() ? otherwise : it->second;
  }
};

// One deployment as DORA counts it (insight/ gives the fields their
// meaning: docs/dora.md), with the commits it brought to its environment.
struct DeploymentRecord {
  std::string id;  // "Application/ns/name#3", "Promotion/ns/name"
  std::string ns;  // the namespace (a Kargo Project, an Argo CD project's apps)
  std::string environment;
  std::string tier;      // "production", "staging", "testing", "development", "other"
  std::string revision;  // what it deployed: a commit, a Freight
  // What ran in the environment once it finished: per repository, a commit
  // (the next deployment's changes start from these).
  struct Head {
    std::string repo_url;
    std::string sha;
    bool operator==(const Head&) const = default;
  };
  std::vector<Head> heads;
  int64_t finished_ms = 0;
  bool unplanned = false;
  std::optional<int64_t> failed_ms;    // when it was found failed
  std::optional<int64_t> restored_ms;  // when service came back
  std::string failure;                 // why it failed: "verification failed: …"
  // The Incident ("ns/name") that found it failed: restored when that
  // incident closes, not by the next deployment.
  std::string incident;
  // The Incident that made it unplanned (it finished while that one was
  // open); "" when planned, or unplanned for another reason (a rollback).
  std::string rework_by;
  struct Commit {
    std::string sha;
    int64_t committed_ms = 0;
    bool operator==(const Commit&) const = default;
  };
  std::vector<Commit> changes;
  // False while the commits could not be read (a repository unreachable):
  // looked for again. True with no changes: it brought none (a rollback,
  // a redeploy).
  bool changes_known = true;
  bool operator==(const DeploymentRecord&) const = default;
};

// Which deployment records to read: those of namespace `ns` ("" = all)
// that finished or were restored within [from_ms, to_ms].
struct DeploymentFilter {
  std::string ns;
  int64_t from_ms = INT64_MIN;
  int64_t to_ms = INT64_MAX;
};

struct Change {
  int64_t revision = 0;
  Key key;
  std::string type;    // ADDED, MODIFIED, DELETED
  std::string reason;  // e.g. Running, Succeeded, Failed
  std::string message;
  int64_t time_ms = 0;
};

// Which changes to read: an empty field matches every value.
struct ChangeFilter {
  std::string kind;
  std::string ns;
  std::string name;
};

class Store {
 public:
  virtual ~Store() = default;

  // Creates r (uid assigned if empty); fails if the key exists.
  virtual Result<Resource> Create(Resource r, const std::string& reason,
                                  const std::string& message) = 0;
  virtual Result<std::optional<Resource>> Get(const Key& key) = 0;
  // Resources of a kind in a namespace ("" = all), optionally owned by `owner`.
  virtual Result<std::vector<Resource>> List(const std::string& kind, const std::string& ns,
                                             const std::string& owner = "") = 0;
  // As List (no owner), without reading objects and statuses: each
  // resource's identity, versions and labels (object and status null). For
  // a caller that keeps its own copy of what it saw at each resource_version
  // (every write gives a resource a new one, the global revision).
  virtual Result<std::vector<Resource>> ListHeads(const std::string& kind,
                                                  const std::string& ns) = 0;
  // Replaces status; the change records reason and message. Returns the
  // resource's identity, new version and status (its object is not loaded).
  virtual Result<Resource> UpdateStatus(const Key& key, const Json& status,
                                        int64_t expected_version, const std::string& reason,
                                        const std::string& message) = 0;
  // Replaces the object (spec, labels); bumps generation if spec changed.
  virtual Result<Resource> Update(const Resource& r, int64_t expected_version) = 0;
  virtual Status Delete(const Key& key) = 0;

  // The changes after `revision`, oldest first, at most `limit` of those
  // `filter` selects (filtered by the store, not after reading them all).
  virtual Result<std::vector<Change>> ChangesSince(int64_t revision, size_t limit,
                                                   const ChangeFilter& filter = {}) = 0;
  virtual Result<int64_t> Revision() = 0;
  // Calls fn after each committed change, on the writing thread, in order.
  // fn must be fast and must not write to the store.
  virtual void Subscribe(std::function<void(const Change&)> fn) = 0;

  // Ids that may be acted on once (webhook delivery ids, for their replay
  // window), kept apart from resources and the change log. MarkOnce records
  // `id` in `scope` at `time_ms` and returns true, or returns false if it is
  // recorded at or after `since_ms` already; it drops the scope's records
  // older than `since_ms` on the way. Atomic: of two concurrent calls for an
  // id, one gets true.
  virtual Result<bool> MarkOnce(const std::string& scope, const std::string& id, int64_t time_ms,
                                int64_t since_ms) = 0;
  // Forgets `id` (what it was marked for was not done after all).
  virtual Status UnmarkOnce(const std::string& scope, const std::string& id) = 0;

  // DORA's deployment records, apart from resources (they outlive the
  // history an Application or Stage keeps). PutDeployments writes each
  // record whole (its changes replaced), all of them or none.
  virtual Status PutDeployments(const std::vector<DeploymentRecord>& records) = 0;
  virtual Result<std::optional<DeploymentRecord>> GetDeployment(const std::string& id) = 0;
  // Calls fn with each record `filter` selects, changes included, in the
  // order they were first written; fn returns false to stop. Reads a page
  // at a time, so writers are not held off for the whole walk.
  virtual Status ForEachDeployment(const DeploymentFilter& filter,
                                   const std::function<bool(DeploymentRecord&)>& fn) = 0;
  // Of the records of `ns`'s `environment` but `except` (an id), the one
  // that finished last at or before `at_ms` (of two at the same instant,
  // the one first written later), among those whose revision is one of
  // `revisions` (empty: any).
  virtual Result<std::optional<DeploymentRecord>> LastDeploymentAt(
      const std::string& ns, const std::string& environment, int64_t at_ms,
      const std::string& except, const std::vector<std::string>& revisions = {}) = 0;
  // Of the same, the one that finished first at or after `at_ms`.
  virtual Result<std::optional<DeploymentRecord>> FirstDeploymentFrom(
      const std::string& ns, const std::string& environment, int64_t at_ms,
      const std::string& except) = 0;
  // Of the records of `ns` whose changes include commit `sha` (or one it
  // is a prefix of), the one that
  // finished first (in `environment`, if not ""); its tier production
  // first when no environment is given.
  virtual Result<std::optional<DeploymentRecord>> FirstBringing(const std::string& ns,
                                                                const std::string& environment,
                                                                const std::string& sha) = 0;
  // The records of `ns`'s `environment` that finished within [from_ms,
  // to_ms], in the order they were first written.
  virtual Result<std::vector<DeploymentRecord>> DeploymentsFinishedIn(
      const std::string& ns, const std::string& environment, int64_t from_ms, int64_t to_ms) = 0;
  // The records incident `incident` ("ns/name") found failed or made
  // unplanned, in the order they were first written.
  virtual Result<std::vector<DeploymentRecord>> MarkedByIncident(const std::string& incident) = 0;
  // The incidents ("ns/name") that records name as their failure or rework.
  virtual Result<std::vector<std::string>> IncidentsMarking() = 0;
  // The records of `ns`'s `environment` found failed at or before `at_ms`
  // and not restored by then (no restored_ms, or a later one), but those an
  // incident found (its close restores them).
  virtual Result<std::vector<DeploymentRecord>> FailuresOpenAt(const std::string& ns,
                                                               const std::string& environment,
                                                               int64_t at_ms) = 0;
};

using StorePtr = std::unique_ptr<Store>;

}  // namespace strake::store
