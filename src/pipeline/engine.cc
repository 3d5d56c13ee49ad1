#include "pipeline/engine.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <set>

#include "base/duration.h"
#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "model/decode.h"
#include "pipeline/executor_runner.h"
#include "pipeline/resolve.h"
#include "pipeline/substitute.h"

namespace strake::pipeline {

using model::Json;
using model::Millis;

namespace {

constexpr Millis kDefaultTimeout = std::chrono::minutes(60);  // Tekton's default-timeout-minutes
const char* const kApiVersion = "tekton.dev/v1";

Json Condition(const std::string& status, const std::string& reason, const std::string& message,
               TimePoint now) {
  return Json::array({{{"type", "Succeeded"},
                       {"status", status},
                       {"lastTransitionTime", FormatRfc3339(now)},
                       {"reason", reason},
                       {"message", message}}});
}

std::string ConditionReason(const Json& status) {
  if (!status.is_object() || !status.contains("conditions") || status["conditions"].empty()) {
    return "";
  }
  return status["conditions"][0].value("reason", "");
}

std::string ConditionStatus(const Json& status) {
  if (!status.is_object() || !status.contains("conditions") || status["conditions"].empty()) {
    return "Unknown";
  }
  return status["conditions"][0].value("status", "Unknown");
}

CancelMode ParseCancel(const std::string& s) {
  if (s == "Cancelled") return CancelMode::kCancelled;
  if (s == "CancelledRunFinally") return CancelMode::kCancelledRunFinally;
  if (s == "StoppedRunFinally") return CancelMode::kStoppedRunFinally;
  return CancelMode::kNone;
}

// Serialises a PipelineSpec with every taskRef replaced by its Task's spec,
// so a stored run is self-contained.
Json ResolvedSpecJson(const Json& spec, const Catalog& catalog,
                      std::map<std::string, std::string>& task_names) {
  Json out = spec;
  for (const char* list : {"tasks", "finally"}) {
    if (!out.contains(list)) continue;
    for (auto& t : out[list]) {
      if (t.contains("taskRef")) {
        std::string ref = t["taskRef"].value("name", "");
        auto it = catalog.tasks.find(ref);
        if (it != catalog.tasks.end()) {
          task_names[t.value("name", "")] = ref;
          t.erase("taskRef");
          t["taskSpec"] = Json();  // Filled from the raw Task document below.
        }
      }
    }
  }
  return out;
}

}  // namespace

Result<std::string> RunWorkspaceDir(const std::string& data_dir, const std::string& ns,
                                    const std::string& run, const std::string& workspace) {
  return PathUnder(data_dir, "workspaces/" + ns + "/" + run + "/" + workspace);
}

Result<BoundWorkspace> BindWorkspace(const std::string& data_dir, const std::string& ns,
                                     const std::string& run, const std::string& workspace,
                                     const model::WorkspaceBinding& b,
                                     const std::map<std::string, model::ConfigMapData>& config_maps,
                                     const std::map<std::string, model::ConfigMapData>& secrets) {
  using Kind = model::WorkspaceBinding::Kind;
  auto wrap = [&](const Error& e) {
    return tl::unexpected(e.Wrap("workspace " + Quote(workspace)));
  };
  BoundWorkspace out;
  out.sub_path = b.sub_path;
  auto dir = b.kind == Kind::kPersistentVolumeClaim
                 ? PathUnder(data_dir, "volumes/" + ns + "/" + b.source)
                 : RunWorkspaceDir(data_dir, ns, run, workspace);
  if (!dir) return wrap(dir.error());
  out.dir = *dir;
  if (b.kind == Kind::kPersistentVolumeClaim) out.claim = b.source;
  if (b.kind != Kind::kConfigMap && b.kind != Kind::kSecret) {
    auto made = MakeDirs(out.dir, 0777);
    if (!made) return wrap(made.error());
    return out;
  }
  bool secret = b.kind == Kind::kSecret;
  const auto& maps = secret ? secrets : config_maps;
  auto src = maps.find(b.source);
  if (src == maps.end()) {
    return wrap(Error{fmt::format("{} \"{}\" not found (apply it with -f)",
                                  secret ? "Secret" : "ConfigMap", b.source)});
  }
  out.read_only = true;
  (void)RemoveAll(out.dir);
  auto made = MakeDirs(out.dir, 0700);
  if (made) made = Materialize(src->second, out.dir, b.items);
  if (!made) return wrap(made.error());
  return out;
}

std::string TaskRunName(const std::string& pipeline_run, const std::string& pipeline_task,
                        int matrix_index) {
  std::string name = pipeline_run + "-" + pipeline_task;
  if (matrix_index >= 0) name += "-" + std::to_string(matrix_index);
  if (name.size() > 63) name = name.substr(0, 52) + "-" + Sha256Hex(name).substr(0, 10);
  return name;
}

// --- the in-memory state of one PipelineRun --------------------------------

struct ChildRun {
  std::string name;
  std::string uid;
  TaskState state = TaskState::kPending;
  std::vector<TaskResult> results;
  bool created = false;
};

struct PTaskState {
  TaskFacts facts;
  bool started = false;
  std::vector<std::vector<model::Param>> combos;  // one per TaskRun
  std::vector<ChildRun> children;
  size_t next = 0;                   // next combo to create
  std::vector<model::Param> params;  // resolved at start
};

struct Engine::Run {
  std::string ns, name, uid, pipeline;
  Json object;
  int64_t start_ms = 0;
  std::optional<int64_t> finally_start_ms;
  model::PipelineSpec spec;
  Dag dag;
  std::map<std::string, model::ParamValue> params;
  std::map<std::string, std::string> task_names;
  std::map<std::string, std::string>
      workspace_paths;  // pipeline workspace -> host dir ("" unbound)
  std::map<std::string, std::string> workspace_sub_paths;  // the run's subPath in it
  std::map<std::string, std::string> workspace_claims;
  std::set<std::string> read_only_workspaces;
  model::Timeouts timeouts;
  CancelMode cancel = CancelMode::kNone;
  std::vector<PTaskState> tasks;    // by dag index
  std::vector<PTaskState> finally;  // by spec.finally position
  std::string failure_reason, failure_message;
  bool done = false;
  std::shared_ptr<const std::map<std::string, model::ConfigMapData>> config_maps, secrets;
  std::set<std::string> recover;  // TaskRuns found Running on resume: re-run, not re-created
  // The planner's view, kept up to date as tasks change (not rebuilt per
  // reconcile: a pipeline may have 10,000 tasks). Change facts with Set.
  RunFacts facts;
  size_t pending = 0;                          // regular tasks not started
  size_t unfinished = 0;                       // regular tasks not terminal
  std::vector<std::pair<bool, size_t>> dirty;  // tasks whose children changed
  std::deque<std::pair<bool, size_t>>
      creating;  // started tasks with TaskRuns left to create, in start order

  const model::PipelineTask& PTask(bool fin, size_t i) const {
    return fin ? spec.finally[i] : spec.tasks[i];
  }

  void Set(bool fin, size_t i, TaskFacts f) {
    PTaskState& ps = fin ? finally[i] : tasks[i];
    if (!fin) {
      pending += (f.state == TaskState::kPending) - (ps.facts.state == TaskState::kPending);
      unfinished += !IsTerminal(f.state) - !IsTerminal(ps.facts.state);
    }
    ps.facts = f;
    (fin ? facts.finally : facts.tasks)[i] = f;
  }

  void InitFacts() {
    facts.tasks.clear();
    facts.finally.clear();
    pending = unfinished = 0;
    for (const auto& t : tasks) {
      facts.tasks.push_back(t.facts);
      pending += t.facts.state == TaskState::kPending;
      unfinished += !IsTerminal(t.facts.state);
    }
    for (const auto& t : finally) facts.finally.push_back(t.facts);
  }
};

// TaskRuns handed to workers, by "ns/name".
struct Engine::Job {
  TaskRunJob job;
  std::string run_key;
  bool is_finally = false;
  size_t index = 0;
  size_t child = 0;
  int64_t start_ms = 0;
  int cancel_fd = -1;
};

// Binds one of the engine's reconcile methods to the controller runtime.
class Engine::Reconciler final : public controller::Reconciler {
 public:
  using Method = Result<controller::ReconcileResult> (Engine::*)(const std::string&);
  Reconciler(Engine& e, Method m) : e_(e), m_(m) {}
  Result<controller::ReconcileResult> Reconcile(const std::string& key) override {
    return (e_.*m_)(key);
  }

 private:
  Engine& e_;
  Method m_;
};

Engine::Engine(store::Store& store, EngineOptions options, const Clock& clock)
    : Engine(store, options, clock, std::make_unique<TaskExecutorRunner>(options.executor),
             nullptr) {}

Engine::Engine(store::Store& store, EngineOptions options, const Clock& clock, TaskRunner& runner)
    : Engine(store, std::move(options), clock, nullptr, &runner) {}

Engine::Engine(store::Store& store, EngineOptions options, const Clock& clock,
               std::unique_ptr<TaskRunner> own_runner, TaskRunner* runner)
    : store_(store),
      options_(std::move(options)),
      clock_(clock),
      own_runner_(std::move(own_runner)),
      runner_(runner ? *runner : *own_runner_) {
  run_reconciler_ = std::make_unique<Reconciler>(*this, &Engine::ReconcileRun);
  taskrun_reconciler_ = std::make_unique<Reconciler>(*this, &Engine::ReconcileTaskRun);
  run_controller_ = std::make_unique<controller::Controller>("pipelinerun", *run_reconciler_, 1);
  taskrun_controller_ = std::make_unique<controller::Controller>("taskrun", *taskrun_reconciler_,
                                                                 std::max(1, options_.parallel));
  run_controller_->Start();
  taskrun_controller_->Start();
  poller_ = std::thread([this] { PollChanges(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  poll_cv_.notify_all();
  poller_.join();
  // Cancel whatever still runs so workers return promptly.
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    for (auto& [k, j] : jobs_) {
      uint64_t one = 1;
      if (j->cancel_fd >= 0) (void)!::write(j->cancel_fd, &one, sizeof one);
    }
  }
  run_controller_->Stop();
  taskrun_controller_->Stop();
}

void Engine::Emit(const ProgressEvent& e) {
  if (!observer_) return;
  std::lock_guard<std::mutex> lock(observer_mu_);
  observer_(e);
}

// Watches the store for spec changes made by other processes (strake cancel).
void Engine::PollChanges() {
  int64_t rev = store_.Revision().value_or(0);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    poll_cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (stopping_) break;
    // Only runs that are still going can be cancelled: with none, the
    // changes of others (a server's thousands) are skipped unread.
    bool active = false;
    for (const auto& [key, run] : runs_) active = active || !run->done;
    if (!active) {
      lock.unlock();
      rev = store_.Revision().value_or(rev);
      lock.lock();
      continue;
    }
    lock.unlock();
    auto changes = store_.ChangesSince(rev, 10'000);
    lock.lock();
    if (!changes) continue;
    for (const auto& c : *changes) {
      rev = c.revision;
      if (c.key.kind != "PipelineRun" || c.reason != "Updated") continue;
      auto it = runs_.find(controller::ObjectKey(c.key.ns, c.key.name));
      if (it == runs_.end() || it->second->done) continue;
      lock.unlock();
      auto r = store_.Get(c.key);
      lock.lock();
      if (r && *r) {
        it->second->cancel = ParseCancel((**r).object["spec"].value("status", ""));
        run_controller_->Enqueue(it->first);
      }
    }
  }
}

Result<std::string> Engine::Submit(const model::Resource& resource,
                                   const std::vector<model::Resource>& all,
                                   const std::vector<model::Param>& extra_params,
                                   bool store_resources) {
  const auto& pr = std::get<model::PipelineRun>(resource.value);
  Catalog catalog = MakeCatalog(all);
  if (pr.spec.status == "PipelineRunPending") {
    return Fail("spec.status: not supported: PipelineRunPending (strake run starts runs at once)");
  }
  // Store the resources the run uses, as `kubectl apply` would.
  for (const auto& r : all) {
    if (!store_resources) break;
    if (std::holds_alternative<model::PipelineRun>(r.value) ||
        std::holds_alternative<model::TaskRun>(r.value)) {
      continue;
    }
    store::Key key{r.kind, r.meta.ns, r.meta.name};
    auto existing = store_.Get(key);
    if (!existing) return tl::unexpected(existing.error());
    store::Resource sr;
    sr.key = key;
    sr.labels = r.meta.labels;
    sr.object = r.raw;
    if (*existing) {
      auto u = store_.Update(sr, 0);
      if (!u) return tl::unexpected(u.error());
    } else {
      auto c = store_.Create(sr, "Applied", "");
      if (!c) return tl::unexpected(c.error());
    }
  }

  auto run = std::make_unique<Run>();
  run->ns = pr.meta.ns;
  run->name = pr.meta.name.empty() ? pr.meta.generate_name + RandomSuffix() : pr.meta.name;
  run->object = resource.raw;
  run->object["metadata"]["name"] = run->name;
  run->object["metadata"].erase("generateName");
  run->object["metadata"]["namespace"] = run->ns;
  // Params given on the command line override those in the file.
  if (!extra_params.empty()) {
    Json params = run->object["spec"].value("params", Json::array());
    for (const auto& p : extra_params) {
      bool replaced = false;
      for (auto& existing : params) {
        if (existing.value("name", "") == p.name) {
          existing["value"] = p.value.ToJson();
          replaced = true;
        }
      }
      if (!replaced) params.push_back({{"name", p.name}, {"value", p.value.ToJson()}});
    }
    run->object["spec"]["params"] = params;
  }
  // Resolve the pipeline: embedded, or by name; inline every referenced Task.
  Json spec_json;
  if (pr.spec.pipeline_spec) {
    spec_json = resource.raw["spec"]["pipelineSpec"];
  } else {
    auto it = catalog.pipelines.find(pr.spec.pipeline_ref);
    if (it == catalog.pipelines.end()) {
      return Failf("pipelinerun {}: unknown Pipeline \"{}\"", run->name, pr.spec.pipeline_ref);
    }
    run->pipeline = pr.spec.pipeline_ref;
    for (const auto& r : all) {
      if (r.kind == "Pipeline" && r.meta.name == pr.spec.pipeline_ref) spec_json = r.raw["spec"];
    }
  }
  spec_json = ResolvedSpecJson(spec_json, catalog, run->task_names);
  for (const char* list : {"tasks", "finally"}) {
    if (!spec_json.contains(list)) continue;
    for (auto& t : spec_json[list]) {
      auto tn = run->task_names.find(t.value("name", ""));
      if (tn == run->task_names.end()) continue;
      for (const auto& r : all) {
        if (r.kind == "Task" && r.meta.name == tn->second) t["taskSpec"] = r.raw["spec"];
      }
    }
  }
  Json status = {{"conditions", Condition("Unknown", "Running",
                                          "Tasks Completed: 0 (Failed: 0, Cancelled 0), Skipped: 0",
                                          clock_.Now())},
                 {"startTime", FormatRfc3339(clock_.Now())},
                 {"startTimeMs", UnixMillis(clock_.Now())},
                 {"pipelineSpec", std::move(spec_json)},
                 {"strake", {{"taskNames", run->task_names}, {"pipeline", run->pipeline}}}};
  // ConfigMaps and Secrets the run may read travel with it.
  Json cms = Json::object(), secrets = Json::object();
  for (const auto& [name, cm] : catalog.config_maps) cms[name] = cm->data.data;
  for (const auto& [name, s] : catalog.secrets) secrets[name] = s->data.data;
  status["strake"]["configMaps"] = cms;
  status["strake"]["secrets"] = secrets;

  store::Resource sr;
  sr.key = {"PipelineRun", run->ns, run->name};
  sr.labels = pr.meta.labels;
  if (!run->pipeline.empty()) sr.labels["tekton.dev/pipeline"] = run->pipeline;
  sr.object = std::move(run->object);
  sr.status = std::move(status);
  auto created = store_.Create(sr, "Running", "PipelineRun started");
  if (!created) return tl::unexpected(created.error().Wrap("pipelinerun " + run->name));
  return run->name;
}

Status Engine::Resume(const std::string& ns, const std::string& name) {
  auto stored = store_.Get({"PipelineRun", ns, name});
  if (!stored) return tl::unexpected(stored.error());
  if (!*stored) return Failf("pipelinerun {} not found", name);
  const store::Resource& r = **stored;
  auto run = std::make_unique<Run>();
  run->ns = ns;
  run->name = name;
  run->uid = r.uid;
  run->object = r.object;
  const Json& status = r.status;
  run->start_ms = status.value("startTimeMs", UnixMillis(clock_.Now()));
  if (status.contains("finallyStartTimeMs"))
    run->finally_start_ms = status["finallyStartTimeMs"].get<int64_t>();
  if (ConditionStatus(status) != "Unknown") {
    run->done = true;
    std::lock_guard<std::mutex> lock(mu_);
    runs_[controller::ObjectKey(ns, name)] = std::move(run);
    done_cv_.notify_all();
    return Ok();
  }
  auto spec = model::DecodePipelineSpec(status["pipelineSpec"]);
  if (!spec) return tl::unexpected(spec.error().Wrap("pipelinerun " + name));
  run->spec = std::move(*spec);
  const Json strake = status.value("strake", Json::object());
  run->pipeline = strake.value("pipeline", "");
  const Json task_names = strake.value("taskNames", Json::object());
  for (const auto& [k, v] : task_names.items()) {
    run->task_names[k] = v.get<std::string>();
  }
  auto maps = [](const Json& j) {
    auto m = std::make_shared<std::map<std::string, model::ConfigMapData>>();
    for (const auto& [map_name, data] : j.items()) {
      model::ConfigMapData d;
      for (const auto& [k, v] : data.items()) d.data[k] = v.get<std::string>();
      (*m)[map_name] = d;
    }
    return m;
  };
  run->config_maps = maps(strake.value("configMaps", Json::object()));
  run->secrets = maps(strake.value("secrets", Json::object()));

  // The run's own spec: params, workspaces, timeouts, status.
  model::Diagnostics diags;
  model::Document doc{"<pipelinerun " + name + ">", model::FromJson(run->object)};
  auto decoded = model::Decode({doc}, diags);
  if (diags.HasErrors() || decoded.empty())
    return Failf("pipelinerun {}: {}", name, diags.ErrorText());
  const auto& prs = std::get<model::PipelineRun>(decoded[0].value).spec;
  run->object = Json();  // Decoded; the store has it. Large pipelines should not keep two copies.
  run->cancel = ParseCancel(prs.status);
  run->timeouts = prs.timeouts;
  if (!run->timeouts.pipeline) run->timeouts.pipeline = kDefaultTimeout;
  if (run->timeouts.pipeline && run->timeouts.pipeline->count() == 0)
    run->timeouts.pipeline.reset();

  // Params: defaults, then the run's values; types checked.
  std::map<std::string, const model::Param*> given;
  for (const auto& p : prs.params) given[p.name] = &p;
  for (const auto& ps : run->spec.params) {
    auto it = given.find(ps.name);
    if (it != given.end()) {
      if (it->second->value.type != ps.type) {
        run->failure_reason = "ParameterTypeMismatch";
        run->failure_message = fmt::format("param \"{}\" is of type {} but was given a {}", ps.name,
                                           model::ParamTypeName(ps.type),
                                           model::ParamTypeName(it->second->value.type));
      }
      run->params[ps.name] = it->second->value;
    } else if (ps.default_value) {
      run->params[ps.name] = *ps.default_value;
    } else {
      run->failure_reason = "ParameterMissing";
      run->failure_message = fmt::format(
          "pipelinerun {}: missing value for param \"{}\" (it has no "
          "default; pass --param {}=VALUE)",
          name, ps.name, ps.name);
    }
  }
  // Workspaces: each binding becomes a host directory.
  std::map<std::string, const model::WorkspaceBinding*> bindings;
  for (const auto& b : prs.workspaces) bindings[b.name] = &b;
  for (const auto& w : run->spec.workspaces) {
    auto it = bindings.find(w.name);
    if (it == bindings.end()) {
      if (!w.optional && run->failure_reason.empty()) {
        run->failure_reason = "PipelineRunValidationFailed";
        run->failure_message =
            fmt::format("workspace \"{}\" of the pipeline is not bound by the run", w.name);
      }
      run->workspace_paths[w.name] = "";
      continue;
    }
    auto bound = BindWorkspace(options_.executor.data_dir, ns, name, w.name, *it->second,
                               *run->config_maps, *run->secrets);
    if (!bound) {
      if (run->failure_reason.empty()) {
        run->failure_reason = "PipelineRunValidationFailed";
        run->failure_message = bound.error().message;
      }
      run->workspace_paths[w.name] = "";
      continue;
    }
    run->workspace_paths[w.name] = bound->dir;
    if (!bound->sub_path.empty()) run->workspace_sub_paths[w.name] = bound->sub_path;
    if (!bound->claim.empty()) run->workspace_claims[w.name] = bound->claim;
    if (bound->read_only) run->read_only_workspaces.insert(w.name);
  }

  std::vector<DagInput> nodes;
  for (const auto& t : run->spec.tasks) nodes.push_back({t.name, TaskDependencies(t)});
  auto dag = BuildDag(nodes);
  if (!dag) return tl::unexpected(dag.error().Wrap("pipelinerun " + name));
  run->dag = std::move(*dag);
  run->tasks.resize(run->spec.tasks.size());
  run->finally.resize(run->spec.finally.size());

  // Children already in the store: finished ones keep their outcome; ones
  // that were running are re-run after their orphans are killed.
  auto children = store_.List("TaskRun", ns, r.uid);
  if (!children) return tl::unexpected(children.error());
  std::vector<std::string> orphan_uids;
  for (const auto& c : *children) {
    std::string ptask =
        c.labels.count("tekton.dev/pipelineTask") ? c.labels.at("tekton.dev/pipelineTask") : "";
    bool fin =
        c.labels.count("tekton.dev/memberOf") && c.labels.at("tekton.dev/memberOf") == "finally";
    auto& list = fin ? run->finally : run->tasks;
    size_t idx = SIZE_MAX;
    if (fin) {
      for (size_t i = 0; i < run->spec.finally.size(); ++i) {
        if (run->spec.finally[i].name == ptask) idx = i;
      }
    } else if (auto it = run->dag.index.find(ptask); it != run->dag.index.end()) {
      idx = it->second;
    }
    if (idx == SIZE_MAX) continue;
    // The task is planned again (params and matrix are recomputed from the
    // same inputs); children that finished are kept, running ones re-run.
    PTaskState& ps = list[idx];
    int child = c.labels.count("strake.dev/matrixIndex")
                    ? std::stoi(c.labels.at("strake.dev/matrixIndex"))
                    : 0;
    if (ps.children.size() <= static_cast<size_t>(child)) ps.children.resize(child + 1);
    ChildRun& cr = ps.children[child];
    cr.name = c.key.name;
    cr.uid = c.uid;
    cr.created = true;
    std::string cs = ConditionStatus(c.status);
    std::string reason = ConditionReason(c.status);
    if (cs == "True") {
      cr.state = TaskState::kSucceeded;
      for (const auto& res : c.status.value("results", Json::array())) {
        cr.results.push_back({res.value("name", ""), model::ParamValue::FromJson(res["value"])});
      }
    } else if (cs == "False") {
      cr.state = reason == "TaskRunCancelled" ? TaskState::kCancelled : TaskState::kFailed;
    } else {
      cr.state = TaskState::kRunning;
      run->recover.insert(cr.name);
      orphan_uids.push_back(c.uid);
    }
  }
  if (!orphan_uids.empty()) {
    int killed = runner_.KillOrphans(orphan_uids);
    Log(LogLevel::kInfo, "pipelinerun {}: {} orphaned processes killed", name, killed);
  }
  // Skipped tasks recorded before the crash stay skipped.
  for (const auto& s : status.value("skippedTasks", Json::array())) {
    std::string tname = s.value("name", "");
    if (auto it = run->dag.index.find(tname); it != run->dag.index.end()) {
      run->tasks[it->second].facts = {TaskState::kSkipped, SkipReason(s.value("reason", ""))};
    }
    for (size_t i = 0; i < run->spec.finally.size(); ++i) {
      if (run->spec.finally[i].name == tname)
        run->finally[i].facts = {TaskState::kSkipped, SkipReason(s.value("reason", ""))};
    }
  }
  run->InitFacts();
  return Start(std::move(run));
}

Status Engine::Start(std::unique_ptr<Run> run) {
  std::string key = controller::ObjectKey(run->ns, run->name);
  size_t total = run->spec.tasks.size() + run->spec.finally.size();
  std::string name = run->name;
  {
    std::lock_guard<std::mutex> lock(mu_);
    runs_[key] = std::move(run);
  }
  ProgressEvent e;
  e.type = ProgressEvent::Type::kRunStarted;
  e.pipeline_run = name;
  e.total_tasks = total;
  Emit(e);
  run_controller_->Enqueue(key);
  return Ok();
}

Result<store::Resource> Engine::Wait(const std::string& ns, const std::string& name) {
  std::string key = controller::ObjectKey(ns, name);
  {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] {
      auto it = runs_.find(key);
      return it == runs_.end() || it->second->done;
    });
  }
  auto r = store_.Get({"PipelineRun", ns, name});
  if (!r) return tl::unexpected(r.error());
  if (!*r) return Failf("pipelinerun {} not found", name);
  return **r;
}

size_t Engine::RunsInMemory() const {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_.size();
}

Status Engine::Cancel(const std::string& ns, const std::string& name, const std::string& mode) {
  if (ParseCancel(mode) == CancelMode::kNone) {
    return Failf("unknown cancel mode \"{}\" (Cancelled, CancelledRunFinally, StoppedRunFinally)",
                 mode);
  }
  auto r = store_.Get({"PipelineRun", ns, name});
  if (!r) return tl::unexpected(r.error());
  if (!*r) return Failf("pipelinerun {} not found", name);
  store::Resource updated = **r;
  updated.object["spec"]["status"] = mode;
  auto u = store_.Update(updated, 0);
  if (!u) return tl::unexpected(u.error());
  std::lock_guard<std::mutex> lock(mu_);
  auto it = runs_.find(controller::ObjectKey(ns, name));
  if (it != runs_.end()) {
    it->second->cancel = ParseCancel(mode);
    run_controller_->Enqueue(it->first);
  }
  return Ok();
}

// --- the PipelineRun reconciler ---------------------------------------------

namespace {

TaskState Aggregate(const PTaskState& ps) {
  if (!ps.started) return ps.facts.state;
  bool any_running = false, any_failed = false, any_cancelled = false;
  size_t created = 0;
  for (const auto& c : ps.children) {
    if (!c.created) continue;
    ++created;
    if (c.state == TaskState::kRunning || c.state == TaskState::kPending) any_running = true;
    if (c.state == TaskState::kFailed) any_failed = true;
    if (c.state == TaskState::kCancelled) any_cancelled = true;
  }
  if (any_running || created < ps.combos.size()) return TaskState::kRunning;
  if (any_cancelled) return TaskState::kCancelled;
  if (any_failed) return TaskState::kFailed;
  return TaskState::kSucceeded;
}

std::string StateName(TaskState s) {
  switch (s) {
    case TaskState::kPending:
      return "Pending";
    case TaskState::kRunning:
      return "Running";
    case TaskState::kSucceeded:
      return "Succeeded";
    case TaskState::kFailed:
      return "Failed";
    case TaskState::kCancelled:
      return "Cancelled";
    case TaskState::kSkipped:
      return "Skipped";
  }
  return "?";
}

}  // namespace

Result<controller::ReconcileResult> Engine::ReconcileRun(const std::string& key) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = runs_.find(key);
  if (it == runs_.end() || it->second->done) return controller::ReconcileResult{};
  Run& run = *it->second;
  int64_t now = UnixMillis(clock_.Now());

  // Facts, from the children.
  // Facts: a task's state is recomputed only when its children changed.
  for (const auto& [fin, i] : run.dirty) {
    const PTaskState& t = fin ? run.finally[i] : run.tasks[i];
    if (t.started) run.Set(fin, i, {Aggregate(t), t.facts.skip_reason});
  }
  run.dirty.clear();
  RunFacts& facts = run.facts;
  const size_t pending = run.pending, unfinished = run.unfinished;
  facts.pipeline_timed_out = facts.tasks_timed_out = facts.finally_timed_out = false;
  facts.cancel = run.cancel;
  facts.failed_to_start = !run.failure_reason.empty();
  std::optional<int64_t> next_deadline;
  auto deadline = [&](int64_t start, const std::optional<Millis>& limit, bool& flag) {
    if (!limit || limit->count() == 0) return;
    int64_t at = start + limit->count();
    if (now >= at)
      flag = true;
    else
      next_deadline = next_deadline ? std::min(*next_deadline, at) : at;
  };
  deadline(run.start_ms, run.timeouts.pipeline, facts.pipeline_timed_out);
  deadline(run.start_ms, run.timeouts.tasks, facts.tasks_timed_out);
  if (run.finally_start_ms)
    deadline(*run.finally_start_ms, run.timeouts.finally, facts.finally_timed_out);

  // With nothing pending and nothing that stops running tasks, the plan is
  // empty: the steady state of a wide pipeline, where a reconcile only fills
  // freed slots, skips the O(tasks) planning.
  bool quiet = pending == 0 && unfinished > 0 && facts.cancel == CancelMode::kNone &&
               !facts.pipeline_timed_out && !facts.tasks_timed_out && !facts.finally_timed_out;
  Plan plan = quiet ? Plan{} : MakePlan(run.dag, facts);

  // Cancel what must stop.
  bool unstarted = false;
  auto cancel_children = [&](std::vector<PTaskState>& list, bool fin) {
    std::lock_guard<std::mutex> jl(jobs_mu_);
    for (size_t ti = 0; ti < list.size(); ++ti) {
      PTaskState& t = list[ti];
      for (auto& c : t.children) {
        auto j = jobs_.find(controller::ObjectKey(run.ns, c.name));
        if (j != jobs_.end() && j->second->cancel_fd >= 0) {
          uint64_t one = 1;
          (void)!::write(j->second->cancel_fd, &one, sizeof one);
        }
      }
      // Combos not yet created will never be.
      if (t.started && t.next < t.combos.size()) {
        t.combos.resize(t.next);
        run.dirty.emplace_back(fin, ti);
        // A task none of whose TaskRuns was created never started: pending
        // again, it is skipped by the next plan, for this cancel or timeout
        // (it was counted as succeeded).
        if (std::none_of(t.children.begin(), t.children.end(),
                         [](const ChildRun& c) { return c.created; })) {
          run.Set(fin, ti, {TaskState::kPending, {}});
          t = PTaskState{};
          unstarted = true;
        }
      }
    }
  };
  if (plan.cancel_running_tasks) cancel_children(run.tasks, false);
  if (plan.cancel_running_finally) cancel_children(run.finally, true);

  bool status_dirty = false;
  auto record_skip = [&](bool fin, size_t i, std::string_view reason) {
    const model::PipelineTask& pt = run.PTask(fin, i);
    run.Set(fin, i, {TaskState::kSkipped, reason});
    status_dirty = true;
    ProgressEvent e;
    e.type = ProgressEvent::Type::kTaskSkipped;
    e.pipeline_run = run.name;
    e.pipeline_task = pt.name;
    e.state = "Skipped";
    e.message = std::string(reason);
    e.is_finally = fin;
    lock.unlock();
    Emit(e);
    lock.lock();
  };
  for (const auto& [i, reason] : plan.skip) record_skip(false, i, reason);
  for (const auto& [i, reason] : plan.skip_finally) record_skip(true, i, reason);

  // Pipeline-level variables for starting tasks.
  // Results are added only for the tasks `uses` names (all when null), so
  // starting one task does not cost a pass over every other task's results.
  auto vars = [&](bool for_finally, const std::vector<std::string>* uses) {
    auto wanted = [&](const std::string& name) {
      return !uses || std::find(uses->begin(), uses->end(), name) != uses->end();
    };
    Vars v;
    for (const auto& [n, val] : run.params) v.Set("params." + n, val);
    v.SetString("context.pipelineRun.name", run.name);
    v.SetString("context.pipelineRun.namespace", run.ns);
    v.SetString("context.pipelineRun.uid", run.uid);
    v.SetString("context.pipeline.name", run.pipeline.empty() ? run.name : run.pipeline);
    for (const auto& [w, path] : run.workspace_paths) {
      v.SetString("workspaces." + w + ".bound", path.empty() ? "false" : "true");
    }
    bool any_failed = false, any_skipped = false;
    std::vector<size_t> indexes;
    if (for_finally || !uses) {
      indexes.resize(run.tasks.size());
      for (size_t i = 0; i < indexes.size(); ++i) indexes[i] = i;
    } else {
      for (const auto& u : *uses) {
        if (auto d = run.dag.index.find(u); d != run.dag.index.end()) indexes.push_back(d->second);
      }
    }
    for (size_t i : indexes) {
      const auto& t = run.tasks[i];
      const std::string& tn = run.spec.tasks[i].name;
      if (for_finally) {
        std::string st =
            t.facts.state == TaskState::kSucceeded ? "Succeeded"
            : (t.facts.state == TaskState::kFailed || t.facts.state == TaskState::kCancelled)
                ? "Failed"
                : "None";
        v.SetString("tasks." + tn + ".status", st);
        any_failed |= st == "Failed";
        any_skipped |= t.facts.state == TaskState::kSkipped;
      }
      if (t.facts.state != TaskState::kSucceeded || !wanted(tn)) continue;
      if (t.combos.size() > 1 || run.spec.tasks[i].matrix) {
        // Matrixed tasks: each string result becomes an array of all runs' values.
        std::map<std::string, model::ParamValue> agg;
        for (const auto& c : t.children) {
          for (const auto& r : c.results) {
            auto& a = agg[r.name];
            a.type = model::ParamType::kArray;
            a.arr.push_back(r.value.str);
          }
        }
        for (const auto& [rn, val] : agg) v.Set(fmt::format("tasks.{}.results.{}", tn, rn), val);
        v.SetString("tasks." + tn + ".matrix.length", std::to_string(t.combos.size()));
      } else if (!t.children.empty()) {
        for (const auto& r : t.children[0].results)
          v.Set("tasks." + tn + ".results." + r.name, r.value);
      }
    }
    for (size_t i = 0; i < run.finally.size(); ++i) {
      const auto& t = run.finally[i];
      const std::string& fn = run.spec.finally[i].name;
      if (t.facts.state != TaskState::kSucceeded || t.children.empty() || !wanted(fn)) continue;
      for (const auto& r : t.children[0].results) {
        v.Set("tasks." + fn + ".results." + r.name, r.value);
      }
    }
    if (for_finally) {
      v.SetString("tasks.status", any_failed ? "Failed" : any_skipped ? "Completed" : "Succeeded");
    }
    return v;
  };

  // Start ready tasks: resolve params and when; missing results fail the
  // run (a finally task is skipped instead), as Tekton does.
  auto start = [&](bool fin, size_t i) {
    PTaskState& ps = fin ? run.finally[i] : run.tasks[i];
    const model::PipelineTask& pt = run.PTask(fin, i);
    if (ps.started) return;
    std::vector<std::string> uses = ResultDependencies(pt);
    TaskResolution r = ResolveTask(pt, fin, vars(fin, &uses), run.params);
    if (r.kind == TaskResolution::Kind::kSkip) {
      record_skip(fin, i, r.skip_reason);
      return;
    }
    if (r.kind == TaskResolution::Kind::kFail) {
      run.failure_reason = r.reason;
      run.failure_message = r.message;
      run.Set(false, i, {TaskState::kFailed, {}});
      status_dirty = true;
      return;
    }
    ps.combos = std::move(r.combos);
    ps.params = std::move(r.params);
    ps.started = true;
    ps.children.resize(ps.combos.size());
    ps.next = 0;
    run.Set(fin, i, {Aggregate(ps), {}});  // Running, or done already before a crash
    run.creating.emplace_back(fin, i);
  };
  if (!plan.start_finally.empty() && !run.finally_start_ms) {
    run.finally_start_ms = now;
    status_dirty = true;
  }
  for (size_t i : plan.start) start(false, i);
  for (size_t i : plan.start_finally) start(true, i);
  // Starting a task (whose children may all have finished before a crash)
  // also changes what the planner sees.
  bool progressed = status_dirty || unstarted || !plan.skip.empty() || !plan.skip_finally.empty() ||
                    !plan.start.empty() || !plan.start_finally.empty();

  // Create TaskRuns while there are free slots.
  std::vector<std::shared_ptr<Job>> to_create;
  auto create_children = [&]() {
    while (!run.creating.empty() && running_ < options_.parallel) {
      const bool fin = run.creating.front().first;
      const size_t i = run.creating.front().second;
      PTaskState& ps = fin ? run.finally[i] : run.tasks[i];
      const model::PipelineTask& pt = run.PTask(fin, i);
      while (ps.next < ps.combos.size() && running_ < options_.parallel) {
        size_t c = ps.next++;
        ChildRun& cr = ps.children[c];
        bool matrix = ps.combos.size() > 1 || pt.matrix.has_value();
        if (cr.created && cr.state != TaskState::kRunning) continue;  // Done before a crash.
        cr.name = TaskRunName(run.name, pt.name, matrix ? static_cast<int>(c) : -1);
        auto job = std::make_shared<Job>();
        job->run_key = key;
        job->is_finally = fin;
        job->index = i;
        job->child = c;
        TaskRunJob& j = job->job;
        j.ns = run.ns;
        j.name = cr.name;
        j.uid = cr.uid.empty() ? NewUid() : cr.uid;
        cr.uid = j.uid;
        auto tn = run.task_names.find(pt.name);
        j.task_name = tn != run.task_names.end() ? tn->second : pt.name;
        j.pipeline_run = run.name;
        j.pipeline_run_uid = run.uid;
        j.pipeline = run.pipeline;
        j.pipeline_task = pt.name;
        j.retries = pt.retries;
        j.spec = pt.task_spec ? *pt.task_spec : model::TaskSpec{};
        j.params = ps.params;
        for (const auto& mp : ps.combos[c]) {
          auto existing = std::find_if(j.params.begin(), j.params.end(),
                                       [&](const auto& x) { return x.name == mp.name; });
          if (existing != j.params.end())
            *existing = mp;
          else
            j.params.push_back(mp);
        }
        for (const auto& b : pt.workspaces) {
          WorkspaceMount m;
          m.name = b.name;
          auto path = run.workspace_paths.find(b.workspace);
          if (path != run.workspace_paths.end() && !path->second.empty()) {
            // The executor opens the subPath beneath the volume's directory.
            m.host_path = path->second;
            auto run_sub = run.workspace_sub_paths.find(b.workspace);
            m.sub_path = run_sub == run.workspace_sub_paths.end()
                             ? b.sub_path
                             : PathJoin(run_sub->second, b.sub_path);
          }
          m.read_only = run.read_only_workspaces.count(b.workspace) > 0;
          if (auto cl = run.workspace_claims.find(b.workspace); cl != run.workspace_claims.end())
            m.claim = cl->second;
          j.workspaces.push_back(std::move(m));
        }
        for (const auto& decl : j.spec.workspaces) {
          if (decl.read_only) {
            for (auto& m : j.workspaces) {
              if (m.name == decl.name) m.read_only = true;
            }
          }
        }
        j.config_maps = run.config_maps;
        j.secrets = run.secrets;
        // Timeout: the task's own, within what is left of the run's budgets.
        std::optional<Millis> limit = pt.timeout;
        if (limit && limit->count() == 0) limit.reset();
        auto cap = [&](int64_t start_ms, const std::optional<Millis>& budget) {
          if (!budget || budget->count() == 0) return;
          Millis left(std::max<int64_t>(0, start_ms + budget->count() - now));
          limit = limit ? std::min(*limit, left) : left;
        };
        cap(run.start_ms, run.timeouts.pipeline);
        if (fin) {
          if (run.finally_start_ms) cap(*run.finally_start_ms, run.timeouts.finally);
        } else {
          cap(run.start_ms, run.timeouts.tasks);
        }
        if (!limit && !run.timeouts.pipeline) limit = kDefaultTimeout;
        j.timeout = limit;
        job->cancel_fd = ::eventfd(0, EFD_CLOEXEC);
        job->start_ms = now;
        ++running_;
        cr.state = TaskState::kRunning;
        to_create.push_back(job);
      }
      if (ps.next < ps.combos.size()) break;  // Out of slots.
      run.creating.pop_front();
    }
  };
  create_children();

  // Done?
  bool done = plan.done && to_create.empty();
  const RunFacts& final_facts = run.facts;
  // Snapshot for the status write, outside the lock.
  auto skipped_json = [&] {
    Json skipped = Json::array();
    auto add = [&](const std::vector<PTaskState>& list, bool fin) {
      for (size_t i = 0; i < list.size(); ++i) {
        if (list[i].facts.state != TaskState::kSkipped) continue;
        const auto& pt = run.PTask(fin, i);
        Json s = {{"name", pt.name}, {"reason", std::string(list[i].facts.skip_reason)}};
        if (!pt.when.empty() && list[i].facts.skip_reason == skip::kWhen) {
          Json whens = Json::array();
          for (const auto& w : pt.when)
            whens.push_back({{"input", w.input}, {"operator", w.op}, {"values", w.values}});
          s["whenExpressions"] = whens;
        }
        skipped.push_back(s);
      }
    };
    add(run.tasks, false);
    add(run.finally, true);
    return skipped;
  };
  Json skipped = (status_dirty || done) ? skipped_json() : Json();
  std::optional<int64_t> finally_start = run.finally_start_ms;
  Json children_refs = Json::array();
  Json results = Json::array();
  std::string outcome_reason, outcome_message;
  bool outcome_ok = false;
  if (done) {
    for (size_t fin = 0; fin < 2; ++fin) {
      const auto& list = fin ? run.finally : run.tasks;
      for (size_t i = 0; i < list.size(); ++i) {
        for (const auto& c : list[i].children) {
          if (!c.created) continue;
          children_refs.push_back({{"apiVersion", kApiVersion},
                                   {"kind", "TaskRun"},
                                   {"name", c.name},
                                   {"pipelineTaskName", run.PTask(fin, i).name}});
        }
      }
    }
    Vars v = vars(false, nullptr);
    for (const auto& r : run.spec.results) {
      auto val = SubstituteValue(r.value, v);
      bool unresolved = false;
      if (val) {
        for (const auto& ref : FindReferences(val->str))
          unresolved |= StartsWith(ref.base, "tasks.");
      }
      if (val && !unresolved) results.push_back({{"name", r.name}, {"value", val->ToJson()}});
    }
    outcome_ok = plan.outcome.succeeded;
    outcome_reason = plan.outcome.reason;
    outcome_message = CompletionMessage(final_facts);
    if (!run.failure_reason.empty() && !outcome_ok) {
      outcome_reason = run.failure_reason;
      outcome_message = run.failure_message;
    } else if (outcome_reason == "PipelineRunTimeout") {
      outcome_message = fmt::format("PipelineRun \"{}\" failed to finish within \"{}\"", run.name,
                                    FormatDuration(run.timeouts.pipeline.value_or(Millis(0))));
    } else if (outcome_reason == "Cancelled") {
      outcome_message = fmt::format("PipelineRun \"{}\" was cancelled", run.name);
    }
  }
  std::string run_name = run.name, run_ns = run.ns;
  std::string run_uid = run.uid;
  std::string pipeline = run.pipeline;
  std::vector<std::string> recover(run.recover.begin(), run.recover.end());
  // Label and naming info for the TaskRun rows.
  lock.unlock();

  if (status_dirty || done) {
    auto current = store_.Get({"PipelineRun", run_ns, run_name});
    if (!current) return tl::unexpected(current.error());
    if (*current) {
      Json status = (**current).status;
      status["skippedTasks"] = skipped;
      if (finally_start) {
        status["finallyStartTimeMs"] = *finally_start;
        status["finallyStartTime"] = FormatRfc3339(FromUnixMillis(*finally_start));
      }
      std::string reason = "Running";
      std::string message = "PipelineRun progressing";
      if (done) {
        status["conditions"] =
            Condition(outcome_ok ? "True" : "False", outcome_reason, outcome_message, clock_.Now());
        status["completionTime"] = FormatRfc3339(clock_.Now());
        status["childReferences"] = children_refs;
        if (!results.empty()) status["results"] = results;
        reason = outcome_reason;
        message = outcome_message;
      }
      auto u = store_.UpdateStatus({"PipelineRun", run_ns, run_name}, status, 0, reason, message);
      if (!u) return tl::unexpected(u.error());
    }
  }

  // Create the TaskRuns (durably, as Running) before handing them to workers.
  for (auto& job : to_create) {
    const TaskRunJob& j = job->job;
    store::Resource tr;
    tr.key = {"TaskRun", j.ns, j.name};
    tr.uid = j.uid;
    tr.owner = run_uid;
    tr.labels = {{"tekton.dev/pipelineRun", run_name},
                 {"tekton.dev/pipelineTask", j.pipeline_task},
                 {"tekton.dev/memberOf", job->is_finally ? "finally" : "tasks"},
                 {"app.kubernetes.io/managed-by", "strake"}};
    if (!pipeline.empty()) tr.labels["tekton.dev/pipeline"] = pipeline;
    if (j.task_name != j.pipeline_task) tr.labels["tekton.dev/task"] = j.task_name;
    bool matrix = j.name != TaskRunName(run_name, j.pipeline_task, -1);
    if (matrix) tr.labels["strake.dev/matrixIndex"] = std::to_string(job->child);
    Json params = model::EncodeParams(j.params);
    Json spec = {{"params", params}, {"serviceAccountName", "default"}};
    if (j.timeout) spec["timeout"] = FormatDuration(*j.timeout);
    if (j.retries) spec["retries"] = j.retries;
    Json ws = Json::array();
    for (const auto& w : j.workspaces)
      ws.push_back({{"name", w.name}, {"emptyDir", Json::object()}});
    spec["workspaces"] = ws;
    tr.object = {{"apiVersion", kApiVersion},
                 {"kind", "TaskRun"},
                 {"metadata",
                  {{"name", j.name},
                   {"namespace", j.ns},
                   {"labels", tr.labels},
                   {"ownerReferences", Json::array({{{"apiVersion", kApiVersion},
                                                     {"kind", "PipelineRun"},
                                                     {"name", run_name},
                                                     {"uid", run_uid},
                                                     {"controller", true}}})}}},
                 {"spec", spec}};
    Json steps = Json::array();
    for (size_t s = 0; s < j.spec.steps.size(); ++s) {
      std::string container = j.spec.steps[s].name.empty() ? "step-unnamed-" + std::to_string(s)
                                                           : "step-" + j.spec.steps[s].name;
      steps.push_back({{"name", j.spec.steps[s].name},
                       {"container", container},
                       {"running", {{"startedAt", FormatRfc3339(clock_.Now())}}},
                       {"log", runner_.LogPath(j.ns, j.name, container)}});
    }
    tr.status = {{"conditions",
                  Condition("Unknown", "Running",
                            "Not all Steps in the Task have finished executing", clock_.Now())},
                 {"startTime", FormatRfc3339(clock_.Now())},
                 {"podName", ""},
                 {"steps", steps}};
    bool recovering = std::find(recover.begin(), recover.end(), j.name) != recover.end();
    // A task with a cache block is looked up here: a hit is recorded as
    // finished in one write, with no worker and no slot; a miss hands the key on.
    if (j.spec.cache.enabled && !options_.executor.no_cache) {
      auto started = std::chrono::steady_clock::now();
      auto hit = runner_.TryCache(j);
      if (hit && hit->succeeded) {
        int64_t took =
            std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - started).count();
        tr.status = FinalStatus(*job, *hit, took, Json::array());
        Result<store::Resource> w =
            recovering ? store_.UpdateStatus(tr.key, tr.status, 0, hit->reason, hit->message)
                       : store_.Create(tr, hit->reason, hit->message);
        if (!w) {
          std::lock_guard<std::mutex> l(mu_);
          --running_;
          return tl::unexpected(w.error().Wrap("taskrun " + j.name));
        }
        {
          std::lock_guard<std::mutex> l(mu_);
          auto rit = runs_.find(key);
          if (rit != runs_.end()) {
            auto& list = job->is_finally ? rit->second->finally : rit->second->tasks;
            list[job->index].children[job->child].created = true;
            rit->second->recover.erase(j.name);
          }
        }
        ::close(job->cancel_fd);
        job->cancel_fd = -1;
        Complete(job, *hit, took);
        continue;
      }
      if (hit) {
        job->job.cache_checked = true;
        job->job.cache_key = hit->cache_key;
      }
    }
    Result<store::Resource> w = recovering ? store_.UpdateStatus(tr.key, tr.status, 0, "Running",
                                                                 "TaskRun re-run after restart")
                                           : store_.Create(tr, "Running", "TaskRun started");
    if (!w) {
      std::lock_guard<std::mutex> l(mu_);
      --running_;
      return tl::unexpected(w.error().Wrap("taskrun " + j.name));
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      auto rit = runs_.find(key);
      if (rit != runs_.end()) {
        auto& list = job->is_finally ? rit->second->finally : rit->second->tasks;
        list[job->index].children[job->child].created = true;
        rit->second->recover.erase(j.name);
      }
    }
    {
      std::lock_guard<std::mutex> jl(jobs_mu_);
      jobs_[controller::ObjectKey(j.ns, j.name)] = job;
    }
    ProgressEvent e;
    e.type = ProgressEvent::Type::kTaskStarted;
    e.pipeline_run = run_name;
    e.pipeline_task = j.pipeline_task;
    e.task_run = j.name;
    e.state = "Running";
    e.is_finally = job->is_finally;
    Emit(e);
    taskrun_controller_->Enqueue(controller::ObjectKey(j.ns, j.name));
  }

  if (done) {
    {
      // A finished run leaves memory: its state is in the store. The work
      // queue never hands this key to a second worker meanwhile, so no one
      // else holds the Run.
      std::lock_guard<std::mutex> l(mu_);
      runs_.erase(key);
    }
    ProgressEvent e;
    e.type = ProgressEvent::Type::kRunFinished;
    e.pipeline_run = run_name;
    e.state = outcome_reason;
    e.message = outcome_message;
    Emit(e);
    done_cv_.notify_all();
    return controller::ReconcileResult{};
  }
  controller::ReconcileResult rr;
  if (next_deadline) rr.requeue_after = Millis(std::max<int64_t>(1, *next_deadline - now));
  // Skips and failed starts change what the planner sees: look again at once.
  if (progressed) rr.requeue_after = Millis(0);
  return rr;
}

// --- the TaskRun reconciler ---------------------------------------------------

Json Engine::FinalStatus(const Job& job, const TaskRunOutcome& outcome, int64_t took,
                         const Json& retries_status) const {
  Json steps = Json::array();
  for (const auto& s : outcome.steps) {
    Json terminated = {{"exitCode", s.exit_code}, {"reason", s.reason}};
    if (s.started_ms) terminated["startedAt"] = FormatRfc3339(FromUnixMillis(s.started_ms));
    if (s.finished_ms) terminated["finishedAt"] = FormatRfc3339(FromUnixMillis(s.finished_ms));
    if (!s.message.empty()) terminated["message"] = s.message;
    std::string step_name = StartsWith(s.name, "step-") ? s.name.substr(5) : s.name;
    Json step = {{"name", step_name}, {"container", s.name}, {"terminated", terminated}};
    auto log = outcome.logs.find(s.name);
    if (log != outcome.logs.end()) step["log"] = log->second;
    steps.push_back(step);
  }
  Json results = Json::array();
  for (const auto& r : outcome.results) {
    results.push_back({{"name", r.name},
                       {"type", model::ParamTypeName(r.value.type)},
                       {"value", r.value.ToJson()}});
  }
  Json status = {{"conditions", Condition(outcome.succeeded ? "True" : "False", outcome.reason,
                                          outcome.message, clock_.Now())},
                 {"startTime", FormatRfc3339(FromUnixMillis(job.start_ms))},
                 {"completionTime", FormatRfc3339(clock_.Now())},
                 {"durationMs", took},
                 {"podName", ""},
                 {"steps", steps},
                 {"results", results}};
  if (!retries_status.empty()) status["retriesStatus"] = retries_status;
  if (!outcome.cache_key.empty()) status["cacheKey"] = outcome.cache_key;
  Json images = Json::array();
  for (const auto& s : job.job.spec.steps) {
    if (!s.image.empty()) images.push_back(s.image);
  }
  if (!images.empty() && runner_.IgnoresImages()) status["strake"] = {{"ignoredImages", images}};
  return status;
}

void Engine::Complete(const std::shared_ptr<Job>& job, const TaskRunOutcome& outcome,
                      int64_t took) {
  const TaskRunJob& j = job->job;
  TaskState state = outcome.succeeded                      ? TaskState::kSucceeded
                    : outcome.reason == "TaskRunCancelled" ? TaskState::kCancelled
                                                           : TaskState::kFailed;
  {
    std::lock_guard<std::mutex> l(mu_);
    --running_;
    auto rit = runs_.find(job->run_key);
    if (rit != runs_.end()) {
      auto& list = job->is_finally ? rit->second->finally : rit->second->tasks;
      ChildRun& cr = list[job->index].children[job->child];
      cr.state = state;
      cr.results = outcome.results;
      rit->second->dirty.emplace_back(job->is_finally, job->index);
    }
    // Any run may be waiting for a slot.
    for (const auto& [k, r] : runs_) {
      if (!r->done) run_controller_->Enqueue(k);
    }
  }
  {
    std::lock_guard<std::mutex> jl(jobs_mu_);
    if (job->cancel_fd >= 0) ::close(job->cancel_fd);
    job->cancel_fd = -1;
    jobs_.erase(controller::ObjectKey(j.ns, j.name));
  }
  ProgressEvent e;
  e.type = ProgressEvent::Type::kTaskFinished;
  e.pipeline_run = j.pipeline_run;
  e.pipeline_task = j.pipeline_task;
  e.task_run = j.name;
  e.state = outcome.reason == "Cached" ? "Cached" : StateName(state);
  e.message = outcome.message;
  e.duration_ms = took;
  e.is_finally = job->is_finally;
  Emit(e);
}

Result<controller::ReconcileResult> Engine::ReconcileTaskRun(const std::string& key) {
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> jl(jobs_mu_);
    auto it = jobs_.find(key);
    if (it == jobs_.end()) return controller::ReconcileResult{};
    job = it->second;
  }
  const TaskRunJob& j = job->job;
  auto started = std::chrono::steady_clock::now();
  TaskRunOutcome outcome;
  Json retries_status = Json::array();
  for (int attempt = 0;; ++attempt) {
    auto attempt_start = clock_.Now();
    outcome = runner_.Run(j, attempt, j.timeout, job->cancel_fd);
    if (outcome.succeeded || outcome.reason == "TaskRunCancelled" || attempt >= j.retries) break;
    retries_status.push_back(
        {{"conditions", Condition("False", outcome.reason, outcome.message, clock_.Now())},
         {"startTime", FormatRfc3339(attempt_start)},
         {"completionTime", FormatRfc3339(clock_.Now())}});
    Json st = {
        {"conditions", Condition("Unknown", "Running",
                                 fmt::format("retrying after: {}", outcome.message), clock_.Now())},
        {"startTime", FormatRfc3339(clock_.Now())},
        {"retriesStatus", retries_status}};
    (void)store_.UpdateStatus({"TaskRun", j.ns, j.name}, st, 0, "Retrying",
                              fmt::format("attempt {} failed: {}", attempt + 1, outcome.message));
    ProgressEvent e;
    e.type = ProgressEvent::Type::kTaskRetrying;
    e.pipeline_run = j.pipeline_run;
    e.pipeline_task = j.pipeline_task;
    e.task_run = j.name;
    e.state = "Retrying";
    e.message = outcome.message;
    Emit(e);
  }
  int64_t took =
      std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - started).count();

  // The end, durably, before the PipelineRun hears of it.
  Json status = FinalStatus(*job, outcome, took, retries_status);
  auto written =
      store_.UpdateStatus({"TaskRun", j.ns, j.name}, status, 0, outcome.reason, outcome.message);
  if (!written) return tl::unexpected(written.error().Wrap("taskrun " + j.name));
  Complete(job, outcome, took);
  return controller::ReconcileResult{};
}

}  // namespace strake::pipeline
