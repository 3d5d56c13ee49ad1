#include "model/kinds.h"

#include <algorithm>
#include <deque>
#include <mutex>

#include "base/strings.h"
#include "model/kargo.h"

namespace strake::model {

namespace {

const std::vector<KindInfo> kKinds = {
    // Tekton
    {"Task", "tasks", "tekton.dev/v1", {"tekton.dev/v1beta1"}, {}},
    {"StepAction", "stepactions", "tekton.dev/v1beta1", {"tekton.dev/v1alpha1"}, {}},
    {"Pipeline", "pipelines", "tekton.dev/v1", {"tekton.dev/v1beta1"}, {}},
    {"PipelineRun", "pipelineruns", "tekton.dev/v1", {"tekton.dev/v1beta1"}, {"pr"}},
    {"TaskRun", "taskruns", "tekton.dev/v1", {"tekton.dev/v1beta1"}, {"tr"}},
    // Kubernetes
    {"ConfigMap", "configmaps", "v1", {}, {"cm"}},
    {"Secret", "secrets", "v1", {}, {}},
    {"PersistentVolumeClaim", "persistentvolumeclaims", "v1", {}, {"pvc"}, true, false},
    {"Service", "services", "v1", {}, {"svc"}},
    {"Deployment", "deployments", "apps/v1", {}, {"deploy"}},
    {"Job", "jobs", "batch/v1", {}, {}},
    {"Pod", "pods", "v1", {}, {"po"}},
    {"CronJob", "cronjobs", "batch/v1", {"batch/v1beta1"}, {"cj"}},
    // Argo Rollouts and Argo CD
    {"Rollout", "rollouts", "argoproj.io/v1alpha1", {}, {"ro"}},
    {"AnalysisTemplate", "analysistemplates", "argoproj.io/v1alpha1", {}, {"at"}},
    {"ClusterAnalysisTemplate",
     "clusteranalysistemplates",
     "argoproj.io/v1alpha1",
     {},
     {"cat"},
     false},
    {"AnalysisRun", "analysisruns", "argoproj.io/v1alpha1", {}, {"ar"}},
    {"Experiment", "experiments", "argoproj.io/v1alpha1", {}, {"exp"}},
    {"Application", "applications", "argoproj.io/v1alpha1", {}, {"app", "apps"}},
    // Kargo (model/kargo.h): Project, Warehouse and Freight are acted on; the
    // others are refused at apply until they are. Names as Kargo's CRDs give them.
    {"Project", "projects", kKargoApiVersion, {}, {}, false},
    {"Warehouse", "warehouses", kKargoApiVersion, {}, {}},
    {"Freight", "freights", kKargoApiVersion, {}, {}},
    {"Stage", "stages", kKargoApiVersion, {}, {}},
    {"Promotion", "promotions", kKargoApiVersion, {}, {"promo", "promos"}},
    {"PromotionTask", "promotiontasks", kKargoApiVersion, {}, {"promotask", "promotasks"}},
    {"ClusterPromotionTask",
     "clusterpromotiontasks",
     kKargoApiVersion,
     {},
     {"clusterpromotask", "clusterpromotasks"},
     false},
    {"ProjectConfig", "projectconfigs", kKargoApiVersion, {}, {}},
    {"ClusterConfig", "clusterconfigs", kKargoApiVersion, {}, {}, false},
    // Traffic providers' objects, kept at a Rollout's weights (rollout/mesh.h)
    {"VirtualService",
     "virtualservices",
     "networking.istio.io/v1",
     {"networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"},
     {"vs"}},
    {"DestinationRule",
     "destinationrules",
     "networking.istio.io/v1",
     {"networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"},
     {"dr"}},
    {"TrafficSplit",
     "trafficsplits",
     "split.smi-spec.io/v1alpha3",
     {"split.smi-spec.io/v1alpha2", "split.smi-spec.io/v1alpha1"},
     {"ts"}},
    {"Ingress",
     "ingresses",
     "networking.k8s.io/v1",
     {"networking.k8s.io/v1beta1", "extensions/v1beta1"},
     {"ing"}},
    {"TraefikService",
     "traefikservices",
     "traefik.io/v1alpha1",
     {"traefik.containo.us/v1alpha1"},
     {}},
    // APISIX names it `ar` too; Argo Rollouts' AnalysisRun has it here.
    {"ApisixRoute", "apisixroutes", "apisix.apache.org/v2", {}, {}},
    {"Mapping", "mappings", "getambassador.io/v3alpha1", {"getambassador.io/v2"}, {}},
    // Gateway API routes (Argo Rollouts' gatewayAPI traffic router plugin)
    {"HTTPRoute",
     "httproutes",
     "gateway.networking.k8s.io/v1",
     {"gateway.networking.k8s.io/v1beta1"},
     {}},
    {"GRPCRoute",
     "grpcroutes",
     "gateway.networking.k8s.io/v1",
     {"gateway.networking.k8s.io/v1alpha2"},
     {}},
    {"TCPRoute", "tcproutes", "gateway.networking.k8s.io/v1alpha2", {}, {}},
    {"TLSRoute",
     "tlsroutes",
     "gateway.networking.k8s.io/v1alpha2",
     {"gateway.networking.k8s.io/v1alpha3"},
     {}},
    // Traffic providers' objects stored as written (their weights are not kept)
    // Istio's Gateway and the Gateway API's share the kind name; objects are
    // kept by kind name, so one kind takes both (each stored as written).
    {"Gateway",
     "gateways",
     "networking.istio.io/v1",
     {"networking.istio.io/v1beta1", "networking.istio.io/v1alpha3", "gateway.networking.k8s.io/v1",
      "gateway.networking.k8s.io/v1beta1"},
     {"gw"}},
    {"GatewayClass",
     "gatewayclasses",
     "gateway.networking.k8s.io/v1",
     {"gateway.networking.k8s.io/v1beta1"},
     {"gc"},
     false},
    {"ReferenceGrant",
     "referencegrants",
     "gateway.networking.k8s.io/v1beta1",
     {"gateway.networking.k8s.io/v1alpha2"},
     {"refgrant"}},
    {"KubernetesEndpointResolver",
     "kubernetesendpointresolvers",
     "getambassador.io/v3alpha1",
     {"getambassador.io/v2"},
     {}},
    // Kinds only a cluster acts on: stored as written
    {"Namespace", "namespaces", "v1", {}, {"ns"}, false},
    {"ServiceAccount", "serviceaccounts", "v1", {}, {"sa"}},
    {"LimitRange", "limitranges", "v1", {}, {"limits"}},
    {"ResourceQuota", "resourcequotas", "v1", {}, {"quota"}},
    {"Role", "roles", "rbac.authorization.k8s.io/v1", {}, {}},
    {"RoleBinding", "rolebindings", "rbac.authorization.k8s.io/v1", {}, {}},
    {"ClusterRole", "clusterroles", "rbac.authorization.k8s.io/v1", {}, {}, false},
    {"ClusterRoleBinding", "clusterrolebindings", "rbac.authorization.k8s.io/v1", {}, {}, false},
    {"NetworkPolicy", "networkpolicies", "networking.k8s.io/v1", {}, {"netpol"}},
    {"PodDisruptionBudget", "poddisruptionbudgets", "policy/v1", {"policy/v1beta1"}, {"pdb"}},
    {"CustomResourceDefinition",
     "customresourcedefinitions",
     "apiextensions.k8s.io/v1",
     {"apiextensions.k8s.io/v1beta1"},
     {"crd", "crds"},
     false},
    // strake's own
    {"Repository", "repositories", "strake.dev/v1", {}, {"repo"}},
    {"Incident", "incidents", "strake.dev/v1", {}, {"inc"}},
    {"RolloutRevision", "rolloutrevisions", "strake.dev/v1", {}, {}, true, true, false},
    // What a PipelineRun built (delivery/artifact.h): recorded by the server.
    {"Artifact", "artifacts", "strake.dev/v1", {}, {"art"}, true, true, false},
    // The signed provenance of a PipelineRun or TaskRun (insight/provenance.h):
    // written by the server.
    {"Attestation", "attestations", "strake.dev/v1", {}, {"att"}, true, true, false},
    // What an object's notifications decided and still have to send
    // (insight/notifier.h): written by the server.
    {"NotificationState", "notificationstates", "strake.dev/v1", {}, {}, true, true, false},
    // strake's own pull requests (delivery/pull_request.h): opened by a
    // promotion step, merged or closed through the API.
    {"PullRequest", "pullrequests", "strake.dev/v1", {}, {}, true, true, false},
};

// The custom kinds: every version ever set is kept (pointers handed out stay
// valid); `current` are those set last.
struct CustomKinds {
  std::mutex mu;
  std::deque<KindInfo> arena;
  std::vector<const KindInfo*> current;
};

CustomKinds& Custom() {
  static auto* kinds = new CustomKinds;  // never destroyed: pointers outlive exit
  return *kinds;
}

std::string_view GroupOf(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
}

template <typename Pred>
const KindInfo* FindCustom(Pred pred) {
  CustomKinds& c = Custom();
  std::lock_guard<std::mutex> lock(c.mu);
  for (const KindInfo* k : c.current) {
    if (pred(*k)) return k;
  }
  return nullptr;
}

}  // namespace

bool KindInfo::Accepts(std::string_view v) const {
  return v == api_version ||
         std::find(older_versions.begin(), older_versions.end(), v) != older_versions.end();
}

const std::vector<KindInfo>& Kinds() { return kKinds; }

const KindInfo* KindByPlural(std::string_view plural) {
  for (const auto& k : kKinds) {
    if (k.plural == plural) return &k;
  }
  return FindCustom([&](const KindInfo& k) { return k.plural == plural; });
}

const KindInfo* KindByName(std::string_view name) {
  std::string n = ToLower(name);
  auto named = [&](const KindInfo& k) {
    return ToLower(k.kind) == n || k.plural == n ||
           std::find(k.short_names.begin(), k.short_names.end(), n) != k.short_names.end();
  };
  for (const auto& k : kKinds) {
    if (named(k)) return &k;
  }
  return FindCustom(named);
}

const KindInfo* KindOf(std::string_view api_version, std::string_view kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind && k.Accepts(api_version)) return &k;
  }
  return FindCustom([&](const KindInfo& k) { return k.kind == kind && k.Accepts(api_version); });
}

bool CustomKindAllowed(const KindInfo& k) {
  return std::none_of(kKinds.begin(), kKinds.end(),
                      [&](const KindInfo& b) { return b.plural == k.plural || b.kind == k.kind; });
}

void SetCustomKinds(const std::vector<KindInfo>& kinds) {
  CustomKinds& c = Custom();
  std::lock_guard<std::mutex> lock(c.mu);
  c.current.clear();
  for (KindInfo k : kinds) {
    k.custom = true;
    // The store keys objects by kind name: a CRD's kind may not be a built-in
    // kind of any group (Knative's Service), nor one an earlier CRD took.
    if (!CustomKindAllowed(k)) continue;
    bool taken = std::any_of(c.current.begin(), c.current.end(), [&](const KindInfo* o) {
      return o->kind == k.kind || o->plural == k.plural;
    });
    if (taken) continue;
    auto same = std::find(c.arena.begin(), c.arena.end(), k);
    if (same == c.arena.end()) {
      c.arena.push_back(std::move(k));
      same = std::prev(c.arena.end());
    }
    c.current.push_back(&*same);
  }
}

const KindInfo* CustomKindAt(std::string_view api_version, std::string_view segment) {
  return FindCustom([&](const KindInfo& k) {
    return k.Accepts(api_version) && (k.plural == segment || ToLower(k.kind) == segment);
  });
}

namespace {

// obj[key] of the type asked for, else `fallback` (a CRD is user input).
std::string StrAt(const Json& obj, const char* key, const std::string& fallback = "") {
  return obj.is_object() && obj.contains(key) && obj[key].is_string() ? obj[key].get<std::string>()
                                                                      : fallback;
}
bool BoolAt(const Json& obj, const char* key, bool fallback) {
  return obj.is_object() && obj.contains(key) && obj[key].is_boolean() ? obj[key].get<bool>()
                                                                       : fallback;
}
Json ArrayAt(const Json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_array() ? obj[key] : Json::array();
}
Json ObjectAt(const Json& obj, const char* key) {
  return obj.is_object() && obj.contains(key) && obj[key].is_object() ? obj[key] : Json::object();
}

}  // namespace

std::optional<KindInfo> KindFromCrd(const Json& crd) {
  const Json spec = ObjectAt(crd, "spec");
  const Json names = ObjectAt(spec, "names");
  KindInfo k;
  std::string group = StrAt(spec, "group");
  k.kind = StrAt(names, "kind");
  k.plural = StrAt(names, "plural");
  if (group.empty() || k.kind.empty() || k.plural.empty()) return std::nullopt;
  for (const auto& n : ArrayAt(names, "shortNames")) {
    if (n.is_string()) k.short_names.push_back(n.get<std::string>());
  }
  k.namespaced = StrAt(spec, "scope", "Namespaced") != "Cluster";
  std::vector<std::string> served;
  std::string storage;
  for (const auto& v : ArrayAt(spec, "versions")) {
    if (StrAt(v, "name").empty()) continue;
    std::string av = group + "/" + StrAt(v, "name");
    if (BoolAt(v, "storage", false)) storage = av;
    if (BoolAt(v, "served", true)) served.push_back(av);
  }
  if (served.empty() && !StrAt(spec, "version").empty())
    served.push_back(group + "/" + StrAt(spec, "version"));
  if (served.empty()) return std::nullopt;
  k.api_version = storage.empty() ? served.front() : storage;
  for (const auto& av : served) {
    if (av != k.api_version) k.older_versions.push_back(av);
  }
  k.custom = true;
  return k;
}

bool BuiltInGroup(std::string_view api_version) {
  std::string_view group = GroupOf(api_version);
  return std::any_of(kKinds.begin(), kKinds.end(), [&](const KindInfo& k) {
    if (GroupOf(k.api_version) == group) return true;
    return std::any_of(k.older_versions.begin(), k.older_versions.end(),
                       [&](const std::string& v) { return GroupOf(v) == group; });
  });
}

std::vector<std::string> KindNames() {
  std::vector<std::string> out;
  for (const auto& k : kKinds) {
    out.push_back(ToLower(k.kind));
    out.push_back(k.plural);
    out.insert(out.end(), k.short_names.begin(), k.short_names.end());
  }
  return out;
}

}  // namespace strake::model
