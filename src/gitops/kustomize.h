// Kustomize, the subset Argo CD users lean on, built in: a directory with a
// kustomization.yaml (or .yml, or Kustomization) renders to the objects
// `kustomize build` would give, read from the mirror at one commit.
//
// Supported: resources (files and directories with their own kustomization,
// anywhere inside the repository) and the older `bases`; generators
// (configMapGenerator, secretGenerator: literals, files, envs, behavior
// create/merge/replace, options and generatorOptions, with kustomize's own
// name-hash suffix); patches (strategic merge for the kinds strake knows —
// containers, env, ports, volumes... merged by key, `$patch: delete` — and
// JSON 6902, by target or by the patch's kind and name), the older
// patchesStrategicMerge and patchesJson6902; namespace; namePrefix and
// nameSuffix; commonLabels and labels (with includeSelectors /
// includeTemplates); commonAnnotations; images (newName, newTag, digest);
// replicas. References to renamed ConfigMaps, Secrets and Services in pod
// templates (env, envFrom, volumes) and in a Rollout's services follow the
// new names. Everything else kustomize has (components, helmCharts,
// replacements, vars, remote resources...) is an error naming the field.
//
// Every path is resolved inside the repository: `../..` that leaves it is
// an error with file:line:col, as is a cycle of kustomizations. Pure given
// the mirror's content.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "gitops/git.h"
#include "model/gitops.h"
#include "model/node.h"

namespace strake::gitops {

struct KustomizedObject {
  model::Json object;
  std::string origin;  // "base/deploy.yaml:1:1", or the kustomization of a generated one
};

// The files of one commit, all a build reads. Paths are clean repository
// paths (CleanRepoPath). A mirror at a SHA in production; the fuzz target
// (fuzz/fuzz_kustomize.cc) builds from files held in memory.
class RepoTree {
 public:
  virtual ~RepoTree() = default;
  // A file's content, nullopt if there is none; an error for a directory or
  // a file over `limits`.
  virtual Result<std::optional<std::string>> ReadFile(const std::string& path,
                                                      const ReadLimits& limits) const = 0;
  // True if `path` is a directory, false if it is a file or missing.
  virtual Result<bool> IsDir(const std::string& path) const = 0;
  // The commit, as a message names it ("0123456789ab").
  virtual std::string Revision() const = 0;
};

// Builds the kustomization in `dir` (a clean repository path) of `mirror`
// at commit `sha`; `edits`, an Application's spec.source.kustomize, change
// that kustomization first, as Argo CD's `kustomize edit` commands do.
Result<std::vector<KustomizedObject>> Kustomize(const Mirror& mirror, const std::string& sha,
                                                const std::string& dir,
                                                const model::ParseLimits& limits = {},
                                                const model::KustomizeOverrides* edits = nullptr);
Result<std::vector<KustomizedObject>> Kustomize(const RepoTree& tree, const std::string& dir,
                                                const model::ParseLimits& limits = {},
                                                const model::KustomizeOverrides* edits = nullptr);

// Kubernetes strategic merge of `patch` into `target` for the list fields
// strake knows (merged by their key); other lists replace; null deletes.
model::Json StrategicMerge(model::Json target, const model::Json& patch);

// kustomize's name suffix of a generated ConfigMap or Secret (10 characters).
std::string KustomizeHash(const model::Json& object);

}  // namespace strake::gitops
