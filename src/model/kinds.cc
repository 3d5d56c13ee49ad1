#include "model/kinds.h"

#include <algorithm>

#include "base/strings.h"

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
    // Traffic providers' objects stored as written (their weights are not kept)
    {"Gateway",
     "gateways",
     "networking.istio.io/v1",
     {"networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"},
     {"gw"}},
    // APISIX names it `ar` too; Argo Rollouts' AnalysisRun has it here.
    {"ApisixRoute", "apisixroutes", "apisix.apache.org/v2", {}, {}},
    {"Mapping", "mappings", "getambassador.io/v3alpha1", {"getambassador.io/v2"}, {}},
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
    {"RolloutRevision", "rolloutrevisions", "strake.dev/v1", {}, {}, true, true, false},
};

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
  return nullptr;
}

const KindInfo* KindByName(std::string_view name) {
  std::string n = ToLower(name);
  for (const auto& k : kKinds) {
    std::string lower = ToLower(k.kind);
    if (lower == n || k.plural == n ||
        std::find(k.short_names.begin(), k.short_names.end(), n) != k.short_names.end()) {
      return &k;
    }
  }
  return nullptr;
}

const KindInfo* KindOf(std::string_view api_version, std::string_view kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind && k.Accepts(api_version)) return &k;
  }
  return nullptr;
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
