#include "delivery/artifact.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "base/log.h"
#include "base/strings.h"
#include "model/merge.h"

namespace strake::delivery {

namespace {

// A TaskRun's outcome: "Succeeded", else the reason its Succeeded
// condition gives ("Failed", "TaskRunCancelled"…), "Unknown" while it runs.
std::string Outcome(const Json& status) {
  if (!status.is_object()) return "Unknown";
  for (const auto& c : status.value("conditions", Json::array())) {
    if (!c.is_object() || c.value("type", "") != "Succeeded") continue;
    if (c.value("status", "") == "True") return "Succeeded";
    std::string reason = c.value("reason", "");
    return reason.empty() ? c.value("status", "Unknown") : reason;
  }
  return "Unknown";
}

}  // namespace

Json EvidenceOf(const std::vector<store::Resource>& task_runs) {
  Json out = Json::object();
  for (const auto& tr : task_runs) {
    std::string task = tr.Label("tekton.dev/pipelineTask");
    if (task.empty()) continue;
    Json results = Json::object();
    for (auto& [name, value] : ResultsByName(tr.status.value("results", Json::array())))
      results[name] = std::move(value);
    if (out.contains(task)) {
      // A matrix task: several runs, no one set of results.
      Json& was = out[task];
      Json runs = was.value("taskRuns", Json::array({was.value("taskRun", "")}));
      runs.push_back(tr.key.name);
      std::string status = was.value("status", "");
      if (Outcome(tr.status) != "Succeeded") status = Outcome(tr.status);
      was = {{"taskRuns", std::move(runs)}, {"status", status}, {"matrix", true}};
      continue;
    }
    out[task] = {
        {"taskRun", tr.key.name}, {"status", Outcome(tr.status)}, {"results", std::move(results)}};
  }
  return out;
}

Json BuiltBy(const store::Resource& run) {
  Json out = {{"pipelineRun", run.key.name}, {"uid", run.uid}};
  // What the engine kept at submission (status.strake.source): labels and
  // annotations can be patched by a client after the run is made.
  const Json strake =
      run.status.is_object() ? run.status.value("strake", Json::object()) : Json::object();
  const Json source = strake.is_object() ? strake.value("source", Json::object()) : Json();
  for (const char* key : {"pipeline", "repoURL", "commit", "branch"}) {
    if (source.is_object() && source.contains(key) && source[key].is_string())
      out[key] = source[key];
  }
  std::string finished = run.status.value("completionTime", "");
  if (!finished.empty()) out["finishedAt"] = finished;
  return out;
}

Json ArtifactObject(const store::Resource& run, const BuiltArtifact& a, const Json& evidence,
                    const Json& sbom) {
  Json built_by = BuiltBy(run);
  Json labels = {{"tekton.dev/pipelineRun", run.key.name}};
  if (built_by.contains("pipeline")) labels["tekton.dev/pipeline"] = built_by["pipeline"];
  Json out = {{"apiVersion", kArtifactApiVersion},
              {"kind", "Artifact"},
              {"metadata",
               {{"name", ArtifactName(a.uri, a.digest)},
                {"namespace", run.key.ns},
                {"labels", std::move(labels)}}},
              {"spec",
               {{"type", a.type},
                {"result", a.result},
                {"uri", a.uri},
                {"digest", a.digest},
                {"builtBy", std::move(built_by)},
                {"evidence", evidence}}}};
  for (const auto& [k, v] : sbom.items()) out["spec"][k] = v;
  return out;
}

Json FreightArtifactMetadata(const std::string& name, const Json& spec) {
  const Json by = spec.value("builtBy", Json::object());
  Json m = {{"artifact", name},
            {"uri", spec.value("uri", "")},
            {"digest", spec.value("digest", "")},
            {"result", spec.value("result", "")}};
  for (const char* key : {"pipelineRun", "repoURL", "commit", "branch"})
    if (by.contains(key)) m[key] = by[key];
  return m;
}

Result<Json> RecordedSpec(const Json& artifact, const ArtifactLookup& read) {
  const std::string uri = artifact.value("metadata", Json::object()).value("uri", "");
  const std::string digest = artifact.value("version", "");
  const std::string name = ArtifactName(uri, digest);
  STRAKE_TRY_ASSIGN(got, read(name));
  if (!got) return Failf("no Artifact recorded for {}@{}", uri, digest);
  Json spec = got->object.value("spec", Json::object());
  if (spec.value("uri", "") != uri || spec.value("digest", "") != digest)
    return Failf("Artifact {} is not {}@{}", name, uri, digest);
  return spec;
}

Result<Json> RecordedArtifacts(const Json& artifacts, const ArtifactLookup& read) {
  Json out = Json::array();
  for (const auto& a : artifacts) {
    if (!a.is_object()) continue;
    STRAKE_TRY_ASSIGN(spec, RecordedSpec(a, read));
    const std::string uri = spec.value("uri", "");
    const std::string digest = spec.value("digest", "");
    const std::string name = ArtifactName(uri, digest);
    const std::string type = a.value("artifactType", "");
    if (!type.empty() && type != spec.value("type", ""))
      return Failf("{}@{} is an Artifact of type {}, not {}", uri, digest,
                   Quote(spec.value("type", "")), Quote(type));
    Json v = a;
    v["artifactType"] = spec.value("type", "");
    v["metadata"] = FreightArtifactMetadata(name, spec);
    out.push_back(std::move(v));
  }
  return out;
}

Json CommitsOf(const Json& freight) {
  Json out = freight.value("commits", Json::array());
  std::set<std::string> repos;
  for (const auto& c : out)
    if (c.is_object()) repos.insert(model::NormalizeGitUrl(c.value("repoURL", "")));
  for (const auto& a : freight.value("artifacts", Json::array())) {
    const Json m = a.is_object() ? a.value("metadata", Json::object()) : Json::object();
    std::string repo = m.value("repoURL", ""), id = m.value("commit", "");
    if (repo.empty() || id.empty() || !repos.insert(model::NormalizeGitUrl(repo)).second) continue;
    Json c = {{"repoURL", repo}, {"id", id}};
    if (m.contains("branch")) c["branch"] = m["branch"];
    out.push_back(std::move(c));
  }
  return out;
}

rollout::HostFunction ArtifactFrom(Json artifacts) {
  return [artifacts = std::move(artifacts)](
             const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
    if (args.empty() || args.size() > 2 || !args[0].is_string())
      return Fail("artifactFrom takes a subscription name (and optionally a Freight origin)");
    const std::string want = args[0].get<std::string>();
    for (const auto& a : artifacts) {
      if (!a.is_object() || a.value("subscriptionName", "") != want) continue;
      return rollout::Value{{"ArtifactType", a.value("artifactType", "")},
                            {"SubscriptionName", want},
                            {"Version", a.value("version", "")},
                            {"Metadata", a.value("metadata", Json::object())}};
    }
    return Failf("artifact of subscription {} not found in Freight", want);
  };
}

rollout::HostFunction ImageFrom(Json artifacts, Json images) {
  return [artifacts = std::move(artifacts), images = std::move(images)](
             const std::vector<rollout::Value>& args) -> Result<rollout::Value> {
    if (args.empty() || args.size() > 2 || !args[0].is_string())
      return Fail("imageFrom takes an image repository (and optionally a Freight origin)");
    const std::string want = args[0].get<std::string>();
    for (const auto& i : images) {
      if (!i.is_object() || i.value("repoURL", "") != want) continue;
      return rollout::Value{{"RepoURL", want},
                            {"Tag", i.value("tag", "")},
                            {"Digest", i.value("digest", "")},
                            {"Annotations", i.value("annotations", Json::object())}};
    }
    for (const auto& a : artifacts) {
      if (!a.is_object() || a.value("artifactType", "") != "image") continue;
      const Json m = a.value("metadata", Json::object());
      auto [repo, tag] = ImageRepoAndTag(m.value("uri", ""));
      if (repo != want) continue;
      return rollout::Value{{"RepoURL", repo}, {"Tag", tag}, {"Digest", a.value("version", "")}};
    }
    return Failf("image from repo {} not found in Freight", want);
  };
}

Result<std::vector<std::string>> ArtifactUsers(store::Store& store,
                                               const store::Resource& artifact) {
  std::vector<std::string> out;
  STRAKE_TRY_ASSIGN(all, store.List("Freight", artifact.key.ns));
  for (const auto& f : all) {
    bool refers = false;
    for (const auto& a : f.object.value("artifacts", Json::array())) {
      if (!a.is_object()) continue;
      const Json m = a.value("metadata", Json::object());
      refers =
          refers || ArtifactName(m.value("uri", ""), a.value("version", "")) == artifact.key.name;
    }
    const Json in = f.status.is_object() ? f.status.value("currentlyIn", Json::object()) : Json();
    if (!refers || !in.is_object() || in.empty()) continue;
    std::vector<std::string> stages;
    for (const auto& [stage, v] : in.items()) stages.push_back(stage);
    out.push_back(fmt::format("Freight {} ({}) in Stage {}", f.key.name,
                              f.object.value("alias", ""), Join(stages, ", ")));
  }
  return out;
}

std::optional<Json> ArtifactRecorder::Sbom(const store::Resource& run, const SbomReference& ref) {
  if (!ref.problem.empty()) return SbomRecord(ref, std::string());
  if (ref.document) return SbomRecord(ref, *ref.document);
  if (!fetch_) return SbomRecord(ref, Fail("this server fetches no SBOMs"));
  auto got = fetch_(run.key.ns, ref.repository, ref.digest, kMaxSbomBytes);
  if (!got && SbomFetchMayPass(got.error())) {
    // Young runs wait for a registry that is down; old ones are recorded
    // with the problem (an Artifact is never rewritten).
    auto finished = ParseRfc3339(run.status.value("completionTime", ""));
    if (finished && clock_->Now() < *finished + kSbomPatience) {
      Log(LogLevel::kWarn, "PipelineRun {}/{}: SBOM {}: {} (trying again)", run.key.ns,
          run.key.name, ref.reference, got.error().message);
      return std::nullopt;
    }
  }
  return SbomRecord(ref, got);
}

Result<controller::ReconcileResult> ArtifactRecorder::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  STRAKE_TRY_ASSIGN(run, store_.Get({"PipelineRun", ns, name}));
  // A child PipelineRun (a task that runs a Pipeline) builds for its
  // parent: what the parent says it built is recorded, with all its evidence.
  if (!run || !run->owner.empty() || Outcome(run->status) != "Succeeded")
    return controller::ReconcileResult{};
  const Json results = run->status.value("results", Json::array());
  TypeHints hints = ReadTypeHints(results);
  for (const auto& p : hints.problems)
    Log(LogLevel::kWarn, "PipelineRun {}/{}: builds no artifact: {}", ns, name, p);
  if (hints.artifacts.empty()) return controller::ReconcileResult{};
  STRAKE_TRY_ASSIGN(task_runs, store_.List("TaskRun", ns, run->uid));
  Json evidence = EvidenceOf(task_runs);
  controller::ReconcileResult out;
  for (const auto& a : hints.artifacts) {
    store::Resource r;
    r.key = {"Artifact", ns, ArtifactName(a.uri, a.digest)};
    STRAKE_TRY_ASSIGN(existing, store_.Get(r.key));
    if (existing) continue;
    Json sbom = Json::object();
    if (auto ref = FindSbomReference(a, results, hints.artifacts, task_runs)) {
      auto got = Sbom(*run, *ref);
      if (!got) {
        out.requeue_after = kSbomRetry;
        continue;
      }
      sbom = std::move(*got);
    }
    r.object = ArtifactObject(*run, a, evidence, sbom);
    if (sbom.contains("sbom") && !model::CheckObjectSize(r.object, "artifact")) {
      // The evidence and the SBOM together are more than an object holds.
      r.object["spec"].erase("sbom");
      r.object["spec"]["sbomProblems"] = {fmt::format(
          "SBOM {}: its {} components are more than this Artifact can hold with its evidence",
          Quote(sbom["sbom"].value("reference", "")), sbom["sbom"]["components"].size())};
    }
    r.labels = model::StringMap(r.object["metadata"]["labels"]);
    r.status = Json::object();
    auto made = store_.Create(
        r, "Recorded",
        fmt::format("{} {}@{} built by PipelineRun {}", a.type, a.uri, a.digest, name));
    if (!made && made.error().code != ErrorCode::kAlreadyExists)
      return tl::unexpected(made.error());
  }
  return out;
}

}  // namespace strake::delivery
