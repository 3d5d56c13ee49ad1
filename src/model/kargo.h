// Kargo's kinds (kargo.akuity.io/v1alpha1) as C++ values: Project,
// Warehouse and Freight, decoded strictly with Kargo's field names and
// defaults (api/v1alpha1/*_types.go, pkg/subscription/schemas/git.json at
// akuity/kargo 1c764767). Plain values.
//
// What strake does not act on yet is refused where it is written, never
// accepted and dropped: a Warehouse's image, chart and generic
// subscriptions and freightCreationCriteria. Kargo's other kinds (Stage, Promotion,
// PromotionTask, ClusterPromotionTask, ProjectConfig) are refused at apply
// with the same words until they are acted on.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/duration.h"
#include "model/core.h"

namespace strake::model {

inline constexpr const char* kKargoApiVersion = "kargo.akuity.io/v1alpha1";

// Where Freight comes from: kind is always "Warehouse".
struct FreightOrigin {
  std::string kind = "Warehouse";
  std::string name;
  std::string String() const { return kind + "/" + name; }  // "Warehouse/x", as Kargo persists it
  bool operator==(const FreightOrigin&) const = default;
};

// A warehouse's git subscription (Kargo's GitSubscription).
struct GitSubscription {
  std::string repo_url;
  // NewestFromBranch (default), SemVer, Lexical, NewestTag.
  std::string commit_selection_strategy = "NewestFromBranch";
  std::string branch;             // NewestFromBranch: "" = the remote's default branch
  std::string semver_constraint;  // SemVer: Masterminds' syntax ("" = any version)
  bool strict_semvers = true;
  std::vector<std::string> allow_tags_regexes;   // tag strategies
  std::vector<std::string> ignore_tags_regexes;  // tag strategies, checked first
  // A plain string is a path prefix; "glob:" a glob; "regex:"/"regexp:" an
  // unanchored RE2. A commit is kept when one of its changed paths is
  // included (or no include is given) and not excluded.
  std::vector<std::string> include_paths;
  std::vector<std::string> exclude_paths;
  // expr-lang over the commit (id, commitDate, author, committer, subject)
  // or the tag (tag, id, creatorDate, author, committer, subject, tagger,
  // annotation); true keeps it. "" = none.
  std::string expression_filter;
  int discovery_limit = 20;  // 1..100
  std::string since;         // RFC 3339; NewestFromBranch only ("" = none)
  bool insecure_skip_tls_verify = false;
};

struct WarehouseSubscription {
  std::string name;  // optional, an RFC 1123 label unique in the Warehouse
  GitSubscription git;
};

struct WarehouseSpec {
  Millis interval{300'000};  // Kargo's default 5m0s
  bool manual = false;       // freightCreationPolicy: Manual
  std::vector<WarehouseSubscription> subscriptions;
};

struct Warehouse {
  ObjectMeta meta;
  WarehouseSpec spec;
};

// A commit that Freight references (Kargo's GitCommit).
struct FreightCommit {
  std::string repo_url;
  std::string id;
  std::string branch;
  std::string tag;
  std::string message;
  std::string author;
  std::string committer;
  std::string subscription_name;
};

// Freight: immutable; its name is the fingerprint of what it references
// (delivery/freight.h FreightName). Kargo's fields sit beside metadata.
struct Freight {
  ObjectMeta meta;
  std::string alias;
  FreightOrigin origin;
  std::vector<FreightCommit> commits;
};

// Kargo's Project: a namespace of the same name (cluster-scoped).
struct Project {
  ObjectMeta meta;
};

// Kargo's NormalizeGit (pkg/urls/git.go): lower case, spaces and control
// characters trimmed; for http(s) and ssh URLs no trailing "/" or ".git",
// and http(s) without userinfo; the scp form user@host:path becomes
// ssh://user@host/path. A URL with a query string is returned as it came.
// How Kargo compares repositories and names Freight.
std::string NormalizeGitUrl(const std::string& url);

// Freight's fields as JSON (as Kargo writes them: camelCase, empty ones
// left out), and back.
Json FreightCommitToJson(const FreightCommit& c);
FreightCommit FreightCommitFromJson(const Json& j);

}  // namespace strake::model
