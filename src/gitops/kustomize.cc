#include "gitops/kustomize.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "base/regex.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "model/merge.h"

namespace strake::gitops {

using model::Json;
using model::Node;

namespace {

constexpr int kMaxDepth = 20;
// Kustomizations built in one build, a directory counted each time it is
// included: a diamond of resources (each level including the next four
// times) is exponential in its depth, a 1 KB repository a day of work.
constexpr int kMaxBuilds = 1000;

const char* const kKustomizationNames[] = {"kustomization.yaml", "kustomization.yml",
                                           "Kustomization"};

bool IsClusterScoped(const std::string& kind) {
  static const std::set<std::string> kinds = {
      "Namespace",    "ClusterRole",      "ClusterRoleBinding",     "CustomResourceDefinition",
      "StorageClass", "PersistentVolume", "ClusterAnalysisTemplate"};
  return kinds.count(kind) > 0;
}

bool IsWorkload(const std::string& kind) {
  return kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" ||
         kind == "ReplicaSet" || kind == "Rollout" || kind == "Job";
}

// One object of the build, with the name it was declared with.
struct Obj {
  Json json;
  std::string origin;
  std::string declared;
  bool hash = false;  // generated: its name gets kustomize's content hash

  std::string Kind() const { return json.value("kind", ""); }
  std::string Name() const { return json["metadata"].value("name", ""); }
};

struct Ctx {
  const RepoTree& tree;
  const model::ParseLimits& limits;
  ReadLimits read;
  std::vector<std::string> stack;
  int builds = 0;
  size_t bytes_read = 0;  // against read.max_total_bytes, a file counted each time it is read
  // An Application's overrides: the root kustomization's, taken by its build.
  const model::KustomizeOverrides* edits = nullptr;
};

// A file of the build, counted against the bytes one build may read.
Result<std::optional<std::string>> ReadCounted(Ctx& ctx, const std::string& path) {
  STRAKE_TRY_ASSIGN(data, ctx.tree.ReadFile(path, ctx.read));
  if (data) {
    ctx.bytes_read += data->size();
    if (ctx.bytes_read > ctx.read.max_total_bytes) {
      return Failf(ErrorCode::kTooLarge, "{}: the build has read more than {} bytes", path,
                   ctx.read.max_total_bytes);
    }
  }
  return data;
}

// A kustomization file being built: its path, for messages.
struct Here {
  const std::string& file;
  const std::string& dir;
};

Result<std::string> ResolvePath(const Here& k, const Node& at, const std::string& field,
                                const std::string& rel) {
  if (rel.find("://") != std::string::npos || StartsWith(rel, "github.com/") ||
      StartsWith(rel, "git@") || StartsWith(rel, "git::")) {
    return Failf("{}: {}: {}: remote resources are not supported; vendor it into this repository",
                 model::PlaceOf(k.file, at), field, Quote(rel));
  }
  if (StartsWith(rel, "/")) {
    return Failf("{}: {}: {}: an absolute path; name it relative to the kustomization",
                 model::PlaceOf(k.file, at), field, Quote(rel));
  }
  auto clean = CleanRepoPath(k.dir == "." ? rel : k.dir + "/" + rel);
  if (!clean) {
    return Failf("{}: {}: {} leaves the repository", model::PlaceOf(k.file, at), field, Quote(rel));
  }
  return *clean;
}

Result<std::string> ReadRepoFile(Ctx& ctx, const Here& k, const Node& at, const std::string& field,
                                 const std::string& path) {
  STRAKE_TRY_ASSIGN(data, ReadCounted(ctx, path));
  if (!data) {
    return Failf("{}: {}: {} does not exist at {}", model::PlaceOf(k.file, at), field, path,
                 ctx.tree.Revision());
  }
  return std::move(*data);
}

// The strings of a sequence field.
Result<std::vector<const Node*>> Scalars(const Here& k, const Node* n, const std::string& field) {
  std::vector<const Node*> out;
  if (!n || n->IsNull()) return out;
  if (!n->IsSeq()) return Failf("{}: {}: must be a list", model::PlaceOf(k.file, *n), field);
  for (size_t i = 0; i < n->seq.size(); ++i) {
    if (!n->seq[i].IsScalar())
      return Failf("{}: {}[{}]: must be a string", model::PlaceOf(k.file, n->seq[i]), field, i);
    out.push_back(&n->seq[i]);
  }
  return out;
}

Result<std::vector<const Node*>> Maps(const Here& k, const Node* n, const std::string& field) {
  std::vector<const Node*> out;
  if (!n || n->IsNull()) return out;
  if (!n->IsSeq()) return Failf("{}: {}: must be a list", model::PlaceOf(k.file, *n), field);
  for (size_t i = 0; i < n->seq.size(); ++i) {
    if (!n->seq[i].IsMap())
      return Failf("{}: {}[{}]: must be a mapping", model::PlaceOf(k.file, n->seq[i]), field, i);
    out.push_back(&n->seq[i]);
  }
  return out;
}

Status OnlyFields(const Here& k, const Node& n, const std::string& field,
                  std::initializer_list<const char*> allowed) {
  for (const auto& e : n.map) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || e.key.scalar == a;
    if (!ok) {
      return Failf("{}: {}.{}: unknown or unsupported field", model::PlaceOf(k.file, e.key), field,
                   e.key.scalar);
    }
  }
  return Ok();
}

std::map<std::string, std::string> StringMap(const Node* n) {
  std::map<std::string, std::string> out;
  if (!n || !n->IsMap()) return out;
  for (const auto& e : n->map) out[e.key.scalar] = e.value.scalar;
  return out;
}

std::string Scalar(const Node& n, const char* key) {
  const Node* v = n.Get(key);
  return v && v->IsScalar() ? v->scalar : "";
}

Status ParseManifests(const Ctx& ctx, const std::string& path, const std::string& data,
                      std::vector<Obj>& out) {
  STRAKE_TRY_ASSIGN(docs, model::ParseYaml(data, path, ctx.limits));
  auto add = [&](const Node& root) -> Status {
    if (!root.IsMap()) return Failf("{}: a manifest must be a mapping", model::PlaceOf(path, root));
    Json j = model::ToJson(root);
    if (!j.contains("metadata") || !j["metadata"].is_object()) j["metadata"] = Json::object();
    out.push_back({j, model::PlaceOf(path, root), j["metadata"].value("name", ""), false});
    return Ok();
  };
  for (const auto& d : docs) {
    const Node* kind = d.root.Get("kind");
    const Node* items = d.root.Get("items");
    if (kind && kind->scalar == "List" && items && items->IsSeq()) {
      for (const auto& item : items->seq) STRAKE_TRY(add(item));
    } else {
      STRAKE_TRY(add(d.root));
    }
  }
  return Ok();
}

// --- targets ---------------------------------------------------------------

// A target's kind or name: kustomize matches it as an anchored regular
// expression, compiled once per patch. Without `re` (a patch's own kind and
// name) it is matched literally.
struct Pattern {
  std::string text;
  std::optional<Regex> re;  // RE2, Go's syntax, as kustomize's

  bool Matches(const std::string& s) const {
    return text.empty() || text == s || (re && re->FullMatch(s));
  }
};

struct Target {
  std::string group, version;
  Pattern kind, name;
  std::string ns, label_selector, annotation_selector;
};

bool SelectorMatches(const std::string& selector, const Json& labels) {
  for (const auto& part : Split(selector, ',')) {
    std::string p(Trim(part));
    if (p.empty()) continue;
    auto eq = p.find('=');
    if (eq == std::string::npos) {
      if (!labels.is_object() || !labels.contains(p)) return false;
      continue;
    }
    bool negate = eq > 0 && p[eq - 1] == '!';
    std::string key(Trim(p.substr(0, negate ? eq - 1 : eq)));
    std::string value(Trim(p.substr(p[eq + 1] == '=' ? eq + 2 : eq + 1)));
    bool has = labels.is_object() && labels.contains(key) && labels[key].is_string() &&
               labels[key].get<std::string>() == value;
    if (has == negate) return false;
  }
  return true;
}

bool Matches(const Target& t, const Obj& o) {
  if (!t.kind.Matches(o.Kind())) return false;
  if (!t.name.Matches(o.Name()) && !t.name.Matches(o.declared)) return false;
  if (!t.ns.empty() && o.json["metadata"].value("namespace", "") != t.ns) return false;
  std::string api = o.json.value("apiVersion", "");
  auto slash = api.find('/');
  std::string group = slash == std::string::npos ? "" : api.substr(0, slash);
  std::string version = slash == std::string::npos ? api : api.substr(slash + 1);
  if (!t.group.empty() && t.group != group) return false;
  if (!t.version.empty() && t.version != version) return false;
  if (!t.label_selector.empty() &&
      !SelectorMatches(t.label_selector, o.json["metadata"].value("labels", Json::object())))
    return false;
  if (!t.annotation_selector.empty() &&
      !SelectorMatches(t.annotation_selector,
                       o.json["metadata"].value("annotations", Json::object())))
    return false;
  return true;
}

Result<Target> ReadTarget(const Here& k, const Node& n, const std::string& field) {
  if (!n.IsMap()) return Failf("{}: {}: must be a mapping", model::PlaceOf(k.file, n), field);
  STRAKE_TRY(OnlyFields(
      k, n, field,
      {"group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector"}));
  Target t{Scalar(n, "group"),
           Scalar(n, "version"),
           {Scalar(n, "kind"), std::nullopt},
           {Scalar(n, "name"), std::nullopt},
           Scalar(n, "namespace"),
           Scalar(n, "labelSelector"),
           Scalar(n, "annotationSelector")};
  for (auto [p, key] : {std::pair{&t.kind, "kind"}, std::pair{&t.name, "name"}}) {
    if (p->text.empty()) continue;
    auto re = Regex::Compile(p->text);
    if (!re) {
      return Failf(ErrorCode::kInvalid, "{}: {}.{}: {} is not a regular expression: {}",
                   model::PlaceOf(k.file, *n.Get(key)), field, key, Quote(p->text),
                   re.error().message);
    }
    p->re = std::move(*re);
  }
  return t;
}

// --- patches ---------------------------------------------------------------

// Applies the patch text (a strategic merge patch, or a JSON 6902 list) to
// the objects `target` selects (or, for a strategic merge patch without one,
// to the object of its own kind and name).
Status ApplyPatch(const Here& k, const Node& at, const std::string& field, const Ctx& ctx,
                  const std::string& text, const std::optional<Target>& target,
                  std::vector<Obj>& objs) {
  STRAKE_TRY_ASSIGN(docs, model::ParseYaml(text, k.file, ctx.limits));
  if (docs.empty()) return Failf("{}: {}: an empty patch", model::PlaceOf(k.file, at), field);
  for (const auto& d : docs) {
    Json patch = model::ToJson(d.root);
    bool json6902 = patch.is_array();
    if (json6902 && !target) {
      return Failf("{}: {}: a JSON 6902 patch needs a target", model::PlaceOf(k.file, at), field);
    }
    Target t;
    if (target) {
      t = *target;
    } else {
      if (!patch.is_object() || !patch.contains("kind") || !patch.contains("metadata") ||
          !patch["metadata"].contains("name")) {
        return Failf(
            "{}: {}: a strategic merge patch without a target names its kind and "
            "metadata.name",
            model::PlaceOf(k.file, at), field);
      }
      t.kind.text = patch.value("kind", "");
      t.name.text = patch["metadata"].value("name", "");
      t.ns = patch["metadata"].value("namespace", "");
    }
    int hits = 0;
    for (auto& o : objs) {
      if (!Matches(t, o)) continue;
      ++hits;
      if (json6902) {
        auto patched = model::JsonPatch(o.json, patch);
        if (!patched) {
          return Failf(patched.error().code, "{}: {}: {} {}: {}", model::PlaceOf(k.file, at), field,
                       o.Kind(), o.Name(), patched.error().message);
        }
        o.json = std::move(*patched);
      } else {
        Json p = patch;
        if (target && p.is_object() && p.contains("metadata")) {
          p["metadata"].erase("name");  // a targeted patch does not rename
          p["metadata"].erase("namespace");
        }
        o.json = StrategicMerge(std::move(o.json), p);
      }
      if (auto size = model::CheckObjectSize(o.json, o.Kind() + " " + o.Name()); !size) {
        return Failf(ErrorCode::kTooLarge, "{}: {}: {}", model::PlaceOf(k.file, at), field,
                     size.error().message);
      }
    }
    if (hits == 0) {
      return Failf("{}: {}: the patch matches no object (kind {}, name {})",
                   model::PlaceOf(k.file, at), field,
                   t.kind.text.empty() ? "any" : Quote(t.kind.text),
                   t.name.text.empty() ? "any" : Quote(t.name.text));
    }
  }
  return Ok();
}

// --- transformers ----------------------------------------------------------

void MergeInto(Json& at, const std::map<std::string, std::string>& pairs) {
  if (!at.is_object()) at = Json::object();
  for (const auto& [key, value] : pairs) at[key] = value;
}

void AddLabels(std::vector<Obj>& objs, const std::map<std::string, std::string>& pairs,
               bool selectors, bool templates) {
  for (auto& o : objs) {
    MergeInto(o.json["metadata"]["labels"], pairs);
    std::string kind = o.Kind();
    if (IsWorkload(kind) && o.json.contains("spec")) {
      if (selectors && kind != "Job") MergeInto(o.json["spec"]["selector"]["matchLabels"], pairs);
      if (selectors || templates)
        MergeInto(o.json["spec"]["template"]["metadata"]["labels"], pairs);
    }
    if (kind == "Service" && selectors) MergeInto(o.json["spec"]["selector"], pairs);
  }
}

// "reg:5000/app:v1@sha256:x" -> name "reg:5000/app".
std::string ImageName(const std::string& image) {
  std::string s = image.substr(0, image.find('@'));
  auto colon = s.rfind(':');
  auto slash = s.rfind('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
    s = s.substr(0, colon);
  return s;
}

std::vector<Json*> PodSpecs(Json& o) {
  std::vector<Json*> out;
  std::string kind = o.value("kind", "");
  if (!o.contains("spec") || !o["spec"].is_object()) return out;
  Json& spec = o["spec"];
  if (kind == "Pod") {
    out.push_back(&spec);
  } else if (kind == "CronJob") {
    if (spec.contains("jobTemplate")) {
      Json& t = spec["jobTemplate"];
      if (t.contains("spec") && t["spec"].contains("template") &&
          t["spec"]["template"].contains("spec"))
        out.push_back(&t["spec"]["template"]["spec"]);
    }
  } else if (spec.contains("template") && spec["template"].is_object() &&
             spec["template"].contains("spec")) {
    out.push_back(&spec["template"]["spec"]);
  }
  return out;
}

void ForEachContainer(Json& pod, const std::function<void(Json&)>& fn) {
  for (const char* list : {"initContainers", "containers"}) {
    if (!pod.contains(list) || !pod[list].is_array()) continue;
    for (auto& c : pod[list]) {
      if (c.is_object()) fn(c);
    }
  }
}

// The fields of `object` that name a ConfigMap, Secret or Service; `fn`
// gets the kind referred to and the field, which it may change.
void ForEachReference(Json& object, const std::function<void(const char*, Json&)>& fn) {
  auto name_at = [&](Json& holder, const char* key, const char* kind) {
    if (holder.is_object() && holder.contains(key) && holder[key].is_string())
      fn(kind, holder[key]);
  };
  for (Json* pod : PodSpecs(object)) {
    ForEachContainer(*pod, [&](Json& c) {
      if (c.contains("envFrom") && c["envFrom"].is_array()) {
        for (auto& e : c["envFrom"]) {
          if (e.contains("configMapRef")) name_at(e["configMapRef"], "name", "ConfigMap");
          if (e.contains("secretRef")) name_at(e["secretRef"], "name", "Secret");
        }
      }
      if (c.contains("env") && c["env"].is_array()) {
        for (auto& e : c["env"]) {
          if (!e.is_object() || !e.contains("valueFrom")) continue;
          Json& from = e["valueFrom"];
          if (from.contains("configMapKeyRef"))
            name_at(from["configMapKeyRef"], "name", "ConfigMap");
          if (from.contains("secretKeyRef")) name_at(from["secretKeyRef"], "name", "Secret");
        }
      }
    });
    if (pod->contains("volumes") && (*pod)["volumes"].is_array()) {
      for (auto& v : (*pod)["volumes"]) {
        if (!v.is_object()) continue;
        if (v.contains("configMap")) name_at(v["configMap"], "name", "ConfigMap");
        if (v.contains("secret")) name_at(v["secret"], "secretName", "Secret");
        if (v.contains("projected") && v["projected"].contains("sources")) {
          for (auto& s : v["projected"]["sources"]) {
            if (s.contains("configMap")) name_at(s["configMap"], "name", "ConfigMap");
            if (s.contains("secret")) name_at(s["secret"], "name", "Secret");
          }
        }
      }
    }
    if (pod->contains("imagePullSecrets") && (*pod)["imagePullSecrets"].is_array()) {
      for (auto& s : (*pod)["imagePullSecrets"]) name_at(s, "name", "Secret");
    }
  }
  if (object.value("kind", "") == "Rollout" && object.contains("spec") &&
      object["spec"].contains("strategy")) {
    Json& strategy = object["spec"]["strategy"];
    if (strategy.contains("canary")) {
      name_at(strategy["canary"], "canaryService", "Service");
      name_at(strategy["canary"], "stableService", "Service");
    }
    if (strategy.contains("blueGreen")) {
      name_at(strategy["blueGreen"], "activeService", "Service");
      name_at(strategy["blueGreen"], "previewService", "Service");
    }
  }
}

// --- generators --------------------------------------------------------------

// A generator's data: literals, files and env files, in that order (a
// Secret's values base64-encoded); {"data": {...}, "binaryData": {...}}.
// As kustomize: a ConfigMap's file that is not UTF-8 goes to binaryData.
Result<Json> GeneratorData(Ctx& ctx, const Here& k, const Node& g, const std::string& at,
                           const std::string& kind) {
  Json data = Json::object(), binary = Json::object();
  auto put = [&](const Node& where, const std::string& key, const std::string& value) -> Status {
    if (key.empty()) return Failf("{}: {}: an empty key", model::PlaceOf(k.file, where), at);
    if (kind == "Secret") {
      data[key] = Base64Encode(value);
    } else if (!IsValidUtf8(value)) {
      binary[key] = Base64Encode(value);
    } else {
      data[key] = value;
    }
    return Ok();
  };
  STRAKE_TRY_ASSIGN(literals, Scalars(k, g.Get("literals"), at + ".literals"));
  for (const Node* l : literals) {
    auto eq = l->scalar.find('=');
    if (eq == std::string::npos && kind == "Secret") {
      // Placed, never quoted: without its key it is still a Secret's value.
      return Failf(
          "{}: {}.literals: expected KEY=VALUE (the literal is not shown: it is a "
          "Secret's)",
          model::PlaceOf(k.file, *l), at);
    }
    if (eq == std::string::npos) {
      return Failf("{}: {}.literals: {}: expected KEY=VALUE", model::PlaceOf(k.file, *l), at,
                   Quote(l->scalar));
    }
    std::string value = l->scalar.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    STRAKE_TRY(put(*l, l->scalar.substr(0, eq), value));
  }
  STRAKE_TRY_ASSIGN(files, Scalars(k, g.Get("files"), at + ".files"));
  for (const Node* f : files) {
    std::string key, rel = f->scalar;
    if (auto eq = rel.find('='); eq != std::string::npos) {
      key = rel.substr(0, eq);
      rel = rel.substr(eq + 1);
    }
    STRAKE_TRY_ASSIGN(path, ResolvePath(k, *f, at + ".files", rel));
    if (key.empty()) key = path.substr(path.rfind('/') + 1);
    STRAKE_TRY_ASSIGN(content, ReadRepoFile(ctx, k, *f, at + ".files", path));
    STRAKE_TRY(put(*f, key, content));
  }
  std::vector<const Node*> envs;
  STRAKE_TRY_ASSIGN(env_list, Scalars(k, g.Get("envs"), at + ".envs"));
  envs = env_list;
  if (const Node* one = g.Get("env"); one && one->IsScalar()) envs.push_back(one);
  for (const Node* e : envs) {
    STRAKE_TRY_ASSIGN(path, ResolvePath(k, *e, at + ".envs", e->scalar));
    STRAKE_TRY_ASSIGN(content, ReadRepoFile(ctx, k, *e, at + ".envs", path));
    int line_no = 0;
    for (const auto& raw : Split(content, '\n')) {
      ++line_no;
      std::string line(Trim(raw));
      if (line.empty() || line[0] == '#') continue;
      auto eq = line.find('=');
      if (eq == std::string::npos) {
        return Failf(
            "{}:{}: {}: expected KEY=VALUE (a bare KEY would read strake's own "
            "environment)",
            path, line_no, at + ".envs");
      }
      STRAKE_TRY(put(*e, line.substr(0, eq), line.substr(eq + 1)));
    }
  }
  return Json{{"data", std::move(data)}, {"binaryData", std::move(binary)}};
}

// Sets an object's data and binaryData from a generator's, or merges them
// in; an empty binaryData is left out, as kustomize leaves it.
void PutGenerated(Json& object, const Json& generated, bool merge) {
  for (const char* field : {"data", "binaryData"}) {
    const Json& values = generated[field];
    if (!merge || !object.contains(field)) {
      if (values.empty() && std::string(field) == "binaryData") {
        if (!merge) object.erase(field);
        continue;
      }
      object[field] = values;
      continue;
    }
    for (const auto& [key, value] : values.items()) object[field][key] = value;
  }
}

struct GeneratorOptions {
  bool no_hash = false;
  std::map<std::string, std::string> labels, annotations;
};

// generatorOptions, then the generator's own.
Result<GeneratorOptions> ReadGeneratorOptions(const Here& k, const Node& g, const std::string& at,
                                              const Node* global_options) {
  GeneratorOptions o;
  for (const Node* opts : {global_options, g.Get("options")}) {
    if (!opts || !opts->IsMap()) continue;
    STRAKE_TRY(OnlyFields(k, *opts, at + ".options",
                          {"disableNameSuffixHash", "labels", "annotations", "immutable"}));
    if (const Node* d = opts->Get("disableNameSuffixHash")) o.no_hash = d->scalar == "true";
    for (const auto& [kk, v] : StringMap(opts->Get("labels"))) o.labels[kk] = v;
    for (const auto& [kk, v] : StringMap(opts->Get("annotations"))) o.annotations[kk] = v;
  }
  return o;
}

// One configMapGenerator or secretGenerator entry: a new object (behavior
// create), or merged into or replacing one the resources made.
Status GenerateOne(Ctx& ctx, const Here& k, const Node& g, const std::string& at,
                   const std::string& kind, const Node* global_options, std::vector<Obj>& objs) {
  STRAKE_TRY(OnlyFields(
      k, g, at,
      {"name", "namespace", "behavior", "literals", "files", "envs", "env", "options", "type"}));
  std::string name = Scalar(g, "name");
  if (name.empty()) return Failf("{}: {}.name: required", model::PlaceOf(k.file, g), at);
  std::string behavior = Scalar(g, "behavior");
  if (behavior.empty()) behavior = "create";
  if (behavior != "create" && behavior != "merge" && behavior != "replace") {
    return Failf("{}: {}.behavior: {} (create, merge or replace)", model::PlaceOf(k.file, g), at,
                 Quote(behavior));
  }
  STRAKE_TRY_ASSIGN(data, GeneratorData(ctx, k, g, at, kind));
  STRAKE_TRY_ASSIGN(opt, ReadGeneratorOptions(k, g, at, global_options));
  std::string ns = Scalar(g, "namespace");
  Obj* existing = nullptr;
  for (auto& o : objs) {
    if (o.Kind() == kind && (o.declared == name || o.Name() == name) &&
        (ns.empty() || o.json["metadata"].value("namespace", "") == ns))
      existing = &o;
  }
  if (behavior == "create") {
    if (existing) {
      return Failf("{}: {}: {} {} already exists; use behavior: merge or replace",
                   model::PlaceOf(k.file, g), at, kind, Quote(name));
    }
    Json obj = {{"apiVersion", "v1"}, {"kind", kind}, {"metadata", {{"name", name}}}};
    if (!ns.empty()) obj["metadata"]["namespace"] = ns;
    if (!opt.labels.empty()) MergeInto(obj["metadata"]["labels"], opt.labels);
    if (!opt.annotations.empty()) MergeInto(obj["metadata"]["annotations"], opt.annotations);
    if (kind == "Secret") {
      std::string type = Scalar(g, "type");
      obj["type"] = type.empty() ? "Opaque" : type;
    }
    PutGenerated(obj, data, false);
    objs.push_back({obj, model::PlaceOf(k.file, g), name, !opt.no_hash});
    return Ok();
  }
  if (!existing) {
    return Failf("{}: {}: behavior {} but no {} {} comes from the resources",
                 model::PlaceOf(k.file, g), at, behavior, kind, Quote(name));
  }
  PutGenerated(existing->json, data, behavior == "merge");
  if (!opt.labels.empty()) MergeInto(existing->json["metadata"]["labels"], opt.labels);
  if (!opt.annotations.empty())
    MergeInto(existing->json["metadata"]["annotations"], opt.annotations);
  if (opt.no_hash) existing->hash = false;
  return Ok();
}

Status Generate(Ctx& ctx, const Here& k, const Node* list, const std::string& field,
                const std::string& kind, const Node* global_options, std::vector<Obj>& objs) {
  STRAKE_TRY_ASSIGN(items, Maps(k, list, field));
  for (size_t i = 0; i < items.size(); ++i) {
    STRAKE_TRY(GenerateOne(ctx, k, *items[i], fmt::format("{}[{}]", field, i), kind, global_options,
                           objs));
  }
  return Ok();
}

// --- one kustomization --------------------------------------------------------

// Refuses to build `dir` again inside itself, deeper than kMaxDepth, or
// past kMaxBuilds; counts the build.
Status Enter(Ctx& ctx, const std::string& dir) {
  for (const auto& d : ctx.stack) {
    if (d == dir) {
      return Failf("{}: a cycle of kustomizations: {} -> {}", dir, Join(ctx.stack, " -> "), dir);
    }
  }
  if (static_cast<int>(ctx.stack.size()) >= kMaxDepth)
    return Failf("{}: kustomizations nest deeper than {}", dir, kMaxDepth);
  if (++ctx.builds > kMaxBuilds) {
    return Failf(ErrorCode::kTooLarge,
                 "{}: more than {} kustomizations built (directories included again and again?)",
                 dir, kMaxBuilds);
  }
  return Ok();
}

// A directory's kustomization file, parsed: one mapping.
struct Kustomization {
  std::string file;
  std::vector<model::Document> docs;
  const Node& root() const { return docs[0].root; }
};

Result<Kustomization> ReadKustomization(Ctx& ctx, const std::string& dir) {
  Kustomization kz;
  std::string text;
  for (const char* name : kKustomizationNames) {
    std::string path = dir == "." ? name : dir + "/" + name;
    STRAKE_TRY_ASSIGN(data, ReadCounted(ctx, path));
    if (data) {
      kz.file = path;
      text = std::move(*data);
      break;
    }
  }
  if (kz.file.empty()) return Failf("{}: a directory without a kustomization.yaml", dir);
  STRAKE_TRY_ASSIGN(docs, model::ParseYaml(text, kz.file, ctx.limits));
  if (docs.size() != 1 || !docs[0].root.IsMap())
    return Failf("{}: a kustomization is one mapping", kz.file);
  kz.docs = std::move(docs);
  return kz;
}

// Argo CD's spec.source.kustomize overrides, as the `kustomize edit`
// commands it runs change the kustomization before the build.
Node ScalarNode(std::string value, bool quoted = true) {
  Node n;
  n.kind = Node::Kind::kScalar;
  n.scalar = std::move(value);
  n.quoted = quoted;
  return n;
}

// The value at `key` of a mapping, added (null) when missing.
Node& Entry(Node& map, const std::string& key) {
  for (auto& e : map.map) {
    if (e.key.scalar == key) return e.value;
  }
  map.map.push_back({ScalarNode(key), Node{}});
  return map.map.back().value;
}

Node& Kinded(Node& n, Node::Kind kind) {
  if (n.kind != kind) {
    n = Node{};
    n.kind = kind;
  }
  return n;
}

// The item of a list of mappings whose `name` is `name`, added when none is.
Node& NamedItem(Node& list, const std::string& name) {
  Kinded(list, Node::Kind::kSeq);
  for (auto& item : list.seq) {
    const Node* n = item.IsMap() ? item.Get("name") : nullptr;
    if (n && n->scalar == name) return item;
  }
  list.seq.push_back(Node{});
  Node& fresh = Kinded(list.seq.back(), Node::Kind::kMap);
  Entry(fresh, "name") = ScalarNode(name);
  return fresh;
}

// `kustomize edit set image ARG`: [NAME=]NEWNAME[:TAG][@DIGEST] (kustomize's
// parseArg); an entry for the same image is updated, else one is added.
Status EditImage(const std::string& file, Node& root, const std::string& arg) {
  std::string name, new_name, tag, digest, rest = arg;
  auto eq = arg.find('=');
  bool renames = eq != std::string::npos;
  if (renames && (arg.find('=', eq + 1) != std::string::npos || eq + 1 == arg.size())) {
    return Failf("{}: spec.source.kustomize.images: {}: expected NAME=NEWNAME[:TAG|@DIGEST]", file,
                 Quote(arg));
  }
  if (renames) {
    name = arg.substr(0, eq);
    rest = arg.substr(eq + 1);
  }
  if (auto at = rest.find('@'); at != std::string::npos) {
    digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
  } else if (auto colon = rest.rfind(':');
             colon != std::string::npos && rest.find('/', colon) == std::string::npos) {
    tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  } else if (!renames) {
    return Failf(
        "{}: spec.source.kustomize.images: {}: an image needs a tag or a digest "
        "(NAME:TAG, NAME@DIGEST or NAME=NEWNAME[:TAG])",
        file, Quote(arg));
  }
  // kustomize's tag: letters, digits, '.', '_', '-', or "*" (keep the tag).
  if (tag != "*" && tag.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789._-") != std::string::npos) {
    return Failf("{}: spec.source.kustomize.images: {}: the tag {} has characters a tag cannot",
                 file, Quote(arg), Quote(tag));
  }
  (renames ? new_name : name) = rest;
  if (name.empty())
    return Failf("{}: spec.source.kustomize.images: {}: no image name", file, Quote(arg));
  Node& entry = NamedItem(Entry(root, "images"), name);
  if (!new_name.empty()) Entry(entry, "newName") = ScalarNode(new_name);
  if (!digest.empty()) {
    Entry(entry, "digest") = ScalarNode(digest);
    Entry(entry, "newTag") = ScalarNode("");
  } else if (!tag.empty() && tag != "*") {
    Entry(entry, "newTag") = ScalarNode(tag);
    Entry(entry, "digest") = ScalarNode("");
  }
  return Ok();
}

// `kustomize edit add label|annotation [--force] K:V...`: without force, a
// key the kustomization already has is an error, as kustomize says.
Status EditPairs(const std::string& file, Node& map, const char* what,
                 const std::map<std::string, std::string>& pairs, bool force,
                 const char* force_field) {
  Kinded(map, Node::Kind::kMap);
  for (const auto& [k, v] : pairs) {
    Node& value = Entry(map, k);
    if (!value.IsNull() && !force) {
      return Failf(
          "{}: spec.source.kustomize: {} {} is already in the kustomization ({} lets "
          "the Application's value replace it)",
          file, what, Quote(k), force_field);
    }
    value = ScalarNode(v);
  }
  return Ok();
}

Status ApplyEdits(const std::string& file, Node& root, const model::KustomizeOverrides& o) {
  if (!o.name_prefix.empty()) Entry(root, "namePrefix") = ScalarNode(o.name_prefix);
  if (!o.name_suffix.empty()) Entry(root, "nameSuffix") = ScalarNode(o.name_suffix);
  for (const auto& image : o.images) STRAKE_TRY(EditImage(file, root, image));
  for (const auto& [name, count] : o.replicas)
    Entry(NamedItem(Entry(root, "replicas"), name), "count") =
        ScalarNode(std::to_string(count), false);
  if (!o.common_labels.empty()) {
    if (o.label_without_selector) {
      // A `labels` entry without selectors (and with templates, as asked):
      // the one there is, else a new one.
      Node& labels = Kinded(Entry(root, "labels"), Node::Kind::kSeq);
      auto flag = [](const Node& set, const char* key) {
        const Node* v = set.Get(key);
        return v && v->scalar == "true";
      };
      Node* set = nullptr;
      for (auto& item : labels.seq) {
        if (item.IsMap() && !flag(item, "includeSelectors") &&
            flag(item, "includeTemplates") == o.label_include_templates)
          set = &item;
      }
      if (!set) {
        labels.seq.push_back(Node{});
        set = &Kinded(labels.seq.back(), Node::Kind::kMap);
        if (o.label_include_templates) Entry(*set, "includeTemplates") = ScalarNode("true", false);
      }
      STRAKE_TRY(EditPairs(file, Entry(*set, "pairs"), "label", o.common_labels,
                           o.force_common_labels, "forceCommonLabels"));
    } else {
      STRAKE_TRY(EditPairs(file, Entry(root, "commonLabels"), "label", o.common_labels,
                           o.force_common_labels, "forceCommonLabels"));
    }
  }
  if (!o.common_annotations.empty()) {
    STRAKE_TRY(EditPairs(file, Entry(root, "commonAnnotations"), "annotation", o.common_annotations,
                         o.force_common_annotations, "forceCommonAnnotations"));
  }
  if (!o.ns.empty()) Entry(root, "namespace") = ScalarNode(o.ns);
  if (!o.patches.empty()) {
    Node& patches = Kinded(Entry(root, "patches"), Node::Kind::kSeq);
    for (const auto& p : o.patches) patches.seq.push_back(model::FromJson(p));
  }
  return Ok();
}

// Every field is one strake builds, or refused with why (or a suggestion).
Status CheckFields(const std::string& file, const Node& root) {
  static const std::map<std::string, std::string> unsupported = {
      {"components", "components are not supported yet"},
      {"helmCharts", "Helm charts are not supported yet"},
      {"helmChartInflationGenerator", "Helm charts are not supported yet"},
      {"helmGlobals", "Helm charts are not supported yet"},
      {"replacements", "replacements are not supported yet"},
      {"vars", "vars are not supported yet (kustomize deprecates them)"},
      {"crds", "crds are not supported"},
      {"configurations", "transformer configurations are not supported"},
      {"generators", "generator plugins are not supported"},
      {"transformers", "transformer plugins are not supported"},
      {"validators", "validator plugins are not supported"},
      {"openapi", "openapi schemas are not supported"},
      {"sortOptions", "sortOptions is not supported"},
      {"buildMetadata", "buildMetadata is not supported"},
  };
  static const std::set<std::string> known = {"apiVersion",
                                              "kind",
                                              "metadata",
                                              "resources",
                                              "bases",
                                              "namePrefix",
                                              "nameSuffix",
                                              "namespace",
                                              "commonLabels",
                                              "labels",
                                              "commonAnnotations",
                                              "images",
                                              "patches",
                                              "patchesStrategicMerge",
                                              "patchesJson6902",
                                              "configMapGenerator",
                                              "secretGenerator",
                                              "generatorOptions",
                                              "replicas"};
  for (const auto& e : root.map) {
    auto u = unsupported.find(e.key.scalar);
    if (u != unsupported.end())
      return Failf("{}: {}: {}", model::PlaceOf(file, e.key), e.key.scalar, u->second);
    if (!known.count(e.key.scalar)) {
      return Failf("{}: {}: unknown field{}", model::PlaceOf(file, e.key), e.key.scalar,
                   DidYouMean(e.key.scalar, std::vector<std::string>(known.begin(), known.end())));
    }
  }
  return Ok();
}

Result<std::vector<Obj>> Build(Ctx& ctx, const std::string& dir);

// resources (and the older bases): files of manifests, or directories built
// as kustomizations of their own.
Status BuildResources(Ctx& ctx, const Here& k, const Node& root, std::vector<Obj>& objs) {
  ctx.stack.push_back(k.dir);
  for (const char* field : {"resources", "bases"}) {
    STRAKE_TRY_ASSIGN(entries, Scalars(k, root.Get(field), field));
    for (size_t i = 0; i < entries.size(); ++i) {
      std::string at = fmt::format("{}[{}]", field, i);
      STRAKE_TRY_ASSIGN(path, ResolvePath(k, *entries[i], at, entries[i]->scalar));
      STRAKE_TRY_ASSIGN(is_dir, ctx.tree.IsDir(path));
      if (is_dir) {
        auto sub = Build(ctx, path);
        if (!sub)
          return tl::unexpected(sub.error().Wrap(model::PlaceOf(k.file, *entries[i]) + ": " + at));
        for (auto& o : *sub) objs.push_back(std::move(o));
      } else {
        STRAKE_TRY_ASSIGN(data, ReadRepoFile(ctx, k, *entries[i], at, path));
        STRAKE_TRY(ParseManifests(ctx, path, data, objs));
      }
    }
  }
  ctx.stack.pop_back();
  return Ok();
}

// A patch given as a file, or inline.
Result<std::string> PatchText(Ctx& ctx, const Here& k, const Node& item, const std::string& at) {
  std::string path = Scalar(item, "path");
  std::string inline_patch = Scalar(item, "patch");
  if (!path.empty() == !inline_patch.empty())
    return Failf("{}: {}: give path or patch", model::PlaceOf(k.file, item), at);
  if (!inline_patch.empty()) return inline_patch;
  STRAKE_TRY_ASSIGN(p, ResolvePath(k, *item.Get("path"), at + ".path", path));
  return ReadRepoFile(ctx, k, *item.Get("path"), at + ".path", p);
}

// patchesStrategicMerge and patches, in that order.
Status ApplyPatches(Ctx& ctx, const Here& k, const Node& root, std::vector<Obj>& objs) {
  STRAKE_TRY_ASSIGN(smp, Scalars(k, root.Get("patchesStrategicMerge"), "patchesStrategicMerge"));
  for (size_t i = 0; i < smp.size(); ++i) {
    std::string at = fmt::format("patchesStrategicMerge[{}]", i);
    std::string text_or_path = smp[i]->scalar;
    std::string body = text_or_path;
    if (text_or_path.find('\n') == std::string::npos &&
        (EndsWith(text_or_path, ".yaml") || EndsWith(text_or_path, ".yml"))) {
      STRAKE_TRY_ASSIGN(p, ResolvePath(k, *smp[i], at, text_or_path));
      STRAKE_TRY_ASSIGN(b, ReadRepoFile(ctx, k, *smp[i], at, p));
      body = std::move(b);
    }
    STRAKE_TRY(ApplyPatch(k, *smp[i], at, ctx, body, std::nullopt, objs));
  }
  STRAKE_TRY_ASSIGN(patches, Maps(k, root.Get("patches"), "patches"));
  for (size_t i = 0; i < patches.size(); ++i) {
    std::string at = fmt::format("patches[{}]", i);
    STRAKE_TRY(OnlyFields(k, *patches[i], at, {"path", "patch", "target", "options"}));
    STRAKE_TRY_ASSIGN(body, PatchText(ctx, k, *patches[i], at));
    std::optional<Target> target;
    if (const Node* t = patches[i]->Get("target")) {
      STRAKE_TRY_ASSIGN(tt, ReadTarget(k, *t, at + ".target"));
      target = tt;
    }
    STRAKE_TRY(ApplyPatch(k, *patches[i], at, ctx, body, target, objs));
  }
  return Ok();
}

// namespace, namePrefix/nameSuffix, labels, annotations.
Status ApplyNamesAndLabels(const Here& k, const Node& root, std::vector<Obj>& objs) {
  if (const Node* ns = root.Get("namespace"); ns && !ns->scalar.empty()) {
    for (auto& o : objs) {
      if (!IsClusterScoped(o.Kind())) o.json["metadata"]["namespace"] = ns->scalar;
    }
  }
  std::string prefix = Scalar(root, "namePrefix"), suffix = Scalar(root, "nameSuffix");
  if (!prefix.empty() || !suffix.empty()) {
    for (auto& o : objs) {
      if (o.Kind() == "Namespace" || o.Kind() == "CustomResourceDefinition") continue;
      std::string renamed = prefix;
      renamed += o.Name();
      renamed += suffix;
      o.json["metadata"]["name"] = renamed;
    }
  }
  if (const Node* cl = root.Get("commonLabels")) AddLabels(objs, StringMap(cl), true, true);
  STRAKE_TRY_ASSIGN(label_sets, Maps(k, root.Get("labels"), "labels"));
  for (size_t i = 0; i < label_sets.size(); ++i) {
    STRAKE_TRY(OnlyFields(k, *label_sets[i], fmt::format("labels[{}]", i),
                          {"pairs", "includeSelectors", "includeTemplates"}));
    AddLabels(objs, StringMap(label_sets[i]->Get("pairs")),
              Scalar(*label_sets[i], "includeSelectors") == "true",
              Scalar(*label_sets[i], "includeTemplates") == "true");
  }
  if (const Node* ca = root.Get("commonAnnotations")) {
    auto pairs = StringMap(ca);
    for (auto& o : objs) {
      MergeInto(o.json["metadata"]["annotations"], pairs);
      if (IsWorkload(o.Kind()) && o.json.contains("spec") && o.json["spec"].contains("template"))
        MergeInto(o.json["spec"]["template"]["metadata"]["annotations"], pairs);
    }
  }
  return Ok();
}

Status ApplyJson6902(Ctx& ctx, const Here& k, const Node& root, std::vector<Obj>& objs) {
  STRAKE_TRY_ASSIGN(j6902, Maps(k, root.Get("patchesJson6902"), "patchesJson6902"));
  for (size_t i = 0; i < j6902.size(); ++i) {
    std::string at = fmt::format("patchesJson6902[{}]", i);
    STRAKE_TRY(OnlyFields(k, *j6902[i], at, {"path", "patch", "target"}));
    const Node* t = j6902[i]->Get("target");
    if (!t) return Failf("{}: {}.target: required", model::PlaceOf(k.file, *j6902[i]), at);
    STRAKE_TRY_ASSIGN(target, ReadTarget(k, *t, at + ".target"));
    STRAKE_TRY_ASSIGN(body, PatchText(ctx, k, *j6902[i], at));
    STRAKE_TRY(ApplyPatch(k, *j6902[i], at, ctx, body, target, objs));
  }
  return Ok();
}

Status ApplyReplicas(const Here& k, const Node& root, std::vector<Obj>& objs) {
  STRAKE_TRY_ASSIGN(replicas, Maps(k, root.Get("replicas"), "replicas"));
  for (size_t i = 0; i < replicas.size(); ++i) {
    std::string at = fmt::format("replicas[{}]", i);
    STRAKE_TRY(OnlyFields(k, *replicas[i], at, {"name", "count"}));
    const Node* count = replicas[i]->Get("count");
    char* end = nullptr;
    long n = count ? std::strtol(count->scalar.c_str(), &end, 10) : -1;
    if (!count || *end != '\0' || n < 0)
      return Failf("{}: {}.count: a number of replicas", model::PlaceOf(k.file, *replicas[i]), at);
    std::string name = Scalar(*replicas[i], "name");
    for (auto& o : objs) {
      if (IsWorkload(o.Kind()) && (o.Name() == name || o.declared == name))
        o.json["spec"]["replicas"] = n;
    }
  }
  return Ok();
}

Status ApplyImages(const Here& k, const Node& root, std::vector<Obj>& objs) {
  STRAKE_TRY_ASSIGN(images, Maps(k, root.Get("images"), "images"));
  for (size_t i = 0; i < images.size(); ++i) {
    std::string at = fmt::format("images[{}]", i);
    STRAKE_TRY(OnlyFields(k, *images[i], at, {"name", "newName", "newTag", "digest"}));
    std::string name = Scalar(*images[i], "name");
    std::string new_name = Scalar(*images[i], "newName");
    std::string tag = Scalar(*images[i], "newTag");
    std::string digest = Scalar(*images[i], "digest");
    if (name.empty()) return Failf("{}: {}.name: required", model::PlaceOf(k.file, *images[i]), at);
    for (auto& o : objs) {
      for (Json* pod : PodSpecs(o.json)) {
        ForEachContainer(*pod, [&](Json& c) {
          std::string image = c.value("image", "");
          if (image.empty() || ImageName(image) != name) return;
          std::string out = new_name.empty() ? name : new_name;
          if (!digest.empty()) {
            out += "@" + digest;
          } else if (!tag.empty()) {
            out += ":" + tag;
          } else {
            out += image.substr(ImageName(image).size());  // the tag or digest it had
          }
          c["image"] = out;
        });
      }
    }
  }
  return Ok();
}

// One kustomization, its fields in kustomize's order.
Result<std::vector<Obj>> Build(Ctx& ctx, const std::string& dir) {
  STRAKE_TRY(Enter(ctx, dir));
  STRAKE_TRY_ASSIGN(kz, ReadKustomization(ctx, dir));
  if (ctx.edits) {  // the root's, once
    STRAKE_TRY(ApplyEdits(kz.file, kz.docs[0].root, *ctx.edits));
    ctx.edits = nullptr;
  }
  const Node& root = kz.root();
  STRAKE_TRY(CheckFields(kz.file, root));
  Here k{kz.file, dir};
  std::vector<Obj> objs;
  STRAKE_TRY(BuildResources(ctx, k, root, objs));
  const Node* options = root.Get("generatorOptions");
  STRAKE_TRY(Generate(ctx, k, root.Get("configMapGenerator"), "configMapGenerator", "ConfigMap",
                      options, objs));
  STRAKE_TRY(
      Generate(ctx, k, root.Get("secretGenerator"), "secretGenerator", "Secret", options, objs));
  STRAKE_TRY(ApplyPatches(ctx, k, root, objs));
  STRAKE_TRY(ApplyNamesAndLabels(k, root, objs));
  STRAKE_TRY(ApplyJson6902(ctx, k, root, objs));
  STRAKE_TRY(ApplyReplicas(k, root, objs));
  STRAKE_TRY(ApplyImages(k, root, objs));
  return objs;
}

// A patch object's `$patch` directive ("delete", "replace"), or "": a value
// that is not a string directs nothing (Json::value would throw on it).
std::string PatchDirective(const Json& patch) {
  auto it = patch.find("$patch");
  return it != patch.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

Json StrategicMerge(Json target, const Json& patch) {
  if (!patch.is_object()) return patch;
  if (PatchDirective(patch) == "delete") return Json();
  if (PatchDirective(patch) == "replace") {
    Json out = patch;
    out.erase("$patch");
    return out;
  }
  if (!target.is_object()) target = Json::object();
  for (const auto& [key, value] : patch.items()) {
    if (!key.empty() && key[0] == '$') continue;  // $setElementOrder, $retainKeys...
    if (value.is_null()) {
      target.erase(key);
      continue;
    }
    if (value.is_object() && target.contains(key) && target[key].is_object()) {
      Json merged = StrategicMerge(target[key], value);
      if (merged.is_null()) {
        target.erase(key);
      } else {
        target[key] = std::move(merged);
      }
      continue;
    }
    // Lists of objects merged by their key, as the Kubernetes types declare.
    static const std::map<std::string, std::string> merge_keys = {
        {"containers", "name"}, {"initContainers", "name"},    {"env", "name"},
        {"volumes", "name"},    {"volumeMounts", "mountPath"}, {"imagePullSecrets", "name"},
        {"tolerations", "key"}, {"hostAliases", "ip"},         {"metrics", "name"}};
    std::string merge_key;
    if (auto mk = merge_keys.find(key); mk != merge_keys.end()) merge_key = mk->second;
    if (key == "ports" && value.is_array() && !value.empty() && value[0].is_object())
      merge_key = value[0].contains("containerPort") ? "containerPort" : "port";
    bool objects = value.is_array() && std::all_of(value.begin(), value.end(),
                                                   [](const Json& i) { return i.is_object(); });
    if (!merge_key.empty() && objects && target.contains(key) && target[key].is_array()) {
      Json list = target[key];
      for (const auto& item : value) {
        if (!item.is_object() || !item.contains(merge_key)) {
          list.push_back(item);
          continue;
        }
        bool found = false;
        for (size_t i = 0; i < list.size(); ++i) {
          if (!list[i].is_object() || list[i].value(merge_key, Json()) != item[merge_key]) continue;
          found = true;
          Json merged = StrategicMerge(list[i], item);
          if (merged.is_null()) {
            list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
          } else {
            list[i] = std::move(merged);
          }
          break;
        }
        if (!found && PatchDirective(item) != "delete") {
          Json clean = item;
          clean.erase("$patch");
          list.push_back(std::move(clean));
        }
      }
      target[key] = std::move(list);
      continue;
    }
    Json v = value;
    if (v.is_object()) v = StrategicMerge(Json::object(), v);  // drops directives
    target[key] = std::move(v);
  }
  return target;
}

std::string KustomizeHash(const Json& object) {
  // Encoded as kustomize's hasher does: a Go map marshalled to JSON (keys
  // sorted, HTML characters escaped), then SHA-256.
  nlohmann::json m;
  std::string kind = object.value("kind", "");
  m["kind"] = kind;
  m["name"] = object.value("metadata", Json::object()).value("name", "");
  nlohmann::json data = nlohmann::json::object();
  const Json given = object.value("data", Json::object());
  for (const auto& [k, v] : given.items()) data[k] = v;
  m["data"] = data;
  if (kind == "Secret") {
    m["type"] = object.value("type", "Opaque");
  } else if (object.contains("binaryData") && !object["binaryData"].empty()) {
    nlohmann::json bin = nlohmann::json::object();
    for (const auto& [k, v] : object["binaryData"].items()) bin[k] = v;
    m["binaryData"] = bin;
  }
  std::string encoded;
  for (char c : m.dump()) {
    if (c == '<') {
      encoded += "\\u003c";
    } else if (c == '>') {
      encoded += "\\u003e";
    } else if (c == '&') {
      encoded += "\\u0026";
    } else {
      encoded += c;
    }
  }
  std::string hex = Sha256Hex(encoded).substr(0, 10);
  for (char& c : hex) {
    switch (c) {
      case '0':
        c = 'g';
        break;
      case '1':
        c = 'h';
        break;
      case '3':
        c = 'k';
        break;
      case 'a':
        c = 'm';
        break;
      case 'e':
        c = 't';
        break;
      default:
        break;
    }
  }
  return hex;
}

namespace {

class MirrorTree : public RepoTree {
 public:
  MirrorTree(const Mirror& mirror, const std::string& sha) : mirror_(mirror), sha_(sha) {}
  Result<std::optional<std::string>> ReadFile(const std::string& path,
                                              const ReadLimits& limits) const override {
    return mirror_.ReadFileAt(sha_, path, limits);
  }
  Result<bool> IsDir(const std::string& path) const override { return mirror_.IsDir(sha_, path); }
  std::string Revision() const override { return sha_.substr(0, 12); }

 private:
  const Mirror& mirror_;
  const std::string& sha_;
};

Result<std::vector<KustomizedObject>> BuildAll(const RepoTree& tree, const std::string& dir,
                                               const model::ParseLimits& limits,
                                               const model::KustomizeOverrides* edits) {
  Ctx ctx{tree, limits, {}, {}};
  if (edits && !edits->Empty()) ctx.edits = edits;
  ctx.read.max_file_bytes = limits.max_bytes;
  STRAKE_TRY_ASSIGN(objs, Build(ctx, dir));
  // Generated names get their content hash; then every reference to a
  // renamed ConfigMap, Secret or Service follows it.
  for (auto& o : objs) {
    if (o.hash) o.json["metadata"]["name"] = o.Name() + "-" + KustomizeHash(o.json);
  }
  std::map<std::pair<std::string, std::string>, std::string> renamed;
  std::set<std::pair<std::string, std::string>> ambiguous;
  for (const auto& o : objs) {
    std::string kind = o.Kind();
    if (kind != "ConfigMap" && kind != "Secret" && kind != "Service") continue;
    auto key = std::make_pair(kind, o.declared);
    if (renamed.count(key) && renamed[key] != o.Name()) ambiguous.insert(key);
    renamed[key] = o.Name();
  }
  for (auto& o : objs) {
    ForEachReference(o.json, [&](const char* kind, Json& field) {
      auto key = std::make_pair(std::string(kind), field.get<std::string>());
      auto it = renamed.find(key);
      if (it != renamed.end() && !ambiguous.count(key)) field = it->second;
    });
  }
  std::vector<KustomizedObject> out;
  out.reserve(objs.size());
  for (auto& o : objs) out.push_back({std::move(o.json), std::move(o.origin)});
  return out;
}

}  // namespace

Result<std::vector<KustomizedObject>> Kustomize(const Mirror& mirror, const std::string& sha,
                                                const std::string& dir,
                                                const model::ParseLimits& limits,
                                                const model::KustomizeOverrides* edits) {
  return Kustomize(MirrorTree(mirror, sha), dir, limits, edits);
}

Result<std::vector<KustomizedObject>> Kustomize(const RepoTree& tree, const std::string& dir,
                                                const model::ParseLimits& limits,
                                                const model::KustomizeOverrides* edits) {
  // The transformers walk objects as Kubernetes shapes them, and nlohmann
  // throws where a manifest or a patch gave a field another type (`spec: x`,
  // `name: 5`): the one catch of this edge fails the build, naming the error.
  try {
    return BuildAll(tree, dir, limits, edits);
  } catch (const model::Json::exception& e) {
    return Failf(ErrorCode::kInvalid,
                 "{}: a field of an object has a type kustomize cannot use: {}", dir, e.what());
  }
}

}  // namespace strake::gitops
