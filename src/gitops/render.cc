#include "gitops/render.h"

#include <fmt/format.h>

#include "base/fs.h"
#include "base/strings.h"
#include "gitops/diff.h"
#include "gitops/kustomize.h"
#include "model/decode.h"

namespace strake::gitops {

bool MatchesGlobs(const std::string& globs, const std::string& path, bool empty_matches) {
  if (globs.empty()) return empty_matches;
  std::string g = globs;
  if (g.size() >= 2 && g.front() == '{' && g.back() == '}') g = g.substr(1, g.size() - 2);
  for (const auto& one : Split(g, ',')) {
    std::string p(Trim(one));
    if (p.empty()) continue;
    // A pattern without '/' matches a file's name at any depth, as Argo
    // CD's filepath.Match on the base name does.
    if (GlobMatch(p, path)) return true;
    if (p.find('/') == std::string::npos) {
      auto slash = path.rfind('/');
      if (slash != std::string::npos && GlobMatch(p, path.substr(slash + 1))) return true;
    }
  }
  return false;
}

namespace {

bool IsManifestFile(const std::string& path) {
  return EndsWith(path, ".yaml") || EndsWith(path, ".yml") || EndsWith(path, ".json");
}

bool IsKustomization(const std::string& name) {
  return name == "kustomization.yaml" || name == "kustomization.yml" || name == "Kustomization";
}

// Decodes every document as the API would take it, so that a bad manifest
// is refused before anything is applied. An Argo CD hook may have
// metadata.generateName instead of a name (it is named per sync): it is
// checked under a stand-in name, taken off again before this returns.
Status Validate(std::vector<model::Document>& docs) {
  std::vector<model::Node*> named;
  for (auto& d : docs) {
    if (!d.root.IsMap()) continue;
    const model::Node* meta = d.root.Get("metadata");
    if (!meta || !meta->IsMap() || meta->Get("name") || !meta->Get("generateName")) continue;
    const model::Node* ann = meta->Get("annotations");
    if (!ann || !ann->IsMap() || !ann->Get(kHook)) continue;
    for (auto& e : d.root.map) {
      if (e.key.scalar != "metadata") continue;
      model::Node key, value = *meta->Get("generateName");
      key.kind = model::Node::Kind::kScalar;
      key.scalar = "name";
      value.scalar += "xxxxx";  // as long as the suffix it will get
      e.value.map.push_back({std::move(key), std::move(value)});
      named.push_back(&e.value);
    }
  }
  model::Diagnostics diags;
  (void)model::Decode(docs, diags);
  for (model::Node* meta : named) meta->map.pop_back();
  if (diags.HasErrors()) return Fail(diags.ErrorText());
  return Ok();
}

}  // namespace

Result<Rendered> Render(const Mirror& mirror, const std::string& sha,
                        const model::ApplicationSource& source, const model::ParseLimits& limits) {
  STRAKE_TRY_ASSIGN(dir, CleanRepoPath(source.path));
  bool kustomized = false;
  std::string chart, jsonnet;  // a Helm chart's Chart.yaml; the first jsonnet file
  auto want = [&](const std::string& rel) {
    if (rel.find('/') == std::string::npos && IsKustomization(rel)) kustomized = true;
    if (rel == "Chart.yaml") chart = rel;
    if (EndsWith(rel, ".jsonnet") && jsonnet.empty() && MatchesGlobs(source.include, rel, true) &&
        !MatchesGlobs(source.exclude, rel, false)) {
      jsonnet = rel;
    }
    if (!IsManifestFile(rel)) return false;
    if (!MatchesGlobs(source.include, rel, true)) return false;
    return !MatchesGlobs(source.exclude, rel, false);
  };
  ReadLimits read;
  read.max_file_bytes = limits.max_bytes;
  STRAKE_TRY_ASSIGN(files, mirror.ReadDir(sha, dir, source.recurse, want, read));
  // What Argo CD would render with a tool strake does not have is refused,
  // never taken for plain manifests or skipped.
  std::string prefix = dir == "." ? "" : dir + "/";
  if (!chart.empty() && !kustomized) {
    return Failf(
        "{}{}: a Helm chart: Helm sources are not supported yet (render it with `helm template` "
        "and commit the manifests, or point the Application at them)",
        prefix, chart);
  }
  if (!jsonnet.empty() && !kustomized) {
    return Failf(
        "{}{}: jsonnet is not supported yet (render it with `jsonnet` and commit the JSON, or "
        "exclude it with directory.exclude)",
        prefix, jsonnet);
  }
  Rendered out;
  std::vector<model::Document> docs;
  if (kustomized || source.kustomize) {
    STRAKE_TRY_ASSIGN(objects, Kustomize(mirror, sha, dir, limits));
    for (auto& o : objects) docs.push_back({o.origin, model::FromJson(o.object)});
    STRAKE_TRY(Validate(docs));
    out.source_type = "Kustomize";
    for (auto& o : objects) out.objects.push_back({std::move(o.object), std::move(o.origin)});
    return out;
  }
  std::vector<std::string> errors;
  for (const auto& f : files) {
    auto parsed = model::ParseYaml(f.data, prefix + f.path, limits);
    if (!parsed) {
      errors.push_back(parsed.error().message);
      continue;
    }
    for (auto& d : *parsed) {
      // A List's items are objects of their own.
      if (d.root.IsMap() && d.root.Get("kind") && d.root.Get("kind")->scalar == "List" &&
          d.root.Get("items") && d.root.Get("items")->IsSeq()) {
        for (const auto& item : d.root.Get("items")->seq) docs.push_back({d.file, item});
        continue;
      }
      docs.push_back(std::move(d));
    }
  }
  if (!errors.empty()) return Fail(Join(errors, "\n"));
  STRAKE_TRY(Validate(docs));
  for (const auto& d : docs)
    out.objects.push_back({model::ToJson(d.root), model::PlaceOf(d.file, d.root)});
  return out;
}

}  // namespace strake::gitops
