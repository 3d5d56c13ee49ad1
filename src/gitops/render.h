// Rendering: an Application's source at one commit, to the objects it
// declares. Pure given the mirror's content.
//
// Directory sources (Argo CD's default): every *.yaml, *.yml and *.json file
// of source.path (recursively with directory.recurse), filtered by
// directory.include/exclude globs ("*.yaml", "{a.yaml,prod/*}"), each
// parsed with the YAML limits (size, depth, alias expansion) and checked by
// the same strict decoder as `strake apply`. `kind: List` documents are
// flattened. Errors carry "path/in/repo.yaml:line:col" and the field path.
// Each *.jsonnet file the globs let in is evaluated (gitops/jsonnet.h) with
// the source's extVars, TLAs and libs, in its place among the other files;
// its output is one object or an array of them. A directory with a
// kustomization file is built by kustomize's rules (gitops/kustomize.h)
// instead. A Helm chart is refused by name.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "gitops/git.h"
#include "gitops/jsonnet.h"
#include "model/gitops.h"
#include "model/node.h"

namespace strake::gitops {

struct Manifest {
  model::Json object;
  std::string origin;  // "apps/web/deploy.yaml:3:1"
};

struct Rendered {
  std::string source_type = "Directory";
  std::vector<Manifest> objects;
  // Argo CD's Validate=false: the fields dropped from objects that set it
  // (or from every object), each "file:line:col: path: unknown field ...".
  std::vector<std::string> dropped_fields;
};

struct RenderOptions {
  model::ParseLimits limits;
  JsonnetEvaluator jsonnet;
  // false: the Application's syncOptions has Validate=false, so every
  // object's unknown fields are dropped (an object's own sync-options
  // annotation does it for that object).
  bool validate = true;
};

// `source`'s jsonnet values as given: expanded by the caller (ArgoEnvsubst).
Result<Rendered> Render(const Mirror& mirror, const std::string& sha,
                        const model::ApplicationSource& source, const RenderOptions& options = {});

// Argo CD's include/exclude: a glob, or "{glob1,glob2}"; "" matches all.
bool MatchesGlobs(const std::string& globs, const std::string& path, bool empty_matches);

}  // namespace strake::gitops
