#include "gitops/render.h"

#include <fmt/format.h>

#include <chrono>

#include "base/duration.h"
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

namespace {

// A List's items are objects of their own.
void AddDocument(model::Document d, std::vector<model::Document>& docs) {
  if (d.root.IsMap() && d.root.Get("kind") && d.root.Get("kind")->scalar == "List" &&
      d.root.Get("items") && d.root.Get("items")->IsSeq()) {
    for (const auto& item : d.root.Get("items")->seq) docs.push_back({d.file, item});
    return;
  }
  docs.push_back(std::move(d));
}

// A jsonnet file's output, as Argo CD takes it: an array of objects, or one.
Status AddJsonnet(const Mirror& mirror, const std::string& sha,
                  const model::ApplicationSource& source, const std::string& dir,
                  const std::string& file, const JsonnetEvaluator& jsonnet,
                  std::vector<model::Document>& docs) {
  JsonnetRequest req;
  req.git_dir = mirror.path();
  req.sha = sha;
  req.file = dir == "." ? file : dir + "/" + file;
  req.jpaths.push_back(dir);
  req.jpaths.insert(req.jpaths.end(), source.jsonnet_libs.begin(), source.jsonnet_libs.end());
  req.ext_vars = source.jsonnet_ext_vars;
  req.tlas = source.jsonnet_tlas;
  STRAKE_TRY_ASSIGN(text, EvaluateJsonnet(jsonnet, req));
  model::Json out = model::Json::parse(text, nullptr, false);
  if (out.is_discarded()) return Failf("{}: jsonnet's output is not JSON", req.file);
  if (!out.is_array()) out = model::Json::array({std::move(out)});
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].is_object()) {
      return Failf("{}: jsonnet's output{} is a {}, not an object", req.file,
                   out.size() > 1 ? fmt::format(" [{}]", i) : "", out[i].type_name());
    }
    std::string origin = out.size() > 1 ? fmt::format("{}[{}]", req.file, i) : req.file;
    AddDocument({origin, model::FromJson(out[i])}, docs);
  }
  return Ok();
}

}  // namespace

Result<Rendered> Render(const Mirror& mirror, const std::string& sha,
                        const model::ApplicationSource& source, const RenderOptions& options) {
  STRAKE_TRY_ASSIGN(dir, CleanRepoPath(source.path));
  bool kustomized = false;
  std::string chart;  // a Helm chart's Chart.yaml
  auto want = [&](const std::string& rel) {
    if (rel.find('/') == std::string::npos && IsKustomization(rel)) kustomized = true;
    if (rel == "Chart.yaml") chart = rel;
    if (!IsManifestFile(rel) && !EndsWith(rel, ".jsonnet")) return false;
    if (!MatchesGlobs(source.include, rel, true)) return false;
    return !MatchesGlobs(source.exclude, rel, false);
  };
  ReadLimits read;
  read.max_file_bytes = options.limits.max_bytes;
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
  Rendered out;
  std::vector<model::Document> docs;
  if (kustomized || source.kustomize) {
    STRAKE_TRY_ASSIGN(objects, Kustomize(mirror, sha, dir, options.limits));
    for (auto& o : objects) docs.push_back({o.origin, model::FromJson(o.object)});
    STRAKE_TRY(Validate(docs));
    out.source_type = "Kustomize";
    for (auto& o : objects) out.objects.push_back({std::move(o.object), std::move(o.origin)});
    return out;
  }
  std::vector<std::string> errors;
  // One time budget for all of the source's jsonnet files together.
  JsonnetEvaluator jsonnet = options.jsonnet;
  jsonnet.limits.deadline = std::chrono::steady_clock::now() + jsonnet.limits.timeout;
  for (const auto& f : files) {
    if (EndsWith(f.path, ".jsonnet")) {
      if (std::chrono::steady_clock::now() >= jsonnet.limits.deadline) {
        errors.push_back(fmt::format(
            "{}{}: not evaluated: the source's jsonnet files ran longer than {} together", prefix,
            f.path, FormatDuration(options.jsonnet.limits.timeout)));
        continue;
      }
      if (auto s = AddJsonnet(mirror, sha, source, dir, f.path, jsonnet, docs); !s)
        errors.push_back(s.error().message);
      continue;
    }
    auto parsed = model::ParseYaml(f.data, prefix + f.path, options.limits);
    if (!parsed) {
      errors.push_back(parsed.error().message);
      continue;
    }
    for (auto& d : *parsed) AddDocument(std::move(d), docs);
  }
  if (!errors.empty()) return Fail(Join(errors, "\n"));
  STRAKE_TRY(Validate(docs));
  for (const auto& d : docs) {
    // A jsonnet file's objects have no line of their own: the file says it.
    bool placed = d.root.mark.line > 0;
    out.objects.push_back(
        {model::ToJson(d.root), placed ? model::PlaceOf(d.file, d.root) : d.file});
  }
  return out;
}

}  // namespace strake::gitops
