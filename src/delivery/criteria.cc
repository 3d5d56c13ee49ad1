#include "delivery/criteria.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>

#include "base/strings.h"
#include "delivery/artifact.h"
#include "delivery/stage.h"
#include "delivery/template.h"

namespace strake::delivery {

namespace {

using rollout::Value;

// A result's value as an expression sees it: a text that is wholly a
// number is that number.
Value ResultValue(const Json& v) {
  if (!v.is_string()) return v;
  const std::string& text = v.get_ref<const std::string&>();
  if (text.empty()) return v;
  Json n = Json::parse(text, nullptr, false);
  return !n.is_discarded() && n.is_number() ? Value(n) : Value(v);
}

const Json& Field(const Json& j, const char* key) {
  static const Json kEmpty = Json::object();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it == j.end() ? kEmpty : *it;
}

// The evidence() function: reads each artifact's Artifact object once, and
// remembers where the evidence it gave came from.
class EvidenceFunction {
 public:
  EvidenceFunction(const Json& artifacts, const ArtifactReader& read)
      : artifacts_(artifacts), read_(read) {}

  Result<Value> operator()(const std::vector<Value>& args) {
    if (args.empty() || args.size() > 2 || !args[0].is_string() ||
        (args.size() == 2 && !args[1].is_string()))
      return Fail("evidence takes a pipeline task's name (and optionally a subscription name)");
    const std::string task = args[0].get<std::string>();
    const std::string sub = args.size() == 2 ? args[1].get<std::string>() : "";
    for (const auto& a : artifacts_) {
      if (!a.is_object() || (!sub.empty() && a.value("subscriptionName", "") != sub)) continue;
      auto spec = Spec(a);
      if (!spec) return tl::unexpected(spec.error());
      const Json& found = Field(Field(*spec, "evidence"), task.c_str());
      if (!found.is_object() || found.empty()) continue;
      std::string run = Field(*spec, "builtBy").value("pipelineRun", "");
      std::string from = fmt::format("PipelineRun {}, task {}", run, task);
      if (std::find(sources_.begin(), sources_.end(), from) == sources_.end())
        sources_.push_back(from);
      Value out = Value::object();
      for (const auto& [k, v] : Field(found, "results").items()) out[k] = ResultValue(v);
      return out;
    }
    return Failf("no evidence of task {} in the Freight's artifacts{}", Quote(task),
                 sub.empty() ? "" : " of subscription " + Quote(sub));
  }

  const std::vector<std::string>& sources() const { return sources_; }
  const Status& store_failure() const { return store_failure_; }

 private:
  // The recorded spec of a Freight artifact, by the fingerprint of its uri
  // and version; a store failure is kept apart (it is not a denial).
  Result<Json> Spec(const Json& a) {
    const std::string uri = Field(a, "metadata").value("uri", "");
    const std::string digest = a.value("version", "");
    const std::string name = ArtifactName(uri, digest);
    auto cached = specs_.find(name);
    if (cached != specs_.end()) return cached->second;
    auto got = read_(name);
    if (!got) {
      store_failure_ = tl::unexpected(got.error());
      return tl::unexpected(got.error());
    }
    if (!*got) return Failf("no Artifact recorded for {}@{}", uri, digest);
    Json spec = (**got).object.value("spec", Json::object());
    if (spec.value("uri", "") != uri || spec.value("digest", "") != digest)
      return Failf("Artifact {} is not {}@{}", name, uri, digest);
    return specs_.emplace(name, std::move(spec)).first->second;
  }

  const Json& artifacts_;
  const ArtifactReader& read_;
  std::map<std::string, Json> specs_;
  std::vector<std::string> sources_;
  Status store_failure_ = Ok();
};

rollout::HostFunction StatusCheck(const Json& status, const char* field) {
  return [&status, field](const std::vector<Value>& args) -> Result<Value> {
    if (args.size() != 1 || !args[0].is_string()) return Failf("{} takes a Stage's name", field);
    return Value(Field(status, field).contains(args[0].get<std::string>()));
  };
}

rollout::HostFunctions Functions(const store::Resource& freight, int64_t now_ms,
                                 EvidenceFunction& evidence) {
  rollout::HostFunctions fns;
  const Json artifacts = freight.object.value("artifacts", Json::array());
  fns["evidence"] = [&evidence](const std::vector<Value>& args) { return evidence(args); };
  fns["artifactFrom"] = ArtifactFrom(artifacts);
  fns["imageFrom"] = ImageFrom(artifacts);
  fns["commitFrom"] = CommitFrom(CommitsOf(freight.object));
  fns["verifiedIn"] = StatusCheck(freight.status, "verifiedIn");
  fns["approvedFor"] = StatusCheck(freight.status, "approvedFor");
  fns["soakTime"] = [&freight, now_ms](const std::vector<Value>& args) -> Result<Value> {
    if (args.size() != 1 || !args[0].is_string()) return Fail("soakTime takes a Stage's name");
    return Value(LongestSoakMs(freight.status, args[0].get<std::string>(), now_ms) / 1000);
  };
  return fns;
}

std::map<std::string, Value> Variables(const store::Resource& freight, const std::string& stage) {
  const Json& o = freight.object;
  Value f = {{"name", freight.key.name},
             {"alias", o.value("alias", "")},
             {"origin", o.value("origin", Json::object())}};
  return {{"freight", std::move(f)}, {"stage", Value(stage)}};
}

}  // namespace

const std::set<std::string>& CriteriaFunctionNames() {
  static const std::set<std::string> kNames = {"evidence",   "artifactFrom", "imageFrom",
                                               "commitFrom", "verifiedIn",   "approvedFor",
                                               "soakTime"};
  return kNames;
}

Result<rollout::Expr> CompileCriterion(const std::string& expression) {
  return rollout::Expr::Compile(expression, CriteriaFunctionNames());
}

Result<std::optional<std::string>> CriteriaDenial(const std::vector<Criterion>& criteria,
                                                  const store::Resource& freight,
                                                  const std::string& stage, int64_t now_ms,
                                                  const ArtifactReader& read) {
  if (criteria.empty()) return std::optional<std::string>();
  const Json artifacts = freight.object.value("artifacts", Json::array());
  const auto vars = Variables(freight, stage);
  for (const auto& c : criteria) {
    EvidenceFunction evidence(artifacts, read);
    const rollout::HostFunctions fns = Functions(freight, now_ms, evidence);
    auto value = c.expr.Eval(vars, &fns);
    STRAKE_TRY(evidence.store_failure());
    std::string why;
    if (!value) {
      why = value.error().message;
    } else if (!value->is_boolean()) {
      why = fmt::format("{} is not a boolean but {}", Quote(c.expr.source()), value->dump());
    } else if (value->get<bool>()) {
      continue;
    } else {
      auto explained = c.expr.Explain(vars, &fns);
      why = explained ? *explained : explained.error().message;
    }
    std::string from =
        evidence.sources().empty() ? "" : " (" + Join(evidence.sources(), "; ") + ")";
    std::string source = c.source.rfind("ClusterConfig", 0) == 0 ? " of the ClusterConfig" : "";
    return std::optional<std::string>(
        fmt::format("criteria {}{}: {}{}", c.name, source, why, from));
  }
  return std::optional<std::string>();
}

}  // namespace strake::delivery
