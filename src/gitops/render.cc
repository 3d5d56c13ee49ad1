#include "gitops/render.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "base/duration.h"
#include "base/fs.h"
#include "base/strings.h"
#include "gitops/diff.h"
#include "gitops/kustomize.h"
#include "gitops/sync.h"
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

// Whether a document's own sync-options annotation says Validate=false.
bool ValidationOff(const model::Node& root) {
  const model::Node* meta = root.IsMap() ? root.Get("metadata") : nullptr;
  const model::Node* ann = meta && meta->IsMap() ? meta->Get("annotations") : nullptr;
  const model::Node* options = ann && ann->IsMap() ? ann->Get(kSyncOptions) : nullptr;
  if (!options || !options->IsScalar()) return false;
  model::Json annotations = {{kSyncOptions, options->scalar}};
  for (const auto& o : AnnotationList(annotations, kSyncOptions)) {
    if (o == "Validate=false") return true;
  }
  return false;
}

// The node a decoder path ("spec.containers[0]") names in a document, or
// nullptr.
model::Node* NodeAt(model::Node& root, const std::string& path) {
  model::Node* at = &root;
  if (path.empty()) return at;
  for (const auto& segment : Split(path, '.')) {
    size_t bracket = segment.find('[');
    std::string name = segment.substr(0, bracket);
    if (!at->IsMap()) return nullptr;
    model::Node* next = nullptr;
    for (auto& e : at->map) {
      if (e.key.scalar == name) next = &e.value;
    }
    if (!next) return nullptr;
    at = next;
    while (bracket != std::string::npos) {
      size_t close = segment.find(']', bracket);
      if (close == std::string::npos) return nullptr;
      size_t index = 0;
      const char* first = segment.data() + bracket + 1;
      const char* last = segment.data() + close;
      auto parsed = std::from_chars(first, last, index);
      if (parsed.ec != std::errc() || parsed.ptr != last) return nullptr;
      if (!at->IsSeq() || index >= at->seq.size()) return nullptr;
      at = &at->seq[index];
      bracket = segment.find('[', close);
    }
  }
  return at;
}

// Drops the field an "unknown field" diagnostic names from its document;
// false for any other diagnostic, or when the field is not found.
bool DropUnknownField(model::Node& root, const model::Diagnostic& d) {
  constexpr std::string_view kPrefix = "unknown field \"";
  if (!StartsWith(d.message, kPrefix)) return false;
  size_t end = d.message.find('"', kPrefix.size());
  if (end == std::string::npos) return false;
  std::string key = d.message.substr(kPrefix.size(), end - kPrefix.size());
  std::string parent;
  if (d.path != key) {
    if (!EndsWith(d.path, "." + key)) return false;
    parent = d.path.substr(0, d.path.size() - key.size() - 1);
  }
  model::Node* at = NodeAt(root, parent);
  if (!at || !at->IsMap()) return false;
  auto it = std::find_if(at->map.begin(), at->map.end(),
                         [&](const model::MapEntry& e) { return e.key.scalar == key; });
  if (it == at->map.end()) return false;
  at->map.erase(it);
  return true;
}

// Argo CD's Validate=false (`kubectl apply --validate=false`): an object's
// fields the API does not know are dropped, as the API server drops them,
// instead of refusing it. Any other error (a wrong type, a missing field)
// still refuses it, as the server does. Returns what was dropped.
std::vector<std::string> DropUnknownFields(std::vector<model::Document>& docs, bool validate) {
  std::vector<std::string> dropped;
  std::vector<bool> off(docs.size(), !validate);
  bool any = !validate;
  for (size_t i = 0; i < docs.size() && validate; ++i) {
    off[i] = ValidationOff(docs[i].root);
    any = any || off[i];
  }
  if (!any) return dropped;
  // Decoded together, so that the documents' own CRDs define their kinds.
  std::vector<model::Diagnostics> per_document;
  (void)model::DecodeEach(docs, per_document);
  for (size_t i = 0; i < docs.size(); ++i) {
    if (!off[i]) continue;
    for (const auto& diag : per_document[i].all()) {
      if (diag.severity == model::Diagnostic::Severity::kError &&
          DropUnknownField(docs[i].root, diag))
        dropped.push_back(diag.ToString());
    }
  }
  return dropped;
}

// Decodes every document as the API would take it, so that a bad manifest
// is refused before anything is applied. An Argo CD hook may have
// metadata.generateName instead of a name (it is named per sync): it is
// checked under a stand-in name, taken off again before this returns.
// Unknown fields are dropped first where Validate=false says so.
Status Validate(std::vector<model::Document>& docs, bool validate,
                std::vector<std::string>& dropped) {
  // First, while no stand-in name is in the documents (dropping moves map
  // entries, which the stand-ins below point into).
  dropped = DropUnknownFields(docs, validate);
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
    // Argo CD's source parameter files are read as such, not as manifests.
    if (rel.find('/') == std::string::npos && StartsWith(rel, ".argocd-source") &&
        EndsWith(rel, ".yaml")) {
      return false;
    }
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
    STRAKE_TRY_ASSIGN(objects,
                      Kustomize(mirror, sha, dir, options.limits, &source.kustomize_overrides));
    for (auto& o : objects) docs.push_back({o.origin, model::FromJson(o.object)});
    STRAKE_TRY(Validate(docs, options.validate, out.dropped_fields));
    out.source_type = "Kustomize";
    for (size_t i = 0; i < objects.size(); ++i) {
      if (!out.dropped_fields.empty()) objects[i].object = model::ToJson(docs[i].root);
      out.objects.push_back({std::move(objects[i].object), std::move(objects[i].origin)});
    }
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
  STRAKE_TRY(Validate(docs, options.validate, out.dropped_fields));
  for (const auto& d : docs) {
    // A jsonnet file's objects have no line of their own: the file says it.
    bool placed = d.root.mark.line > 0;
    out.objects.push_back(
        {model::ToJson(d.root), placed ? model::PlaceOf(d.file, d.root) : d.file});
  }
  return out;
}

}  // namespace strake::gitops
