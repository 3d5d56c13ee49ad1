// GitOps kinds as C++ values: Argo CD's argoproj.io/v1alpha1 Application and
// strake's strake.dev/v1 Repository, decoded strictly with the defaults Argo
// CD documents. Plain values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/duration.h"
#include "model/core.h"

namespace strake::model {

// One of directory.jsonnet's extVars or tlas: a string, or (code) jsonnet.
struct JsonnetVar {
  std::string name;
  std::string value;
  bool code = false;
};

// source.kustomize: Argo CD's overrides of the source's kustomization,
// applied to it as the `kustomize edit` commands Argo CD runs before the
// build (util/kustomize in Argo CD). Images, commonLabels (and, when
// commonAnnotationsEnvsubst says so, commonAnnotations) are written with
// Argo CD's $ARGOCD_APP_* variables and expanded when rendered.
struct KustomizeOverrides {
  std::string name_prefix;
  std::string name_suffix;
  std::string ns;
  // `kustomize edit set image` arguments: [NAME=]NEWNAME[:TAG][@DIGEST].
  std::vector<std::string> images;
  std::vector<std::pair<std::string, int>> replicas;  // name, count
  std::map<std::string, std::string> common_labels;
  std::map<std::string, std::string> common_annotations;
  bool force_common_labels = false;
  bool force_common_annotations = false;
  bool common_annotations_envsubst = false;
  bool label_without_selector = false;
  bool label_include_templates = false;
  Json patches = Json::array();  // kustomize's patches entries, appended to the kustomization's
  bool Empty() const;
  std::string Key() const;  // the overrides as one string, for caches
};

struct ApplicationSource {
  std::string repo_url;
  std::string path = ".";
  std::string target_revision = "HEAD";
  // source.directory
  bool recurse = false;
  std::string include;  // a glob, or "{a,b}" of globs; "" = every *.yaml, *.yml, *.json
  std::string exclude;
  bool kustomize = false;  // source.kustomize given (also chosen by a kustomization file)
  // source.directory.jsonnet: values as written (Argo CD's $ARGOCD_APP_*
  // variables are expanded when the source is rendered); libs are
  // directories of the repository, searched after the importing file's
  // own and source.path, the last given first.
  std::vector<JsonnetVar> jsonnet_ext_vars;
  std::vector<JsonnetVar> jsonnet_tlas;
  std::vector<std::string> jsonnet_libs;
  KustomizeOverrides kustomize_overrides;
};

struct IgnoreDifference {
  std::string group;  // "" = core
  std::string kind;
  std::string name;  // "" = any
  std::string ns;    // "" = any
  std::vector<std::string> json_pointers;
};

struct SyncRetry {
  int limit = 0;  // 0 = no retry (Argo: retry is off unless given); < 0 = forever
  Millis duration{5000};
  int factor = 2;
  Millis max_duration{180'000};
};

struct ApplicationSpec {
  std::string project = "default";
  ApplicationSource source;
  std::string destination_name = "local";
  std::string destination_namespace;  // default for resources without one
  bool automated = false;
  bool prune = false;
  bool self_heal = false;
  bool allow_empty = false;
  // syncPolicy.syncOptions, each checked against Argo CD's names and values
  // when decoded ("PruneLast=true", "PrunePropagationPolicy=background", ...).
  std::vector<std::string> sync_options;
  // syncPolicy.managedNamespaceMetadata: the labels and annotations of the
  // Namespace CreateNamespace=true makes.
  std::map<std::string, std::string> managed_namespace_labels;
  std::map<std::string, std::string> managed_namespace_annotations;
  std::optional<SyncRetry> retry;
  std::vector<IgnoreDifference> ignore_differences;
  int revision_history_limit = 10;
  bool SyncOption(const std::string& name) const;  // "Name=true" present
  // "Name=VALUE"'s value ("" when the option is not given).
  std::string SyncOptionValue(const std::string& name) const;
};

struct Application {
  ObjectMeta meta;
  ApplicationSpec spec;
};

struct RepositorySpec {
  std::string url;
  std::string secret_ref;  // Secret with username/password (http) or sshPrivateKey
  Millis poll_interval{60'000};
  std::string webhook_secret_ref;  // Secret with key "secret" (HMAC key, or GitLab token)
};

struct Repository {
  ObjectMeta meta;
  RepositorySpec spec;
};

// One of Argo CD's source parameter files in the source's directory
// (`.argocd-source.yaml`, `.argocd-source-<app>.yaml`): its path in the
// repository and its text.
struct SourceOverride {
  std::string file;
  std::string text;
};

// Argo CD's source parameter overrides (docs/user-guide/parameters.md):
// each file, in order, merged over the Application's spec.source as a JSON
// merge patch, and the result decoded as spec.source is. A file may set
// only what Argo CD takes from it (directory, kustomize, helm, plugin): any
// other field is an error with its place, as is what spec.source refuses.
Result<ApplicationSource> OverrideSource(const Json& application,
                                         const std::vector<SourceOverride>& overrides);

// The URL schemes a Repository (and an Application's repoURL) may use.
bool SupportedRepoUrl(const std::string& url);

// What is wrong with one of Argo CD's options (docs/user-guide/
// sync-options.md, compare-options.md), nullopt when strake honours it as
// docs/gitops.md says: an Application's syncOptions; a resource's
// argocd.argoproj.io/sync-options and compare-options annotations.
std::optional<std::string> SyncOptionProblem(const std::string& option);
std::optional<std::string> ResourceSyncOptionProblem(const std::string& option);
std::optional<std::string> CompareOptionProblem(const std::string& option);

}  // namespace strake::model
