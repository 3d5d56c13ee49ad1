#include "delivery/gates.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "base/strings.h"
#include "model/decode.h"

namespace strake::delivery {

namespace {

using model::Json;

// The Project's and the server's gate objects, as far as they can be read.
struct Configs {
  std::optional<model::ProjectConfig> project;
  std::optional<model::ClusterConfig> cluster;
  std::map<std::string, std::string> project_labels;  // the Project's, for projectSelector
  std::vector<std::string> broken;                    // why one cannot be read
};

template <typename T>
Result<std::optional<T>> ReadConfig(store::Store& store, const store::Key& key,
                                    std::vector<std::string>& broken) {
  STRAKE_TRY_ASSIGN(stored, store.Get(key));
  if (!stored) return std::optional<T>();
  std::string what = key.kind + (key.ns.empty() ? "" : " " + key.ns);
  auto decoded = model::DecodeObject(stored->object, ToLower(key.kind) + " " + key.name);
  if (!decoded) {
    broken.push_back(what + " cannot be read: " + decoded.error().message);
    return std::optional<T>();
  }
  return std::optional<T>(std::get<T>(decoded->value));
}

Result<Configs> ReadConfigs(store::Store& store, const std::string& ns) {
  Configs c;
  STRAKE_TRY_ASSIGN(project,
                    ReadConfig<model::ProjectConfig>(store, {"ProjectConfig", ns, ns}, c.broken));
  c.project = std::move(project);
  STRAKE_TRY_ASSIGN(cluster,
                    ReadConfig<model::ClusterConfig>(
                        store, {"ClusterConfig", "", model::kClusterConfigName}, c.broken));
  c.cluster = std::move(cluster);
  if (c.cluster) {
    STRAKE_TRY_ASSIGN(p, store.Get({"Project", "", ns}));
    if (p) c.project_labels = p->labels;
  }
  return c;
}

bool Selects(const std::optional<model::StageSelector>& selector, const std::string& name,
             const std::map<std::string, std::string>& labels) {
  return !selector || model::SelectsStage(*selector, name, labels);
}

// The windows and freeze periods of both objects that cover the Stage.
Result<std::vector<Window>> AllWindows(const Configs& c, const model::Stage& stage) {
  std::vector<Window> out;
  if (c.project) {
    auto own = WindowsFor(*c.project, stage.meta.name, stage.meta.labels);
    if (!own) return tl::unexpected(own.error().Wrap("ProjectConfig " + stage.meta.ns));
    out = std::move(*own);
  }
  if (!c.cluster) return out;
  // The ClusterConfig's, narrowed to the Projects they select first.
  model::ProjectConfig scoped;
  for (const auto& w : c.cluster->promotion_windows)
    if (Selects(w.project_selector, stage.meta.ns, c.project_labels))
      scoped.promotion_windows.push_back(w);
  for (const auto& f : c.cluster->freeze_periods)
    if (Selects(f.project_selector, stage.meta.ns, c.project_labels))
      scoped.freeze_periods.push_back(f);
  auto global = WindowsFor(scoped, stage.meta.name, stage.meta.labels);
  if (!global) return tl::unexpected(global.error().Wrap("ClusterConfig"));
  for (auto& w : *global) {
    w.source = "ClusterConfig";
    out.push_back(std::move(w));
  }
  return out;
}

// A stopped line as it holds for one Stage (or, with no Stage, for every
// one: no exception applies).
StoppedLine LineFor(const model::LineStop& stop, std::string source, const model::Stage* stage,
                    const std::string& ns, const std::map<std::string, std::string>& labels) {
  StoppedLine line{std::move(source), stop.reason, {}, {}};
  if (!stage) return line;
  for (const auto& e : stop.exceptions) {
    if (!Selects(e.stage_selector, stage->meta.name, stage->meta.labels)) continue;
    if (!Selects(e.project_selector, ns, labels)) continue;
    line.exceptions.push_back(e.name);
    line.freight.insert(line.freight.end(), e.freight.begin(), e.freight.end());
  }
  return line;
}

// Each gate of a list (`field`, of the ProjectConfig and of the
// ClusterConfig) that selects the Stage, made into what the gates hold by
// `make(gate, source)`; a gate that cannot be made (stored before it was
// checked) is why the gates close.
template <typename Gate, typename Made, typename Make>
Result<std::vector<Made>> SelectedOf(const Configs& c, const model::Stage& stage,
                                     std::vector<Gate> model::ProjectConfig::*project_field,
                                     std::vector<Gate> model::ClusterConfig::*cluster_field,
                                     const Make& make) {
  std::vector<Made> out;
  auto add = [&](const std::vector<Gate>& list, const std::string& source) -> Status {
    for (const auto& g : list) {
      if (!Selects(g.stage_selector, stage.meta.name, stage.meta.labels)) continue;
      if (!Selects(g.project_selector, stage.meta.ns, c.project_labels)) continue;
      STRAKE_TRY_ASSIGN(made, make(g, source));
      out.push_back(std::move(made));
    }
    return Ok();
  };
  if (c.project) STRAKE_TRY(add((*c.project).*project_field, "ProjectConfig " + stage.meta.ns));
  if (c.cluster) STRAKE_TRY(add((*c.cluster).*cluster_field, "ClusterConfig"));
  return out;
}

// The criteria that select the Stage, compiled.
Result<std::vector<Criterion>> CriteriaOf(const Configs& c, const model::Stage& stage) {
  return SelectedOf<model::PromotionCriterion, Criterion>(
      c, stage, &model::ProjectConfig::promotion_criteria,
      &model::ClusterConfig::promotion_criteria,
      [](const model::PromotionCriterion& pc, const std::string& source) -> Result<Criterion> {
        auto expr = CompileCriterion(pc.expression);
        if (!expr)
          return Failf("{}: criterion {}: {}", source, Quote(pc.name), expr.error().message);
        return Criterion{pc.name, source, std::move(*expr), pc.expression};
      });
}

// The approval policies that select the Stage, their rules read.
Result<std::vector<PolicyGate>> PoliciesOf(const Configs& c, const model::Stage& stage) {
  return SelectedOf<model::ApprovalPolicy, PolicyGate>(
      c, stage, &model::ProjectConfig::approval_policies, &model::ClusterConfig::approval_policies,
      [](const model::ApprovalPolicy& p, const std::string& source) -> Result<PolicyGate> {
        auto config = ParseApprovalConfig(p.rules);
        if (!config)
          return Failf("{}: approval policy {}: {}", source, Quote(p.name), config.error().message);
        return PolicyGate{p.name, source, std::move(*config)};
      });
}

std::vector<StoppedLine> Lines(const Configs& c, const model::Stage* stage, const std::string& ns) {
  std::vector<StoppedLine> out;
  if (c.project && c.project->stop_the_line)
    out.push_back(LineFor(*c.project->stop_the_line, "ProjectConfig " + ns, stage, ns, {}));
  if (c.cluster && c.cluster->stop_the_line)
    out.push_back(LineFor(*c.cluster->stop_the_line, "ClusterConfig", stage, ns, c.project_labels));
  return out;
}

}  // namespace

bool StoppedLine::Excepts(const std::string& freight_name) const {
  return std::find(freight.begin(), freight.end(), freight_name) != freight.end();
}

std::string StoppedLine::Describe() const {
  std::string out = fmt::format("line stopped by {}: {}", source, reason);
  if (!exceptions.empty()) out += fmt::format(" (exceptions: {})", Join(exceptions, ", "));
  return out;
}

Result<std::optional<std::string>> ProjectGates::Denial(const store::Resource& freight) const {
  using Why = std::optional<std::string>;
  for (const auto& line : lines)
    if (!line.Excepts(freight.key.name)) return Why(line.Describe());
  if (windows.closed) return Why("promotion window: " + windows.reason);
  return CriteriaDenial(criteria, freight, stage, now_ms, read_artifact, read_provenance);
}

std::optional<PolicyHold> ProjectGates::ApprovalHold(const Json& annotations) const {
  if (approvals.empty()) return std::nullopt;
  const Json all = ApprovalsOf(annotations);
  const std::string creator =
      annotations.is_object() ? annotations.value(kCreateActorAnnotation, "") : "";
  for (const auto& p : approvals) {
    Decision d = Decide(p.config, all.value(p.Key(), Json::array()), creator);
    if (d.status == StepStatus::kSucceeded) continue;
    std::string source = p.source == "ClusterConfig" ? " of the ClusterConfig" : "";
    return PolicyHold{d.status, fmt::format("approval policy {}{}: {}", p.name, source, d.message)};
  }
  return std::nullopt;
}

std::optional<std::string> ProjectGates::DenialForAll() const {
  for (const auto& line : lines)
    if (line.freight.empty()) return line.Describe();
  if (windows.closed) return "promotion window: " + windows.reason;
  return std::nullopt;
}

int64_t ProjectGates::NextChangeMs() const {
  auto next = windows.closed ? windows.next_open : windows.next_close;
  return next ? *next * 1000 : 0;
}

Json ProjectGates::LineStatusToJson() const {
  if (lines.empty()) return nullptr;
  Json out = Json::array();
  for (const auto& l : lines) {
    Json j = {{"source", l.source}, {"reason", l.reason}};
    if (!l.exceptions.empty()) j["exceptions"] = l.exceptions;
    out.push_back(std::move(j));
  }
  return out;
}

Result<ProjectGates> ReadGates(store::Store& store, const model::Stage& stage, int64_t now_ms,
                               ProvenanceReader provenance) {
  const std::string& ns = stage.meta.ns;
  ProjectGates out;
  out.stage = stage.meta.name;
  out.now_ms = now_ms;
  out.read_artifact = [&store, ns](const std::string& name) {
    return store.Get({"Artifact", ns, name});
  };
  out.read_provenance = std::move(provenance);
  STRAKE_TRY_ASSIGN(configs, ReadConfigs(store, ns));
  out.config = configs.project;
  out.lines = Lines(configs, &stage, ns);
  auto closed = [&](const std::string& why) {
    out.any_window = true;
    out.windows.closed = true;
    out.windows.reason = why;
    return out;
  };
  if (!configs.broken.empty()) return closed(Join(configs.broken, "; "));
  auto criteria = CriteriaOf(configs, stage);
  if (!criteria) return closed(criteria.error().message);
  out.criteria = std::move(*criteria);
  auto policies = PoliciesOf(configs, stage);
  if (!policies) return closed(policies.error().message);
  out.approvals = std::move(*policies);
  auto windows = AllWindows(configs, stage);
  if (!windows) return closed(windows.error().message);
  out.any_window = !windows->empty();
  out.windows = EvaluateWindows(*windows, now_ms / 1000);
  return out;
}

Result<std::optional<std::string>> DeployFreeze(store::Store& store, const std::string& ns,
                                                int64_t now_ms) {
  STRAKE_TRY_ASSIGN(configs, ReadConfigs(store, ns));
  if (!configs.broken.empty()) return std::optional<std::string>(Join(configs.broken, "; "));
  auto lines = Lines(configs, nullptr, ns);
  if (!lines.empty()) return std::optional<std::string>(lines.front().Describe());
  // The freeze periods that cover the whole Project.
  model::ProjectConfig freezes;
  auto take = [&](const std::vector<model::FreezePeriod>& periods, bool cluster) {
    for (const auto& f : periods)
      if (!f.stage_selector &&
          (!cluster || Selects(f.project_selector, ns, configs.project_labels)))
        freezes.freeze_periods.push_back(f);
  };
  if (configs.project) take(configs.project->freeze_periods, false);
  if (configs.cluster) take(configs.cluster->freeze_periods, true);
  if (freezes.freeze_periods.empty()) return std::optional<std::string>();
  auto windows = WindowsFor(freezes, "", {});
  if (!windows) return std::optional<std::string>(windows.error().message);
  WindowState st = EvaluateWindows(*windows, now_ms / 1000);
  if (!st.closed) return std::optional<std::string>();
  return std::optional<std::string>(st.reason);
}

}  // namespace strake::delivery
