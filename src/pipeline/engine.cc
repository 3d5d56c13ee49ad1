#include "pipeline/engine.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <set>

#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "model/decode.h"
#include "pipeline/credentials.h"
#include "pipeline/executor_runner.h"
#include "pipeline/propagate.h"
#include "pipeline/run_state.h"
#include "pipeline/run_status.h"
#include "pipeline/substitute.h"

namespace strake::pipeline {

using model::Json;
using model::Millis;

namespace {

CancelMode ParseCancel(const std::string& s) {
  if (s == "Cancelled") return CancelMode::kCancelled;
  if (s == "CancelledRunFinally") return CancelMode::kCancelledRunFinally;
  if (s == "StoppedRunFinally") return CancelMode::kStoppedRunFinally;
  return CancelMode::kNone;
}

// The specs of the Tasks and Pipelines a run may name, as given.
struct RawSpecs {
  std::map<std::string, const Json*> tasks, pipelines;
};

// Serialises a PipelineSpec with every taskRef replaced by its Task's spec
// and every pipelineRef of a pipeline task by its Pipeline's spec (resolved
// alike, at any depth), so a stored run is self-contained. `names` gets
// "taskNames" (pipeline task -> the Task it named) and, for each task that
// runs a Pipeline, "childPipelines" (task -> {"pipeline": the name it
// named, and the names inside it}).
Result<Json> ResolvedSpecJson(const Json& spec, const RawSpecs& raw, Json& names, int depth = 0) {
  if (depth > kMaxPipelineDepth)
    return Failf("pipelines run pipelines more than {} deep", kMaxPipelineDepth);
  Json out = spec;
  names["taskNames"] = Json::object();
  for (const char* list : {"tasks", "finally"}) {
    if (!out.contains(list)) continue;
    for (auto& t : out[list]) {
      const std::string task = t.value("name", "");
      if (t.contains("taskRef")) {
        std::string ref = t["taskRef"].value("name", "");
        if (auto it = raw.tasks.find(ref); it != raw.tasks.end()) {
          names["taskNames"][task] = ref;
          t.erase("taskRef");
          t["taskSpec"] = *it->second;
        }
      }
      Json child_names = Json::object();
      if (t.contains("pipelineRef")) {
        std::string ref = t["pipelineRef"].value("name", "");
        auto it = raw.pipelines.find(ref);
        if (it == raw.pipelines.end()) return Failf("task {}: unknown Pipeline \"{}\"", task, ref);
        child_names["pipeline"] = ref;
        t.erase("pipelineRef");
        t["pipelineSpec"] = *it->second;
      }
      if (!t.contains("pipelineSpec")) continue;
      auto child = ResolvedSpecJson(t["pipelineSpec"], raw, child_names, depth + 1);
      if (!child) return tl::unexpected(child.error().Wrap("task " + task));
      t["pipelineSpec"] = std::move(*child);
      names["childPipelines"][task] = std::move(child_names);
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
  if (b.kind != Kind::kConfigMap && b.kind != Kind::kSecret && b.kind != Kind::kProjected) {
    auto made = MakeDirs(out.dir, 0777);
    if (!made) return wrap(made.error());
    return out;
  }
  // ConfigMaps and Secrets, read-only; a projected workspace holds several.
  std::vector<model::ProjectedSource> sources = b.projected;
  if (b.kind != Kind::kProjected) sources.push_back({b.kind == Kind::kSecret, b.source, b.items});
  out.read_only = true;
  (void)RemoveAll(out.dir);
  auto made = MakeDirs(out.dir, 0700);
  for (const auto& source : sources) {
    if (!made) break;
    const auto& maps = source.secret ? secrets : config_maps;
    auto src = maps.find(source.name);
    if (src == maps.end()) {
      if (source.optional) continue;
      return wrap(Error{fmt::format("{} \"{}\" not found (apply it with -f)",
                                    source.secret ? "Secret" : "ConfigMap", source.name)});
    }
    out.secret = out.secret || source.secret;
    made = Materialize(src->second, out.dir, source.items);
  }
  if (!made) return wrap(made.error());
  return out;
}

// TaskRuns handed to workers, by "ns/name".
struct Engine::Job : NewTaskRun {
  Job(NewTaskRun n, std::string key, int64_t now, int fd)
      : NewTaskRun(std::move(n)), run_key(std::move(key)), start_ms(now), cancel_fd(fd) {}
  std::string run_key;
  int64_t start_ms = 0;  // when its first attempt took a slot (or was created, until then)
  int cancel_fd = -1;
  // Under slot_mu_:
  enum class Wait { kNone, kQueued, kStarting, kGranted };
  Wait wait = Wait::kNone;
  const std::function<void()>* start = nullptr;  // while queued: run by the slot's giver
  std::condition_variable slot_cv;               // the job's thread waits on it, with slot_mu_
  bool cancelled = false;                        // SignalCancel was called
  bool holds_slot = false;
  bool started = false;  // took a slot once
  std::chrono::steady_clock::time_point started_at;
  // The job's own thread only:
  bool announced = false;  // kTaskStarted was told
};

namespace {

ProgressEvent TaskRunEvent(ProgressEvent::Type type, const NewTaskRun& n, std::string state,
                           std::string message) {
  ProgressEvent e;
  e.type = type;
  e.pipeline_run = n.job.pipeline_run;
  e.pipeline_task = n.job.pipeline_task;
  e.task_run = n.job.name;
  e.state = std::move(state);
  e.message = std::move(message);
  e.is_finally = n.is_finally;
  return e;
}

}  // namespace

// A TaskRun's Slot: the engine's slots, taken on behalf of its job, and
// given back however the attempt ends (an exception included).
class Engine::SlotClaim final : public Slot {
 public:
  SlotClaim(Engine& e, Job& job) : e_(e), job_(job) {}
  ~SlotClaim() override { Release(); }
  SlotClaim(const SlotClaim&) = delete;
  SlotClaim& operator=(const SlotClaim&) = delete;
  bool Acquire(const std::function<void()>& start) override { return e_.AcquireSlot(job_, start); }
  void Release() override { e_.ReleaseSlot(job_); }

 private:
  Engine& e_;
  Job& job_;
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
    : Engine(store, std::move(options), clock, nullptr) {}

Engine::Engine(store::Store& store, EngineOptions options, const Clock& clock, TaskRunner& runner)
    : Engine(store, std::move(options), clock, &runner) {}

Engine::Engine(store::Store& store, EngineOptions options, const Clock& clock, TaskRunner* runner)
    : store_(store),
      options_(std::move(options)),
      clock_(clock),
      own_runner_(runner ? nullptr : std::make_unique<TaskExecutorRunner>(options_.executor)),
      runner_(runner ? *runner : *own_runner_) {
  run_reconciler_ = std::make_unique<Reconciler>(*this, &Engine::ReconcileRun);
  taskrun_reconciler_ = std::make_unique<Reconciler>(*this, &Engine::ReconcileTaskRun);
  run_controller_ = std::make_unique<controller::Controller>("pipelinerun", *run_reconciler_, 1);
  // A worker for each running TaskRun and one for each created ahead.
  taskrun_controller_ = std::make_unique<controller::Controller>(
      "taskrun", *taskrun_reconciler_, 2 * std::max(1, options_.parallel));
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
  // Cancel whatever still runs or waits so workers return promptly.
  {
    std::lock_guard<std::mutex> lock(slot_mu_);
    slots_closed_ = true;
    for (Job* j : slot_queue_) j->slot_cv.notify_one();
  }
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    std::vector<Job*> all;
    for (auto& [k, j] : jobs_) all.push_back(j.get());
    SignalCancel(all);
  }
  run_controller_->Stop();
  taskrun_controller_->Stop();
}

void Engine::SignalCancel(const std::vector<Job*>& jobs) {
  // All are out of the slot queue's reach before any running one ends and
  // gives its slot away.
  {
    std::lock_guard<std::mutex> l(slot_mu_);
    for (Job* j : jobs) {
      j->cancelled = true;
      j->slot_cv.notify_one();
    }
  }
  for (Job* j : jobs) {
    uint64_t one = 1;
    if (j->cancel_fd >= 0) (void)!::write(j->cancel_fd, &one, sizeof one);
  }
}

// With slot_mu_ held: the first queued job a slot may go to (end: none).
std::deque<Engine::Job*>::iterator Engine::OldestLiveWaiter() {
  if (slots_closed_) return slot_queue_.end();
  return std::find_if(slot_queue_.begin(), slot_queue_.end(),
                      [](const Job* j) { return !j->cancelled; });
}

// With slot_mu_ held: `job` holds a slot from now.
void Engine::GrantSlot(Job& job) {
  job.holds_slot = true;
  if (!std::exchange(job.started, true)) {
    job.started_at = std::chrono::steady_clock::now();
    job.start_ms = UnixMillis(clock_.Now());  // before its first step starts
  }
}

bool Engine::AcquireSlot(Job& job, const std::function<void()>& start) {
  bool started_by_giver = false;
  {
    std::unique_lock<std::mutex> l(slot_mu_);
    if (job.cancelled || slots_closed_) return false;
    if (job.holds_slot) {
      // Held already (a runner asking twice): nothing to wait for.
    } else if (busy_ < options_.parallel && OldestLiveWaiter() == slot_queue_.end()) {
      ++busy_;
      GrantSlot(job);
    } else if (WaitForSlot(job, start, l)) {
      started_by_giver = true;
    } else {
      return false;
    }
  }
  if (!started_by_giver && start) start();
  if (!std::exchange(job.announced, true)) {
    Emit(TaskRunEvent(ProgressEvent::Type::kTaskStarted, job, "Running", ""));
  }
  return true;
}

// With slot_mu_ held (by `l`): queues `job` and waits until a slot's giver
// has run `start` and granted it (true), or the job is cancelled first.
bool Engine::WaitForSlot(Job& job, const std::function<void()>& start,
                         std::unique_lock<std::mutex>& l) {
  job.start = &start;
  job.wait = Job::Wait::kQueued;
  slot_queue_.push_back(&job);
  job.slot_cv.wait(l, [&] {
    return job.wait == Job::Wait::kGranted ||
           (job.wait == Job::Wait::kQueued && (job.cancelled || slots_closed_));
  });
  const bool granted = job.wait == Job::Wait::kGranted;
  job.wait = Job::Wait::kNone;
  job.start = nullptr;
  if (!granted) slot_queue_.erase(std::find(slot_queue_.begin(), slot_queue_.end(), &job));
  return granted;
}

void Engine::ReleaseSlot(Job& job) {
  Job* next = nullptr;
  {
    std::lock_guard<std::mutex> l(slot_mu_);
    if (!job.holds_slot) return;
    job.holds_slot = false;
    // The slot goes straight to the oldest live waiter, whose first process
    // this thread starts now: no wake-up between one task and the next.
    auto it = OldestLiveWaiter();
    if (it == slot_queue_.end()) {
      --busy_;
    } else {
      next = *it;
      slot_queue_.erase(it);
      next->wait = Job::Wait::kStarting;
      GrantSlot(*next);
    }
  }
  if (next) {
    // The waiter's own thread starts what this could not (its `start` left
    // nothing half-done to it: RunSteps starts the first step itself then).
    try {
      if (*next->start) (*next->start)();
    } catch (const std::exception& e) {
      Log(LogLevel::kWarn, "taskrun {}: starting it on the slot's hand-off: {}", next->job.name,
          e.what());
    }
    // Told under the lock: once it sees kGranted, the waiter may return and
    // its job go.
    std::lock_guard<std::mutex> l(slot_mu_);
    next->wait = Job::Wait::kGranted;
    next->slot_cv.notify_one();
  }
}

void Engine::Emit(const ProgressEvent& given) {
  std::lock_guard<std::mutex> lock(observer_mu_);
  if (!observer_) return;
  auto nested = nested_runs_.find(given.pipeline_run);
  if (nested == nested_runs_.end()) {
    observer_(given);
    return;
  }
  ProgressEvent e = given;
  e.nested = true;
  if (e.type == ProgressEvent::Type::kRunStarted || e.type == ProgressEvent::Type::kRunFinished)
    e.task_run = e.pipeline_run;  // the child's own name
  e.pipeline_run = nested->second.first;
  e.pipeline_task = nested->second.second + e.pipeline_task;
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
      const std::string key = controller::ObjectKey(c.key.ns, c.key.name);
      auto it = runs_.find(key);
      if (it == runs_.end() || it->second->done) continue;
      lock.unlock();
      auto r = store_.Get(c.key);
      lock.lock();
      // Found again: the run may have finished and left memory meanwhile.
      it = runs_.find(key);
      if (r && *r && it != runs_.end() && !it->second->done) {
        it->second->cancel = ParseCancel((**r).object["spec"].value("status", ""));
        run_controller_->Enqueue(it->first);
      }
    }
  }
}

namespace {

// Params given on the command line must be ones the pipeline declares, or
// ones its embedded tasks read by propagation: a mistyped name would else
// be ignored and the run go on with the default.
Status CheckExtraParams(const std::vector<model::Param>& extra, const Json& spec,
                        const std::string& run) {
  std::vector<std::string> declared;
  for (const auto& p : spec.value("params", Json::array())) declared.push_back(p.value("name", ""));
  std::set<std::string> read;  // the params the spec's strings refer to
  std::function<void(const Json&)> collect = [&](const Json& j) {
    if (j.is_string()) {
      for (const auto& ref : FindReferences(j.get_ref<const std::string&>())) read.insert(ref.base);
    } else if (j.is_structured()) {
      for (const auto& child : j) collect(child);
    }
  };
  collect(spec);
  auto reads = [&](const std::string& name) {
    const std::string base = "params." + name;
    return std::any_of(read.begin(), read.end(), [&](const std::string& r) {
      return r == base || StartsWith(r, base + ".");
    });
  };
  for (const auto& p : extra) {
    if (std::find(declared.begin(), declared.end(), p.name) != declared.end()) continue;
    if (reads(p.name)) continue;  // propagated
    return Failf(ErrorCode::kInvalid, "--param {}: pipelinerun {} has no param {}{}{}", p.name, run,
                 Quote(p.name), DidYouMean(p.name, declared),
                 declared.empty() ? "" : " (it declares " + Join(declared, ", ") + ")");
  }
  return Ok();
}

// A ConfigMap's or Secret's values as a run carries them: each a string,
// or {"base64": ...} for bytes that are not UTF-8 (a keystore, an image),
// which a JSON string cannot hold.
Json CarriedData(const model::ConfigMapData& data) {
  Json out = Json::object();
  for (const auto& [key, bytes] : data.data) {
    if (IsValidUtf8(bytes)) {
      out[key] = bytes;
    } else {
      out[key] = {{"base64", Base64Encode(bytes)}};
    }
  }
  return out;
}

std::string CarriedBytes(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("base64") && value["base64"].is_string())
    return Base64Decode(value["base64"].get<std::string>()).value_or("");
  return "";
}

}  // namespace

namespace {

// The run's origin at submission: its Pipeline (pipelineRef, or the
// Pipelines-as-Code run's name) and, for a push, repository, commit, branch.
Json RunSource(const model::ObjectMeta& meta, const std::string& pipeline) {
  constexpr const char* kPac = "pipelinesascode.tekton.dev/";
  auto find = [](const std::map<std::string, std::string>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? std::string() : it->second;
  };
  Json out = Json::object();
  std::string name =
      pipeline.empty() ? find(meta.labels, std::string(kPac) + "original-prname") : pipeline;
  for (const auto& [key, value] :
       {std::pair<const char*, std::string>{"pipeline", name},
        {"repoURL", find(meta.annotations, std::string(kPac) + "repo-url")},
        {"commit", find(meta.annotations, std::string(kPac) + "sha")},
        {"branch", find(meta.annotations, std::string(kPac) + "branch")}}) {
    if (!value.empty()) out[key] = value;
  }
  return out;
}

}  // namespace

Result<std::string> Engine::Submit(const model::Resource& resource,
                                   const std::vector<model::Resource>& all,
                                   const std::vector<model::Param>& extra_params,
                                   bool store_resources, bool check_params) {
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

  auto run = std::make_unique<RunState>();
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
  RawSpecs raw;
  for (const auto& r : all) {
    if (r.kind == "Task") raw.tasks[r.meta.name] = &r.raw["spec"];
    if (r.kind == "Pipeline") raw.pipelines[r.meta.name] = &r.raw["spec"];
  }
  Json names = Json::object();
  auto resolved = ResolvedSpecJson(spec_json, raw, names);
  if (!resolved) return tl::unexpected(resolved.error().Wrap("pipelinerun " + run->name));
  spec_json = std::move(*resolved);
  if (check_params) STRAKE_TRY(CheckExtraParams(extra_params, spec_json, run->name));
  Json status = {{"conditions", Condition("Unknown", "Running",
                                          "Tasks Completed: 0 (Failed: 0, Cancelled 0), Skipped: 0",
                                          clock_.Now())},
                 {"startTime", FormatRfc3339(clock_.Now())},
                 {"startTimeMs", UnixMillis(clock_.Now())},
                 {"pipelineSpec", std::move(spec_json)},
                 {"strake", {{"taskNames", names["taskNames"]}, {"pipeline", run->pipeline}}}};
  if (names.contains("childPipelines"))
    status["strake"]["childPipelines"] = std::move(names["childPipelines"]);
  // How its steps run, so that a `strake run --resume` (or the one `strake
  // cancel` starts for an orphaned run) runs the rest, finally included, the
  // same way: a run started --no-sandbox is not resumed in a sandbox.
  status["strake"]["executor"] = {{"sandbox", options_.executor.sandbox},
                                  {"cache", !options_.executor.no_cache},
                                  {"images", options_.executor.images != nullptr},
                                  {"runOnHost", options_.executor.run_on_host}};
  // ConfigMaps and Secrets the run may read travel with it.
  Json cms = Json::object(), secrets = Json::object();
  for (const auto& [name, cm] : catalog.config_maps) cms[name] = CarriedData(cm->data);
  for (const auto& [name, s] : catalog.secrets) secrets[name] = CarriedData(s->data);
  status["strake"]["configMaps"] = cms;
  status["strake"]["secrets"] = secrets;
  // Tekton's credential initialisation: which of the ServiceAccount's
  // Secrets become files in HOME (their values travel with the secrets).
  {
    std::string sa = pr.spec.service_account.empty() ? "default" : pr.spec.service_account;
    Json account;
    std::map<std::string, Json> secret_objects;
    for (const auto& r : all) {
      if (r.meta.ns != pr.meta.ns) continue;
      if (r.kind == "ServiceAccount" && r.meta.name == sa) account = r.raw;
      if (r.kind == "Secret") secret_objects[r.meta.name] = r.raw;
    }
    auto creds = CredentialsOf(account, secret_objects);
    if (!creds.empty()) status["strake"]["credentials"] = ToJson(creds);
    // And the Secrets the kubelet would pull the steps' images with.
    Json pull = Json::array();
    for (const auto& name : pr.spec.image_pull_secrets) pull.push_back(name);
    for (const auto& ref :
         account.is_object() ? account.value("imagePullSecrets", Json::array()) : Json::array()) {
      if (ref.is_object() && !ref.value("name", "").empty()) pull.push_back(ref["name"]);
    }
    if (!pull.empty()) status["strake"]["pullSecrets"] = std::move(pull);
  }
  // So do the StepActions, as they are now (Tekton resolves a step's ref
  // when its TaskRun starts; a run here never changes under its steps).
  Json actions = Json::object();
  for (const auto& r : all) {
    if (r.kind == "StepAction") actions[r.meta.name] = r.raw["spec"];
  }
  if (!actions.empty()) status["strake"]["stepActions"] = std::move(actions);
  // Where the run came from, as it was submitted (a Pipelines-as-Code push:
  // the server's own labels and annotations), kept where no client writes:
  // what it builds is recorded with this (delivery/artifact.h), not with
  // labels a later patch could change.
  status["strake"]["source"] = RunSource(pr.meta, run->pipeline);

  store::Resource sr;
  sr.key = {"PipelineRun", run->ns, run->name};
  sr.labels = pr.meta.labels;
  if (!run->pipeline.empty()) {
    // In the object too, where the API shows labels and a patch reads them.
    sr.labels["tekton.dev/pipeline"] = run->pipeline;
    run->object["metadata"]["labels"]["tekton.dev/pipeline"] = run->pipeline;
  }
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
  // A child PipelineRun runs in its parent's workspaces: its parent resumes it.
  if (!r.owner.empty() && ConditionStatus(r.status) == "Unknown") {
    auto parent = r.labels.find("tekton.dev/pipelineRun");
    return Failf("pipelinerun {} runs a task of pipelinerun {}: resume that one", name,
                 parent == r.labels.end() ? std::string("its parent") : parent->second);
  }
  STRAKE_TRY_ASSIGN(run, LoadRun(r, nullptr));
  if (run->done) {
    std::lock_guard<std::mutex> lock(mu_);
    runs_[controller::ObjectKey(ns, name)] = std::move(run);
    done_cv_.notify_all();
    return Ok();
  }
  return Start(std::move(run));
}

Result<std::unique_ptr<RunState>> Engine::LoadRun(const store::Resource& r,
                                                  const std::vector<WorkspaceMount>* inherited) {
  const std::string& ns = r.key.ns;
  const std::string& name = r.key.name;
  auto run = std::make_unique<RunState>();
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
    return run;
  }
  auto spec = model::DecodePipelineSpec(status["pipelineSpec"]);
  if (!spec) return tl::unexpected(spec.error().Wrap("pipelinerun " + name));
  run->spec = std::move(*spec);
  STRAKE_TRY(LoadCarried(*run, status.value("strake", Json::object())));

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

  // Tekton's propagation: a run's params and workspaces reach the specs
  // written inside it, and embedded task specs the pipeline's workspaces.
  bool embedded = run->pipeline.empty();
  ApplyPropagation(run->spec, PlanPropagation(run->spec, embedded ? &prs.params : nullptr,
                                              embedded ? &prs.workspaces : nullptr));
  ApplyTaskRunSpecs(run->spec, prs.task_run_specs);
  BindParams(*run, prs.params);
  if (inherited) {
    InheritWorkspaces(*run, *inherited);
  } else {
    BindWorkspaces(*run, prs.workspaces);
  }
  auto graph = BuildGraph(*run);
  if (!graph) return tl::unexpected(graph.error().Wrap("pipelinerun " + name));

  // Children already in the store: finished ones keep their outcome; ones
  // that were running are re-run after their orphans are killed (a child
  // PipelineRun is loaded again when its task starts again).
  auto child_runs = store_.List("PipelineRun", ns, r.uid);
  if (!child_runs) return tl::unexpected(child_runs.error());
  for (const auto& c : *child_runs) (void)RestoreChild(*run, c);
  auto children = store_.List("TaskRun", ns, r.uid);
  if (!children) return tl::unexpected(children.error());
  std::vector<std::string> orphan_uids;
  for (const auto& c : *children) {
    std::string running = RestoreChild(*run, c);
    if (!running.empty()) orphan_uids.push_back(running);
  }
  if (!orphan_uids.empty()) {
    int killed = runner_.KillOrphans(orphan_uids);
    Log(LogLevel::kInfo, "pipelinerun {}: {} orphaned processes killed", name, killed);
  }
  // Skipped tasks recorded before the crash stay skipped.
  RestoreSkipped(*run, status.value("skippedTasks", Json::array()));
  run->InitFacts();
  return run;
}

// What a run carries in status.strake: the names it resolved, and the
// ConfigMaps, Secrets, credentials and StepActions as they were at submit.
Status Engine::LoadCarried(RunState& run, const Json& strake) {
  run.pipeline = strake.value("pipeline", "");
  const Json task_names = strake.value("taskNames", Json::object());
  for (const auto& [k, v] : task_names.items()) run.task_names[k] = v.get<std::string>();
  auto maps = [](const Json& j) {
    auto m = std::make_shared<std::map<std::string, model::ConfigMapData>>();
    for (const auto& [map_name, data] : j.items()) {
      model::ConfigMapData d;
      for (const auto& [k, v] : data.items()) d.data[k] = CarriedBytes(v);
      (*m)[map_name] = d;
    }
    return m;
  };
  run.config_maps = maps(strake.value("configMaps", Json::object()));
  run.secrets = maps(strake.value("secrets", Json::object()));
  run.credentials = CredentialsFromJson(strake.value("credentials", Json::array()));
  for (const auto& name : strake.value("pullSecrets", Json::array())) {
    if (name.is_string()) run.pull_secrets.push_back(name.get<std::string>());
  }
  if (strake.contains("stepActions")) {
    auto actions = std::make_shared<StepActions>();
    for (const auto& [action, action_spec] : strake["stepActions"].items()) {
      auto decoded = model::DecodeStepActionSpec(action_spec);
      if (!decoded)
        return Failf("pipelinerun {}: StepAction {}: {}", run.name, action,
                     decoded.error().message);
      (*actions)[action] = std::move(*decoded);
    }
    run.step_actions = std::move(actions);
  }
  return Ok();
}

void Engine::BindWorkspaces(RunState& run, const std::vector<model::WorkspaceBinding>& given) {
  std::map<std::string, const model::WorkspaceBinding*> bindings;
  for (const auto& b : given) bindings[b.name] = &b;
  auto unbound = [&](const std::string& ws, std::string message) {
    if (run.failure_reason.empty()) {
      run.failure_reason = "PipelineRunValidationFailed";
      run.failure_message = std::move(message);
    }
    run.workspace_paths[ws] = "";
  };
  for (const auto& w : run.spec.workspaces) {
    auto it = bindings.find(w.name);
    if (it == bindings.end()) {
      if (w.optional) {
        run.workspace_paths[w.name] = "";
      } else {
        unbound(w.name,
                fmt::format("workspace \"{}\" of the pipeline is not bound by the run", w.name));
      }
      continue;
    }
    auto bound = BindWorkspace(options_.executor.data_dir, run.ns, run.name, w.name, *it->second,
                               *run.config_maps, *run.secrets);
    if (!bound) {
      unbound(w.name, bound.error().message);
      continue;
    }
    run.workspace_paths[w.name] = bound->dir;
    if (!bound->sub_path.empty()) run.workspace_sub_paths[w.name] = bound->sub_path;
    if (!bound->claim.empty()) run.workspace_claims[w.name] = bound->claim;
    if (bound->read_only) run.read_only_workspaces.insert(w.name);
    if (bound->secret) run.secret_workspaces.insert(w.name);
  }
}

Status Engine::Start(std::unique_ptr<RunState> run) {
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

size_t Engine::SlotWaiters() const {
  std::lock_guard<std::mutex> l(slot_mu_);
  return slot_queue_.size();
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

// Reads the run's state, plans, carries the plan out, and writes: the
// decisions are run_state's, resolve's and run_status's; what is left here
// is locking, cancel signals, slots, the store and the events.
Result<controller::ReconcileResult> Engine::ReconcileRun(const std::string& key) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = runs_.find(key);
  if (it == runs_.end() || it->second->done) return controller::ReconcileResult{};
  RunState& run = *it->second;
  const int64_t now = UnixMillis(clock_.Now());

  RefreshFacts(run);
  std::optional<int64_t> next_deadline = CheckDeadlines(run, now);
  Plan plan = Quiet(run) ? Plan{} : MakePlan(run.dag, run.facts);
  bool unstarted = false;
  if (plan.cancel_running_tasks) unstarted |= CancelRunning(run, false);
  if (plan.cancel_running_finally) unstarted |= CancelRunning(run, true);
  PlanStep step = ApplyPlan(run, plan, now);
  std::vector<std::shared_ptr<Job>> jobs = TakeJobs(run, key, now);
  const bool done = plan.done && jobs.empty();
  std::optional<RunStatusUpdate> update;
  if (step.status_dirty || done) update = StatusUpdate(run, plan, done);
  std::vector<ProgressEvent> skipped = SkipEvents(run, step.skipped);
  const std::string ns = run.ns, name = run.name;
  lock.unlock();

  for (const auto& e : skipped) Emit(e);
  if (update) STRAKE_TRY(WriteRunStatus(ns, name, *update));
  for (const auto& job : jobs)
    STRAKE_TRY(job->runs_pipeline ? StartChildRun(job) : CreateTaskRun(job));
  if (done) {
    Finish(key, name, *update->outcome, update->results);
    return controller::ReconcileResult{};
  }
  controller::ReconcileResult rr;
  if (next_deadline) rr.requeue_after = Millis(std::max<int64_t>(1, *next_deadline - now));
  // Skips, starts and failed starts change what the planner sees: look again at once.
  if (step.progressed || unstarted) rr.requeue_after = Millis(0);
  return rr;
}

bool Engine::CancelRunning(RunState& run, bool fin) {
  {
    std::lock_guard<std::mutex> jl(jobs_mu_);
    std::vector<Job*> cancelled;
    for (const auto& t : fin ? run.finally : run.tasks) {
      for (const auto& c : t.children) {
        const std::string child = controller::ObjectKey(run.ns, c.name);
        auto j = jobs_.find(child);
        if (j != jobs_.end()) cancelled.push_back(j->second.get());
        // A child PipelineRun is cancelled as a running TaskRun is: whole
        // (a cancel of the parent's tasks is not one that runs their finally).
        auto r = runs_.find(child);
        if (r != runs_.end() && !r->second->done &&
            r->second->parent_key == controller::ObjectKey(run.ns, run.name) &&
            r->second->cancel != CancelMode::kCancelled) {
          r->second->cancel = CancelMode::kCancelled;
          run_controller_->Enqueue(child);
        }
      }
    }
    SignalCancel(cancelled);
  }
  return StopCreating(run, fin);
}

std::vector<std::shared_ptr<Engine::Job>> Engine::TakeJobs(RunState& run, const std::string& key,
                                                           int64_t now) {
  const int most = 2 * options_.parallel;  // the running ones and one ready for each slot
  size_t slots = created_ < most ? most - created_ : 0;
  std::vector<std::shared_ptr<Job>> jobs;
  for (auto& n : NextTaskRuns(run, slots, now)) {
    // A child PipelineRun takes no slot: its TaskRuns do.
    const bool child = n.runs_pipeline;
    jobs.push_back(
        std::make_shared<Job>(std::move(n), key, now, child ? -1 : ::eventfd(0, EFD_CLOEXEC)));
    if (!child) ++created_;
  }
  return jobs;
}

std::vector<ProgressEvent> Engine::SkipEvents(const RunState& run,
                                              const std::vector<TaskRef>& skipped) const {
  std::vector<ProgressEvent> events;
  for (const auto& [fin, i] : skipped) {
    ProgressEvent e;
    e.type = ProgressEvent::Type::kTaskSkipped;
    e.pipeline_run = run.name;
    e.pipeline_task = run.PTask(fin, i).name;
    e.state = "Skipped";
    e.message = std::string(run.Task(fin, i).facts.skip_reason);
    e.is_finally = fin;
    events.push_back(std::move(e));
  }
  return events;
}

Status Engine::WriteRunStatus(const std::string& ns, const std::string& name,
                              const RunStatusUpdate& update) {
  auto current = store_.Get({"PipelineRun", ns, name});
  if (!current) return tl::unexpected(current.error());
  if (!*current) return Ok();
  Json status = UpdatedStatus((**current).status, update, clock_.Now());
  const std::string reason = update.outcome ? update.outcome->reason : "Running";
  const std::string message = update.outcome ? update.outcome->message : "PipelineRun progressing";
  auto u = store_.UpdateStatus({"PipelineRun", ns, name}, status, 0, reason, message);
  if (!u) return tl::unexpected(u.error());
  return Ok();
}

// Creates a TaskRun (durably, as Running) before handing it to a worker. A
// task with a cache block is looked up here: a hit is recorded as finished
// in one write, with no worker and no slot; a miss hands the key on.
Status Engine::CreateTaskRun(const std::shared_ptr<Job>& job) {
  TaskRunJob& j = job->job;
  if (options_.context_env) j.context_env = options_.context_env(j.ns);
  store::Resource tr = TaskRunResource(*job, clock_.Now(), [&](const std::string& container) {
    return runner_.LogPath(j.ns, j.name, container);
  });
  if (j.spec.cache.enabled && !options_.executor.no_cache) {
    auto started = std::chrono::steady_clock::now();
    auto hit = runner_.TryCache(j);
    if (hit && hit->succeeded) {
      MaskOutcome(*hit, SecretValues(j));  // results a step wrote, restored
      int64_t took =
          std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - started).count();
      tr.status = TaskRunFinalStatus(*hit, job->start_ms, took, Json::array(), clock_.Now());
      STRAKE_TRY(RecordTaskRun(*job, tr, hit->reason, hit->message));
      ::close(job->cancel_fd);
      job->cancel_fd = -1;
      Complete(job, *hit, took);
      return Ok();
    }
    if (hit) {
      j.cache_checked = true;
      j.cache_key = hit->cache_key;
    }
  }
  STRAKE_TRY(RecordTaskRun(*job, tr, "Running",
                           job->recovering ? "TaskRun re-run after restart" : "TaskRun started"));
  {
    std::lock_guard<std::mutex> jl(jobs_mu_);
    jobs_[controller::ObjectKey(j.ns, j.name)] = job;
  }
  taskrun_controller_->Enqueue(controller::ObjectKey(j.ns, j.name));
  return Ok();
}

Status Engine::RecordTaskRun(const Job& job, const store::Resource& tr, const std::string& reason,
                             const std::string& message) {
  // A TaskRun that was running at a crash is in the store already.
  Result<store::Resource> w = job.recovering
                                  ? store_.UpdateStatus(tr.key, tr.status, 0, reason, message)
                                  : store_.Create(tr, reason, message);
  std::lock_guard<std::mutex> l(mu_);
  if (!w) {
    --created_;
    return tl::unexpected(w.error().Wrap("taskrun " + job.job.name));
  }
  auto rit = runs_.find(job.run_key);
  if (rit != runs_.end()) {
    rit->second->Task(job.is_finally, job.index).children[job.child].created = true;
    rit->second->recover.erase(job.job.name);
  }
  return Ok();
}

void Engine::Finish(const std::string& key, const std::string& name, const RunOutcome& outcome,
                    const Json& results) {
  std::string parent, ns, uid;
  TaskRef task{false, 0};
  int64_t started = 0;
  bool runs_pipelines = false;
  {
    // A finished run leaves memory: its state is in the store. The work
    // queue never hands this key to a second worker meanwhile, so no one
    // else holds the Run.
    std::lock_guard<std::mutex> l(mu_);
    if (auto it = runs_.find(key); it != runs_.end()) {
      const RunState& run = *it->second;
      parent = run.parent_key;
      task = run.parent_task;
      started = run.start_ms;
      ns = run.ns;
      uid = run.uid;
      for (const auto* list : {&run.spec.tasks, &run.spec.finally}) {
        for (const auto& pt : *list) runs_pipelines = runs_pipelines || pt.RunsPipeline();
      }
    }
    runs_.erase(key);
  }
  if (runs_pipelines) EndOrphanedChildren(ns, uid);
  ProgressEvent e;
  e.type = ProgressEvent::Type::kRunFinished;
  e.pipeline_run = name;
  e.state = outcome.reason;
  e.message = outcome.message;
  Emit(e);
  if (parent.empty()) {
    // The top run's children are done: their events were told.
    std::lock_guard<std::mutex> l(observer_mu_);
    std::erase_if(nested_runs_, [&](const auto& entry) { return entry.second.first == name; });
  } else {
    ChildRunEnded(parent, task, name, ChildPipelineRunState(outcome.reason, outcome.succeeded),
                  outcome.reason, outcome.message, ResultsOf(results),
                  std::max<int64_t>(0, UnixMillis(clock_.Now()) - started));
  }
  done_cv_.notify_all();
}

// --- child PipelineRuns (pipelines in pipelines) ------------------------------

void Engine::EndOrphanedChildren(const std::string& ns, const std::string& uid, int depth) {
  if (depth > kMaxPipelineDepth) return;
  auto children = store_.List("PipelineRun", ns, uid);
  if (!children) return;
  const TimePoint now = clock_.Now();
  for (const auto& c : *children) {
    if (ConditionStatus(c.status) != "Unknown") continue;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (runs_.count(controller::ObjectKey(ns, c.key.name))) continue;  // it ends itself
    }
    const std::string message = fmt::format(
        "PipelineRun \"{}\" was cancelled: its parent ended before it resumed", c.key.name);
    std::vector<std::string> orphans;
    auto task_runs = store_.List("TaskRun", ns, c.uid);
    for (const auto& tr : task_runs ? *task_runs : std::vector<store::Resource>{}) {
      if (ConditionStatus(tr.status) != "Unknown") continue;
      orphans.push_back(tr.uid);
      Json status = tr.status;
      status["conditions"] = Condition("False", "TaskRunCancelled", message, now);
      (void)store_.UpdateStatus(tr.key, status, 0, "TaskRunCancelled", message);
    }
    if (!orphans.empty()) (void)runner_.KillOrphans(orphans);
    EndOrphanedChildren(ns, c.uid, depth + 1);
    Json status = c.status;
    status["conditions"] = Condition("False", "Cancelled", message, now);
    status["completionTime"] = FormatRfc3339(now);
    (void)store_.UpdateStatus(c.key, status, 0, "Cancelled", message);
  }
}

Result<store::Resource> Engine::ChildRunToStart(const NewTaskRun& n) {
  const TaskRunJob& j = n.job;
  STRAKE_TRY_ASSIGN(parent, store_.Get({"PipelineRun", j.ns, j.pipeline_run}));
  if (!parent) return Failf("its PipelineRun {} is gone", j.pipeline_run);
  if (n.recovering) {
    STRAKE_TRY_ASSIGN(found, store_.Get({"PipelineRun", j.ns, j.name}));
    if (found && found->owner != parent->uid) {
      return Failf("a PipelineRun named {} exists and is not {}'s child", j.name, j.pipeline_run);
    }
    if (found) return std::move(*found);
  }
  return store_.Create(ChildPipelineRunResource(n, *parent, clock_.Now()), "Running",
                       "PipelineRun started");
}

Status Engine::StartChildRun(const std::shared_ptr<Job>& job) {
  const TaskRunJob& j = job->job;
  const TaskRef task{job->is_finally, job->index};
  // Whatever keeps the child from starting ends its task: a task left
  // Running with no child would hold its parent for ever.
  auto fail = [&](const std::string& reason, const std::string& message) {
    ChildRunEnded(job->run_key, task, j.name, TaskState::kFailed, reason, message, {}, 0);
    return Ok();
  };
  auto child = ChildRunToStart(*job);
  if (!child) return fail("CreateRunFailed", child.error().message);
  auto loaded = LoadRun(*child, &j.workspaces);
  if (!loaded) {
    // A child that cannot be read back fails, and its task with it.
    const std::string& message = loaded.error().message;
    Json status = child->status;
    status["conditions"] = Condition("False", "PipelineRunValidationFailed", message, clock_.Now());
    (void)store_.UpdateStatus(child->key, status, 0, "PipelineRunValidationFailed", message);
    return fail("PipelineRunValidationFailed", message);
  }
  if ((*loaded)->done) {  // it ended before its parent heard of it
    ChildRun ended = ChildOutcome(*child);
    ChildRunEnded(job->run_key, task, j.name, ended.state, ended.reason,
                  child->status["conditions"][0].value("message", ""), std::move(ended.results), 0);
    return Ok();
  }
  std::unique_ptr<RunState> run = std::move(*loaded);
  run->parent_key = job->run_key;
  run->parent_task = task;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto rit = runs_.find(job->run_key);
    if (rit == runs_.end() || rit->second->done) return Ok();  // the parent went meanwhile
    RunState& parent = *rit->second;
    parent.Task(task.first, task.second).children[job->child].created = true;
    parent.recover.erase(j.name);
    // Cancelled (or timed out) while the child was being made: it starts
    // cancelled, as its running siblings were (a finally task's child only
    // when finally itself is stopped).
    if (CancelsRunning(parent.facts, task.first)) run->cancel = CancelMode::kCancelled;
  }
  {
    std::lock_guard<std::mutex> l(observer_mu_);
    auto up = nested_runs_.find(j.pipeline_run);
    nested_runs_[j.name] =
        up == nested_runs_.end()
            ? std::pair{j.pipeline_run, j.pipeline_task + "/"}
            : std::pair{up->second.first, up->second.second + j.pipeline_task + "/"};
  }
  Emit(TaskRunEvent(ProgressEvent::Type::kTaskStarted, *job, "Running", ""));
  return Start(std::move(run));
}

void Engine::ChildRunEnded(const std::string& parent_key, const TaskRef& task,
                           const std::string& child, TaskState state, const std::string& reason,
                           const std::string& message, std::vector<TaskResult> results,
                           int64_t duration_ms) {
  ProgressEvent e;
  e.type = ProgressEvent::Type::kTaskFinished;
  e.task_run = child;
  e.state = StateName(state);
  e.message = message;
  e.duration_ms = duration_ms;
  e.is_finally = task.first;
  bool told = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto rit = runs_.find(parent_key);
    if (rit != runs_.end() && !rit->second->done &&
        !rit->second->Task(task.first, task.second).children.empty()) {
      RunState& run = *rit->second;
      ChildRun& cr = run.Task(task.first, task.second).children.front();
      cr.created = true;
      cr.state = state;
      cr.reason = reason;
      cr.results = std::move(results);
      run.dirty.push_back(task);
      e.pipeline_run = run.name;
      e.pipeline_task = run.PTask(task.first, task.second).name;
      run_controller_->Enqueue(parent_key);
      told = true;
    }
  }
  if (told) Emit(e);
}

// --- the TaskRun reconciler ---------------------------------------------------

void Engine::Complete(const std::shared_ptr<Job>& job, const TaskRunOutcome& outcome,
                      int64_t took) {
  const TaskRunJob& j = job->job;
  TaskState state = outcome.succeeded                      ? TaskState::kSucceeded
                    : outcome.reason == "TaskRunCancelled" ? TaskState::kCancelled
                                                           : TaskState::kFailed;
  {
    std::lock_guard<std::mutex> l(mu_);
    --created_;
    auto rit = runs_.find(job->run_key);
    if (rit != runs_.end()) {
      ChildRun& cr = rit->second->Task(job->is_finally, job->index).children[job->child];
      cr.state = state;
      cr.reason = outcome.reason;
      cr.results = outcome.results;
      cr.artifacts =
          outcome.artifacts.empty() ? Json() : Json::parse(outcome.artifacts, nullptr, false);
      rit->second->dirty.emplace_back(job->is_finally, job->index);
    }
    // Any run may be waiting for a slot; the job's own run is planned below.
    for (const auto& [k, r] : runs_) {
      if (!r->done && k != job->run_key) run_controller_->Enqueue(k);
    }
  }
  {
    std::lock_guard<std::mutex> jl(jobs_mu_);
    if (job->cancel_fd >= 0) ::close(job->cancel_fd);
    job->cancel_fd = -1;
    jobs_.erase(controller::ObjectKey(j.ns, j.name));
  }
  ProgressEvent e = TaskRunEvent(ProgressEvent::Type::kTaskFinished, *job,
                                 outcome.reason == "Cached" || outcome.reason == "FailureIgnored"
                                     ? outcome.reason
                                     : StateName(state),
                                 outcome.message);
  e.duration_ms = took;
  Emit(e);
  // The slot this TaskRun held goes to the next task of its run at once: the
  // thread that freed it plans the run, rather than waking the PipelineRun
  // worker and, after it, a TaskRun worker (most of a trivial task's
  // hand-off, measured in docs/benchmarks.md).
  run_controller_->ReconcileHereIfIdle(job->run_key);
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
  TaskRunOutcome outcome;
  Json retries_status = Json::array();
  const std::vector<std::string> secrets = SecretValues(j);
  SlotClaim slot(*this, *job);
  for (int attempt = 0;; ++attempt) {
    auto attempt_start = clock_.Now();
    outcome = runner_.Run(j, attempt, j.timeout, job->cancel_fd, slot);
    slot.Release();                 // In case the runner kept it.
    MaskOutcome(outcome, secrets);  // before any of it is written or told
    if (outcome.succeeded || outcome.reason == "TaskRunCancelled" || attempt >= j.retries) break;
    retries_status.push_back(RetryStatus(outcome, attempt_start, clock_.Now()));
    Json st = RetryingStatus(outcome, retries_status, clock_.Now());
    (void)store_.UpdateStatus({"TaskRun", j.ns, j.name}, st, 0, "Retrying",
                              fmt::format("attempt {} failed: {}", attempt + 1, outcome.message));
    Emit(TaskRunEvent(ProgressEvent::Type::kTaskRetrying, *job, "Retrying", outcome.message));
  }
  // From the first attempt's start; 0 for one cancelled before it started.
  int64_t took = 0;
  {
    std::lock_guard<std::mutex> l(slot_mu_);
    if (job->started) {
      took = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - job->started_at)
                 .count();
    }
  }

  // A pipeline task with onError: continue: its failure (not a timeout or
  // a cancel) is ignored, and its TaskRun says so, as Tekton's does.
  if (j.ignore_failure && !outcome.succeeded && outcome.reason == "Failed") {
    outcome.reason = "FailureIgnored";
  }
  // The end, durably, before the PipelineRun hears of it.
  Json status = TaskRunFinalStatus(outcome, job->start_ms, took, retries_status, clock_.Now());
  auto written =
      store_.UpdateStatus({"TaskRun", j.ns, j.name}, status, 0, outcome.reason, outcome.message);
  if (!written) return tl::unexpected(written.error().Wrap("taskrun " + j.name));
  Complete(job, outcome, took);
  return controller::ReconcileResult{};
}

}  // namespace strake::pipeline
