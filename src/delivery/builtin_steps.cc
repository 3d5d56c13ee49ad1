#include "delivery/builtin_steps.h"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "base/strings.h"
#include "delivery/approval.h"
#include "delivery/stage.h"
#include "delivery/step_config.h"

namespace strake::delivery {

namespace {

class ComposeOutput : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    if (!ctx.config.is_object()) return ErroredStep("config must be an object of outputs", true);
    StepOutcome out;
    out.output = ctx.config;
    return out;
  }
};

class Fail : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    std::string message = ctx.config.is_object() ? ctx.config.value("message", "") : "";
    StepOutcome out;
    out.attempt = {StepStatus::kFailed, "", message.empty() ? "failed" : "failed: " + message,
                   true};
    return out;
  }
};

// Kargo's AuthorizedStages: "project:stage[,project:stage…]".
Status Authorized(const store::Resource& app, const StepContext& ctx) {
  const Json annotations =
      app.object.value("metadata", Json::object()).value("annotations", Json::object());
  std::string value = annotations.value(kAuthorizedStageAnnotation, "");
  auto refused = Failf(
      "Argo CD Application {} in namespace {} does not permit mutation by Kargo Stage {} in "
      "namespace {} (annotate it {}: \"{}:{}\")",
      Quote(app.key.name), Quote(app.key.ns), ctx.stage, ctx.project, kAuthorizedStageAnnotation,
      ctx.project, ctx.stage);
  for (const auto& entry : Split(value, ',')) {
    std::string e(Trim(entry));
    if (e.empty()) continue;
    size_t colon = e.find(':');
    if (colon == std::string::npos) {
      return Failf(
          "unable to parse value of annotation {} ({}) on Argo CD Application {}: "
          "expected format \"<project>:<stage>\"",
          kAuthorizedStageAnnotation, Quote(value), Quote(app.key.name));
    }
    if (Trim(e.substr(0, colon)) == ctx.project && Trim(e.substr(colon + 1)) == ctx.stage)
      return Ok();
  }
  return refused;
}

// The Applications `cfg` selects (by name, or matchLabels), in the
// Promotion's namespace unless `namespace` names another. With
// `authorized`, a selector takes only those that carry
// kargo.akuity.io/authorized-stage for this Stage (a name is for the caller
// to check).
Result<std::vector<store::Resource>> SelectApps(store::Store& store, const Json& cfg,
                                                const StepContext& ctx, const std::string& path,
                                                bool authorized) {
  if (!cfg.is_object()) return Failf("{} must be an object", path);
  std::string ns = cfg.value("namespace", "");
  if (ns.empty()) ns = ctx.project;
  std::string name = cfg.value("name", "");
  const Json selector = cfg.value("selector", Json());
  if (name.empty() == selector.is_null())
    return Failf("{}: exactly one of name and selector is required", path);
  std::vector<store::Resource> out;
  if (!name.empty()) {
    STRAKE_TRY_ASSIGN(app, store.Get({"Application", ns, name}));
    if (!app)
      return Failf("unable to find Argo CD Application {} in namespace {}", Quote(name), Quote(ns));
    out.push_back(std::move(*app));
    return out;
  }
  if (selector.contains("matchExpressions"))
    return Failf("{}.selector.matchExpressions: not supported yet; use matchLabels", path);
  const Json labels = selector.value("matchLabels", Json::object());
  if (!labels.is_object() || labels.empty())
    return Failf("{}.selector: matchLabels is required", path);
  STRAKE_TRY_ASSIGN(all, store.List("Application", ns));
  std::vector<std::string> unauthorized;
  for (auto& app : all) {
    bool match = true;
    for (const auto& [k, v] : labels.items()) {
      auto it = app.labels.find(k);
      match = match && v.is_string() && it != app.labels.end() && it->second == v;
    }
    if (!match) continue;
    if (!authorized || Authorized(app, ctx)) {
      out.push_back(std::move(app));
    } else {
      unauthorized.push_back(app.key.name);
    }
  }
  if (out.empty()) {
    return Failf(
        "found {} Application(s) matching selector in namespace {}, but none are "
        "authorized for Stage {}:{}",
        unauthorized.size(), Quote(ns), ctx.project, ctx.stage);
  }
  return out;
}

// One source update of the config, as it applies to an Application.
struct SourceUpdate {
  std::string repo_url;
  std::string desired_revision;
  bool update_target_revision = false;
};

Result<std::vector<SourceUpdate>> SourceUpdates(const Json& app_cfg, const std::string& path) {
  std::vector<SourceUpdate> out;
  const Json sources = app_cfg.value("sources", Json::array());
  if (!sources.is_array()) return Failf("{}.sources must be a list", path);
  for (size_t i = 0; i < sources.size(); ++i) {
    const Json& s = sources[i];
    std::string at = fmt::format("{}.sources[{}]", path, i);
    if (!s.is_object()) return Failf("{} must be an object", at);
    for (const char* key : {"kustomize", "helm", "chart"}) {
      if (s.contains(key))
        return Failf("{}.{}: not supported yet: strake updates a source's revision", at, key);
    }
    SourceUpdate u;
    u.repo_url = s.value("repoURL", "");
    if (u.repo_url.empty()) return Failf("{}.repoURL is required", at);
    const Json rev = s.value("desiredRevision", Json());
    if (!rev.is_null()) u.desired_revision = rev.is_string() ? rev.get<std::string>() : rev.dump();
    u.update_target_revision = s.value("updateTargetRevision", false);
    if (u.update_target_revision && u.desired_revision.empty())
      return Failf("{}: updateTargetRevision requires desiredRevision", at);
    out.push_back(std::move(u));
  }
  return out;
}

bool RevisionMatches(const std::string& desired, const std::string& observed) {
  if (desired.empty()) return true;
  return observed == desired || (desired.size() >= 7 && StartsWith(observed, desired));
}

class ArgoCDUpdate : public StepRunner {
 public:
  ArgoCDUpdate(store::Store& store, SyncApplication sync) : store_(store), sync_(std::move(sync)) {}

  Millis DefaultTimeout() const override { return Millis(5 * 60 * 1000); }

  StepOutcome Run(const StepContext& ctx) override {
    if (!ctx.config.is_object() || !ctx.config.contains("apps") || !ctx.config["apps"].is_array() ||
        ctx.config["apps"].empty()) {
      return ErroredStep("config.apps: at least one Application is required", true);
    }
    StepOutcome out;
    out.output = {{"apps", Json::array()}};
    bool running = false;
    std::vector<std::string> waiting;
    const Json& apps = ctx.config["apps"];
    for (size_t i = 0; i < apps.size(); ++i) {
      std::string path = fmt::format("config.apps[{}]", i);
      auto selected = SelectApps(store_, apps[i], ctx, path, /*authorized=*/true);
      if (!selected) return ErroredStep(selected.error().message, true);
      auto updates = SourceUpdates(apps[i], path);
      if (!updates) return ErroredStep(updates.error().message, true);
      for (const auto& app : *selected) {
        if (auto ok = Authorized(app, ctx); !ok) return ErroredStep(ok.error().message);
        out.output["apps"].push_back({{"name", app.key.name}, {"namespace", app.key.ns}});
        auto phase = Process(app, *updates, ctx);
        if (!phase) return ErroredStep(phase.error().message);
        if (*phase == "Running") {
          running = true;
          waiting.push_back(app.key.name);
        }
      }
    }
    if (running) {
      out.attempt.status = StepStatus::kRunning;
      out.attempt.message = "waiting for the sync of " + Join(waiting, ", ");
    }
    return out;
  }

 private:
  // The desired revision of the Application's (one) source, and whether
  // an update names it.
  static std::pair<const SourceUpdate*, std::string> UpdateFor(
      const store::Resource& app, const std::vector<SourceUpdate>& updates) {
    const std::string repo = app.object.value("spec", Json::object())
                                 .value("source", Json::object())
                                 .value("repoURL", "");
    for (const auto& u : updates) {
      if (model::NormalizeGitUrl(u.repo_url) == model::NormalizeGitUrl(repo))
        return {&u, u.desired_revision};
    }
    return {nullptr, ""};
  }

  // Kargo's mustPerformUpdate and processApplication: "Running",
  // "Succeeded", or an error.
  Result<std::string> Process(const store::Resource& app, const std::vector<SourceUpdate>& updates,
                              const StepContext& ctx) {
    auto [update, desired] = UpdateFor(app, updates);
    if (!updates.empty() && !update) {
      return Failf("no source of Argo CD Application {} has a repoURL the update names",
                   Quote(app.key.name));
    }
    const Json op = app.status.is_object() ? app.status.value("operationState", Json()) : Json();
    const std::string phase = op.is_object() ? op.value("phase", "") : "";
    const bool done = phase != "Running" && phase != "Terminating";
    std::string by;
    if (op.is_object()) {
      for (const auto& info : op.value("operation", Json::object()).value("info", Json::array())) {
        if (info.is_object() && info.value("name", "") == kPromotionInfoKey)
          by = info.value("value", "");
      }
    }
    if (op.is_object() && by == ctx.promotion) {
      if (!done) return std::string("Running");
      std::string observed = op.value("syncResult", Json::object()).value("revision", "");
      if (phase == "Succeeded" && RevisionMatches(desired, observed))
        return std::string("Succeeded");
      if (phase == "Failed" || phase == "Error") {
        return Failf("Argo CD Application {} in namespace {} failed with: {}", Quote(app.key.name),
                     Quote(app.key.ns), op.value("message", ""));
      }
      // Synced something else: sync again.
    } else if (op.is_object() && !done) {
      return std::string("Running");  // another's sync: waited for, as Kargo
    }
    if (update && update->update_target_revision) STRAKE_TRY(SetTargetRevision(app, desired));
    gitops::SyncRequest req;
    req.revision = desired;
    req.initiated_by = {{"username", "kargo:" + ctx.project + ":" + ctx.stage},
                        {"automated", true}};
    req.info = Json::array({{{"name", kPromotionInfoKey}, {"value", ctx.promotion}}});
    STRAKE_TRY(sync_(app.key.ns, app.key.name, req));
    return std::string("Running");
  }

  Status SetTargetRevision(const store::Resource& app, const std::string& revision) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      STRAKE_TRY_ASSIGN(got, store_.Get(app.key));
      if (!got) return Failf("Argo CD Application {} is gone", Quote(app.key.name));
      store::Resource r = *got;
      Json& source = r.object["spec"]["source"];
      if (source.value("targetRevision", "") == revision) return Ok();
      source["targetRevision"] = revision;
      auto w = store_.Update(r, r.resource_version);
      if (w) return Ok();
      if (!w.error().Is(ErrorCode::kConflict)) return tl::unexpected(w.error());
    }
    return Failf("Argo CD Application {} kept changing", Quote(app.key.name));
  }

  store::Store& store_;
  SyncApplication sync_;
};

}  // namespace

// Kargo's wait-for-approval (delivery/approval.h): Running until enough
// eligible approvals, Failed on an eligible rejection. The API records the
// responses in the Promotion's annotation; each attempt reads them.
class WaitForApproval : public StepRunner {
 public:
  StepOutcome Run(const StepContext& ctx) override {
    auto config = ParseApprovalConfig(ctx.config);
    if (!config) return ErroredStep(config.error().message, true);
    Json annotations = Json::object();
    if (ctx.promotion_object != nullptr)
      annotations = ctx.promotion_object->object.value("metadata", Json::object())
                        .value("annotations", Json::object());
    Json responses = ApprovalsOf(annotations).value(ctx.alias, Json::array());
    Decision d = Decide(*config, responses, annotations.value(kCreateActorAnnotation, ""));
    StepOutcome out;
    out.attempt.status = d.status;
    out.attempt.message = d.message;
    if (d.status == StepStatus::kFailed) {  // a rejection ends it: nothing to try again
      out.attempt.error = d.message;
      out.attempt.terminal = true;
    }
    out.output = d.output;
    // The rules as evaluated, for the API to check a response against (a
    // config with expressions is evaluated here, not there).
    out.output["rules"] = ctx.config.is_object() ? ctx.config : Json::object();
    return out;
  }
};

// Kargo's set-metadata: key/value pairs merged into status.metadata of
// Stages and Freight of the Promotion's Project. Setting the same values
// again (a run after a crash) changes nothing.
class SetMetadata : public StepRunner {
 public:
  explicit SetMetadata(store::Store& store) : store_(store) {}

  StepOutcome Run(const StepContext& ctx) override {
    auto done = Set(ctx);
    // A config error is for good; a store that is busy or contended is tried again.
    if (!done) return ErroredStep(done.error().message, done.error().Is(ErrorCode::kInvalid));
    return StepOutcome{};
  }

 private:
  Status Set(const StepContext& ctx) {
    STRAKE_TRY(OnlyFields(ctx.config, {"updates"}, "config."));
    const Json updates = ctx.config.value("updates", Json());
    if (!updates.is_array() || updates.empty())
      return strake::Fail(ErrorCode::kInvalid, "config.updates: at least one update");
    for (size_t i = 0; i < updates.size(); ++i) {
      const std::string at = fmt::format("config.updates[{}].", i);
      STRAKE_TRY(OnlyFields(updates[i], {"kind", "name", "values"}, at));
      STRAKE_TRY_ASSIGN(kind, Text(updates[i], "kind", true, at));
      STRAKE_TRY_ASSIGN(name, Text(updates[i], "name", true, at));
      if (kind != "Stage" && kind != "Freight")
        return Failf(ErrorCode::kInvalid, "{}kind must be Stage or Freight, found {}", at,
                     Quote(kind));
      const Json values = updates[i].value("values", Json());
      if (!values.is_object() || values.empty())
        return Failf(ErrorCode::kInvalid, "{}values must be an object with at least one key", at);
      STRAKE_TRY_ASSIGN(got, store_.Get({kind, ctx.project, name}));
      if (!got) return Failf("{}name: {} {} not found in {}", at, kind, Quote(name), ctx.project);
      STRAKE_TRY(UpdateStatusOf(
          store_, got->key,
          [&](const Json& was) {
            Json next = was;
            if (!next["metadata"].is_object()) next["metadata"] = Json::object();
            for (const auto& [k, v] : values.items()) next["metadata"][k] = v;
            return next;
          },
          "MetadataSet", fmt::format("metadata set by Promotion {}", ctx.promotion)));
    }
    return Ok();
  }

  store::Store& store_;
};

// Kargo's argocd-wait: waits until every selected Application meets
// `waitFor` (default health, sync, operation; health, suspended and
// degraded OR'd, the rest AND'd). An Application of the Promotion's
// namespace needs no annotation (Kargo's); one of another namespace must
// authorize the Stage, as for argocd-update (strake's namespaces are its
// tenants). With `health` wanted, an Application that turns Degraded from
// a state that was neither Degraded nor Unknown fails the step at once.
class ArgoCDWait : public StepRunner {
 public:
  explicit ArgoCDWait(store::Store& store) : store_(store) {}

  Millis DefaultTimeout() const override { return Millis(5 * 60 * 1000); }

  StepOutcome Run(const StepContext& ctx) override {
    auto wants = WaitFor(ctx.config);
    if (!wants) return ErroredStep(wants.error().message, true);
    const Json apps = ctx.config.is_object() ? ctx.config.value("apps", Json()) : Json();
    if (!apps.is_array() || apps.empty())
      return ErroredStep("config.apps: at least one Application is required", true);
    StepOutcome out;
    out.output = {{"apps", Json::array()}};
    const Json seen = ctx.output.is_object() ? ctx.output.value("apps", Json::array()) : Json();
    std::vector<std::string> waiting;
    for (size_t i = 0; i < apps.size(); ++i) {
      const std::string path = fmt::format("config.apps[{}]", i);
      auto selected = SelectApps(store_, apps[i], ctx, path, /*authorized=*/false);
      if (!selected) return ErroredStep(selected.error().message);
      for (const auto& app : *selected) {
        if (app.key.ns != ctx.project) {
          if (auto ok = Authorized(app, ctx); !ok) return ErroredStep(ok.error().message, true);
        }
        const Json st = app.status.is_object() ? app.status : Json::object();
        const std::string health = st.value("health", Json::object()).value("status", "Unknown");
        const std::string sync = st.value("sync", Json::object()).value("status", "Unknown");
        const std::string op = st.value("operationState", Json::object()).value("phase", "");
        const std::string before = HealthSeen(seen, app);
        if (wants->count("health") && !wants->count("degraded") && health == "Degraded" &&
            !before.empty() && before != "Degraded" && before != "Unknown") {
          out.attempt = {StepStatus::kFailed, "",
                         fmt::format("Argo CD Application {} became Degraded (was {})",
                                     Quote(app.key.name), before),
                         true};
          return out;
        }
        out.output["apps"].push_back({{"name", app.key.name},
                                      {"namespace", app.key.ns},
                                      {"health", health},
                                      {"sync", sync}});
        if (!Met(*wants, health, sync, op)) waiting.push_back(app.key.name);
      }
    }
    if (!waiting.empty()) {
      out.attempt.status = StepStatus::kRunning;
      out.attempt.message = "waiting for " + Join(waiting, ", ");
    }
    return out;
  }

 private:
  static Result<std::set<std::string>> WaitFor(const Json& c) {
    STRAKE_TRY(OnlyFields(c, {"apps", "waitFor"}, "config."));
    const Json w = c.value("waitFor", Json());
    if (w.is_null()) return std::set<std::string>{"health", "sync", "operation"};
    if (!w.is_array() || w.empty()) return strake::Fail("config.waitFor must be a non-empty list");
    std::set<std::string> out;
    for (const auto& v : w) {
      static const std::set<std::string> kKnown = {"health", "sync", "operation", "suspended",
                                                   "degraded"};
      if (!v.is_string() || !kKnown.count(v.get<std::string>()))
        return Failf("config.waitFor: {} is not health, sync, operation, suspended or degraded",
                     v.dump());
      out.insert(v.get<std::string>());
    }
    return out;
  }

  static bool Met(const std::set<std::string>& wants, const std::string& health,
                  const std::string& sync, const std::string& op) {
    bool any_health = wants.count("health") || wants.count("suspended") || wants.count("degraded");
    bool health_ok = (wants.count("health") && health == "Healthy") ||
                     (wants.count("suspended") && health == "Suspended") ||
                     (wants.count("degraded") && health == "Degraded");
    if (any_health && !health_ok) return false;
    if (wants.count("sync") && sync != "Synced") return false;
    return !(wants.count("operation") && op == "Running");
  }

  static std::string HealthSeen(const Json& seen, const store::Resource& app) {
    if (!seen.is_array()) return "";
    for (const auto& a : seen) {
      if (a.is_object() && a.value("name", "") == app.key.name &&
          a.value("namespace", "") == app.key.ns)
        return a.value("health", "");
    }
    return "";
  }

  store::Store& store_;
};

const std::vector<std::string>& BuiltinStepNames() {
  static const std::vector<std::string> kNames = {"argocd-update",  "argocd-wait",
                                                  "compose-output", "fail",
                                                  "set-metadata",   kWaitForApprovalStep};
  return kNames;
}

void AddBuiltinSteps(StepRegistry& registry, store::Store& store, SyncApplication sync) {
  registry.Add("compose-output", std::make_unique<ComposeOutput>());
  registry.Add("fail", std::make_unique<Fail>());
  registry.Add("argocd-update", std::make_unique<ArgoCDUpdate>(store, std::move(sync)));
  registry.Add(kWaitForApprovalStep, std::make_unique<WaitForApproval>());
  registry.Add("set-metadata", std::make_unique<SetMetadata>(store));
  registry.Add("argocd-wait", std::make_unique<ArgoCDWait>(store));
}

}  // namespace strake::delivery
