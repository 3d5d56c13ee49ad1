#include "model/decode.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "base/duration.h"
#include "base/fs.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "model/decoders.h"
#include "model/fields.h"
#include "model/kinds.h"

namespace strake::model {

namespace {

const std::set<std::string> kIgnoredMeta = {"uid",
                                            "resourceVersion",
                                            "generation",
                                            "creationTimestamp",
                                            "managedFields",
                                            "ownerReferences",
                                            "finalizers",
                                            "deletionTimestamp",
                                            "deletionGracePeriodSeconds",
                                            "selfLink"};

// A ConfigMap's or Secret's keys become file names in volumes and workspaces.
void CheckKeys(Ctx& ctx, const Node& data, const std::string& path) {
  if (!data.IsMap()) return;
  for (const auto& [k, v] : data.map) {
    ctx.CheckName(k, path + "." + k.scalar, k.scalar, Ctx::NameRule::kConfigMapKey);
  }
}

// A map of base64 values (a Secret's data, a ConfigMap's binaryData), its
// keys checked as file names; a value that is not base64 is an error.
std::map<std::string, std::string> Base64Values(Ctx& ctx, const Node& map,
                                                const std::string& field) {
  CheckKeys(ctx, map, field);
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : ctx.StrMap(map, field)) {
    auto decoded = Base64Decode(v);
    if (!decoded) {
      std::string path = field;
      path.append(".").append(k);
      ctx.Error(map, path, "value is not valid base64");
    } else {
      out.emplace(k, std::move(*decoded));
    }
  }
  return out;
}

// `rule`: how metadata.name is checked (Kubernetes' rule for the kind).
ObjectMeta DecodeMeta(Ctx& ctx, const Node* n, bool need_name,
                      Ctx::NameRule rule = Ctx::NameRule::kDnsSubdomain) {
  ObjectMeta m;
  if (!n) {
    if (need_name) ctx.Error(Node{}, "metadata", "required field is missing");
    return m;
  }
  Fields f(ctx, *n, "metadata");
  if (const Node* v = f.Get("name")) {
    m.name = ctx.Str(*v, "metadata.name");
    if (!m.name.empty()) ctx.CheckName(*v, "metadata.name", m.name, rule);
  }
  if (const Node* v = f.Get("generateName")) {
    m.generate_name = ctx.Str(*v, "metadata.generateName");
    // As Kubernetes: the prefix with a trailing '-' must be a name's start.
    std::string probe = m.generate_name;
    if (!probe.empty() && probe.back() == '-') probe.back() = 'a';
    if (!m.generate_name.empty() && (probe.size() > 240 || !IsDnsSubdomain(probe))) {
      ctx.Error(*v, "metadata.generateName",
                fmt::format("invalid prefix {}: must start a DNS-1123 subdomain (lower case "
                            "alphanumerics, '-' or '.'), at most 240 characters",
                            Quote(m.generate_name.substr(0, 300))));
    }
  }
  if (const Node* v = f.Get("namespace")) {
    std::string ns = ctx.Str(*v, "metadata.namespace");
    if (!ns.empty() && ctx.CheckName(*v, "metadata.namespace", ns, Ctx::NameRule::kDnsLabel)) {
      m.ns = ns;
    }
  }
  if (const Node* v = f.Get("labels")) m.labels = ctx.StrMap(*v, f.Sub("labels"));
  if (const Node* v = f.Get("annotations")) m.annotations = ctx.StrMap(*v, f.Sub("annotations"));
  for (const auto& k : kIgnoredMeta) f.Get(k);
  if (need_name && m.name.empty() && m.generate_name.empty() && f.ok()) {
    ctx.Error(*n, "metadata.name", "required field is missing");
  }
  return m;
}

bool DecodeConfigDataKind(Ctx& ctx, Fields& f, Resource& r) {
  ConfigMap cm;
  cm.meta = r.meta;
  cm.data.is_secret = r.kind == "Secret";
  f.Get("immutable");
  if (cm.data.is_secret) {
    f.Get("type");
    if (const Node* d = f.Get("data")) cm.data.data = Base64Values(ctx, *d, "data");
    if (const Node* d = f.Get("stringData")) {
      CheckKeys(ctx, *d, "stringData");
      for (const auto& [k, v] : ctx.StrMap(*d, "stringData")) cm.data.data[k] = v;
    }
  } else {
    if (const Node* d = f.Get("data")) {
      CheckKeys(ctx, *d, "data");
      cm.data.data = ctx.StrMap(*d, "data");
    }
    // Bytes, base64 in the object; a file of a volume or a value like data's.
    if (const Node* b = f.Get("binaryData")) {
      for (auto& [k, bytes] : Base64Values(ctx, *b, "binaryData")) {
        if (!cm.data.data.emplace(k, std::move(bytes)).second) {
          ctx.Error(*b, "binaryData." + k,
                    fmt::format("key {} is in data too: a key is in one of them", Quote(k)));
        }
      }
    }
  }
  r.value = std::move(cm);
  return true;
}

bool DecodePvcKind(Ctx& /*ctx*/, Fields& f, Resource& r) {
  f.Get("spec");
  r.value = PersistentVolumeClaim{r.meta};
  return true;
}

// A traffic provider's object: stored as written. What strake acts on is
// the weights of the routes a Rollout names; the rest is said once.
bool DecodeStoredObjectKind(Ctx& ctx, Fields& f, Resource& r) {
  const Node* spec = f.Need("spec");
  if (!spec) return false;
  ctx.Warning(*spec, "spec",
              fmt::format("stored, not acted on as a mesh would: strake's embedded router "
                          "routes the Services; the weights a Rollout's trafficRouting names "
                          "are kept current in this {}",
                          r.kind));
  r.value = StoredObject{r.meta};
  return true;
}

// A traffic provider's object strake only stores: the embedded router routes
// the Services, and nothing in it is kept current. Said once.
bool DecodeStoredTrafficKind(Ctx& ctx, Fields& f, Resource& r) {
  const Node* spec = f.Get("spec");  // an Ambassador resolver has none
  ctx.Warning(spec ? *spec : f.node(), "spec",
              fmt::format("stored, not acted on: strake's embedded router routes the Services "
                          "and sets the weights; this {} is not kept current",
                          r.kind));
  r.value = StoredObject{r.meta};
  return true;
}

// A kind only a cluster acts on: stored as written (every field kept), said once.
bool DecodeClusterOnlyKind(Ctx& ctx, Fields& f, Resource& r) {
  for (const auto& entry : f.node().map) f.Get(entry.key.scalar);
  if (r.kind == "ServiceAccount") {
    ctx.Warning(f.node(), "kind",
                "a ServiceAccount: stored as written; its `secrets` give the Tekton runs that "
                "name it their credentials, the rest only means something to a cluster");
  } else if (r.kind == "CustomResourceDefinition") {
    ctx.Warning(f.node(), "kind",
                "a CustomResourceDefinition: its kind is served, its resources stored, diffed "
                "and pruned as written; its schema is not enforced and nothing acts on them");
  } else {
    ctx.Warning(f.node(), "kind",
                fmt::format("a {} only means something to a cluster: stored as written, not "
                            "acted on",
                            r.kind));
  }
  r.value = StoredObject{r.meta};
  return true;
}

// A custom resource (a CustomResourceDefinition's kind): stored, diffed and
// pruned as written (every field kept), said once.
void DecodeCustomKind(Ctx& ctx, Fields& f, Resource& r) {
  for (const auto& entry : f.node().map) f.Get(entry.key.scalar);
  ctx.Warning(f.node(), "kind",
              fmt::format("a {} of {} is a custom resource: stored as written, not acted on",
                          r.kind, r.api_version));
  r.value = StoredObject{r.meta};
}

const std::map<std::string_view, KindDecoder> kDecoders = {
    {"Task", DecodeTaskKind},
    {"Pipeline", DecodePipelineKind},
    {"PipelineRun", DecodePipelineRunKind},
    {"TaskRun", DecodeTaskRunKind},
    {"StepAction", DecodeStepActionKind},
    {"ConfigMap", DecodeConfigDataKind},
    {"Secret", DecodeConfigDataKind},
    {"PersistentVolumeClaim", DecodePvcKind},
    {"Service", DecodeServiceKind},
    {"Deployment", DecodeDeploymentKind},
    {"Job", DecodeJobKind},
    {"Pod", DecodePodKind},
    {"CronJob", DecodeCronJobKind},
    {"Rollout", DecodeRolloutKind},
    {"AnalysisRun", DecodeAnalysisRunKind},
    {"AnalysisTemplate", DecodeAnalysisTemplateKind},
    {"Experiment", DecodeExperimentKind},
    {"ClusterAnalysisTemplate", DecodeAnalysisTemplateKind},
    {"Application", DecodeApplicationKind},
    {"Repository", DecodeRepositoryKind},
    {"Incident", DecodeIncidentKind},
    {"Project", DecodeProjectKind},
    {"Warehouse", DecodeWarehouseKind},
    {"Freight", DecodeFreightKind},
    {"Stage", DecodeStageKind},
    {"Promotion", DecodePromotionKind},
    {"PromotionTask", DecodePromotionTaskKind},
    {"ClusterPromotionTask", DecodePromotionTaskKind},
    {"ProjectConfig", DecodeProjectConfigKind},
    {"ClusterConfig", DecodeClusterConfigKind},
    {"VirtualService", DecodeStoredObjectKind},
    {"DestinationRule", DecodeStoredObjectKind},
    {"TrafficSplit", DecodeStoredObjectKind},
    {"Ingress", DecodeStoredObjectKind},
    {"Gateway", DecodeStoredTrafficKind},
    {"TraefikService", DecodeStoredObjectKind},
    {"ApisixRoute", DecodeStoredObjectKind},
    {"Mapping", DecodeStoredObjectKind},
    {"KubernetesEndpointResolver", DecodeStoredTrafficKind},
    {"HTTPRoute", DecodeStoredObjectKind},
    {"GRPCRoute", DecodeStoredObjectKind},
    {"TCPRoute", DecodeStoredObjectKind},
    {"TLSRoute", DecodeStoredObjectKind},
    {"GatewayClass", DecodeStoredTrafficKind},
    {"ReferenceGrant", DecodeStoredTrafficKind},
    {"Namespace", DecodeClusterOnlyKind},
    {"ServiceAccount", DecodeClusterOnlyKind},
    {"LimitRange", DecodeClusterOnlyKind},
    {"ResourceQuota", DecodeClusterOnlyKind},
    {"Role", DecodeClusterOnlyKind},
    {"RoleBinding", DecodeClusterOnlyKind},
    {"ClusterRole", DecodeClusterOnlyKind},
    {"ClusterRoleBinding", DecodeClusterOnlyKind},
    {"NetworkPolicy", DecodeClusterOnlyKind},
    {"PodDisruptionBudget", DecodeClusterOnlyKind},
    {"CustomResourceDefinition", DecodeClusterOnlyKind},
};

// Why an apiVersion and kind are not one strake reads: an apiVersion it
// does not know, or a kind that is another group's (named), or a typo.
void UnknownKind(Ctx& ctx, const Node& av, const Node& kind, const Resource& r) {
  std::vector<std::string> of_version;
  const KindInfo* elsewhere = nullptr;
  for (const auto& k : Kinds()) {
    if (!k.applied) continue;
    if (k.Accepts(r.api_version)) of_version.push_back(k.kind);
    if (k.kind == r.kind) elsewhere = &k;
  }
  if (elsewhere && !of_version.empty()) {
    ctx.Error(
        kind, "kind",
        fmt::format("kind \"{}\" is {}, not {}", r.kind, elsewhere->api_version, r.api_version));
  } else if (!of_version.empty()) {
    ctx.Error(kind, "kind",
              fmt::format("unknown kind \"{}\" for {}{}", r.kind, r.api_version,
                          DidYouMean(r.kind, of_version)));
  } else if (StartsWith(r.api_version, "tekton.dev/")) {
    ctx.Error(av, "apiVersion",
              fmt::format("unsupported apiVersion \"{}\" (tekton.dev/v1 and tekton.dev/v1beta1 "
                          "are)",
                          r.api_version));
  } else {
    ctx.Error(av, "apiVersion",
              fmt::format("unsupported apiVersion \"{}\" for kind \"{}\"", r.api_version, r.kind));
  }
}

}  // namespace

bool HasDecoder(std::string_view kind) { return kDecoders.count(kind) > 0; }

namespace {

// `defined`: the kinds the CustomResourceDefinitions among the documents
// define (custom resources, even of a group strake knows).
void DecodeDocument(const Document& doc, Diagnostics& diags, std::vector<Resource>& out,
                    const std::vector<KindInfo>& defined) {
  Ctx ctx(doc.file, diags);
  const Node& root = doc.root;
  Fields f(ctx, root, "");
  if (!f.ok()) return;
  Resource r;
  r.origin = ctx.At(root, "");
  r.raw = ToJson(root);
  const Node* av = f.Need("apiVersion");
  const Node* kind = f.Need("kind");
  if (!av || !kind) return;
  r.api_version = ctx.Str(*av, "apiVersion");
  r.kind = ctx.Str(*kind, "kind");
  f.Get("metadata");
  f.Get("status");  // Written by controllers; accepted and ignored on input.

  const KindInfo* info = KindOf(r.api_version, r.kind);
  // Of a group strake does not know: a custom resource, whether or not its
  // CustomResourceDefinition is known here (the server's are).
  bool custom = info ? info->custom
                     : r.api_version.find('/') != std::string::npos && !r.kind.empty() &&
                           !BuiltInGroup(r.api_version);
  for (const auto& k : defined) custom = custom || (k.kind == r.kind && k.Accepts(r.api_version));
  if (!custom && (!info || !info->applied)) {
    UnknownKind(ctx, *av, *kind, r);
    return;
  }
  // Runs are made many times from one file: Tekton's and Argo's take a
  // generateName, the server names them (`strake create`).
  // So are the cluster-only objects that come with them.
  auto decoder = custom ? kDecoders.end() : kDecoders.find(r.kind);
  bool runs = r.kind == "PipelineRun" || r.kind == "TaskRun" || r.kind == "AnalysisRun" ||
              r.kind == "Experiment" ||
              (decoder != kDecoders.end() && decoder->second == DecodeClusterOnlyKind);
  // RBAC objects are named as paths ("system:auth-delegator"), as Kubernetes
  // validates them.
  bool rbac = r.kind == "Role" || r.kind == "ClusterRole" || r.kind == "RoleBinding" ||
              r.kind == "ClusterRoleBinding";
  r.meta = DecodeMeta(ctx, f.Get("metadata"), true,
                      rbac ? Ctx::NameRule::kPathSegment : Ctx::NameRule::kDnsSubdomain);
  if (!runs && r.meta.name.empty() && !r.meta.generate_name.empty()) {
    bool vowel = std::string_view("AEIOU").find(r.kind.front()) != std::string_view::npos;
    ctx.Error(root, "metadata.name", fmt::format("{} {} needs a name", vowel ? "an" : "a", r.kind));
  }
  if (custom) {
    DecodeCustomKind(ctx, f, r);
    out.push_back(std::move(r));
    return;
  }
  if (decoder == kDecoders.end()) {
    ctx.Error(*kind, "kind", fmt::format("kind \"{}\" cannot be read from a file", r.kind));
    return;
  }
  if (decoder->second(ctx, f, r)) out.push_back(std::move(r));
}

}  // namespace

namespace {

// The kinds the documents' CustomResourceDefinitions define.
std::vector<KindInfo> DefinedKinds(const std::vector<Document>& docs) {
  std::vector<KindInfo> defined;
  for (const auto& d : docs) {
    const Node* kind = d.root.IsMap() ? d.root.Get("kind") : nullptr;
    if (!kind || !kind->IsScalar() || kind->scalar != "CustomResourceDefinition") continue;
    if (auto k = KindFromCrd(ToJson(d.root)); k && CustomKindAllowed(*k))
      defined.push_back(std::move(*k));
  }
  return defined;
}

}  // namespace

std::vector<Resource> Decode(const std::vector<Document>& docs, Diagnostics& diags) {
  std::vector<Resource> out;
  std::vector<KindInfo> defined = DefinedKinds(docs);
  for (const auto& d : docs) DecodeDocument(d, diags, out, defined);
  return out;
}

std::vector<Resource> DecodeEach(const std::vector<Document>& docs,
                                 std::vector<Diagnostics>& per_document) {
  std::vector<Resource> out;
  std::vector<KindInfo> defined = DefinedKinds(docs);
  per_document.assign(docs.size(), Diagnostics{});
  for (size_t i = 0; i < docs.size(); ++i) DecodeDocument(docs[i], per_document[i], out, defined);
  return out;
}

namespace {

bool IsManifestFile(const std::filesystem::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

// The manifest files of directory `dir`, in name order.
Result<std::vector<std::string>> ManifestsIn(const std::string& dir, bool recursive) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  auto add = [&](const fs::directory_entry& e) {
    std::error_code file_ec;  // a dangling link (an editor's lock file) is no manifest
    if (e.is_regular_file(file_ec) && IsManifestFile(e.path())) out.push_back(e.path().string());
  };
  std::error_code ec;
  if (recursive) {
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) add(*it);
  } else {
    fs::directory_iterator it(dir, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) add(*it);
  }
  if (ec) return Failf("{}: {}", dir, ec.message());
  std::sort(out.begin(), out.end());
  if (out.empty()) {
    return Failf("{}: no .yaml, .yml or .json files{}", dir,
                 recursive ? "" : " (-R reads its subdirectories too)");
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> ExpandFileArgs(const std::vector<std::string>& args,
                                                bool recursive) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::error_code ec;
    if (a == "-" || !std::filesystem::is_directory(a, ec)) {
      out.push_back(a);
      continue;
    }
    STRAKE_TRY_ASSIGN(files, ManifestsIn(a, recursive));
    out.insert(out.end(), files.begin(), files.end());
  }
  if (std::count(out.begin(), out.end(), "-") > 1) return Fail("-f -: standard input is read once");
  return out;
}

Result<Loaded> LoadFiles(const std::vector<std::string>& files, const ParseLimits& limits) {
  Diagnostics diags;
  std::vector<Document> docs;
  std::vector<std::string> parse_errors;
  for (const auto& file : files) {
    Result<std::vector<Document>> parsed = Fail("not read");
    if (file == "-") {
      auto text = ReadFd(STDIN_FILENO, "stdin", limits.max_bytes);
      parsed = text ? ParseYaml(*text, "stdin", limits) : tl::unexpected(text.error());
    } else {
      parsed = ParseYamlFile(file, limits);
    }
    if (!parsed) {
      parse_errors.push_back(parsed.error().message);
      continue;
    }
    for (auto& d : *parsed) docs.push_back(std::move(d));
  }
  if (!parse_errors.empty()) return Fail(Join(parse_errors, "\n"));
  Loaded loaded;
  loaded.resources = Decode(docs, diags);
  if (diags.HasErrors()) return Fail(diags.ErrorText());
  // Each resource keeps its document (found by file and mark), to place
  // what the server says about it.
  std::vector<std::shared_ptr<const Node>> kept;
  kept.reserve(docs.size());
  for (auto& d : docs) kept.push_back(std::make_shared<const Node>(std::move(d.root)));
  for (auto& r : loaded.resources) {
    for (size_t i = 0; i < docs.size(); ++i) {
      if (docs[i].file == r.origin.file && kept[i]->mark.line == r.origin.mark.line &&
          kept[i]->mark.col == r.origin.mark.col)
        r.document = kept[i];
    }
  }
  loaded.warnings = diags.WarningStrings();
  return loaded;
}

Result<Resource> DecodeObject(const Json& object, const std::string& origin) {
  Diagnostics diags;
  std::vector<Document> docs{Document{"", FromJson(object)}};
  auto res = Decode(docs, diags);
  if (diags.HasErrors()) {
    std::vector<std::string> lines;
    for (const auto& e : diags.ErrorStrings()) lines.push_back(fmt::format("{}: {}", origin, e));
    return Fail(Join(lines, "\n"));
  }
  if (res.empty()) return Failf("{}: not a resource", origin);
  return res.front();
}

}  // namespace strake::model
