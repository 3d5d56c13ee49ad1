#include "delivery/criteria.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <utility>

#include "base/strings.h"
#include "delivery/artifact.h"
#include "delivery/semver.h"
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

// The Freight's artifact of subscription `sub` (of `artifacts`), or null.
const Json* ArtifactOfSubscription(const Json& artifacts, const std::string& sub) {
  for (const auto& a : artifacts)
    if (a.is_object() && a.value("subscriptionName", "") == sub) return &a;
  return nullptr;
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
    // Which artifact: the one of the subscription named, or the only one
    // (one artifact's tests never speak for another's).
    if (sub.empty() && artifacts_.size() > 1) {
      return Failf(
          "evidence({}): the Freight has {} artifacts: name the subscription, as "
          "evidence({}, 'name')",
          Quote(task), artifacts_.size(), Quote(task));
    }
    for (const auto& a : artifacts_) {
      if (!a.is_object() || (!sub.empty() && a.value("subscriptionName", "") != sub)) continue;
      auto spec = Spec(a);
      if (!spec) return tl::unexpected(spec.error());
      return Of(*spec, task);
    }
    return Failf("the Freight has no artifact{}",
                 sub.empty() ? "" : " of subscription " + Quote(sub));
  }

  // The Freight's artifacts as recorded (artifact.h RecordedArtifacts),
  // read once; a store failure is kept apart (it is not a denial).
  Result<Json> Recorded() {
    if (recorded_) return *recorded_;
    auto r = RecordedArtifacts(artifacts_, Lookup());
    if (!r) return r;
    recorded_ = *r;
    return *r;
  }

  const std::vector<std::string>& sources() const { return sources_; }

  // The results of `task` in an Artifact's evidence: only of a task that
  // Succeeded (a test task that failed under onError: continue proves
  // nothing), and of one run (not a matrix).
  Result<Value> Of(const Json& spec, const std::string& task) {
    const Json& found = Field(Field(spec, "evidence"), task.c_str());
    std::string run = Field(spec, "builtBy").value("pipelineRun", "");
    if (!found.is_object() || found.empty())
      return Failf("no evidence of task {} in PipelineRun {}", Quote(task), run);
    if (found.value("matrix", false))
      return Failf("task {} of PipelineRun {} is a matrix: its runs have no one set of results",
                   Quote(task), run);
    std::string status = found.value("status", "");
    if (status != "Succeeded")
      return Failf("task {} of PipelineRun {} did not succeed ({})", Quote(task), run, status);
    std::string from = fmt::format("PipelineRun {}, task {}", run, task);
    if (std::find(sources_.begin(), sources_.end(), from) == sources_.end())
      sources_.push_back(from);
    Value out = Value::object();
    for (const auto& [k, v] : Field(found, "results").items()) out[k] = ResultValue(v);
    return out;
  }
  const Status& store_failure() const { return store_failure_; }

  // The recorded spec of a Freight artifact, by the fingerprint of its uri
  // and version; a store failure is kept apart (it is not a denial).
  Result<Json> Spec(const Json& a) {
    const std::string name =
        ArtifactName(Field(a, "metadata").value("uri", ""), a.value("version", ""));
    auto cached = specs_.find(name);
    if (cached != specs_.end()) return cached->second;
    STRAKE_TRY_ASSIGN(spec, RecordedSpec(a, Lookup()));
    return specs_.emplace(name, std::move(spec)).first->second;
  }

 private:
  // read_, with a store failure kept apart (it is not a denial).
  ArtifactLookup Lookup() {
    return [this](const std::string& name) {
      auto got = read_(name);
      if (!got) store_failure_ = tl::unexpected(got.error());
      return got;
    };
  }

  const Json& artifacts_;
  const ArtifactReader& read_;
  std::map<std::string, Json> specs_;
  std::optional<Json> recorded_;
  std::vector<std::string> sources_;
  Status store_failure_ = Ok();
};

// The provenance of the Freight's artifacts, each read and verified once.
class ProvenanceFunction {
 public:
  ProvenanceFunction(const Json& artifacts, EvidenceFunction& evidence, const std::string& ns,
                     const ProvenanceReader& read)
      : artifacts_(artifacts), evidence_(evidence), ns_(ns), read_(read) {}

  // provenanceOf(subscription).
  Result<Value> operator()(const std::vector<Value>& args) {
    if (args.size() != 1 || !args[0].is_string())
      return Fail("provenanceOf takes a subscription's name");
    const std::string sub = args[0].get<std::string>();
    if (const Json* a = ArtifactOfSubscription(artifacts_, sub)) return Of(*a);
    return Failf("the Freight has no artifact of subscription {}", Quote(sub));
  }

  // `provenance`: of the Freight's one artifact.
  Result<Value> Only() {
    if (artifacts_.size() == 1) return Of(artifacts_[0]);
    return Unverified(artifacts_.empty() ? "the Freight has no artifact built by a pipeline"
                                         : fmt::format("the Freight has {} artifacts: use "
                                                       "provenanceOf('subscription')",
                                                       artifacts_.size()));
  }

  // Why what was read is not verified ("" when all were).
  std::string Unverifieds() const { return Join(why_not_, "; "); }
  // A failure to read the store (not a denial: the caller's error).
  const Status& store_failure() const { return store_failure_; }

 private:
  // Each artifact's provenance is read and verified once per criterion
  // (Eval and Explain both ask).
  Result<Value> Of(const Json& artifact) {
    const std::string name =
        ArtifactName(Field(artifact, "metadata").value("uri", ""), artifact.value("version", ""));
    auto known = read_for_.find(name);
    if (known != read_for_.end()) return known->second;
    auto spec = evidence_.Spec(artifact);
    if (!spec) {
      // A store failure is the caller's error; anything else (no such
      // recorded Artifact) is why it is not verified.
      const Status& store = evidence_.store_failure();
      if (!store) return tl::unexpected(store.error());
      return Unverified(spec.error().message);
    }
    if (!read_) return Unverified("this server verifies no provenance");
    auto p = read_(ns_, *spec);
    if (!p) {
      store_failure_ = tl::unexpected(p.error());
      return tl::unexpected(p.error());
    }
    if (!p->value("verified", false)) Note(p->value("reason", "not verified"));
    return read_for_.emplace(name, Value(*p)).first->second;
  }
  Value Unverified(const std::string& why) {
    Note(why);
    return Value({{"verified", false}, {"reason", why}});
  }
  void Note(const std::string& why) {
    if (std::find(why_not_.begin(), why_not_.end(), why) == why_not_.end()) why_not_.push_back(why);
  }

  const Json& artifacts_;
  EvidenceFunction& evidence_;
  const std::string& ns_;
  const ProvenanceReader& read_;
  std::vector<std::string> why_not_;
  std::map<std::string, Value> read_for_;
  Status store_failure_ = Ok();
};

// The SBOM of the Freight's artifacts as their recorded Artifacts hold it
// (delivery/sbom.h); one that is missing or could not be recorded is an
// error, so a criterion that reads it denies.
class SbomFunction {
 public:
  SbomFunction(const Json& artifacts, EvidenceFunction& evidence)
      : artifacts_(artifacts), evidence_(evidence) {}

  // sbomOf(subscription).
  Result<Value> operator()(const std::vector<Value>& args) {
    if (args.size() != 1 || !args[0].is_string()) return Fail("sbomOf takes a subscription's name");
    const std::string sub = args[0].get<std::string>();
    if (const Json* a = ArtifactOfSubscription(artifacts_, sub)) return Of(*a);
    return Failf("the Freight has no artifact of subscription {}", Quote(sub));
  }

  // `sbom`: of the Freight's one artifact.
  Result<Value> Only() {
    if (artifacts_.size() == 1) return Of(artifacts_[0]);
    if (artifacts_.empty()) return Fail("sbom: the Freight has no artifact built by a pipeline");
    return Failf("sbom: the Freight has {} artifacts: use sbomOf('subscription')",
                 artifacts_.size());
  }

 private:
  Result<Value> Of(const Json& artifact) {
    STRAKE_TRY_ASSIGN(spec, evidence_.Spec(artifact));
    const std::string what = fmt::format("{}@{}", spec.value("uri", ""), spec.value("digest", ""));
    if (const Json& sbom = Field(spec, "sbom"); !sbom.empty()) return Value(sbom);
    if (const Json& problems = Field(spec, "sbomProblems"); problems.is_array()) {
      std::vector<std::string> lines;
      for (const auto& p : problems) lines.push_back(p.is_string() ? p.get<std::string>() : "");
      return Failf("the SBOM of {} was not recorded: {}", what, Join(lines, "; "));
    }
    return Failf("{} has no SBOM: PipelineRun {} gave no SBOM_BLOB_URL result", what,
                 Field(spec, "builtBy").value("pipelineRun", ""));
  }

  const Json& artifacts_;
  EvidenceFunction& evidence_;
};

// semverMatches(version, constraint): Masterminds' constraint
// (delivery/semver.h) over a version that must be one.
Result<Value> SemverMatches(const std::vector<Value>& args) {
  if (args.size() != 2 || !args[0].is_string() || !args[1].is_string())
    return Fail("semverMatches takes a version and a constraint");
  const std::string version = args[0].get<std::string>();
  auto v = ParseSemVer(version, /*strict=*/false);
  if (!v) return Failf("semverMatches: {} is not a semantic version", Quote(version));
  STRAKE_TRY_ASSIGN(c, SemVerConstraint::Parse(args[1].get<std::string>()));
  return Value(c.Matches(*v));
}

// Whether an expression names the variable `name`: a word of its own, not
// inside a string literal, not a member (`.name`), not a call (`name(`).
// Only then is it read (and provenance's signature checked).
bool NamesVariable(const std::string& source, std::string_view name) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; };
  char quote = 0;
  for (size_t at = 0; at < source.size(); ++at) {
    const char c = source[at];
    if (quote != 0) {
      if (c == '\\' && quote != '`')
        ++at;
      else if (c == quote)
        quote = 0;
      continue;
    }
    if (c == '\'' || c == '"' || c == '`') {
      quote = c;
      continue;
    }
    if (source.compare(at, name.size(), name) != 0) continue;
    const size_t end = at + name.size();
    const bool before = at > 0 && (word(source[at - 1]) || source[at - 1] == '.');
    size_t next = end;
    while (next < source.size() && source[next] == ' ') ++next;
    const bool after =
        (end < source.size() && word(source[end])) || (next < source.size() && source[next] == '(');
    if (!before && !after) return true;
  }
  return false;
}

rollout::HostFunction StatusCheck(const Json& status, const char* field) {
  return [&status, field](const std::vector<Value>& args) -> Result<Value> {
    if (args.size() != 1 || !args[0].is_string()) return Failf("{} takes a Stage's name", field);
    return Value(Field(status, field).contains(args[0].get<std::string>()));
  };
}

// A Freight function over the Freight's artifacts as the recorded Artifacts
// say them (never the Freight's own metadata), and its own commits.
rollout::HostFunction OverRecorded(
    EvidenceFunction& evidence, const Json& commits,
    const std::function<rollout::HostFunction(const Json& freight)>& make) {
  return [&evidence, commits, make](const std::vector<Value>& args) -> Result<Value> {
    auto recorded = evidence.Recorded();
    if (!recorded) return tl::unexpected(recorded.error());
    Json freight = {{"commits", commits}, {"artifacts", *recorded}};
    return make(freight)(args);
  };
}

rollout::HostFunctions Functions(const store::Resource& freight, int64_t now_ms,
                                 EvidenceFunction& evidence, ProvenanceFunction& provenance,
                                 SbomFunction& sbom) {
  rollout::HostFunctions fns;
  const Json commits = freight.object.value("commits", Json::array());
  fns["evidence"] = [&evidence](const std::vector<Value>& args) { return evidence(args); };
  fns["artifactFrom"] =
      OverRecorded(evidence, commits, [](const Json& f) { return ArtifactFrom(f["artifacts"]); });
  const Json images = freight.object.value("images", Json::array());
  fns["imageFrom"] = OverRecorded(
      evidence, commits, [images](const Json& f) { return ImageFrom(f["artifacts"], images); });
  fns["commitFrom"] =
      OverRecorded(evidence, commits, [](const Json& f) { return CommitFrom(CommitsOf(f)); });
  fns["provenanceOf"] = [&provenance](const std::vector<Value>& args) { return provenance(args); };
  fns["sbomOf"] = [&sbom](const std::vector<Value>& args) { return sbom(args); };
  fns["semverMatches"] = SemverMatches;
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
  static const std::set<std::string> kNames = {
      "evidence",    "artifactFrom", "imageFrom",    "commitFrom", "verifiedIn",
      "approvedFor", "soakTime",     "provenanceOf", "sbomOf",     "semverMatches"};
  return kNames;
}

Result<rollout::Expr> CompileCriterion(const std::string& expression) {
  return rollout::Expr::Compile(expression, CriteriaFunctionNames());
}

Result<std::optional<std::string>> CriteriaDenial(const std::vector<Criterion>& criteria,
                                                  const store::Resource& freight,
                                                  const std::string& stage, int64_t now_ms,
                                                  const ArtifactReader& read,
                                                  const ProvenanceReader& read_provenance) {
  if (criteria.empty()) return std::optional<std::string>();
  const Json artifacts = freight.object.value("artifacts", Json::array());
  for (const auto& c : criteria) {
    auto vars = Variables(freight, stage);
    EvidenceFunction evidence(artifacts, read);
    ProvenanceFunction provenance(artifacts, evidence, freight.key.ns, read_provenance);
    SbomFunction sbom(artifacts, evidence);
    // `provenance` is read (and its signature checked) only for a
    // criterion that may name it; `sbom` likewise, and a criterion that
    // names an SBOM there is not denies with why.
    if (NamesVariable(c.expr.source(), "provenance")) {
      auto p = provenance.Only();
      STRAKE_TRY(evidence.store_failure());
      STRAKE_TRY(provenance.store_failure());
      if (!p) return tl::unexpected(p.error());
      vars["provenance"] = std::move(*p);
    }
    std::optional<Result<Value>> sbom_var;
    if (NamesVariable(c.expr.source(), "sbom")) {
      sbom_var = sbom.Only();
      STRAKE_TRY(evidence.store_failure());
      if (*sbom_var) vars["sbom"] = std::move(**sbom_var);
    }
    const rollout::HostFunctions fns = Functions(freight, now_ms, evidence, provenance, sbom);
    auto value = (sbom_var && !*sbom_var) ? Result<Value>(tl::unexpected(sbom_var->error()))
                                          : c.expr.Eval(vars, &fns);
    STRAKE_TRY(evidence.store_failure());
    STRAKE_TRY(provenance.store_failure());
    std::string why;
    if (!value) {
      why = value.error().message;
    } else if (!value->is_boolean()) {
      why = fmt::format("{} is not a boolean but {}", Quote(c.expr.source()), value->dump());
    } else if (value->get<bool>()) {
      continue;
    } else {
      auto explained = c.expr.Explain(vars, &fns);
      STRAKE_TRY(evidence.store_failure());
      STRAKE_TRY(provenance.store_failure());
      why = explained ? *explained : explained.error().message;
    }
    std::vector<std::string> sources = evidence.sources();
    if (!provenance.Unverifieds().empty())
      sources.push_back("provenance not verified: " + provenance.Unverifieds());
    std::string from = sources.empty() ? "" : " (" + Join(sources, "; ") + ")";
    std::string source = c.source.rfind("ClusterConfig", 0) == 0 ? " of the ClusterConfig" : "";
    return std::optional<std::string>(
        fmt::format("criteria {}{}: {}{}", c.name, source, why, from));
  }
  return std::optional<std::string>();
}

}  // namespace strake::delivery
