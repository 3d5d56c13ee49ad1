// Kargo's kinds (kargo.akuity.io/v1alpha1) as C++ values: Project,
// ProjectConfig, Warehouse, Freight, Stage and Promotion, decoded strictly
// with Kargo's field names and defaults (api/v1alpha1/*_types.go,
// pkg/subscription/schemas/git.json, pkg/webhook/kubernetes at akuity/kargo
// 1c764767). Plain values.
//
// What strake does not act on yet is refused where it is written, never
// accepted and dropped: a Warehouse's chart subscriptions (and
// generic ones of a type other than strake's `artifact`) and
// freightCreationCriteria, a Stage's targets, the webhookReceivers
// and gitClient of a ProjectConfig or ClusterConfig. Which step kinds (`uses`) exist is the
// promotion runner's to say (delivery/), checked at apply.
#pragma once

#include <map>
#include <optional>
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

// A subscription to strake's own Artifacts (what PipelineRuns built,
// delivery/artifact.h), written as a Kargo generic subscription of type
// `artifact`: {config: {...}, discoveryLimit}. Every field of config
// narrows; none given takes every Artifact of the namespace.
struct ArtifactSubscription {
  std::string pipeline;  // config.pipeline: the Pipeline (or Pipelines-as-Code run) that built it
  std::string repo_url;  // config.repoURL: built from a commit of this repository
  std::string branch;    // config.branch: built from a push to this branch
  std::string result;    // config.result: its name (IMAGE, WEB_IMAGE, ARTIFACT...)
  std::string type;      // config.type: "image" or "artifact"; "" = either
  int discovery_limit = 20;  // 1..100
};

// A warehouse's image subscription (Kargo's ImageSubscription): the tags of
// an OCI repository, read from its registry (delivery/image_discovery.h).
struct ImageSubscription {
  std::string repo_url;  // no tag, no digest: "ghcr.io/akuity/guestbook"
  // SemVer (default), Lexical, NewestBuild, Digest.
  std::string image_selection_strategy = "SemVer";
  // SemVer: a Masterminds constraint ("" = any version); Digest: the
  // (mutable) tag to follow, required; others: unused.
  std::string constraint;
  bool strict_semvers = true;                    // SemVer only
  std::vector<std::string> allow_tags_regexes;   // not Digest
  std::vector<std::string> ignore_tags_regexes;  // not Digest; checked first
  std::string platform;                          // "os/arch[/variant]"; "" = any
  int discovery_limit = 20;                      // 1..100
  bool insecure_skip_tls_verify = false;
};

struct WarehouseSubscription {
  std::string name;  // optional, an RFC 1123 label unique in the Warehouse (required for artifact)
  GitSubscription git;
  std::optional<ArtifactSubscription> artifact;  // set: an artifact subscription (`git` unused)
  std::optional<ImageSubscription> image;        // set: an image subscription (`git` unused)
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

// An image that Freight references (Kargo's Image): the tag it was found by
// and the digest it named then (an index's, for a multi-platform image).
struct FreightImage {
  std::string repo_url;
  std::string tag;
  std::string digest;
  std::map<std::string, std::string> annotations;
  std::string subscription_name;
};

// An artifact that Freight references (Kargo's ArtifactReference): its
// type (strake's: "image" or "artifact"), the subscription that found it,
// its version (the digest) and metadata (strake's: the Artifact object's
// name, uri, digest, the PipelineRun and commit that built it).
struct FreightArtifact {
  std::string artifact_type;
  std::string subscription_name;
  std::string version;
  Json metadata = Json::object();
};

// Freight: immutable; its name is the fingerprint of what it references
// (delivery/freight.h FreightName). Kargo's fields sit beside metadata.
struct Freight {
  ObjectMeta meta;
  std::string alias;
  FreightOrigin origin;
  std::vector<FreightCommit> commits;
  std::vector<FreightImage> images;
  std::vector<FreightArtifact> artifacts;
};

// Kargo's Project: a namespace of the same name (cluster-scoped).
struct Project {
  ObjectMeta meta;
};

// A named `${{ }}` template (Kargo's ExpressionVariable).
struct ExpressionVariable {
  std::string name;
  std::string value;
};

// One promotion step (Kargo's PromotionStep with `uses`).
struct PromotionStepSpec {
  std::string uses;       // "" when the step runs a task
  std::string task_name;  // task.name: a PromotionTask (or ClusterPromotionTask) to run
  std::string task_kind;  // task.kind: "PromotionTask" (default) or "ClusterPromotionTask"
  std::string as;         // "" = step-N
  std::string if_expr;    // "" = none
  bool continue_on_error = false;
  int error_threshold = 0;        // retry.errorThreshold; 0 = the step kind's default
  std::optional<Millis> timeout;  // retry.timeout; nullopt = the step kind's default
  std::vector<ExpressionVariable> vars;
  Json config;  // any JSON value, templates evaluated when the step runs; null = none
};

// Kargo's PromotionTask (namespaced) and ClusterPromotionTask: reusable
// steps a Stage's promotion template runs with `task:`, inflated into the
// Promotion's steps when it is made (delivery/promotion_task.h). A var
// without a value must be given by the step or the template.
struct PromotionTask {
  ObjectMeta meta;
  bool cluster = false;
  std::vector<ExpressionVariable> vars;
  std::vector<PromotionStepSpec> steps;  // never `task`: tasks do not nest
};

// Where a Stage takes Freight of one origin from (Kargo's FreightSources).
struct FreightSources {
  bool direct = false;              // from the Warehouse itself
  std::vector<std::string> stages;  // verified in these upstream Stages
  Millis required_soak{0};          // that long in an upstream Stage first
  bool all = false;                 // availabilityStrategy All (else OneOf)
  bool match_upstream = false;      // autoPromotionOptions.selectionPolicy MatchUpstream
};

struct FreightRequest {
  FreightOrigin origin;
  FreightSources sources;
};

// How a Stage verifies the Freight a Promotion brought (Kargo's
// Verification): an AnalysisRun of these templates, with these args
// (`${{ }}` templates) and metadata.
struct AnalysisTemplateRef {
  std::string name;
  bool cluster = false;  // kind ClusterAnalysisTemplate
};

struct Verification {
  std::vector<AnalysisTemplateRef> templates;
  std::map<std::string, std::string> run_labels;       // analysisRunMetadata.labels
  std::map<std::string, std::string> run_annotations;  // analysisRunMetadata.annotations
  std::vector<ExpressionVariable> args;
};

struct StageSpec {
  std::optional<Verification> verification;
  std::vector<ExpressionVariable> vars;
  std::vector<FreightRequest> requested_freight;
  std::vector<ExpressionVariable> template_vars;  // promotionTemplate.spec.vars
  std::vector<PromotionStepSpec> steps;           // promotionTemplate.spec.steps
};

struct Stage {
  ObjectMeta meta;
  StageSpec spec;
};

// A request to move a Stage to a Freight. Steps and vars empty when
// applied: the Stage's promotionTemplate fills them at apply (what Kargo's
// promote API does), and the spec is immutable after.
struct PromotionSpec {
  std::string stage;
  std::string freight;
  std::vector<ExpressionVariable> vars;
  std::vector<PromotionStepSpec> steps;
};

struct Promotion {
  ObjectMeta meta;
  PromotionSpec spec;
};

// Which Stages a promotion policy covers: a name ("regex:…", "glob:…" or
// exact), labels, or both.
struct StageSelector {
  std::string name;
  std::map<std::string, std::string> match_labels;
};

// Kargo's AutoRollbackConfig (Kargo Enterprise): which terminal phases send
// a Stage back to its stable Freight. onVerification takes Failed and Error
// (an AnalysisRun's phases; default [Failed]), onPromotion Failed and Errored
// (default none).
struct AutoRollback {
  std::vector<std::string> on_verification{"Failed"};
  std::vector<std::string> on_promotion;
};

struct PromotionPolicy {
  StageSelector selector;
  bool auto_promotion_enabled = false;
  std::optional<AutoRollback> auto_rollback;
};

// A time window that allows or denies promotions to the Stages it selects
// (Kargo's PromotionWindow, which Kargo enforces only in its Enterprise
// edition): one interval from dtstart to dtend, or, with an RFC 5545
// `rrule`, one of that length at each occurrence. Checked at decode.
struct PromotionWindow {
  std::string name;
  std::optional<StageSelector> stage_selector;    // none: every Stage of the Project
  std::optional<StageSelector> project_selector;  // a ClusterConfig's; none: every Project
  bool deny = false;                              // kind: Deny, else Allow
  std::string rrule, dtstart, dtend;
};

// A deploy freeze as GitLab writes one (freeze_start, freeze_end,
// cron_timezone; camelCased here as Kargo's fields are): frozen from each
// time `freeze_start` fires until `freeze_end` next fires, both read on the
// wall clock of `cron_timezone`. It denies promotions as a Deny window does,
// and while it holds, pipeline steps of the Project see CI_DEPLOY_FREEZE=true.
// Checked at decode.
struct FreezePeriod {
  std::string name;
  std::optional<StageSelector> stage_selector;
  std::optional<StageSelector> project_selector;  // a ClusterConfig's
  std::string freeze_start, freeze_end;
  std::string cron_timezone = "UTC";
};

// What a stopped line still lets through: the Freight named (by name, its
// fingerprint; an alias can be moved) into the Stages selected (none: any), in the Projects
// selected (a ClusterConfig's; none: any).
struct LineException {
  std::string name;
  std::vector<std::string> freight;
  std::optional<StageSelector> stage_selector;
  std::optional<StageSelector> project_selector;
};

// "Stop the line" (Kargo #1422): while a ProjectConfig (or the ClusterConfig)
// carries one, no Promotion starts in the Project (anywhere), whatever the
// windows say, but those an exception lets through. `reason` says why.
struct LineStop {
  std::string reason;
  std::vector<LineException> exceptions;
};

// A promotion criterion (strake's): an expr-lang expression over the
// Freight, its evidence and its history that must be true for a Promotion
// of it into the Stages selected to start (delivery/criteria.h says what
// it sees). The expression is compiled at apply.
struct PromotionCriterion {
  std::string name;
  std::optional<StageSelector> stage_selector;    // none: every Stage of the Project
  std::optional<StageSelector> project_selector;  // a ClusterConfig's; none: every Project
  std::string expression;
};

// An approval policy (strake's; Kargo #3440): every Promotion into the
// Stages selected, asked for by a person or by the server, waits until it
// has the approvals Kargo's wait-for-approval step would ask for (approvers
// by claim or role, minApprovals distinct users, no self-approval unless
// allowed; an eligible rejection fails it), whatever the Stage's own steps
// say. `rules` is that step's config ({approvers, minApprovals,
// allowSelfApproval}), read by delivery/approval.h.
struct ApprovalPolicy {
  std::string name;
  std::optional<StageSelector> stage_selector;    // none: every Stage of the Project
  std::optional<StageSelector> project_selector;  // a ClusterConfig's; none: every Project
  Json rules = Json::object();
};

// Kargo's ProjectConfig: named as its Project, in the Project's namespace.
// freezePeriods, stopTheLine, promotionCriteria and approvalPolicies are
// strake's.
struct ProjectConfig {
  ObjectMeta meta;
  std::vector<PromotionPolicy> promotion_policies;
  std::vector<PromotionWindow> promotion_windows;
  std::vector<FreezePeriod> freeze_periods;
  std::optional<LineStop> stop_the_line;
  std::vector<PromotionCriterion> promotion_criteria;
  std::vector<ApprovalPolicy> approval_policies;
};

// Kargo's ClusterConfig (cluster-scoped, named "cluster"): the gates of
// every Project. promotionWindows as Kargo's (with projectSelector);
// freezePeriods and stopTheLine are strake's.
struct ClusterConfig {
  ObjectMeta meta;
  std::vector<PromotionWindow> promotion_windows;
  std::vector<FreezePeriod> freeze_periods;
  std::optional<LineStop> stop_the_line;
  std::vector<PromotionCriterion> promotion_criteria;
  std::vector<ApprovalPolicy> approval_policies;
};
inline constexpr const char* kClusterConfigName = "cluster";

// Kargo's reserved step aliases (ReservedStepAliasRegex): step-N, task-N.
bool IsReservedStepAlias(const std::string& alias);

// Whether `selector` picks the Stage `name` with `labels` (Kargo's
// promotion policy matching: "regex:" unanchored RE2, "glob:" a shell
// glob, else the exact name; labels all equal).
bool SelectsStage(const StageSelector& selector, const std::string& name,
                  const std::map<std::string, std::string>& labels);

// Promotion steps and variables as JSON, as Kargo writes them (for the
// Promotion that a Stage's template fills).
Json PromotionStepToJson(const PromotionStepSpec& s);
Json ExpressionVariablesToJson(const std::vector<ExpressionVariable>& vars);

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
Json FreightImageToJson(const FreightImage& i);
FreightImage FreightImageFromJson(const Json& j);
Json FreightArtifactToJson(const FreightArtifact& a);
FreightArtifact FreightArtifactFromJson(const Json& j);

}  // namespace strake::model
