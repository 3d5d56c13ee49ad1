#include "insight/provenance.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <map>
#include <set>
#include <utility>

#include "base/fs.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "insight/kind_key.h"
#include "model/json_fields.h"
#include "model/type_hints.h"

namespace strake::insight {

namespace {

const Json& At(const Json& j, const char* key) { return model::FieldOf(j, key); }
std::string Text(const Json& j, const char* key) { return model::TextOf(j, key); }

// {"<alg>": "<hex>"} of "<alg>:<hex>".
Json DigestSet(const std::string& digest) {
  size_t colon = digest.find(':');
  if (colon == std::string::npos) return Json::object();
  return {{digest.substr(0, colon), digest.substr(colon + 1)}};
}

// Chains' SPDXGit: "git+" in front and ".git" at the end, once each.
std::string SpdxGit(std::string url) {
  if (!StartsWith(url, "git+")) url = "git+" + url;
  if (!EndsWith(url, ".git")) url += ".git";
  return url;
}

// The statement's resolvedDependencies and subjects, each once, in the
// order first found.
class Collector {
 public:
  void Dependency(Json d) {
    // Definitions are always kept (Chains keeps its pipeline/task entries);
    // anything else once per uri and digest.
    std::string name = Text(d, "name");
    bool definition = name == "pipeline" || name == "task" || name == "pipelineTask";
    if (!definition && !seen_deps_.insert(Text(d, "uri") + "@" + At(d, "digest").dump()).second)
      return;
    deps_.push_back(std::move(d));
  }

  // A run's step images ("name@sha256:…" in status.steps[].imageID).
  void Images(const Json& status) {
    const Json& steps = At(status, "steps");
    if (!steps.is_array()) return;
    for (const auto& s : steps) {
      std::string id = Text(s, "imageID");
      size_t at = id.rfind('@');
      if (id.empty() || at == std::string::npos || at == 0) continue;
      std::string repo = model::ImageRepoAndTag(id.substr(0, at)).first;
      Dependency({{"uri", "oci://" + repo}, {"digest", DigestSet(id.substr(at + 1))}});
    }
  }

  // The source commit Chains reads (CHAINS-GIT_URL/CHAINS-GIT_COMMIT, from
  // param defaults, then params, then results: later wins), and the
  // *ARTIFACT_INPUTS results.
  void Source(const Json& param_specs, const Json& params, const Json& results) {
    std::string url, commit;
    auto take = [&](const std::string& name, const Json& value) {
      if (!value.is_string()) return;
      std::string v(Trim(value.get<std::string>()));
      if (name == "CHAINS-GIT_URL") url = v;
      if (name == "CHAINS-GIT_COMMIT") commit = v;
    };
    if (param_specs.is_array())
      for (const auto& p : param_specs) take(Text(p, "name"), At(p, "default"));
    if (params.is_array())
      for (const auto& p : params) take(Text(p, "name"), At(p, "value"));
    for (const auto& [name, value] : model::ResultsByName(results)) {
      take(name, value);
      if (EndsWith(name, "ARTIFACT_INPUTS") && value.is_object() && At(value, "uri").is_string() &&
          At(value, "digest").is_string())
        Dependency({{"name", "inputs/result"},
                    {"uri", value["uri"]},
                    {"digest", DigestSet(value["digest"].get<std::string>())}});
    }
    if (!url.empty() && !commit.empty()) Git(url, commit);
  }

  void Git(const std::string& url, const std::string& commit) {
    Dependency({{"name", "inputs/result"}, {"uri", SpdxGit(url)}, {"digest", {{"sha1", commit}}}});
  }

  // What the results say was built (Chains' type hints).
  void Subjects(const Json& results) {
    for (const auto& a : model::ReadTypeHints(results).artifacts) {
      std::string name = a.type == "image" ? model::ImageRepoAndTag(a.uri).first : a.uri;
      if (!seen_subjects_.insert(name + "@" + a.digest).second) continue;
      subjects_.push_back({{"name", name}, {"digest", DigestSet(a.digest)}});
    }
  }

  Json deps() const { return deps_; }
  Json subjects() const { return subjects_; }

 private:
  Json deps_ = Json::array();
  Json subjects_ = Json::array();
  std::set<std::string> seen_deps_;
  std::set<std::string> seen_subjects_;
};

// A definition's dependency: its resolved spec, by the sha256 of its JSON.
Json Definition(const char* name, const std::string& uri, const Json& spec) {
  Json d = {{"name", name}};
  if (!uri.empty()) d["uri"] = uri;
  d["digest"] = {{"sha256", Sha256Hex(spec.dump())}};
  return d;
}

// Chains' byproducts: each result's JSON value, base64.
Json Byproducts(const char* prefix, const Json& results) {
  Json out = Json::array();
  if (!results.is_array()) return out;
  for (const auto& r : results) {
    std::string name = Text(r, "name");
    if (name.empty()) continue;
    out.push_back({{"name", std::string(prefix) + "/" + name},
                   {"mediaType", "application/json"},
                   {"content", Base64Encode(At(r, "value").dump())}});
  }
  return out;
}

Json Statement(const Json& subjects, Json build_definition, Json run_details) {
  Json st = {{"_type", model::kInTotoStatementV1}};
  if (!subjects.empty()) st["subject"] = subjects;
  st["predicateType"] = model::kSlsaProvenanceV1;
  st["predicate"] = {{"buildDefinition", std::move(build_definition)},
                     {"runDetails", std::move(run_details)}};
  return st;
}

Json RunDetails(const store::Resource& run, const ProvenanceOptions& options, Json byproducts) {
  Json meta = {{"invocationId", run.uid}};
  if (!Text(run.status, "startTime").empty()) meta["startedOn"] = run.status["startTime"];
  if (!Text(run.status, "completionTime").empty())
    meta["finishedOn"] = run.status["completionTime"];
  Json out = {{"builder", {{"id", options.builder_id}}}, {"metadata", std::move(meta)}};
  if (!byproducts.empty()) out["byproducts"] = std::move(byproducts);
  return out;
}

// The source a Pipelines-as-Code push gave the run (status.strake.source):
// what the server itself saw, so annotated as the source (the CHAINS-GIT_*
// a run declares are only claimed).
void PushSource(const Json& source, Collector& c) {
  std::string url = Text(source, "repoURL"), commit = Text(source, "commit");
  if (url.empty() || commit.empty()) return;
  std::string branch = Text(source, "branch");
  c.Dependency({{"name", "inputs/result"},
                {"uri", "git+" + url + (branch.empty() ? "" : "@refs/heads/" + branch)},
                {"digest", {{"sha1", commit}}},
                {"annotations", {{model::kSourceAnnotation, "push"}}}});
}

const Json& PushSourceOf(const store::Resource& run) {
  return At(At(run.status, "strake"), "source");
}

// Which run of which namespace, and how strake ran its steps (the
// PipelineRun's status.strake.executor).
Json InternalParameters(const store::Resource& run, const Json& executor) {
  Json out = {{"strake.dev/run",
               {{"kind", run.key.kind},
                {"namespace", run.key.ns},
                {"name", run.key.name},
                {"uid", run.uid}}}};
  if (executor.is_object()) out["strake.dev/executor"] = executor;
  return out;
}

bool Finished(const store::Resource& r) { return !Text(r.status, "completionTime").empty(); }

// The Task a TaskRun ran: its pipeline task's taskSpec in the parent's
// resolved pipelineSpec, else its own spec.taskSpec.
Json TaskSpecOf(const store::Resource& tr, const std::optional<store::Resource>& parent) {
  if (parent) {
    const std::string task = tr.Label("tekton.dev/pipelineTask");
    for (const char* list : {"tasks", "finally"}) {
      const Json& tasks = At(At(parent->status, "pipelineSpec"), list);
      if (!tasks.is_array()) continue;
      for (const auto& t : tasks)
        if (Text(t, "name") == task && At(t, "taskSpec").is_object()) return t["taskSpec"];
    }
  }
  const Json& own = At(At(tr.object, "spec"), "taskSpec");
  return own.is_object() ? own : Json();
}

Result<std::optional<EcKey>> ReadKey(const std::string& path) {
  if (!PathExists(path)) return std::optional<EcKey>();
  STRAKE_TRY_ASSIGN(pem, ReadFile(path, size_t{64} * 1024));
  STRAKE_TRY_ASSIGN(key, EcKey::FromPem(pem, path));
  if (!key.has_private()) return Failf(ErrorCode::kInvalid, "{}: not a private key", path);
  return std::optional<EcKey>(std::move(key));
}

}  // namespace

Result<EcKey> Keyring::KeyFor(const std::string& ns) const {
  // A namespace's name is a DNS label: no path can be made of it.
  if (!IsDnsLabel(ns))
    return Failf(ErrorCode::kInvalid, "provenance: {} is not a namespace's name", Quote(ns));
  const std::string path = PathJoin(dir_, "projects/" + ns + ".key");
  std::lock_guard<std::mutex> lock(mu_);
  STRAKE_TRY_ASSIGN(own, ReadKey(path));
  if (own) return std::move(*own);
  STRAKE_TRY(MakeDirs(PathJoin(dir_, "projects"), 0700));
  (void)::chmod(dir_.c_str(), 0700);
  STRAKE_TRY_ASSIGN(made, EcKey::Generate());
  STRAKE_TRY(made.SavePrivate(path));
  Log(LogLevel::kInfo, "provenance: made the signing key of {} ({}, key id {})", ns, path,
      made.KeyId().substr(0, 16));
  return made;
}

Result<std::string> Keyring::PublicKeyFor(const std::string& ns) const {
  STRAKE_TRY_ASSIGN(key, KeyFor(ns));
  return key.PublicPem();
}

std::string AttestationName(const std::string& kind, const std::string& uid) {
  return ToLower(kind) + "-" + uid;
}

Json PipelineRunStatement(const store::Resource& run, const std::vector<store::Resource>& task_runs,
                          const std::vector<store::Resource>& children,
                          const ProvenanceOptions& options) {
  Collector c;
  const Json& spec = At(run.status, "pipelineSpec");
  const std::string pipeline = Text(At(run.status, "strake"), "pipeline");
  if (spec.is_object())
    c.Dependency(
        Definition("pipeline", pipeline.empty() ? "" : "strake:pipeline/" + pipeline, spec));
  PushSource(PushSourceOf(run), c);
  c.Source(At(spec, "params"), At(At(run.object, "spec"), "params"), At(run.status, "results"));
  c.Subjects(At(run.status, "results"));
  // Deep inspection: what every finished TaskRun (and nested PipelineRun)
  // under it says, its images and its source.
  for (const auto& child : children) {
    if (!Finished(child)) continue;
    c.Source(At(At(child.status, "pipelineSpec"), "params"), At(At(child.object, "spec"), "params"),
             At(child.status, "results"));
    c.Subjects(At(child.status, "results"));
  }
  for (const auto& tr : task_runs) {
    if (!Finished(tr)) continue;
    c.Images(tr.status);
    c.Source(Json(), At(At(tr.object, "spec"), "params"), At(tr.status, "results"));
    c.Subjects(At(tr.status, "results"));
  }
  Json build = {
      {"buildType", kChainsBuildType},
      {"externalParameters", {{"runSpec", At(run.object, "spec")}}},
      {"internalParameters", InternalParameters(run, At(At(run.status, "strake"), "executor"))},
      {"resolvedDependencies", c.deps()}};
  return Statement(
      c.subjects(), std::move(build),
      RunDetails(run, options, Byproducts("pipelineRunResults", At(run.status, "results"))));
}

Json TaskRunStatement(const store::Resource& task_run, const Json& task_spec,
                      const Json& push_source, const ProvenanceOptions& options) {
  Collector c;
  if (task_spec.is_object()) c.Dependency(Definition("task", "", task_spec));
  PushSource(push_source, c);
  c.Images(task_run.status);
  c.Source(At(task_spec, "params"), At(At(task_run.object, "spec"), "params"),
           At(task_run.status, "results"));
  c.Subjects(At(task_run.status, "results"));
  Json build = {{"buildType", kChainsBuildType},
                {"externalParameters", {{"runSpec", At(task_run.object, "spec")}}},
                {"internalParameters", InternalParameters(task_run, Json())},
                {"resolvedDependencies", c.deps()}};
  return Statement(
      c.subjects(), std::move(build),
      RunDetails(task_run, options, Byproducts("taskRunResults", At(task_run.status, "results"))));
}

Result<Json> AttestationObject(const store::Resource& run, const Json& statement,
                               const EcKey& key) {
  STRAKE_TRY_ASSIGN(envelope, model::SignStatement(statement, key));
  const std::string label =
      run.key.kind == "PipelineRun" ? "tekton.dev/pipelineRun" : "tekton.dev/taskRun";
  Json labels = {{label, run.key.name}};
  Json facts = model::ProvenanceFacts(statement);
  return Json{{"apiVersion", "strake.dev/v1"},
              {"kind", "Attestation"},
              {"metadata",
               {{"name", AttestationName(run.key.kind, run.uid)},
                {"namespace", run.key.ns},
                {"labels", std::move(labels)}}},
              {"spec",
               {{"run", {{"kind", run.key.kind}, {"name", run.key.name}, {"uid", run.uid}}},
                {"predicateType", model::kSlsaProvenanceV1},
                {"subjects", facts["subjects"]},
                {"keyID", key.KeyId()},
                {"envelope", model::EnvelopeToJson(envelope)}}}};
}

namespace {

// The uid of the PipelineRun that built an Artifact (its spec's builtBy):
// recorded with it, or, for an Artifact recorded before uids were kept,
// the run of that name if it is the same run (it finished when the
// Artifact says); "" when that run is gone.
Result<std::string> BuilderUid(store::Store& store, const std::string& ns, const Json& by) {
  if (!Text(by, "uid").empty()) return Text(by, "uid");
  STRAKE_TRY_ASSIGN(r, store.Get({"PipelineRun", ns, Text(by, "pipelineRun")}));
  if (!r || Text(r->status, "completionTime") != Text(by, "finishedAt")) return std::string();
  return r->uid;
}

}  // namespace

Result<Json> ArtifactProvenance(store::Store& store, const Keyring& keys, const std::string& ns,
                                const Json& artifact_spec) {
  const Json& by = At(artifact_spec, "builtBy");
  Json out = {{"verified", false}, {"pipelineRun", Text(by, "pipelineRun")}};
  auto no = [&out](std::string why) {
    out["reason"] = std::move(why);
    return out;
  };
  STRAKE_TRY_ASSIGN(uid, BuilderUid(store, ns, by));
  if (uid.empty())
    return no(fmt::format("PipelineRun {} that built it is gone (the Artifact names no uid)",
                          Text(by, "pipelineRun")));
  const std::string name = AttestationName("PipelineRun", uid);
  out["attestation"] = name;
  STRAKE_TRY_ASSIGN(att, store.Get({"Attestation", ns, name}));
  if (!att)
    return no(fmt::format("PipelineRun {} has no attestation ({})",
                          out["pipelineRun"].get<std::string>(), name));
  auto envelope = model::EnvelopeFromJson(At(At(att->object, "spec"), "envelope"));
  if (!envelope) return no(fmt::format("attestation {}: {}", name, envelope.error().message));
  auto key = keys.KeyFor(ns);
  if (!key) return no("no key to verify with: " + key.error().message);
  out["keyID"] = key->KeyId();
  auto statement = model::VerifiedStatement(*envelope, *key);
  if (!statement) return no(fmt::format("attestation {}: {}", name, statement.error().message));
  Json facts = model::ProvenanceFacts(*statement);
  for (const auto& [k, v] : facts.items()) out[k] = v;
  // Signed for this run (an envelope copied from another run's Attestation
  // verifies too: it must also be about this one).
  if (facts["invocationId"] != uid)
    return no(fmt::format("attestation {}: its statement is about run {}", name,
                          facts["invocationId"].get<std::string>()));
  const std::string digest = Text(artifact_spec, "digest");
  if (!model::HasSubjectDigest(*statement, digest))
    return no(fmt::format("attestation {}: no subject has digest {}", name, digest));
  out["verified"] = true;
  return out;
}

std::string ProvenanceRecorder::KeyOf(const store::Key& key) { return KindKey(key); }

namespace {

// Everything under a PipelineRun: its TaskRuns, its nested PipelineRuns
// and theirs (16 levels at most).
Status Descendants(store::Store& store, const std::string& ns, const std::string& uid,
                   std::vector<store::Resource>& task_runs,
                   std::vector<store::Resource>& children) {
  std::vector<std::string> owners = {uid};
  for (size_t depth = 0; !owners.empty() && depth < 16; ++depth) {
    std::vector<std::string> next;
    for (const auto& owner : owners) {
      STRAKE_TRY_ASSIGN(trs, store.List("TaskRun", ns, owner));
      task_runs.insert(task_runs.end(), trs.begin(), trs.end());
      STRAKE_TRY_ASSIGN(prs, store.List("PipelineRun", ns, owner));
      for (auto& pr : prs) {
        next.push_back(pr.uid);
        children.push_back(std::move(pr));
      }
    }
    owners = std::move(next);
  }
  return Ok();
}

// The PipelineRun that owns a TaskRun (by its label and uid), if any.
Result<std::optional<store::Resource>> ParentOf(store::Store& store, const store::Resource& tr) {
  const std::string name = tr.Label("tekton.dev/pipelineRun");
  if (tr.owner.empty() || name.empty()) return std::optional<store::Resource>();
  STRAKE_TRY_ASSIGN(p, store.Get({"PipelineRun", tr.key.ns, name}));
  if (p && p->uid == tr.owner) return p;
  return std::optional<store::Resource>();
}

}  // namespace

Result<Json> ProvenanceRecorder::StatementOf(const store::Resource& run) {
  if (run.key.kind == "PipelineRun") {
    std::vector<store::Resource> task_runs, children;
    STRAKE_TRY(Descendants(store_, run.key.ns, run.uid, task_runs, children));
    return PipelineRunStatement(run, task_runs, children, options_);
  }
  STRAKE_TRY_ASSIGN(parent, ParentOf(store_, run));
  // The push that started its PipelineRun (a nested pipeline's runs carry
  // none: their outermost run's statement names it).
  Json source = parent ? PushSourceOf(*parent) : Json();
  return TaskRunStatement(run, TaskSpecOf(run, parent), source, options_);
}

Result<controller::ReconcileResult> ProvenanceRecorder::Reconcile(const std::string& key) {
  STRAKE_TRY_ASSIGN(k, ParseKindKey(key, "provenance"));
  STRAKE_TRY_ASSIGN(run, store_.Get(k));
  if (!run || !Finished(*run)) return controller::ReconcileResult{};
  const store::Key att{"Attestation", k.ns, AttestationName(k.kind, run->uid)};
  STRAKE_TRY_ASSIGN(existing, store_.Get(att));
  if (existing) return controller::ReconcileResult{};
  STRAKE_TRY_ASSIGN(statement, StatementOf(*run));
  STRAKE_TRY_ASSIGN(signing, keys_.KeyFor(k.ns));
  STRAKE_TRY_ASSIGN(object, AttestationObject(*run, statement, signing));
  store::Resource r;
  r.key = att;
  r.object = std::move(object);
  r.labels = model::StringMap(r.object["metadata"]["labels"]);
  r.status = Json::object();
  auto made = store_.Create(std::move(r), "Signed",
                            fmt::format("provenance of {} {} signed with key {}", k.kind, k.name,
                                        signing.KeyId().substr(0, 16)));
  if (!made && made.error().code != ErrorCode::kAlreadyExists) return tl::unexpected(made.error());
  return controller::ReconcileResult{};
}

}  // namespace strake::insight
