#include "model/kinds.h"

#include <gtest/gtest.h>

#include "model/decode.h"

namespace strake::model {
namespace {

TEST(Kinds, EveryAppliedKindHasADecoderAndEveryNameIsOne) {
  std::set<std::string> names;
  for (const auto& k : Kinds()) {
    EXPECT_EQ(HasDecoder(k.kind), k.applied) << k.kind;
    EXPECT_EQ(KindByName(k.kind), &k);
    EXPECT_EQ(KindByPlural(k.plural), &k);
    EXPECT_EQ(KindOf(k.api_version, k.kind), &k);
    for (const auto& n : k.short_names) EXPECT_EQ(KindByName(n), &k) << n;
  }
  for (const auto& n : KindNames()) EXPECT_TRUE(names.insert(n).second) << n << " names two kinds";
}

TEST(Kinds, NamesAreTakenAsKubectlTakesThem) {
  EXPECT_EQ(KindByName("ro")->kind, "Rollout");
  EXPECT_EQ(KindByName("Rollouts")->kind, "Rollout");
  EXPECT_EQ(KindByName("svc")->kind, "Service");
  EXPECT_EQ(KindByName("pr")->kind, "PipelineRun");
  EXPECT_EQ(KindByName("taskrun")->kind, "TaskRun");
  EXPECT_EQ(KindByName("app")->kind, "Application");
  EXPECT_EQ(KindByName("rollout-ish"), nullptr);
  EXPECT_EQ(KindOf("tekton.dev/v1beta1", "Task")->api_version, "tekton.dev/v1");
  EXPECT_EQ(KindOf("v1", "Deployment"), nullptr);
}

TEST(Kinds, AKindOfAnotherGroupIsNamedInTheError) {
  auto r = DecodeObject(Json::parse(R"({"apiVersion":"v1","kind":"Deployment",
      "metadata":{"name":"a"},"spec":{}})"),
                        "x.yaml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("kind \"Deployment\" is apps/v1, not v1"), std::string::npos)
      << r.error().message;
  auto rev = DecodeObject(Json::parse(R"({"apiVersion":"strake.dev/v1","kind":"RolloutRevision",
      "metadata":{"name":"a"}})"),
                          "x.yaml");
  ASSERT_FALSE(rev);
}

// A CustomResourceDefinition's kind, as a cluster's discovery serves it:
// its storage version, its other served versions read, its scope and names.
TEST(Kinds, ACustomResourceDefinitionDefinesAKindTheApiServes) {
  Json crd = Json::parse(R"({"apiVersion":"apiextensions.k8s.io/v1",
    "kind":"CustomResourceDefinition","metadata":{"name":"crontabs.stable.example.com"},
    "spec":{"group":"stable.example.com","scope":"Namespaced",
      "names":{"plural":"crontabs","singular":"crontab","kind":"CronTab","shortNames":["ct"]},
      "versions":[{"name":"v1beta1","served":true,"storage":false},
                  {"name":"v1","served":true,"storage":true},
                  {"name":"v0","served":false,"storage":false}]}})");
  auto k = KindFromCrd(crd);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->api_version, "stable.example.com/v1");
  EXPECT_EQ(k->older_versions, std::vector<std::string>{"stable.example.com/v1beta1"});
  EXPECT_TRUE(k->namespaced);
  EXPECT_TRUE(k->custom);
  EXPECT_FALSE(KindFromCrd(Json::parse(R"({"spec":{"group":"g.io","names":{"kind":"X"}}})")));

  Json cluster = crd;
  cluster["spec"]["scope"] = "Cluster";
  cluster["spec"]["names"] = {{"plural", "widgets"}, {"kind", "Widget"}};
  // A CRD may not redefine a built-in kind or plural, in any group (objects
  // are kept by kind name: Knative's Service would be taken for a v1 one).
  Json rollouts = crd;
  rollouts["spec"]["names"] = {{"plural", "rollouts"}, {"kind", "Rollout"}};
  Json knative = crd;
  knative["spec"]["group"] = "serving.knative.dev";
  knative["spec"]["names"] = {{"plural", "kservices"}, {"kind", "Service"}};
  EXPECT_FALSE(CustomKindAllowed(*KindFromCrd(knative)));
  Json again = crd;
  again["spec"]["group"] = "other.example.com";
  SetCustomKinds({*k, *KindFromCrd(cluster), *KindFromCrd(rollouts), *KindFromCrd(knative),
                  *KindFromCrd(again)});
  EXPECT_EQ(KindOf("serving.knative.dev/v1", "Service"), nullptr);
  EXPECT_EQ(KindOf("other.example.com/v1", "CronTab"), nullptr) << "a kind an earlier CRD took";
  // A CRD with fields of the wrong type is no CRD (nothing throws).
  EXPECT_FALSE(KindFromCrd(Json::parse(R"({"spec":{"group":3,"names":[]}})")));
  Json odd = crd;
  odd["spec"]["scope"] = 7;
  odd["spec"]["versions"][1]["served"] = "yes";
  EXPECT_TRUE(KindFromCrd(odd));
  const KindInfo* ct = KindOf("stable.example.com/v1beta1", "CronTab");
  ASSERT_TRUE(ct);
  EXPECT_EQ(KindByName("ct"), ct);
  EXPECT_EQ(KindByPlural("crontabs"), ct);
  EXPECT_EQ(CustomKindAt("stable.example.com/v1", "crontab"), ct) << "by its lower-case kind";
  EXPECT_EQ(CustomKindAt("stable.example.com/v2", "crontabs"), nullptr);
  EXPECT_FALSE(KindByName("widget")->namespaced);
  EXPECT_EQ(KindByPlural("rollouts")->api_version, "argoproj.io/v1alpha1");
  // Set again: the same pointer for the same kind; gone when its CRD is.
  SetCustomKinds({*k});
  EXPECT_EQ(KindOf("stable.example.com/v1", "CronTab"), ct);
  EXPECT_EQ(KindByName("widget"), nullptr);
  SetCustomKinds({});
  EXPECT_EQ(KindOf("stable.example.com/v1", "CronTab"), nullptr);
}

// A kind of a group strake does not know is a custom resource, kept as
// written with a warning; an unknown kind of a group it knows is a mistake.
TEST(Kinds, AnUnknownGroupsKindIsACustomResourceAndAKnownGroupsATypo) {
  auto docs = ParseYaml(R"(apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: every-minute}
spec: {cronSpec: "* * * * */5", image: my-cron-image}
---
apiVersion: argoproj.io/v1alpha1
kind: Rolout
metadata: {name: typo}
)",
                        "c.yaml");
  ASSERT_TRUE(docs);
  Diagnostics diags;
  auto rs = Decode(*docs, diags);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].kind, "CronTab");
  EXPECT_TRUE(std::holds_alternative<StoredObject>(rs[0].value));
  EXPECT_EQ(rs[0].raw["spec"]["cronSpec"], "* * * * */5");
  EXPECT_NE(::testing::PrintToString(diags.WarningStrings()).find("custom resource"),
            std::string::npos);
  EXPECT_NE(diags.ErrorText().find("did you mean \"Rollout\""), std::string::npos)
      << diags.ErrorText();
  EXPECT_TRUE(BuiltInGroup("v1"));
  EXPECT_TRUE(BuiltInGroup("tekton.dev/v1beta1"));
  EXPECT_FALSE(BuiltInGroup("stable.example.com/v1"));
}

// RBAC objects are named as Kubernetes names them ("system:auth-delegator");
// every other kind keeps the DNS-1123 subdomain rule.
TEST(Kinds, RbacNamesMayHoldColons) {
  auto docs = ParseYaml(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "wardle:system:auth-delegator"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: "a/b"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: "a:b"}
)",
                        "r.yaml");
  ASSERT_TRUE(docs);
  Diagnostics diags;
  auto rs = Decode(*docs, diags);
  auto errors = diags.ErrorStrings();
  ASSERT_EQ(errors.size(), 2u) << ::testing::PrintToString(errors);
  EXPECT_NE(errors[0].find("r.yaml:8:"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("DNS-1123"), std::string::npos) << errors[1];
  ASSERT_FALSE(rs.empty());
  EXPECT_EQ(rs[0].meta.name, "wardle:system:auth-delegator");
}

}  // namespace
}  // namespace strake::model
