#include "model/kargo.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/strings.h"
#include "model/decode.h"
#include "model/kinds.h"

namespace strake::model {
namespace {

const std::string kDir = std::string(STRAKE_SOURCE_DIR) + "/tests/kargo/";

// The resources of `text` (file "k.yaml"), their errors and warnings.
struct Decoded {
  std::vector<Resource> resources;
  Diagnostics diags;
  std::string errors() const { return diags.ErrorText(); }
  std::string warnings() const { return Join(diags.WarningStrings(), "\n"); }
};

Decoded DecodeText(const std::string& text) {
  Decoded d;
  auto docs = ParseYaml(text, "k.yaml");
  EXPECT_TRUE(docs) << (docs ? "" : docs.error().message);
  if (docs) d.resources = Decode(*docs, d.diags);
  return d;
}

// A Warehouse of one git subscription to https://github.com/example/app.git
// with `lines` added to it: each at line 8, its key at column 7.
std::string GitWarehouse(const std::string& lines) {
  return R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  subscriptions:
  - git:
      repoURL: https://github.com/example/app.git
      )" +
         lines + "\n";
}

#define EXPECT_HAS(text, want) \
  EXPECT_NE((text).find(want), std::string::npos) << "want: " << (want) << "\nin:\n" << (text)

TEST(KargoDecodeTest, TheDocsPathFilteringWarehouseDecodesWithKargoDefaults) {
  auto loaded = LoadFiles({kDir + "docs_warehouse-path-filtering.yaml"});
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_EQ(loaded->resources.size(), 1u);
  EXPECT_TRUE(loaded->warnings.empty()) << ::testing::PrintToString(loaded->warnings);
  const auto* w = std::get_if<Warehouse>(&loaded->resources[0].value);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->meta.name, "my-warehouse");
  EXPECT_EQ(w->meta.ns, "kargo-demo");
  EXPECT_EQ(w->spec.interval, Millis(300'000));  // 5m0s
  EXPECT_FALSE(w->spec.manual);                  // Automatic
  ASSERT_EQ(w->spec.subscriptions.size(), 1u);
  const WarehouseSubscription& s = w->spec.subscriptions[0];
  EXPECT_EQ(s.name, "");
  EXPECT_EQ(s.git.repo_url, "https://github.com/example/kargo-demo.git");
  EXPECT_EQ(s.git.commit_selection_strategy, "NewestFromBranch");
  EXPECT_EQ(s.git.branch, "");  // the remote's default branch
  EXPECT_EQ(s.git.discovery_limit, 20);
  EXPECT_TRUE(s.git.strict_semvers);
  EXPECT_FALSE(s.git.insecure_skip_tls_verify);
  EXPECT_EQ(s.git.since, "");
  EXPECT_EQ(s.git.include_paths, std::vector<std::string>{"apps/guestbook"});
  EXPECT_EQ(s.git.exclude_paths, std::vector<std::string>{"apps/guestbook/README.md"});
}

TEST(KargoDecodeTest, TheDocsExcludePathsWarehouseDecodes) {
  auto loaded = LoadFiles({kDir + "docs_warehouse-exclude-paths.yaml"});
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_EQ(loaded->resources.size(), 1u);
  const auto& s = std::get<Warehouse>(loaded->resources[0].value).spec.subscriptions.at(0);
  EXPECT_TRUE(s.git.include_paths.empty());
  EXPECT_EQ(s.git.exclude_paths, std::vector<std::string>{"docs"});
}

TEST(KargoDecodeTest, KargosFixtureProjectDecodes) {
  auto loaded = LoadFiles({kDir + "e2e_kargo-fixtures_project.yaml"});
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_EQ(loaded->resources.size(), 1u);
  const auto* p = std::get_if<Project>(&loaded->resources[0].value);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->meta.name, "kargo-fixtures");
}

// Kargo's argocd_update e2e manifests: its Project, git Warehouse,
// PromotionTask and the Stages that run it decode, each document on its own
// (which step kinds exist is said at apply: delivery/).
TEST(KargoDecodeTest, KargosE2eProjectWarehouseTaskAndStagesDecode) {
  auto docs = ParseYamlFile(kDir + "e2e_argocd-update_kargo.yaml");
  ASSERT_TRUE(docs) << docs.error().message;
  ASSERT_EQ(docs->size(), 6u);
  std::vector<Diagnostics> diags;
  auto rs = DecodeEach(*docs, diags);
  ASSERT_EQ(rs.size(), 6u);
  for (const auto& d : diags) EXPECT_FALSE(d.HasErrors()) << d.ErrorText();
  const auto* p = std::get_if<Project>(&rs[0].value);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->meta.name, "kargo-argocd-update");
  const auto* w = std::get_if<Warehouse>(&rs[1].value);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->meta.ns, "kargo-argocd-update");
  const auto& g = w->spec.subscriptions.at(0).git;
  EXPECT_EQ(g.repo_url, "https://github.com/<github-username>/kargo-demo-gitops.git");
  EXPECT_EQ(g.branch, "kustomize");
  EXPECT_EQ(g.discovery_limit, 3);
  const auto* task = std::get_if<PromotionTask>(&rs[2].value);
  ASSERT_TRUE(task);
  EXPECT_FALSE(task->cluster);
  ASSERT_EQ(task->vars.size(), 1u);
  EXPECT_EQ(task->vars[0].name, "gitRepo");
  ASSERT_EQ(task->steps.size(), 4u);
  EXPECT_EQ(task->steps[0].uses, "set-metadata");
  EXPECT_EQ(task->steps[3].as, "output");
  for (int i : {3, 4, 5}) {
    const auto& steps = std::get<Stage>(rs[i].value).spec.steps;
    ASSERT_EQ(steps.size(), 1u);
    EXPECT_EQ(steps[0].task_name, "promo-process");
    EXPECT_EQ(steps[0].task_kind, "PromotionTask");
    EXPECT_EQ(steps[0].uses, "");
  }
  EXPECT_EQ(std::get<Stage>(rs[5].value).spec.requested_freight[0].sources.stages,
            std::vector<std::string>{"uat"});
}

TEST(KargoDecodeTest, PromotionTasksDoNotNestAndTaskStepsTakeOnlyAsAndVars) {
  auto d = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ClusterPromotionTask
metadata: {name: shared}
spec:
  vars: [{name: a}, {name: a, value: x}]
  steps:
  - task: {name: other}
  - uses: fail
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: s, namespace: demo}
spec:
  requestedFreight: [{origin: {kind: Warehouse, name: w}, sources: {direct: true}}]
  promotionTemplate:
    spec:
      steps:
      - task: {name: shared, kind: ClusterPromotionTask}
        if: ${{ true }}
        config: {x: 1}
      - task: {kind: Task}
)");
  std::string e = d.errors();
  for (const char* want : {
           "k.yaml:5:28: spec.vars[1].name: variable \"a\" already defined at spec.vars[0]",
           "k.yaml:7:11: spec.steps[0].task: a PromotionTask's steps cannot run another task",
           "spec.promotionTemplate.spec.steps[0].if: a step that runs a task takes only task, as "
           "and vars, not \"if\"",
           "spec.promotionTemplate.spec.steps[0].config: a step that runs a task takes only "
           "task, as and vars, not \"config\"",
           "spec.promotionTemplate.spec.steps[1].task.name: required field is missing",
           "spec.promotionTemplate.spec.steps[1].task.kind:",
       }) {
    EXPECT_HAS(e, want);
  }
}

// Kargo's docs: a Stage with vars, Freight from upstream Stages and a
// promotion template (docs/docs/50-user-guide/20-how-to-guides/
// 40-working-with-stages.md, with its steps written out).
TEST(KargoDecodeTest, AStageDecodesWithItsRequestsTemplateAndVars) {
  auto d = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: uat, namespace: kargo-demo}
spec:
  vars:
  - name: gitopsRepo
    value: https://github.com/example/kargo-demo.git
  requestedFreight:
  - origin: {kind: Warehouse, name: my-warehouse}
    sources:
      stages: [test, qa]
      requiredSoakTime: 1h
      availabilityStrategy: All
  promotionTemplate:
    spec:
      vars:
      - name: targetBranch
        value: stage/${{ ctx.stage }}
      steps:
      - uses: compose-output
        as: out
        if: ${{ always() }}
        continueOnError: true
        retry: {errorThreshold: 3, timeout: 10m}
        config:
          branch: ${{ vars.targetBranch }}
          nested: [{a: 1}]
      - uses: argocd-update
        config:
          apps: [{name: web}]
  verification:
    analysisTemplates: [{name: smoke}, {name: kayenta, kind: ClusterAnalysisTemplate}]
    analysisRunMetadata: {labels: {team: web}}
    args: [{name: commit, value: "${{ vars.gitopsRepo }}"}]
)");
  ASSERT_EQ(d.resources.size(), 1u) << d.errors();
  EXPECT_TRUE(d.errors().empty()) << d.errors();
  EXPECT_TRUE(d.warnings().empty()) << d.warnings();
  const auto& s = std::get<Stage>(d.resources[0].value);
  ASSERT_EQ(s.spec.vars.size(), 1u);
  EXPECT_EQ(s.spec.vars[0].name, "gitopsRepo");
  ASSERT_EQ(s.spec.requested_freight.size(), 1u);
  const auto& r = s.spec.requested_freight[0];
  EXPECT_EQ(r.origin.String(), "Warehouse/my-warehouse");
  EXPECT_FALSE(r.sources.direct);
  EXPECT_EQ(r.sources.stages, (std::vector<std::string>{"test", "qa"}));
  EXPECT_EQ(r.sources.required_soak, Millis(3'600'000));
  EXPECT_TRUE(r.sources.all);
  ASSERT_EQ(s.spec.template_vars.size(), 1u);
  ASSERT_EQ(s.spec.steps.size(), 2u);
  const auto& step = s.spec.steps[0];
  EXPECT_EQ(step.uses, "compose-output");
  EXPECT_EQ(step.as, "out");
  EXPECT_EQ(step.if_expr, "${{ always() }}");
  EXPECT_TRUE(step.continue_on_error);
  EXPECT_EQ(step.error_threshold, 3);
  EXPECT_EQ(step.timeout, Millis(600'000));
  EXPECT_EQ(step.config, Json::parse(R"({"branch": "${{ vars.targetBranch }}",
                                         "nested": [{"a": 1}]})"));
  ASSERT_TRUE(s.spec.verification);
  ASSERT_EQ(s.spec.verification->templates.size(), 2u);
  EXPECT_FALSE(s.spec.verification->templates[0].cluster);
  EXPECT_TRUE(s.spec.verification->templates[1].cluster);
  EXPECT_EQ(s.spec.verification->run_labels.at("team"), "web");
  EXPECT_EQ(s.spec.verification->args.at(0).value, "${{ vars.gitopsRepo }}");
  EXPECT_EQ(PromotionStepToJson(step),
            Json::parse(R"({"uses": "compose-output", "as": "out", "if": "${{ always() }}",
                "continueOnError": true, "retry": {"errorThreshold": 3, "timeout": "10m0s"},
                "config": {"branch": "${{ vars.targetBranch }}", "nested": [{"a": 1}]}})"));
}

TEST(KargoDecodeTest, BadStagesAreRefusedWithKargosWords) {
  auto d = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: s, namespace: demo}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: w}
    sources: {}
  - origin: {kind: Warehouse, name: w}
    sources:
      direct: true
      autoPromotionOptions: {selectionPolicy: MatchUpstream}
  promotionTemplate:
    spec:
      steps:
      - uses: compose-output
        as: step-2
      - uses: fail
        as: a
      - uses: fail
        as: a
  verification:
    analysisTemplates: [{name: smoke, kind: Template}]
  targets: {selectors: []}
)");
  std::string e = d.errors();
  EXPECT_HAS(e, "k.yaml:7:14: spec.requestedFreight[0].sources: names no source");
  EXPECT_HAS(e,
             "k.yaml:8:5: spec.requestedFreight[1]: freight with origin Warehouse/w "
             "requested multiple times");
  EXPECT_HAS(e,
             "spec.requestedFreight[1].sources.autoPromotionOptions.selectionPolicy: "
             "selection policy 'MatchUpstream' cannot be used when accepting Freight "
             "directly from its origin");
  EXPECT_HAS(e, "requires exactly one upstream Stage");
  EXPECT_HAS(e,
             "k.yaml:16:13: spec.promotionTemplate.spec.steps[0].as: step alias \"step-2\" "
             "is reserved");
  EXPECT_HAS(e,
             "spec.promotionTemplate.spec.steps[2].as: step alias duplicates that of "
             "spec.promotionTemplate.spec.steps[1]");
  EXPECT_HAS(e,
             "spec.verification.analysisTemplates[0].kind: must be AnalysisTemplate or "
             "ClusterAnalysisTemplate, found \"Template\"");
  EXPECT_HAS(e, "k.yaml:23:12: spec.targets: not supported yet");
  // A Promotion's steps are the server's, inflated with explicit aliases:
  // "step-N" is theirs (delivery/promotion_task.h).
  auto promo = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Promotion
metadata: {name: p, namespace: demo}
spec:
  stage: dev
  freight: f
  steps: [{uses: fail, as: step-1}, {uses: fail, as: "t::step-1"}]
)");
  EXPECT_EQ(promo.errors(), "");
}

TEST(KargoDecodeTest, APromotionNamesItsStageAndFreight) {
  auto d = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Promotion
metadata: {name: p, namespace: demo}
spec:
  stage: prod
  freight: 0123abc
  origin: {kind: Warehouse, name: w}
)");
  EXPECT_HAS(d.errors(), "k.yaml:7:11: spec.origin: not supported yet");
  auto ok = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Promotion
metadata: {name: p, namespace: demo}
spec: {stage: prod, freight: 0123abc}
)");
  ASSERT_EQ(ok.resources.size(), 1u) << ok.errors();
  const auto& p = std::get<Promotion>(ok.resources[0].value);
  EXPECT_EQ(p.spec.stage, "prod");
  EXPECT_EQ(p.spec.freight, "0123abc");
  EXPECT_TRUE(p.spec.steps.empty());  // filled from the Stage at apply
}

// Kargo's docs (20-working-with-projects.md): promotion policies by exact
// name, regex and glob.
TEST(KargoDecodeTest, TheDocsProjectConfigDecodesItsPolicies) {
  auto loaded = LoadFiles({kDir + "docs_projectconfig-patterns.yaml"});
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_EQ(loaded->resources.size(), 2u);
  const auto& pc = std::get<ProjectConfig>(loaded->resources[1].value);
  ASSERT_EQ(pc.promotion_policies.size(), 3u);
  EXPECT_EQ(pc.promotion_policies[0].selector.name, "prod-east");
  EXPECT_FALSE(pc.promotion_policies[0].auto_promotion_enabled);
  EXPECT_EQ(pc.promotion_policies[1].selector.name, "regex:test-.*");
  EXPECT_TRUE(pc.promotion_policies[2].auto_promotion_enabled);
  auto bad = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: other, namespace: demo}
spec:
  promotionPolicies:
  - stageSelector: {name: "regex:(", matchExpressions: [{key: a, operator: Exists}]}
    autoRollback: {onVerification: [Failed, Failed], onPromotion: [Error]}
  promotionWindows: [{kind: Sometimes, name: w, dtstart: "20260101T000000", dtend: "20260102T000000"}]
)");
  std::string e = bad.errors();
  EXPECT_HAS(e, "metadata.name: a ProjectConfig is named as its Project: must be \"demo\"");
  EXPECT_HAS(e, "spec.promotionPolicies[0].stageSelector.name: not a regular expression");
  EXPECT_HAS(e, "spec.promotionPolicies[0].stageSelector.matchExpressions: not supported");
  EXPECT_HAS(e,
             "spec.promotionPolicies[0].autoRollback.onVerification[1]: \"Failed\" is listed "
             "twice");
  EXPECT_HAS(e,
             "spec.promotionPolicies[0].autoRollback.onPromotion[0]: must be Failed or "
             "Errored, found \"Error\"");
  EXPECT_HAS(e, "spec.promotionWindows[0].kind: must be Allow or Deny, found \"Sometimes\"");
}

// Kargo's PromotionWindow (api/v1alpha1/promotion_window_types.go): Allow and
// Deny, one-shot or recurring by an RFC 5545 rule, times with a TZID.
TEST(KargoDecodeTest, AProjectConfigsWindowsDecodeAndBadOnesSayWhere) {
  auto ok = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: demo, namespace: demo}
spec:
  promotionWindows:
  - name: business-hours
    kind: Allow
    stageSelector: {name: "glob:prod*"}
    rrule: FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR
    dtstart: TZID=Europe/Berlin:20260105T090000
    dtend: TZID=Europe/Berlin:20260105T170000
  - name: holiday-freeze
    kind: Deny
    dtstart: 20261221T000000Z
    dtend: 20270104T090000Z
)");
  ASSERT_EQ(ok.resources.size(), 1u) << ok.errors();
  const auto& pc = std::get<ProjectConfig>(ok.resources[0].value);
  ASSERT_EQ(pc.promotion_windows.size(), 2u);
  EXPECT_FALSE(pc.promotion_windows[0].deny);
  EXPECT_EQ(pc.promotion_windows[0].stage_selector->name, "glob:prod*");
  EXPECT_EQ(pc.promotion_windows[0].rrule, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR");
  EXPECT_TRUE(pc.promotion_windows[1].deny);
  EXPECT_FALSE(pc.promotion_windows[1].stage_selector);

  auto bad = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: demo, namespace: demo}
spec:
  promotionWindows:
  - {name: a, kind: Deny, rrule: "FREQ=FORTNIGHTLY", dtstart: 20260101T000000, dtend: 20260101T010000}
  - {name: a, kind: Allow, dtstart: "TZID=Mars/Base:20260101T000000", dtend: 20260101T010000}
  - {name: c, kind: Deny, dtstart: 20260102T000000, dtend: 20260101T000000}
  - {name: d, kind: Deny, dtstart: 2026-01-01, dtend: 20260101T000000, projectSelector: {name: x}}
  - {name: e, kind: Allow}
)");
  std::string e = bad.errors();
  EXPECT_HAS(e, "spec.promotionWindows[0].rrule: rrule FREQ: \"FORTNIGHTLY\" is not");
  EXPECT_HAS(e, "spec.promotionWindows[1].name: window \"a\" is named twice");
  EXPECT_HAS(e,
             "spec.promotionWindows[1].dtstart: \"TZID=Mars/Base:20260101T000000\" is not an "
             "iCalendar date-time (time zone \"Mars/Base\" is not in the tz database");
  EXPECT_HAS(e, "spec.promotionWindows[2].dtend: must be after dtstart");
  EXPECT_HAS(e, "spec.promotionWindows[3].dtstart: \"2026-01-01\" is not an iCalendar date-time");
  EXPECT_HAS(e, "spec.promotionWindows[3].projectSelector: is for a ClusterConfig's windows");
  EXPECT_HAS(e, "spec.promotionWindows[4].dtstart: required");
}

// Kargo's docs (20-working-with-projects.md, "Auto-Rollback"): autoRollback
// with its defaults ([Failed] on verification, nothing on promotion) and
// both lists given.
TEST(KargoDecodeTest, TheDocsAutoRollbackDecodesWithKargosDefaults) {
  auto ok = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: my-project, namespace: my-project}
spec:
  promotionPolicies:
  - stageSelector:
      name: prod
    autoRollback: {}
  - stageSelector:
      name: staging
    autoRollback:
      onVerification:
      - Failed
      - Error
      onPromotion:
      - Failed
      - Errored
)");
  ASSERT_EQ(ok.resources.size(), 1u) << ok.errors();
  const auto& pc = std::get<ProjectConfig>(ok.resources[0].value);
  ASSERT_TRUE(pc.promotion_policies[0].auto_rollback);
  EXPECT_EQ(pc.promotion_policies[0].auto_rollback->on_verification,
            std::vector<std::string>{"Failed"});
  EXPECT_TRUE(pc.promotion_policies[0].auto_rollback->on_promotion.empty());
  EXPECT_EQ(pc.promotion_policies[1].auto_rollback->on_verification,
            (std::vector<std::string>{"Failed", "Error"}));
  EXPECT_EQ(pc.promotion_policies[1].auto_rollback->on_promotion,
            (std::vector<std::string>{"Failed", "Errored"}));
}

// GitLab's freeze periods (freeze_start, freeze_end, cron_timezone) and a
// stopped line with its exceptions, strake's fields of a ProjectConfig.
TEST(KargoDecodeTest, FreezePeriodsAndAStoppedLineDecodeAndBadOnesSayWhere) {
  auto ok = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: demo, namespace: demo}
spec:
  freezePeriods:
  - {name: weekend, freezeStart: "0 23 * * 5", freezeEnd: "0 7 * * 1", cronTimezone: Europe/Berlin}
  - {name: nightly, freezeStart: "@daily", freezeEnd: "0 6 * * *", stageSelector: {name: prod}}
  stopTheLine:
    reason: "INC-42: checkout errors"
    exceptions:
    - {name: hotfix-42, freight: [0a1b2c3d4e5f60718293a4b5c6d7e8f901234567], stageSelector: {name: prod}}
)");
  ASSERT_EQ(ok.resources.size(), 1u) << ok.errors();
  const auto& pc = std::get<ProjectConfig>(ok.resources[0].value);
  ASSERT_EQ(pc.freeze_periods.size(), 2u);
  EXPECT_EQ(pc.freeze_periods[0].freeze_start, "0 23 * * 5");
  EXPECT_EQ(pc.freeze_periods[0].cron_timezone, "Europe/Berlin");
  EXPECT_EQ(pc.freeze_periods[1].cron_timezone, "UTC") << "GitLab's default";
  EXPECT_EQ(pc.freeze_periods[1].stage_selector->name, "prod");
  ASSERT_TRUE(pc.stop_the_line);
  EXPECT_EQ(pc.stop_the_line->reason, "INC-42: checkout errors");
  ASSERT_EQ(pc.stop_the_line->exceptions.size(), 1u);
  EXPECT_EQ(pc.stop_the_line->exceptions[0].freight,
            (std::vector<std::string>{"0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"}));

  auto bad = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: demo, namespace: demo}
spec:
  freezePeriods:
  - {name: a, freezeStart: "0 25 * * *", freezeEnd: "0 7 * * 1", cronTimezone: Mars/Base}
  - {name: a, freezeStart: "0 1 * * *", projectSelector: {name: x}}
  - {name: c, freezeStart: "0 1 * * *", freezeEnd: "0 1 * * *"}
  stopTheLine:
    reason: " "
    exceptions: [{name: e, freight: []}, {name: f}, {name: g, freight: [wise-owl]}]
)");
  std::string e = bad.errors();
  EXPECT_HAS(e, "spec.freezePeriods[0].freezeStart: hour: \"25\" is not a value from 0 to 23");
  EXPECT_HAS(e, "spec.freezePeriods[0].cronTimezone: ");
  EXPECT_HAS(e, "Mars/Base");
  EXPECT_HAS(e, "spec.freezePeriods[1].name: freeze period \"a\" is named twice");
  EXPECT_HAS(e, "spec.freezePeriods[1].freezeEnd: required");
  EXPECT_HAS(e, "spec.freezePeriods[1].projectSelector: is for a ClusterConfig's");
  EXPECT_HAS(e,
             "spec.freezePeriods[2].freezeEnd: is freezeStart: a freeze that ends as it "
             "starts never holds");
  EXPECT_HAS(e, "spec.stopTheLine.reason: must say why the line stopped");
  EXPECT_HAS(e, "spec.stopTheLine.exceptions[0].freight: names no Freight");
  EXPECT_HAS(e, "spec.stopTheLine.exceptions[1].freight: required");
  EXPECT_HAS(e,
             "spec.stopTheLine.exceptions[2].freight[0]: \"wise-owl\" is not a Freight's name "
             "(its fingerprint, 40 hex digits); an exception names Freight by name, since an "
             "alias can be moved");
}

// strake's promotionCriteria: named once each, an expression, Stages (and,
// in a ClusterConfig, Projects) selected.
TEST(KargoDecodeTest, PromotionCriteriaDecodeAndBadOnesSayWhere) {
  auto ok = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: demo, namespace: demo}
spec:
  promotionCriteria:
  - {name: coverage, stageSelector: {name: staging}, expression: "evidence('test').COVERAGE >= 80"}
  - {name: soak, expression: "soakTime('dev') > 3600"}
)");
  ASSERT_EQ(ok.resources.size(), 1u) << ok.errors();
  const auto& pc = std::get<ProjectConfig>(ok.resources[0].value);
  ASSERT_EQ(pc.promotion_criteria.size(), 2u);
  EXPECT_EQ(pc.promotion_criteria[0].name, "coverage");
  EXPECT_EQ(pc.promotion_criteria[0].stage_selector->name, "staging");
  EXPECT_EQ(pc.promotion_criteria[0].expression, "evidence('test').COVERAGE >= 80");
  EXPECT_FALSE(pc.promotion_criteria[1].stage_selector);
  auto bad = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: demo, namespace: demo}
spec:
  promotionCriteria:
  - {name: a, expression: " "}
  - {name: a, expression: "true", projectSelector: {name: x}}
  - {expresion: "true"}
)");
  std::string e = bad.errors();
  EXPECT_HAS(e, "spec.promotionCriteria[0].expression: must not be empty");
  EXPECT_HAS(e, "spec.promotionCriteria[1].name: criterion \"a\" is named twice");
  EXPECT_HAS(e, "spec.promotionCriteria[1].projectSelector: is for a ClusterConfig's");
  EXPECT_HAS(e, "spec.promotionCriteria[2].name: required");
  EXPECT_HAS(e, "spec.promotionCriteria[2].expresion: unknown field");
}

// strake's approvalPolicies: wait-for-approval's fields, checked with their
// place.
TEST(KargoDecodeTest, ApprovalPoliciesDecodeAndBadOnesSayWhere) {
  auto ok = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: demo, namespace: demo}
spec:
  approvalPolicies:
  - name: prod-sign-off
    stageSelector: {name: prod}
    minApprovals: 2
    approvers: [{claim: groups, value: release-leads, required: true}, {role: admin}]
)");
  ASSERT_EQ(ok.resources.size(), 1u) << ok.errors();
  const auto& pc = std::get<ProjectConfig>(ok.resources[0].value);
  ASSERT_EQ(pc.approval_policies.size(), 1u);
  EXPECT_EQ(pc.approval_policies[0].stage_selector->name, "prod");
  EXPECT_EQ(pc.approval_policies[0].rules["minApprovals"], 2);
  EXPECT_EQ(pc.approval_policies[0].rules["approvers"][0]["claim"], "groups");
  EXPECT_EQ(pc.approval_policies[0].rules["approvers"][0]["required"], true);
  auto bad = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: demo, namespace: demo}
spec:
  approvalPolicies:
  - {name: a, minApprovals: 0, approvers: [{role: admin, claim: x}]}
  - {name: a, minAprovals: 1}
)");
  std::string e = bad.errors();
  EXPECT_HAS(e, "spec.approvalPolicies[0].minApprovals: ");
  EXPECT_HAS(e,
             "spec.approvalPolicies[0].approvers[0]: an approver is a role, or a claim with "
             "its value");
  EXPECT_HAS(e, "spec.approvalPolicies[1].name: approval policy \"a\" is named twice");
  EXPECT_HAS(e, "spec.approvalPolicies[1].minAprovals: unknown field");
}

// strake's artifact subscription (a Kargo generic subscription) and
// Freight that references artifacts.
TEST(KargoDecodeTest, ArtifactSubscriptionsAndFreightArtifactsDecode) {
  auto ok = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  subscriptions:
  - name: web
    artifact:
      config: {pipeline: build, repoURL: "https://g.example/app.git", branch: main, result: IMAGE, type: image}
      discoveryLimit: 5
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {name: 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567, namespace: demo}
origin: {kind: Warehouse, name: w}
artifacts:
- {artifactType: image, subscriptionName: web, version: "sha256:aa", metadata: {uri: reg/web}}
)");
  ASSERT_EQ(ok.resources.size(), 2u) << ok.errors();
  const auto& w = std::get<Warehouse>(ok.resources[0].value);
  ASSERT_TRUE(w.spec.subscriptions[0].artifact);
  const ArtifactSubscription& a = *w.spec.subscriptions[0].artifact;
  EXPECT_EQ(a.pipeline, "build");
  EXPECT_EQ(a.repo_url, "https://g.example/app.git");
  EXPECT_EQ(a.branch, "main");
  EXPECT_EQ(a.result, "IMAGE");
  EXPECT_EQ(a.type, "image");
  EXPECT_EQ(a.discovery_limit, 5);
  const auto& f = std::get<Freight>(ok.resources[1].value);
  ASSERT_EQ(f.artifacts.size(), 1u);
  EXPECT_EQ(f.artifacts[0].version, "sha256:aa");
  EXPECT_EQ(f.artifacts[0].metadata["uri"], "reg/web");
  auto bad = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  subscriptions:
  - artifact:
      config: {pipline: build, repoURL: "ftp://x", type: binary}
      discoveryLimit: 0
)");
  std::string e = bad.errors();
  EXPECT_HAS(e, "spec.subscriptions[0].name: is required for an artifact subscription");
  EXPECT_HAS(e, "spec.subscriptions[0].artifact.config.pipline: unknown field");
  EXPECT_HAS(e,
             "spec.subscriptions[0].artifact.config.repoURL: must be a valid Git repository URL");
  EXPECT_HAS(e, "spec.subscriptions[0].artifact.config.type: must be image or artifact");
  EXPECT_HAS(e, "spec.subscriptions[0].artifact.discoveryLimit: ");
}

// Kargo's ClusterConfig is named "cluster" and its windows may select
// Projects; strake adds freeze periods and a line stop for every Project.
TEST(KargoDecodeTest, TheClusterConfigDecodesItsGates) {
  auto ok = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ClusterConfig
metadata: {name: cluster}
spec:
  promotionWindows:
  - {name: year-end, kind: Deny, projectSelector: {name: "glob:shop-*"}, dtstart: 20261221T000000Z, dtend: 20270104T090000Z}
  stopTheLine:
    reason: region outage
    exceptions:
    - {name: fix, freight: [ffffffffffffffffffffffffffffffffffffffff], projectSelector: {matchLabels: {tier: edge}}}
  stageLinks: []
)");
  ASSERT_EQ(ok.resources.size(), 1u) << ok.errors();
  const auto& cc = std::get<ClusterConfig>(ok.resources[0].value);
  ASSERT_EQ(cc.promotion_windows.size(), 1u);
  EXPECT_EQ(cc.promotion_windows[0].project_selector->name, "glob:shop-*");
  EXPECT_EQ(cc.stop_the_line->exceptions[0].project_selector->match_labels.at("tier"), "edge");

  auto bad = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: ClusterConfig
metadata: {name: global}
spec:
  webhookReceivers: [{name: gh}]
  gitClient: {name: bot, email: bot@example.com}
)");
  std::string e = bad.errors();
  EXPECT_HAS(e, "metadata.name: the ClusterConfig is named \"cluster\", found \"global\"");
  EXPECT_HAS(e, "spec.webhookReceivers: not supported yet");
  EXPECT_HAS(e, "spec.gitClient: not supported yet");
}

TEST(KargoDecodeTest, KargosKindsTakeTheirCrdNames) {
  EXPECT_EQ(KindByName("freight")->kind, "Freight");
  EXPECT_EQ(KindByName("freights")->kind, "Freight");
  EXPECT_EQ(KindByName("Warehouse")->plural, "warehouses");
  EXPECT_EQ(KindByName("promo")->kind, "Promotion");
  EXPECT_EQ(KindByName("promotasks")->kind, "PromotionTask");
  EXPECT_EQ(KindByName("clusterpromotask")->kind, "ClusterPromotionTask");
  EXPECT_FALSE(KindByName("project")->namespaced);
  EXPECT_FALSE(KindByName("clusterpromotiontasks")->namespaced);
  EXPECT_TRUE(KindByName("stage")->namespaced);
  EXPECT_EQ(KindOf(kKargoApiVersion, "ProjectConfig")->plural, "projectconfigs");
}

TEST(KargoDecodeTest, AWarehouseTakesEveryGitFieldOfKargosSchema) {
  auto d = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  interval: 1h30m
  freightCreationPolicy: Manual
  subscriptions:
  - name: tags
    git:
      repoURL: git@github.com:example/app.git
      commitSelectionStrategy: NewestTag
      strictSemvers: false
      allowTagsRegexes: ['^nightly-\d{8}$']
      ignoreTagsRegexes: [rc]
      includePaths: ["glob:apps/**/*.yaml", "regex:^charts/", "regexp:x$"]
      discoveryLimit: 100
      insecureSkipTLSVerify: true
      allowTags: ""
      ignoreTags: []
  - name: branch
    git:
      repoURL: https://github.com/example/other.git
      branch: release/1.2
      since: "2026-01-01T00:00:00Z"
      discoveryLimit: 1
)");
  ASSERT_FALSE(d.diags.HasErrors()) << d.errors();
  ASSERT_EQ(d.resources.size(), 1u);
  const auto& w = std::get<Warehouse>(d.resources[0].value).spec;
  EXPECT_EQ(w.interval, Millis(5'400'000));
  EXPECT_TRUE(w.manual);
  ASSERT_EQ(w.subscriptions.size(), 2u);
  const auto& tags = w.subscriptions[0];
  EXPECT_EQ(tags.name, "tags");
  EXPECT_EQ(tags.git.commit_selection_strategy, "NewestTag");
  EXPECT_FALSE(tags.git.strict_semvers);
  EXPECT_EQ(tags.git.allow_tags_regexes, std::vector<std::string>{"^nightly-\\d{8}$"});
  EXPECT_EQ(tags.git.ignore_tags_regexes, std::vector<std::string>{"rc"});
  EXPECT_EQ(tags.git.include_paths.size(), 3u);
  EXPECT_EQ(tags.git.discovery_limit, 100);
  EXPECT_TRUE(tags.git.insecure_skip_tls_verify);
  const auto& branch = w.subscriptions[1];
  EXPECT_EQ(branch.git.branch, "release/1.2");
  EXPECT_EQ(branch.git.since, "2026-01-01T00:00:00Z");
  EXPECT_EQ(branch.git.discovery_limit, 1);
  EXPECT_HAS(d.warnings(),
             "spec.subscriptions[0].git.insecureSkipTLSVerify: warning: \"insecureSkipTLSVerify\" "
             "is not applied");
  // Kargo deprecates SSH URLs (v1.10) and removes them in v1.13: said once.
  EXPECT_HAS(d.warnings(),
             "k.yaml:10:16: spec.subscriptions[0].git.repoURL: warning: Kargo deprecates SSH "
             "repository URLs");
}

// One line added to GitWarehouse's subscription, and the one error it
// gives: at line 8, column `col`, under spec.subscriptions[0].git.
struct GitCase {
  std::string line;
  int col;
  std::string want;  // the field path under git, and the message
};

void ExpectOneError(const GitCase& c) {
  auto d = DecodeText(GitWarehouse(c.line));
  EXPECT_EQ(d.diags.ErrorStrings().size(), 1u) << d.errors();
  EXPECT_HAS(d.errors(), fmt::format("k.yaml:8:{}: spec.subscriptions[0].git.{}", c.col, c.want));
}

TEST(KargoDecodeTest, WhatStrakeDoesNotActOnYetIsRefusedAtItsField) {
  for (const GitCase& c : std::vector<GitCase>{
           {"allowTags: ^v", 18,
            "allowTags: AllowTags is deprecated and unsupported as of v1.11.0; use "
            "AllowTagsRegexes instead"},
           {"ignoreTags: [v1.0.0]", 19,
            "ignoreTags: IgnoreTags is deprecated and unsupported as of v1.11.0; use "
            "IgnoreTagsRegexes instead"},
       }) {
    ExpectOneError(c);
  }
}

TEST(KargoDecodeTest, BadGitFieldsNameLineColumnAndPath) {
  for (const GitCase& c : std::vector<GitCase>{
           {"commitSelectionStrategy: NewestTags", 32,
            "commitSelectionStrategy: must be NewestFromBranch, SemVer, Lexical or NewestTag, "
            "found \"NewestTags\" (did you mean \"NewestTag\"?)"},
           {"branch: -main", 15, "branch: must be a valid branch name"},
           {"branch: main.", 15, "branch: must be a valid branch name"},
           {"discoveryLimit: 101", 23, "discoveryLimit: must be between 1 and 100, found 101"},
           {"discoveryLimit: 0", 23, "discoveryLimit: must be between 1 and 100, found 0"},
           {"since: yesterday", 14,
            "since: must be an RFC 3339 time such as \"2026-01-01T00:00:00Z\", found "
            "\"yesterday\""},
           {"since: 2026-02-30T00:00:00Z", 14, "since: must be an RFC 3339 time"},
           {"since: 2026-01-01 00:00:00", 14, "since: must be an RFC 3339 time"},
           {"strictSemvers: yes", 22, "strictSemvers: expected true or false"},
           {"includePath: [apps]", 7,
            "includePath: unknown field \"includePath\" (did you mean \"includePaths\"?)"},
           {"includePaths: [apps, \"regex:apps/(x\"]", 28,
            "includePaths[1]: not a regular expression: "},
           {"excludePaths: [\"regexp:[\"]", 22, "excludePaths[0]: not a regular expression: "},
       }) {
    ExpectOneError(c);
  }
}

TEST(KargoDecodeTest, ABadTagRegexIsRefusedWithItsIndex) {
  auto d = DecodeText(GitWarehouse(R"(commitSelectionStrategy: Lexical
      allowTagsRegexes: ["^v", "(unclosed"]
      ignoreTagsRegexes:
      - "*")"));
  auto errors = d.diags.ErrorStrings();
  ASSERT_EQ(errors.size(), 2u) << d.errors();
  EXPECT_HAS(errors[0],
             "k.yaml:9:32: spec.subscriptions[0].git.allowTagsRegexes[1]: not a regular "
             "expression: missing ): (unclosed");
  EXPECT_HAS(errors[1],
             "k.yaml:11:9: spec.subscriptions[0].git.ignoreTagsRegexes[0]: not a regular "
             "expression: ");
}

TEST(KargoDecodeTest, RepositoryUrlsAreTheOnesKargoTakes) {
  for (const char* url : {"https://github.com/example/app", "http://localhost:8080/app.git",
                          "ssh://git@github.com/example/app.git", "git@github.com:example/app"}) {
    auto d = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  subscriptions:
  - git: {repoURL: ")" + std::string(url) +
                        R"("}
)");
    EXPECT_FALSE(d.diags.HasErrors()) << url << ": " << d.errors();
  }
  // strake's extension: a repository on this machine (Kargo refuses file://).
  auto file = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  subscriptions:
  - git:
      repoURL: file:///srv/git/app.git
)");
  EXPECT_FALSE(file.diags.HasErrors()) << file.errors();
  for (const char* url : {"/srv/git/app.git", "ftp://example.com/app.git", "https://example.com",
                          "ext::sh -c touch% /tmp/pwned"}) {
    auto d = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  subscriptions:
  - git: {repoURL: ")" + std::string(url) +
                        R"("}
)");
    EXPECT_HAS(d.errors(), "spec.subscriptions[0].git.repoURL: must be a valid Git repository URL");
  }
  auto missing = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  subscriptions:
  - git: {branch: dev}
)");
  EXPECT_EQ(missing.errors(),
            "k.yaml:6:10: spec.subscriptions[0].git.repoURL: required field is missing");
}

TEST(KargoDecodeTest, FieldsOfAnotherStrategyAreIgnoredWithAWarningAsKargoIgnoresThem) {
  auto d = DecodeText(GitWarehouse(R"(commitSelectionStrategy: NewestTag
      branch: main
      since: "2026-01-01T00:00:00Z"
  - git:
      repoURL: https://github.com/example/other.git
      allowTagsRegexes: [^v]
      blobless: true)"));
  EXPECT_FALSE(d.diags.HasErrors()) << d.errors();
  std::string w = d.warnings();
  EXPECT_HAS(w,
             "k.yaml:9:15: spec.subscriptions[0].git.branch: warning: \"branch\" is ignored: it "
             "only has effect with commitSelectionStrategy NewestFromBranch, as in Kargo");
  EXPECT_HAS(w,
             "k.yaml:10:14: spec.subscriptions[0].git.since: warning: \"since\" is ignored: it "
             "only has effect with commitSelectionStrategy NewestFromBranch, as in Kargo");
  EXPECT_HAS(w,
             "k.yaml:13:25: spec.subscriptions[1].git.allowTagsRegexes: warning: "
             "\"allowTagsRegexes\" is ignored: it only has effect with a tag strategy (SemVer, "
             "Lexical, NewestTag), as in Kargo");
  EXPECT_HAS(w,
             "k.yaml:14:17: spec.subscriptions[1].git.blobless: warning: \"blobless\" changes "
             "nothing here: strake's mirrors of a repository are full clones");
  const auto& subs = std::get<Warehouse>(d.resources.at(0).value).spec.subscriptions;
  EXPECT_EQ(subs[0].git.since, "") << "not a NewestFromBranch subscription";
}

TEST(KargoDecodeTest, TheSemVerStrategyTakesItsConstraint) {
  auto d = DecodeText(GitWarehouse(R"(commitSelectionStrategy: SemVer
      semverConstraint: ^1.2.0
      strictSemvers: false
  - git:
      repoURL: https://github.com/example/other.git
      semverConstraint: ^2)"));
  EXPECT_FALSE(d.diags.HasErrors()) << d.errors();
  const auto& subs = std::get<Warehouse>(d.resources.at(0).value).spec.subscriptions;
  EXPECT_EQ(subs[0].git.commit_selection_strategy, "SemVer");
  EXPECT_EQ(subs[0].git.semver_constraint, "^1.2.0");
  EXPECT_FALSE(subs[0].git.strict_semvers);
  EXPECT_HAS(d.warnings(),
             "spec.subscriptions[1].git.semverConstraint: warning: \"semverConstraint\" is "
             "ignored: it only has effect with commitSelectionStrategy SemVer, as in Kargo");
}

TEST(KargoDecodeTest, WarehouseSpecFieldsAreCheckedAsKargoChecksThem) {
  struct Case {
    std::string spec;  // the fields of spec before subscriptions, at line 5
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {"interval: 500ms",
            "k.yaml:5:13: spec.interval: must be hours, minutes and seconds as Kargo's pattern "
            "^([0-9]+(\\.[0-9]+)?(s|m|h))+$ takes them (\"5m0s\", \"1h30m\"), found \"500ms\""},
           {"interval: \"\"", "k.yaml:5:13: spec.interval: must be hours, minutes and seconds"},
           {"interval: 0s", "k.yaml:5:13: spec.interval: must be more than 0s"},
           {"freightCreationPolicy: Manuel",
            "k.yaml:5:26: spec.freightCreationPolicy: must be Automatic or Manual, found "
            "\"Manuel\" (did you mean \"Manual\"?)"},
           {"freightCreationCriteria: {expression: \"true\"}",
            "k.yaml:5:28: spec.freightCreationCriteria: not supported yet: "
            "freightCreationCriteria (an expression over the discovered artifacts); Freight is "
            "made from every new discovery"},
           {"intervall: 5m",
            "k.yaml:5:3: spec.intervall: unknown field \"intervall\" (did you "
            "mean \"interval\"?)"},
       }) {
    auto d = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  )" + c.spec + R"(
  subscriptions:
  - git: {repoURL: "https://github.com/example/app.git"}
)");
    EXPECT_EQ(d.diags.ErrorStrings().size(), 1u) << d.errors();
    EXPECT_HAS(d.errors(), c.want);
  }
  auto shard = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  shard: east
  subscriptions:
  - git: {repoURL: "https://github.com/example/app.git"}
)");
  EXPECT_FALSE(shard.diags.HasErrors()) << shard.errors();
  EXPECT_HAS(shard.warnings(),
             "k.yaml:5:10: spec.shard: warning: \"shard\" is ignored: it names a controller "
             "shard, and strake runs one controller");
}

TEST(KargoDecodeTest, AWarehouseNeedsAtLeastOneSubscription) {
  auto none = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  subscriptions: []
)");
  EXPECT_EQ(none.errors(),
            "k.yaml:5:18: spec.subscriptions: at least one subscription is required");
  auto missing = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec: {interval: 1m}
)");
  EXPECT_EQ(missing.errors(), "k.yaml:4:7: spec.subscriptions: required field is missing");
}

TEST(KargoDecodeTest, GitImageAndArtifactSubscriptionsAreTakenSoFar) {
  auto d = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  subscriptions:
  - image:
      repoURL: public.ecr.aws/nginx/nginx
      constrain: ^1.26.0
  - chart: {repoURL: "oci://ghcr.io/example/chart"}
  - name: art
    gti: {repoURL: "https://github.com/example/app.git"}
  - name: two
    git: {repoURL: "https://github.com/example/app.git"}
    image: {repoURL: nginx}
  - name: none
)");
  auto errors = d.diags.ErrorStrings();
  ASSERT_EQ(errors.size(), 5u) << d.errors();
  EXPECT_EQ(errors[0],
            "k.yaml:8:7: spec.subscriptions[0].image.constrain: unknown field \"constrain\" (did "
            "you mean \"constraint\"?)");
  EXPECT_EQ(errors[1],
            "k.yaml:9:12: spec.subscriptions[1].chart: not supported yet: strake's Warehouse "
            "subscribes to git repositories, image repositories and strake's artifacts so far");
  EXPECT_EQ(errors[2],
            "k.yaml:11:10: spec.subscriptions[2].gti: not supported yet: strake's Warehouse "
            "subscribes to git repositories, image repositories and strake's artifacts so far "
            "(did you mean \"git\"?)");
  EXPECT_EQ(errors[3],
            "k.yaml:12:5: spec.subscriptions[3]: must have exactly one field naming its type "
            "(git, image, chart), apart from an optional \"name\", but has 2: git, image");
  EXPECT_EQ(errors[4],
            "k.yaml:15:5: spec.subscriptions[4]: must have exactly one field naming its type "
            "(git, image, chart), apart from an optional \"name\", but has 0");
}

TEST(KargoDecodeTest, ImageSubscriptionsWithKargosFieldsAndDefaults) {
  auto ok = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  subscriptions:
  - image: {repoURL: public.ecr.aws/nginx/nginx, constraint: ^1.26.0}
  - name: web
    image:
      repoURL: ghcr.io/team/web
      imageSelectionStrategy: NewestBuild
      allowTagsRegexes: ["^main-"]
      ignoreTagsRegexes: ["-dirty$"]
      platform: linux/arm64/v8
      discoveryLimit: 5
      insecureSkipTLSVerify: true
  - image: {repoURL: ghcr.io/team/api, imageSelectionStrategy: Digest, constraint: latest}
)");
  ASSERT_TRUE(ok.diags.ErrorStrings().empty()) << ok.errors();
  const auto& subs = std::get<Warehouse>(ok.resources.at(0).value).spec.subscriptions;
  ASSERT_EQ(subs.size(), 3u);
  ASSERT_TRUE(subs[0].image);
  EXPECT_EQ(subs[0].image->image_selection_strategy, "SemVer");
  EXPECT_EQ(subs[0].image->constraint, "^1.26.0");
  EXPECT_TRUE(subs[0].image->strict_semvers);
  EXPECT_EQ(subs[0].image->discovery_limit, 20);
  EXPECT_EQ(subs[1].name, "web");
  EXPECT_EQ(subs[1].image->platform, "linux/arm64/v8");
  EXPECT_EQ(subs[1].image->allow_tags_regexes, std::vector<std::string>{"^main-"});
  EXPECT_EQ(subs[1].image->discovery_limit, 5);
  EXPECT_TRUE(subs[1].image->insecure_skip_tls_verify);
  EXPECT_EQ(subs[2].image->constraint, "latest");

  auto bad = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  subscriptions:
  - image: {repoURL: a/b, imageSelectionStrategy: Digest}
  - image: {repoURL: a/c, allowTags: "^v", ignoreTags: [x], platform: linux}
  - image: {repoURL: a/d, imageSelectionStrategy: Newest, discoveryLimit: 101, cacheByTag: true}
)");
  std::string e = bad.errors();
  for (const char* want : {
           "k.yaml:6:12: spec.subscriptions[0].image.constraint: is required with "
           "imageSelectionStrategy Digest",
           "spec.subscriptions[1].image.allowTags: AllowTags is deprecated and unsupported as of "
           "v1.11.0",
           "spec.subscriptions[1].image.ignoreTags: IgnoreTags is deprecated",
           "spec.subscriptions[1].image.platform: must be os/arch or os/arch/variant",
           "spec.subscriptions[2].image.imageSelectionStrategy:",
           "spec.subscriptions[2].image.discoveryLimit: must be between 1 and 100, found 101",
       }) {
    EXPECT_HAS(e, want);
  }
  EXPECT_HAS(bad.warnings(), "\"cacheByTag\" changes nothing here");
}

TEST(KargoDecodeTest, SubscriptionNamesAreUniqueLabelsAndRepositoriesAreSubscribedOnce) {
  auto d = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: demo}
spec:
  subscriptions:
  - name: src
    git: {repoURL: "https://github.com/example/app.git"}
  - name: src
    git: {repoURL: "https://github.com/example/other.git"}
  - name: Not_A_Label
    git: {repoURL: "https://bob@github.com/Example/App/"}
)");
  auto errors = d.diags.ErrorStrings();
  ASSERT_EQ(errors.size(), 3u) << d.errors();
  EXPECT_EQ(errors[0],
            "k.yaml:8:11: spec.subscriptions[1].name: subscription name \"src\" already used at "
            "spec.subscriptions[0].name");
  EXPECT_HAS(errors[1],
             "k.yaml:10:11: spec.subscriptions[2].name: invalid name \"Not_A_Label\": must be a "
             "DNS-1123 label");
  EXPECT_EQ(errors[2],
            "k.yaml:11:20: spec.subscriptions[2].git.repoURL: subscription for Git repository "
            "already exists at spec.subscriptions[0].git (Kargo takes one subscription per "
            "repository)");
}

TEST(KargoDecodeTest, AProjectHasNoSpecSinceKargo17) {
  auto d = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {name: demo}
spec:
  promotionPolicies: [{stage: test, autoPromotionEnabled: true}]
status: {conditions: []}
)");
  EXPECT_EQ(d.errors(),
            "k.yaml:5:3: spec: a Project has no spec since Kargo v1.7: its promotionPolicies "
            "are a ProjectConfig's (named as the Project, in its namespace)");
  auto dotted = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {name: demo.example}
)");
  EXPECT_HAS(dotted.errors(),
             "k.yaml:3:18: metadata.name: invalid name \"demo.example\": must be a DNS-1123 "
             "label");
}

const char* kFreight = R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata:
  name: c224144ab8a893277e0f4dbbe2191c6e3a340ae7
  namespace: kargo-demo
alias: mortal-dragonfly
origin:
  kind: Warehouse
  name: kargo-demo
commits:
- repoURL: https://github.com/example/kargo-demo.git
  id: 1111111111111111111111111111111111111111
  branch: main
  message: "fix: the thing"
  author: Ann <ann@example.com>
  committer: Bob <bob@example.com>
  subscriptionName: src
- repoURL: https://github.com/example/config.git
  id: 2222222222222222222222222222222222222222
  tag: v1.2.3
discoveredAt: "2026-01-01T00:00:00Z"
status:
  currentlyIn: {test: {since: "2026-01-01T00:01:00Z"}}
)";

TEST(KargoDecodeTest, FreightDecodesWithItsOriginAndCommits) {
  auto d = DecodeText(kFreight);
  ASSERT_FALSE(d.diags.HasErrors()) << d.errors();
  ASSERT_EQ(d.resources.size(), 1u);
  const auto* f = std::get_if<Freight>(&d.resources[0].value);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->meta.name, "c224144ab8a893277e0f4dbbe2191c6e3a340ae7");
  EXPECT_EQ(f->alias, "mortal-dragonfly");
  EXPECT_EQ(f->origin, (FreightOrigin{"Warehouse", "kargo-demo"}));
  EXPECT_EQ(f->origin.String(), "Warehouse/kargo-demo");
  ASSERT_EQ(f->commits.size(), 2u);
  const FreightCommit& c = f->commits[0];
  EXPECT_EQ(c.repo_url, "https://github.com/example/kargo-demo.git");
  EXPECT_EQ(c.id, "1111111111111111111111111111111111111111");
  EXPECT_EQ(c.branch, "main");
  EXPECT_EQ(c.message, "fix: the thing");
  EXPECT_EQ(c.author, "Ann <ann@example.com>");
  EXPECT_EQ(c.committer, "Bob <bob@example.com>");
  EXPECT_EQ(c.subscription_name, "src");
  EXPECT_EQ(f->commits[1].tag, "v1.2.3");
}

TEST(KargoDecodeTest, FreightWithoutCommitsIsRefusedWithKargosWords) {
  auto none = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {name: f, namespace: demo}
origin: {kind: Warehouse, name: w}
)");
  EXPECT_EQ(none.errors(),
            "k.yaml:1:1: commits: freight must contain at least one commit, image, or chart");
  auto empty = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {name: f, namespace: demo}
origin: {kind: Warehouse, name: w}
commits: []
)");
  EXPECT_EQ(empty.errors(),
            "k.yaml:5:10: commits: freight must contain at least one commit, image, or chart");
}

TEST(KargoDecodeTest, BadFreightNamesLineColumnAndPath) {
  auto d = DecodeText(R"(apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {name: f, namespace: demo}
origin: {kind: Stage}
commits:
- {repoURL: "ftp://srv/app.git", id: abc123}
- {id: 1111111111111111111111111111111111111111, repoURL: "https://g.example/a", sha: x}
images: [{repoURL: nginx, tag: "1.29"}]
charts: []
discoveredAt: tomorrow
spec: {}
)");
  std::string e = d.errors();
  for (const char* want : {
           "k.yaml:4:16: origin.kind: must be Warehouse (the only origin of Freight), found "
           "\"Stage\"",
           "k.yaml:4:9: origin.name: required field is missing",
           "k.yaml:6:13: commits[0].repoURL: must be a valid Git repository URL",
           "k.yaml:6:38: commits[0].id: must be a full commit ID (40 or 64 hex digits), found "
           "\"abc123\"",
           "k.yaml:7:82: commits[1].sha: unknown field \"sha\"",
           "k.yaml:8:10: images[0].digest: required field is missing",
           "k.yaml:10:15: discoveredAt: must be an RFC 3339 time",
           "k.yaml:11:1: spec: unknown field \"spec\"",
       }) {
    EXPECT_HAS(e, want);
  }
  EXPECT_EQ(e.find("charts"), std::string::npos) << "an empty list is no chart";
  EXPECT_EQ(e.find("at least one commit"), std::string::npos) << e;
}

TEST(KargoFreightJsonTest, CommitsRoundTripWithKargosKeysAndEmptyOnesLeftOut) {
  FreightCommit c;
  c.repo_url = "https://github.com/example/app.git";
  c.id = "1111111111111111111111111111111111111111";
  c.tag = "v1.0.0";
  c.subscription_name = "src";
  Json j = FreightCommitToJson(c);
  EXPECT_EQ(j.dump(), R"({"repoURL":"https://github.com/example/app.git",)"
                      R"("id":"1111111111111111111111111111111111111111","tag":"v1.0.0",)"
                      R"("subscriptionName":"src"})");
  FreightCommit back = FreightCommitFromJson(j);
  EXPECT_EQ(back.repo_url, c.repo_url);
  EXPECT_EQ(back.id, c.id);
  EXPECT_EQ(back.tag, c.tag);
  EXPECT_EQ(back.subscription_name, c.subscription_name);
  EXPECT_EQ(back.branch, "");
  Json all = Json::parse(R"({"repoURL":"u","id":"i","branch":"b","tag":"t","message":"m",
      "author":"a","committer":"c","subscriptionName":"s"})");
  EXPECT_EQ(FreightCommitToJson(FreightCommitFromJson(all)), all);
  EXPECT_EQ(FreightCommitFromJson(Json::parse(R"({"id":7,"branch":null})")).id, "");
  EXPECT_EQ(FreightCommitFromJson(Json::array()).id, "");
}

}  // namespace
}  // namespace strake::model
