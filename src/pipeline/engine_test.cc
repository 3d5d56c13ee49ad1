// The engine over a real store. The first test runs steps on the host (no
// sandbox); the others drive the engine with FakeTaskRunner, which runs
// nothing: each attempt ends at once, or when the test releases it, as the
// test says (ninja's FakeCommandRunner driving its Builder).
#include "pipeline/engine.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "base/clock.h"
#include "base/fd.h"
#include "base/fs.h"
#include "model/decode.h"
#include "pipeline/test_run.h"
#include "store/sqlite_store.h"

namespace strake::pipeline {
namespace {

using model::Json;
using model::Millis;
using std::chrono::minutes;

TEST(Engine, FinishedRunsLeaveMemory) {
  auto dir = MakeTempDir("engine");
  ASSERT_TRUE(dir);
  auto store = store::OpenSqliteStore(*dir + "/strake.db");
  ASSERT_TRUE(store) << store.error().message;
  EngineOptions options;
  options.executor.data_dir = *dir;
  options.executor.sandbox = false;
  SystemClock clock;
  Engine engine(**store, options, clock);
  auto docs = model::ParseYaml(R"(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {generateName: run-}
spec:
  pipelineSpec:
    tasks:
      - name: a
        taskSpec: {steps: [{script: "true"}]}
      - name: b
        runAfter: [a]
        taskSpec: {steps: [{script: "true"}]}
)",
                               "run.yaml");
  ASSERT_TRUE(docs);
  model::Diagnostics diags;
  auto resources = model::Decode(*docs, diags);
  ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
  for (int i = 0; i < 3; ++i) {
    auto name = engine.Submit(resources[0], resources, {});
    ASSERT_TRUE(name) << name.error().message;
    ASSERT_TRUE(engine.Resume("default", *name));
    auto done = engine.Wait("default", *name);
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(done->status["conditions"][0]["reason"], "Succeeded") << done->status.dump(2);
    EXPECT_EQ(engine.RunsInMemory(), 0u) << "a finished run stays in memory";
  }
  (void)RemoveAll(*dir);
}

// --- FakeTaskRunner -----------------------------------------------------------

TaskRunOutcome Succeeded(std::vector<TaskResult> results = {}) {
  TaskRunOutcome o;
  o.succeeded = true;
  o.reason = "Succeeded";
  o.message = "All Steps have completed executing";
  o.results = std::move(results);
  return o;
}

TaskRunOutcome Failed(const std::string& message = "step-s: exit status 1") {
  TaskRunOutcome o;
  o.reason = "Failed";
  o.message = message;
  return o;
}

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) > 0;
}

// Runs no process. Every attempt of a pipeline task ends as its script says
// (Succeeded with no results unless told), at once or, for a held task,
// once the test releases it; a cancelled attempt ends TaskRunCancelled.
class FakeTaskRunner final : public TaskRunner {
 public:
  using Script = std::function<TaskRunOutcome(const TaskRunJob& job, int attempt)>;
  struct Call {
    std::string taskrun;
    std::string pipeline_task;
    int attempt = 0;
    std::optional<Millis> timeout;
    std::vector<model::Param> params;
    std::vector<WorkspaceMount> workspaces;
  };

  // How the attempts of `ptask` end.
  void On(const std::string& ptask, Script script) {
    std::lock_guard<std::mutex> l(mu_);
    scripts_[ptask] = std::move(script);
  }
  void OnResults(const std::string& ptask, std::vector<TaskResult> results) {
    On(ptask, [results](const TaskRunJob&, int) { return Succeeded(results); });
  }
  // The attempts of `ptask` wait for Release(ptask) (or their cancellation).
  void Hold(const std::string& ptask) {
    std::lock_guard<std::mutex> l(mu_);
    holds_[ptask] = Fd(::eventfd(0, EFD_CLOEXEC));
  }
  void Release(const std::string& ptask) {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t one = 1;
    (void)!::write(holds_.at(ptask).get(), &one, sizeof one);  // Never read: stays readable.
  }
  // A cache hit for `ptask`, with these results.
  void CacheHit(const std::string& ptask, std::vector<TaskResult> results) {
    std::lock_guard<std::mutex> l(mu_);
    cache_hits_[ptask] = std::move(results);
  }
  // The first-step start that `ptask`'s attempts give their slot throws
  // (the thread that hands the slot over runs it).
  void ThrowOnStart(const std::string& ptask) {
    std::lock_guard<std::mutex> l(mu_);
    throw_on_start_.insert(ptask);
  }
  // Waits until `started` attempts in all have begun and `ready` have asked
  // for a slot (those begun included); false after 10 s.
  bool WaitTotals(size_t started, size_t ready) {
    auto sum = [](const std::map<std::string, size_t>& m) {
      size_t n = 0;
      for (const auto& [k, v] : m) n += v;
      return n;
    };
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(10),
                        [&] { return sum(started_) >= started && sum(ready_) >= ready; });
  }
  // Waits until `n` attempts of `ptask` have begun; false after 10 s.
  bool WaitStarted(const std::string& ptask, size_t n = 1) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(10), [&] { return started_[ptask] >= n; });
  }

  std::vector<Call> Calls() const {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }
  std::vector<Call> CallsOf(const std::string& ptask) const {
    std::vector<Call> out;
    for (const auto& c : Calls()) {
      if (c.pipeline_task == ptask) out.push_back(c);
    }
    return out;
  }
  // "start <taskrun>" and "end <taskrun>", in the order they happened.
  std::vector<std::string> Log() const {
    std::lock_guard<std::mutex> l(mu_);
    return log_;
  }
  size_t Position(const std::string& entry) const {
    auto log = Log();
    return std::find(log.begin(), log.end(), entry) - log.begin();
  }
  std::vector<std::string> Killed() const {
    std::lock_guard<std::mutex> l(mu_);
    return killed_;
  }
  void SetIgnoresImages(bool v) { ignores_images_ = v; }

  TaskRunOutcome Run(const TaskRunJob& job, int attempt, std::optional<Millis> timeout,
                     int cancel_fd, Slot& slot) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      ++ready_[job.pipeline_task];
    }
    cv_.notify_all();
    std::function<void()> start;
    {
      std::lock_guard<std::mutex> l(mu_);
      // Only on the hand-off: the TaskRun's own thread starts it again then.
      if (throw_on_start_.count(job.pipeline_task)) {
        start = [own = std::this_thread::get_id()] {
          if (std::this_thread::get_id() != own)
            throw std::runtime_error("no thread for the step's log");
        };
      }
    }
    if (!slot.Acquire(start)) {
      std::lock_guard<std::mutex> l(mu_);
      log_.push_back("unstarted " + job.name);
      return Cancelled(job);
    }
    int hold = -1;
    Script script;
    {
      std::lock_guard<std::mutex> l(mu_);
      calls_.push_back({job.name, job.pipeline_task, attempt, timeout, job.params, job.workspaces});
      log_.push_back("start " + job.name);
      ++started_[job.pipeline_task];
      if (auto h = holds_.find(job.pipeline_task); h != holds_.end()) hold = h->second.get();
      if (auto s = scripts_.find(job.pipeline_task); s != scripts_.end()) script = s->second;
    }
    cv_.notify_all();
    if (hold >= 0) {
      pollfd fds[2] = {{hold, POLLIN, 0}, {cancel_fd, POLLIN, 0}};
      while (::poll(fds, 2, -1) < 0) {
      }
    }
    TaskRunOutcome out = script ? script(job, attempt) : Succeeded();
    if (Readable(cancel_fd, 0)) out = Cancelled(job);
    if (ignores_images_) {
      for (const auto& s : job.spec.steps) out.ignored_images.push_back(s.image);
    }
    std::lock_guard<std::mutex> l(mu_);
    log_.push_back("end " + job.name);
    slot.Release();
    return out;
  }

  static TaskRunOutcome Cancelled(const TaskRunJob& job) {
    TaskRunOutcome out;
    out.reason = "TaskRunCancelled";
    out.message = "TaskRun \"" + job.name + "\" was cancelled";
    return out;
  }

  Result<TaskRunOutcome> TryCache(const TaskRunJob& job) override {
    std::lock_guard<std::mutex> l(mu_);
    TaskRunOutcome out;
    out.cache_key = "key-" + job.pipeline_task;
    if (auto hit = cache_hits_.find(job.pipeline_task); hit != cache_hits_.end()) {
      out.succeeded = true;
      out.reason = "Cached";
      out.results = hit->second;
    }
    return out;
  }

  std::string LogPath(const std::string& ns, const std::string& taskrun,
                      const std::string& container) const override {
    return "/logs/" + ns + "/" + taskrun + "." + container + ".log";
  }
  int KillOrphans(const std::vector<std::string>& uids) override {
    std::lock_guard<std::mutex> l(mu_);
    killed_.insert(killed_.end(), uids.begin(), uids.end());
    return static_cast<int>(uids.size());
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Script> scripts_;
  std::map<std::string, Fd> holds_;
  std::map<std::string, std::vector<TaskResult>> cache_hits_;
  std::map<std::string, size_t> started_;
  std::map<std::string, size_t> ready_;  // attempts that asked for a slot
  std::set<std::string> throw_on_start_;
  std::vector<Call> calls_;
  std::vector<std::string> log_;
  std::vector<std::string> killed_;
  bool ignores_images_ = false;
};

std::string ParamOf(const FakeTaskRunner::Call& c, const std::string& name) {
  for (const auto& p : c.params) {
    if (p.name == name)
      return p.value.type == model::ParamType::kString ? p.value.str : p.value.ToJson().dump();
  }
  return "<missing>";
}

// --- the engine driven by the fake -------------------------------------------

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDir("engine");
    ASSERT_TRUE(dir);
    dir_ = *dir;
    auto store = store::OpenSqliteStore(dir_ + "/strake.db");
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
  }
  void TearDown() override {
    engine_.reset();
    store_.reset();
    (void)RemoveAll(dir_);
  }

  Engine& StartEngine(int parallel = 2) {
    EngineOptions options;
    options.executor.data_dir = dir_;
    options.parallel = parallel;
    engine_ = std::make_unique<Engine>(*store_, options, clock_, runner_);
    engine_->SetObserver([this](const ProgressEvent& e) {
      {
        std::lock_guard<std::mutex> l(events_mu_);
        events_.push_back(e);
      }
      events_cv_.notify_all();
    });
    return *engine_;
  }

  // Submits the PipelineRun "run" with this spec (YAML, indented as a
  // PipelineRun's spec) and starts it; `more` is further documents given
  // with it (its ConfigMaps and Secrets).
  void Start(const std::string& spec, std::vector<model::Param> params = {},
             const std::string& more = "") {
    if (!engine_) StartEngine();
    auto docs = model::ParseYaml(
        "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata: {name: run}\nspec:\n" + spec +
            (more.empty() ? "" : "---\n" + more),
        "run.yaml");
    ASSERT_TRUE(docs) << docs.error().message;
    model::Diagnostics diags;
    auto resources = model::Decode(*docs, diags);
    ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
    auto name = engine_->Submit(resources[0], resources, params);
    ASSERT_TRUE(name) << name.error().message;
    ASSERT_TRUE(engine_->Resume("default", *name));
  }
  // The PipelineRun once it is done.
  Json Finish() {
    auto done = engine_->Wait("default", "run");
    EXPECT_TRUE(done) << done.error().message;
    return done ? done->status : Json();
  }
  Json Run(const std::string& spec, std::vector<model::Param> params = {}) {
    Start(spec, std::move(params));
    return Finish();
  }
  // A TaskRun as stored (null when there is none).
  Json TaskRun(const std::string& name) {
    auto r = store_->Get({"TaskRun", "default", name});
    if (!r || !*r) return Json();
    return {{"labels", (**r).labels}, {"object", (**r).object}, {"status", (**r).status}};
  }
  void Cancel(const std::string& mode) { ASSERT_TRUE(engine_->Cancel("default", "run", mode)); }
  // What the store holds of a run or TaskRun killed while it ran: Running,
  // with no end, children or results.
  void MarkRunning(const std::string& kind, const std::string& name) {
    auto r = store_->Get({kind, "default", name});
    ASSERT_TRUE(r && *r);
    Json status = (**r).status;
    status["conditions"] = {{{"type", "Succeeded"}, {"status", "Unknown"}, {"reason", "Running"}}};
    status.erase("completionTime");
    status.erase("childReferences");
    status.erase("results");
    ASSERT_TRUE(store_->UpdateStatus({kind, "default", name}, status, 0, "Running", ""));
  }

  // The events so far, once `n` of them are in (a run's last events may
  // follow Wait's return: they are told on other threads).
  std::vector<ProgressEvent> Events(size_t n = 0) {
    std::unique_lock<std::mutex> l(events_mu_);
    events_cv_.wait_for(l, std::chrono::seconds(10), [&] { return events_.size() >= n; });
    return events_;
  }

  std::string dir_;
  FakeTaskRunner runner_;
  FakeClock clock_{TimePoint{} + std::chrono::hours(1000)};
  std::unique_ptr<store::Store> store_;
  std::mutex events_mu_;
  std::condition_variable events_cv_;
  std::vector<ProgressEvent> events_;
  std::unique_ptr<Engine> engine_;  // last: it goes first
};

std::string Reason(const Json& status) { return status["conditions"][0].value("reason", ""); }
std::string Message(const Json& status) { return status["conditions"][0].value("message", ""); }

// The reason a task was skipped for, "" when it was not.
std::string SkipOf(const Json& status, const std::string& task) {
  for (const auto& s : status.value("skippedTasks", Json::array())) {
    if (s.value("name", "") == task) return s.value("reason", "");
  }
  return "";
}

std::set<std::string> Children(const Json& status) {
  std::set<std::string> out;
  for (const auto& c : status.value("childReferences", Json::array()))
    out.insert(c.value("name", ""));
  return out;
}

const char* const kStep = "taskSpec: {steps: [{script: 'true'}]}";

std::string Task(const std::string& name, const std::string& extra = "") {
  return "      - name: " + name + "\n        " + kStep + "\n" + extra;
}

TEST_F(EngineTest, ARunOfANamedPipelineIsLabelledWithItInItsObjectToo) {
  StartEngine();
  auto docs = model::ParseYaml(R"(apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: build}
spec:
  tasks: [{name: a, taskSpec: {steps: [{script: "true"}]}}]
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: run, labels: {team: web}}
spec: {pipelineRef: {name: build}}
)",
                               "run.yaml");
  ASSERT_TRUE(docs) << docs.error().message;
  model::Diagnostics diags;
  auto resources = model::Decode(*docs, diags);
  ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
  auto name = engine_->Submit(resources[1], resources, {});
  ASSERT_TRUE(name) << name.error().message;
  ASSERT_TRUE(engine_->Resume("default", *name));
  auto done = engine_->Wait("default", "run");
  ASSERT_TRUE(done) << done.error().message;
  // The API shows labels from the object, and a patch through it reads them.
  EXPECT_EQ(done->labels.at("tekton.dev/pipeline"), "build");
  EXPECT_EQ(done->object["metadata"]["labels"],
            Json::parse(R"({"team":"web","tekton.dev/pipeline":"build"})"));
}

// `strake run --param`: a name the pipeline neither declares nor reads by
// propagation is refused (a typo would else run with the default).
TEST_F(EngineTest, ACommandLineParamThePipelineDoesNotTakeIsRefused) {
  StartEngine();
  auto docs = model::ParseYaml(R"Y(apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: run}
spec:
  pipelineSpec:
    params: [{name: greeting, default: hi}]
    tasks:
    - name: t
      taskSpec: {steps: [{script: "echo $(params.greeting) $(params.audience)"}]}
)Y",
                               "run.yaml");
  ASSERT_TRUE(docs) << docs.error().message;
  model::Diagnostics diags;
  auto resources = model::Decode(*docs, diags);
  ASSERT_FALSE(diags.HasErrors()) << diags.ErrorText();
  auto typo =
      engine_->Submit(resources[0], resources, {{"greting", model::ParamValue::String("x"), {}}});
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().message,
            "--param greting: pipelinerun run has no param \"greting\" (did you mean "
            "\"greeting\"?) (it declares greeting)");
  auto prefix =
      engine_->Submit(resources[0], resources, {{"greet", model::ParamValue::String("x"), {}}});
  EXPECT_FALSE(prefix) << "a prefix of a name read is no name read";
  auto propagated = engine_->Submit(resources[0], resources,
                                    {{"audience", model::ParamValue::String("all"), {}}});
  EXPECT_TRUE(propagated) << propagated.error().message;
}

TEST_F(EngineTest, TasksStartInTheOrderOfTheGraph) {
  Json st = Run("  pipelineSpec:\n    tasks:\n" + Task("a") + Task("b", "        runAfter: [a]\n") +
                Task("c", "        runAfter: [a]\n") + Task("d", "        runAfter: [b, c]\n"));
  EXPECT_EQ(Reason(st), "Succeeded") << st.dump(2);
  EXPECT_EQ(Message(st), "Tasks Completed: 4 (Failed: 0, Cancelled 0), Skipped: 0");
  EXPECT_LT(runner_.Position("end run-a"), runner_.Position("start run-b"));
  EXPECT_LT(runner_.Position("end run-a"), runner_.Position("start run-c"));
  EXPECT_LT(runner_.Position("end run-b"), runner_.Position("start run-d"));
  EXPECT_LT(runner_.Position("end run-c"), runner_.Position("start run-d"));
  EXPECT_EQ(Children(st), (std::set<std::string>{"run-a", "run-b", "run-c", "run-d"}));
}

TEST_F(EngineTest, IndependentTasksRunAtTheSameTime) {
  runner_.Hold("a");
  runner_.Hold("b");
  Start("  pipelineSpec:\n    tasks:\n" + Task("a") + Task("b"));
  // Both are under way at once: neither ends before the other has begun.
  ASSERT_TRUE(runner_.WaitStarted("a"));
  ASSERT_TRUE(runner_.WaitStarted("b"));
  runner_.Release("a");
  runner_.Release("b");
  EXPECT_EQ(Reason(Finish()), "Succeeded");
}

// Which of the ready TaskRuns takes a free slot first is theirs to race for
// (first come, first served); which are created is the plan's order.
TEST_F(EngineTest, TaskRunsAreCreatedOneAheadOfEachSlotAndWaitForIt) {
  const std::vector<std::string> tasks = {"a", "b", "c", "d", "e", "g"};
  for (const auto& t : tasks) runner_.Hold(t);
  StartEngine(/*parallel=*/2);
  Start("  pipelineSpec:\n    tasks:\n" + Task("a") + Task("b") + Task("c") + Task("d") +
        Task("e") + Task("g") + "    finally:\n" +
        Task("f", "        params: [{name: g, value: $(tasks.g.status)}]\n"));
  // Two run; two more are created, ready, and wait for a slot; e and g are not created.
  ASSERT_TRUE(runner_.WaitTotals(2, 4));
  auto started = [&] {
    std::set<std::string> out;
    for (const auto& c : runner_.Calls()) out.insert(c.pipeline_task);
    return out;
  };
  ASSERT_EQ(started().size(), 2u);
  for (const char* t : {"a", "b", "c", "d"})
    EXPECT_FALSE(TaskRun(std::string("run-") + t).is_null());
  EXPECT_TRUE(TaskRun("run-e").is_null());
  // A freed slot goes to a waiting TaskRun at once, and e is created in its place.
  runner_.Release(*started().begin());
  ASSERT_TRUE(runner_.WaitTotals(3, 5));
  EXPECT_EQ(started().size(), 3u);
  EXPECT_FALSE(TaskRun("run-e").is_null());
  EXPECT_TRUE(TaskRun("run-g").is_null());
  // Cancelling now ends the waiting TaskRuns unstarted and skips the uncreated task.
  std::set<std::string> ran = started();
  Cancel("CancelledRunFinally");
  Json st = Finish();
  EXPECT_EQ(Reason(st), "Cancelled");
  EXPECT_EQ(SkipOf(st, "g"), skip::kCancelled) << st.dump(2);
  EXPECT_TRUE(TaskRun("run-g").is_null());
  size_t unstarted = 0;
  for (const char* t : {"a", "b", "c", "d", "e"}) {
    if (ran.count(t)) continue;
    std::string name = std::string("run-") + t;
    EXPECT_EQ(TaskRun(name)["status"]["conditions"][0].value("reason", ""), "TaskRunCancelled")
        << t;
    EXPECT_LT(runner_.Position("unstarted " + name), runner_.Log().size()) << t;
    EXPECT_TRUE(runner_.CallsOf(t).empty()) << t;
    ++unstarted;
  }
  EXPECT_EQ(unstarted, 2u);
  ASSERT_EQ(runner_.CallsOf("f").size(), 1u);
  EXPECT_EQ(ParamOf(runner_.CallsOf("f")[0], "g"), "None") << "g did not run";
  EXPECT_EQ(Children(st),
            (std::set<std::string>{"run-a", "run-b", "run-c", "run-d", "run-e", "run-f"}));
}

// The thread that hands a slot over runs the next TaskRun's start; if that
// throws, the next one still gets the slot (and starts itself), and nothing
// hangs or loses a slot.
TEST_F(EngineTest, AStartThatThrowsOnTheHandOffStillGivesTheSlot) {
  runner_.Hold("a");
  runner_.ThrowOnStart("b");
  StartEngine(/*parallel=*/1);
  Start("  pipelineSpec:\n    tasks:\n" + Task("a") + Task("b") + Task("c"));
  ASSERT_TRUE(runner_.WaitStarted("a"));
  ASSERT_TRUE(runner_.WaitTotals(1, 2));
  // b asked for the slot; wait until it is queued for it, so the hand-off
  // (not a free slot) is what starts it.
  for (int i = 0; i < 10000 && engine_->SlotWaiters() == 0; ++i) usleep(1000);
  // Seen once under ASan on a loaded CI machine (no waiter after 10 s):
  // what each attempt had done by then, to tell a slow thread from a
  // TaskRun asked for twice.
  ASSERT_EQ(engine_->SlotWaiters(), 1u) << fmt::format("log: {}", fmt::join(runner_.Log(), "; "));
  runner_.Release("a");
  ASSERT_TRUE(runner_.WaitStarted("b"));
  ASSERT_TRUE(runner_.WaitStarted("c")) << "the slot went on to c";
  EXPECT_EQ(Reason(Finish()), "Succeeded");
}

TEST_F(EngineTest, AResultReferenceOrdersTasksAndPassesTheValue) {
  runner_.OnResults("a", {StringResult("out", "hello")});
  Json st =
      Run("  pipelineSpec:\n    tasks:\n" +
          Task("b", "        params: [{name: v, value: \"$(tasks.a.results.out) world\"}]\n") +
          Task("a"));
  EXPECT_EQ(Reason(st), "Succeeded") << st.dump(2);
  EXPECT_LT(runner_.Position("end run-a"), runner_.Position("start run-b"));
  ASSERT_EQ(runner_.CallsOf("b").size(), 1u);
  EXPECT_EQ(ParamOf(runner_.CallsOf("b")[0], "v"), "hello world");
}

TEST_F(EngineTest, AResultThatWasNotProducedFailsTheRun) {
  Json st = Run("  pipelineSpec:\n    tasks:\n" + Task("a") +
                Task("b", "        params: [{name: v, value: \"$(tasks.a.results.out)\"}]\n"));
  EXPECT_EQ(Reason(st), "InvalidTaskResultReference") << st.dump(2);
  EXPECT_TRUE(runner_.CallsOf("b").empty());
}

TEST_F(EngineTest, AFalseWhenSkipsTheTaskButNotItsDependents) {
  Json st = Run(R"Y(  params: [{name: go, value: "no"}]
  pipelineSpec:
    params: [{name: go}]
    tasks:
)Y" + Task("b", "        when: [{input: \"$(params.go)\", operator: in, values: [\"yes\"]}]\n") +
                Task("c", "        runAfter: [b]\n"));
  EXPECT_EQ(Reason(st), "Completed") << st.dump(2);
  EXPECT_EQ(SkipOf(st, "b"), skip::kWhen);
  EXPECT_EQ(st["skippedTasks"][0]["whenExpressions"][0]["input"], "$(params.go)");
  EXPECT_EQ(SkipOf(st, "c"), "");
  EXPECT_EQ(runner_.CallsOf("c").size(), 1u);
  EXPECT_TRUE(runner_.CallsOf("b").empty());
}

TEST_F(EngineTest, ASkipForAnyOtherReasonSkipsTheDependents) {
  // An empty matrix skips its task; that skip reaches what runs after it.
  Json st = Run(R"Y(  params: [{name: oses, value: []}]
  pipelineSpec:
    params: [{name: oses, type: array}]
    tasks:
      - name: m
        matrix: {params: [{name: os, value: ["$(params.oses[*])"]}]}
        taskSpec: {params: [{name: os}], steps: [{script: 'true'}]}
)Y" + Task("n", "        runAfter: [m]\n") +
                Task("o", "        runAfter: [n]\n"));
  EXPECT_EQ(Reason(st), "Completed") << st.dump(2);
  EXPECT_EQ(SkipOf(st, "m"), skip::kEmptyMatrix);
  EXPECT_EQ(SkipOf(st, "n"), skip::kParent);
  EXPECT_EQ(SkipOf(st, "o"), skip::kParent);
  EXPECT_TRUE(runner_.Calls().empty());
}

TEST_F(EngineTest, AFailureSkipsWhatHasNotStartedAndLetsRunningTasksFinish) {
  runner_.On("a", [](const TaskRunJob&, int) { return Failed(); });
  runner_.Hold("c");
  Start("  pipelineSpec:\n    tasks:\n" + Task("a") + Task("b", "        runAfter: [a]\n") +
        Task("c"));
  ASSERT_TRUE(runner_.WaitStarted("c"));
  ASSERT_TRUE(runner_.WaitStarted("a"));
  runner_.Release("c");
  Json st = Finish();
  EXPECT_EQ(Reason(st), "Failed") << st.dump(2);
  EXPECT_EQ(Message(st), "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1");
  EXPECT_EQ(SkipOf(st, "b"), skip::kStopping);
  EXPECT_EQ(Reason(TaskRun("run-c")["status"]), "Succeeded");
  EXPECT_EQ(Reason(TaskRun("run-a")["status"]), "Failed");
}

TEST_F(EngineTest, FinallySeesEachTasksStatusAndTheAggregate) {
  runner_.On("b", [](const TaskRunJob&, int) { return Failed(); });
  Json st =
      Run("  pipelineSpec:\n    tasks:\n" + Task("a") + Task("b") +
          Task("c", "        runAfter: [b]\n") + "    finally:\n" + Task("f", R"Y(        params:
          - {name: a, value: $(tasks.a.status)}
          - {name: b, value: $(tasks.b.status)}
          - {name: c, value: $(tasks.c.status)}
          - {name: all, value: $(tasks.status)}
)Y"));
  EXPECT_EQ(Reason(st), "Failed") << st.dump(2);
  ASSERT_EQ(runner_.CallsOf("f").size(), 1u);
  const auto f = runner_.CallsOf("f")[0];
  EXPECT_EQ(ParamOf(f, "a"), "Succeeded");
  EXPECT_EQ(ParamOf(f, "b"), "Failed");
  EXPECT_EQ(ParamOf(f, "c"), "None");
  EXPECT_EQ(ParamOf(f, "all"), "Failed");
  EXPECT_EQ(TaskRun("run-f")["labels"]["tekton.dev/memberOf"], "finally");
}

TEST_F(EngineTest, TasksStatusIsCompletedWhenATaskWasSkipped) {
  Json st =
      Run("  pipelineSpec:\n    tasks:\n" + Task("a") +
          Task("b", "        when: [{input: x, operator: in, values: [y]}]\n") + "    finally:\n" +
          Task("f", "        params: [{name: all, value: $(tasks.status)}]\n"));
  EXPECT_EQ(Reason(st), "Completed") << st.dump(2);
  ASSERT_EQ(runner_.CallsOf("f").size(), 1u);
  EXPECT_EQ(ParamOf(runner_.CallsOf("f")[0], "all"), "Completed");
}

TEST_F(EngineTest, FinallyStartsAfterEveryTaskAndReadsTheirResults) {
  runner_.OnResults("a", {StringResult("out", "x")});
  runner_.Hold("b");
  Start("  pipelineSpec:\n    tasks:\n" + Task("a") + Task("b") + "    finally:\n" +
        Task("f", "        params: [{name: v, value: $(tasks.a.results.out)}]\n"));
  ASSERT_TRUE(runner_.WaitStarted("b"));
  runner_.Release("b");
  Json st = Finish();
  EXPECT_EQ(Reason(st), "Succeeded") << st.dump(2);
  EXPECT_LT(runner_.Position("end run-a"), runner_.Position("start run-f"));
  EXPECT_LT(runner_.Position("end run-b"), runner_.Position("start run-f"));
  EXPECT_EQ(ParamOf(runner_.CallsOf("f")[0], "v"), "x");
  EXPECT_TRUE(st.contains("finallyStartTime"));
}

TEST_F(EngineTest, AFinallyTaskWhoseResultIsMissingIsSkipped) {
  runner_.On("a", [](const TaskRunJob&, int) { return Failed(); });
  Json st =
      Run("  pipelineSpec:\n    tasks:\n" + Task("a") + "    finally:\n" +
          Task("f", "        params: [{name: v, value: $(tasks.a.results.out)}]\n") + Task("g"));
  EXPECT_EQ(Reason(st), "Failed") << st.dump(2);
  EXPECT_EQ(SkipOf(st, "f"), skip::kMissingResults);
  EXPECT_EQ(runner_.CallsOf("g").size(), 1u);
}

TEST_F(EngineTest, AFailedAttemptIsRetriedUntilOneSucceeds) {
  runner_.On("a", [](const TaskRunJob&, int attempt) {
    return attempt < 2 ? Failed("attempt " + std::to_string(attempt)) : Succeeded();
  });
  Json st = Run("  pipelineSpec:\n    tasks:\n" + Task("a", "        retries: 3\n"));
  EXPECT_EQ(Reason(st), "Succeeded") << st.dump(2);
  auto calls = runner_.CallsOf("a");
  ASSERT_EQ(calls.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(calls[i].attempt, i);
  Json tr = TaskRun("run-a");
  ASSERT_EQ(tr["status"]["retriesStatus"].size(), 2u) << tr.dump(2);
  EXPECT_EQ(Message(tr["status"]["retriesStatus"][1]), "attempt 1");
  EXPECT_EQ(tr["object"]["spec"]["retries"], 3);
}

TEST_F(EngineTest, RetriesRunOutAndTheRunFails) {
  runner_.On("a", [](const TaskRunJob&, int) { return Failed(); });
  Json st = Run("  pipelineSpec:\n    tasks:\n" + Task("a", "        retries: 1\n"));
  EXPECT_EQ(Reason(st), "Failed");
  EXPECT_EQ(runner_.CallsOf("a").size(), 2u);
}

TEST_F(EngineTest, CancelledStopsEverythingFinallyIncludedAndRetriesNothing) {
  runner_.Hold("a");
  Start("  pipelineSpec:\n    tasks:\n" + Task("a", "        retries: 3\n") +
        Task("b", "        runAfter: [a]\n") + "    finally:\n" + Task("f"));
  ASSERT_TRUE(runner_.WaitStarted("a"));
  Cancel("Cancelled");
  Json st = Finish();
  EXPECT_EQ(Reason(st), "Cancelled") << st.dump(2);
  EXPECT_EQ(Message(st), "PipelineRun \"run\" was cancelled");
  EXPECT_EQ(runner_.CallsOf("a").size(), 1u) << "a cancelled attempt is not retried";
  EXPECT_EQ(Reason(TaskRun("run-a")["status"]), "TaskRunCancelled");
  EXPECT_EQ(SkipOf(st, "b"), skip::kCancelled);
  EXPECT_EQ(SkipOf(st, "f"), skip::kCancelled);
}

TEST_F(EngineTest, CancelledRunFinallyCancelsTasksThenRunsFinally) {
  runner_.Hold("a");
  Start("  pipelineSpec:\n    tasks:\n" + Task("a") + Task("b", "        runAfter: [a]\n") +
        "    finally:\n" + Task("f"));
  ASSERT_TRUE(runner_.WaitStarted("a"));
  Cancel("CancelledRunFinally");
  Json st = Finish();
  EXPECT_EQ(Reason(st), "Cancelled") << st.dump(2);
  EXPECT_EQ(Reason(TaskRun("run-a")["status"]), "TaskRunCancelled");
  EXPECT_EQ(SkipOf(st, "b"), skip::kCancelled);
  EXPECT_EQ(runner_.CallsOf("f").size(), 1u);
  EXPECT_EQ(Reason(TaskRun("run-f")["status"]), "Succeeded");
}

TEST_F(EngineTest, StoppedRunFinallyLetsRunningTasksFinishThenRunsFinally) {
  runner_.Hold("a");
  Start("  pipelineSpec:\n    tasks:\n" + Task("a") + Task("b", "        runAfter: [a]\n") +
        "    finally:\n" + Task("f"));
  ASSERT_TRUE(runner_.WaitStarted("a"));
  Cancel("StoppedRunFinally");
  runner_.Release("a");
  Json st = Finish();
  EXPECT_EQ(Reason(st), "Cancelled") << st.dump(2);
  EXPECT_EQ(Reason(TaskRun("run-a")["status"]), "Succeeded");
  EXPECT_EQ(SkipOf(st, "b"), skip::kStopped);
  EXPECT_EQ(runner_.CallsOf("f").size(), 1u);
}

TEST_F(EngineTest, PipelineTimeoutSkipsWhatIsLeftAndCancelsWhatRuns) {
  runner_.Hold("a");
  runner_.Hold("c");
  Start("  timeouts: {pipeline: 1m}\n  pipelineSpec:\n    tasks:\n" + Task("a") +
        Task("b", "        runAfter: [a]\n") + Task("c") + "    finally:\n" + Task("f"));
  ASSERT_TRUE(runner_.WaitStarted("a"));
  ASSERT_TRUE(runner_.WaitStarted("c"));
  clock_.Advance(minutes(2));
  runner_.Release("a");  // The engine looks again when a task ends.
  Json st = Finish();
  EXPECT_EQ(Reason(st), "PipelineRunTimeout") << st.dump(2);
  EXPECT_EQ(Message(st), "PipelineRun \"run\" failed to finish within \"1m0s\"");
  EXPECT_EQ(SkipOf(st, "b"), skip::kPipelineTimeout);
  EXPECT_EQ(SkipOf(st, "f"), skip::kPipelineTimeout);
  EXPECT_EQ(Reason(TaskRun("run-c")["status"]), "TaskRunCancelled");
}

TEST_F(EngineTest, TasksTimeoutSkipsTheRestButStillRunsFinally) {
  runner_.Hold("a");
  Start("  timeouts: {pipeline: 1h, tasks: 1m}\n  pipelineSpec:\n    tasks:\n" + Task("a") +
        Task("b", "        runAfter: [a]\n") + "    finally:\n" + Task("f"));
  ASSERT_TRUE(runner_.WaitStarted("a"));
  clock_.Advance(minutes(2));
  runner_.Release("a");
  Json st = Finish();
  EXPECT_EQ(Reason(st), "PipelineRunTimeout") << st.dump(2);
  EXPECT_EQ(SkipOf(st, "b"), skip::kTasksTimeout);
  EXPECT_EQ(runner_.CallsOf("f").size(), 1u);
}

TEST_F(EngineTest, ATasksTimeoutIsCappedByWhatIsLeftOfThePipelines) {
  runner_.Hold("a");
  Start("  timeouts: {pipeline: 10m}\n  pipelineSpec:\n    tasks:\n" +
        Task("a", "        timeout: 5m\n") +
        Task("b", "        runAfter: [a]\n        timeout: 5m\n") +
        Task("c", "        runAfter: [b]\n"));
  ASSERT_TRUE(runner_.WaitStarted("a"));
  clock_.Advance(minutes(7));
  runner_.Release("a");
  Json st = Finish();
  EXPECT_EQ(Reason(st), "Succeeded") << st.dump(2);
  EXPECT_EQ(runner_.CallsOf("a")[0].timeout, Millis(minutes(5)));
  EXPECT_EQ(runner_.CallsOf("b")[0].timeout, Millis(minutes(3)));
  EXPECT_EQ(runner_.CallsOf("c")[0].timeout, Millis(minutes(3)));
  EXPECT_EQ(TaskRun("run-b")["object"]["spec"]["timeout"], "3m0s");
}

TEST_F(EngineTest, WithoutAPipelineTimeoutATaskGetsTektonsDefault) {
  Json st = Run("  timeouts: {pipeline: \"0\"}\n  pipelineSpec:\n    tasks:\n" + Task("a") +
                Task("b", "        timeout: 2m\n"));
  EXPECT_EQ(Reason(st), "Succeeded") << st.dump(2);
  EXPECT_EQ(runner_.CallsOf("a")[0].timeout, Millis(minutes(60)));
  EXPECT_EQ(runner_.CallsOf("b")[0].timeout, Millis(minutes(2)));
}

TEST_F(EngineTest, AMatrixFansOutAndItsResultsAreGathered) {
  runner_.On("build", [](const TaskRunJob& job, int) {
    std::string os;
    for (const auto& p : job.params) {
      if (p.name == "os") os = p.value.str;
    }
    return Succeeded({StringResult("id", "id-" + os)});
  });
  Json st = Run(R"Y(  pipelineSpec:
    tasks:
      - name: build
        matrix: {params: [{name: os, value: [linux, mac, win]}]}
        taskSpec: {params: [{name: os}], results: [{name: id}], steps: [{script: 'true'}]}
      - name: collect
        params:
          - {name: ids, value: ["$(tasks.build.results.id[*])"]}
          - {name: n, value: $(tasks.build.matrix.length)}
        taskSpec: {params: [{name: ids, type: array}, {name: n}], steps: [{script: 'true'}]}
)Y");
  EXPECT_EQ(Reason(st), "Succeeded") << st.dump(2);
  std::set<std::string> oses;
  for (const auto& c : runner_.CallsOf("build")) oses.insert(ParamOf(c, "os"));
  EXPECT_EQ(oses, (std::set<std::string>{"linux", "mac", "win"}));
  EXPECT_EQ(Children(st),
            (std::set<std::string>{"run-build-0", "run-build-1", "run-build-2", "run-collect"}));
  EXPECT_EQ(TaskRun("run-build-2")["labels"]["strake.dev/matrixIndex"], "2");
  EXPECT_FALSE(TaskRun("run-collect")["labels"].contains("strake.dev/matrixIndex"));
  ASSERT_EQ(runner_.CallsOf("collect").size(), 1u);
  EXPECT_EQ(ParamOf(runner_.CallsOf("collect")[0], "ids"), R"Y(["id-linux","id-mac","id-win"])Y");
  EXPECT_EQ(ParamOf(runner_.CallsOf("collect")[0], "n"), "3");
}

TEST_F(EngineTest, PipelineResultsAreTakenFromTaskResults) {
  runner_.OnResults("a", {StringResult("digest", "sha256:1")});
  Json st = Run(R"Y(  pipelineSpec:
    results:
      - {name: digest, value: "$(tasks.a.results.digest)"}
      - {name: never, value: "$(tasks.b.results.x)"}
    tasks:
)Y" + Task("a") +
                Task("b", "        when: [{input: x, operator: in, values: [y]}]\n"));
  EXPECT_EQ(Reason(st), "Completed") << st.dump(2);
  ASSERT_EQ(st["results"].size(), 1u) << "a result of a task that did not run is left out";
  EXPECT_EQ(st["results"][0]["name"], "digest");
  EXPECT_EQ(st["results"][0]["value"], "sha256:1");
}

// A step controls its results and, through what it has the runner report,
// its messages: each value of the Secrets its task can read is masked in
// them before they go anywhere (the TaskRun's status, the run's results, a
// later task's params, events), as it is in the step's log.
TEST_F(EngineTest, ASecretInAResultOrAMessageIsMaskedWhereverItGoes) {
  const std::string secret = "s3cr3t-token-value";
  runner_.OnResults("a", {StringResult("token", "token=" + secret)});
  runner_.CacheHit("c", {StringResult("out", secret)});
  runner_.On("b", [&](const TaskRunJob&, int attempt) {
    return Failed(fmt::format("attempt {}: {} printed", attempt, secret));
  });
  Start(R"Y(  pipelineSpec:
    results: [{name: token, value: "$(tasks.a.results.token)"}]
    tasks:
      - name: a
        taskSpec: {results: [{name: token}], steps: [{script: 'true'}]}
      - name: c
        taskSpec: {cache: {}, results: [{name: out}], steps: [{script: 'true'}]}
      - name: b
        retries: 1
        params: [{name: v, value: "$(tasks.a.results.token) $(tasks.c.results.out)"}]
        taskSpec: {params: [{name: v}], steps: [{script: 'true'}]}
)Y",
        {},
        "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {token: " + secret +
            "}\n");
  Json st = Finish();
  EXPECT_EQ(Reason(st), "Failed") << st.dump(2);
  ASSERT_EQ(st["results"].size(), 1u) << st.dump(2);
  EXPECT_EQ(st["results"][0]["value"], "token=***");
  ASSERT_EQ(runner_.CallsOf("b").size(), 2u);
  EXPECT_EQ(ParamOf(runner_.CallsOf("b")[0], "v"), "token=*** ***");
  // Nothing the store keeps shows it, but the Secrets the run carries for its steps.
  st.erase("strake");
  EXPECT_EQ(st.dump().find(secret), std::string::npos) << st.dump(2);
  for (const char* tr : {"run-a", "run-b", "run-c"}) {
    EXPECT_EQ(TaskRun(tr).dump().find(secret), std::string::npos) << TaskRun(tr).dump(2);
  }
  EXPECT_EQ(Message(TaskRun("run-b")["status"]), "attempt 1: *** printed");
  auto changes = store_->ChangesSince(0, 1000, {});
  ASSERT_TRUE(changes);
  for (const auto& c : *changes) EXPECT_EQ(c.message.find(secret), std::string::npos) << c.message;
  for (const auto& e : Events()) EXPECT_EQ(e.message.find(secret), std::string::npos) << e.message;
}

TEST_F(EngineTest, ACacheHitIsRecordedWithoutRunningTheTask) {
  runner_.CacheHit("a", {StringResult("out", "cached")});
  Json st = Run(R"Y(  pipelineSpec:
    tasks:
      - name: a
        taskSpec: {cache: {}, results: [{name: out}], steps: [{script: 'true'}]}
)Y" + Task("b", "        params: [{name: v, value: $(tasks.a.results.out)}]\n"));
  EXPECT_EQ(Reason(st), "Succeeded") << st.dump(2);
  EXPECT_TRUE(runner_.CallsOf("a").empty());
  Json tr = TaskRun("run-a");
  EXPECT_EQ(Reason(tr["status"]), "Cached");
  EXPECT_EQ(tr["status"]["cacheKey"], "key-a");
  EXPECT_EQ(ParamOf(runner_.CallsOf("b")[0], "v"), "cached");
}

TEST_F(EngineTest, AMissingParamFailsTheRunBeforeAnyTask) {
  Json st = Run("  pipelineSpec:\n    params: [{name: p}]\n    tasks:\n" + Task("a"));
  EXPECT_EQ(Reason(st), "ParameterMissing") << st.dump(2);
  EXPECT_TRUE(runner_.Calls().empty());
}

TEST_F(EngineTest, TaskRunsAreStoredAsTektonWritesThem) {
  runner_.SetIgnoresImages(true);
  Json st = Run(R"Y(  pipelineSpec:
    tasks:
      - name: a
        taskSpec: {steps: [{name: s, image: alpine, script: 'true'}]}
)Y");
  EXPECT_EQ(Reason(st), "Succeeded") << st.dump(2);
  Json tr = TaskRun("run-a");
  EXPECT_EQ(tr["labels"]["tekton.dev/pipelineRun"], "run");
  EXPECT_EQ(tr["labels"]["tekton.dev/pipelineTask"], "a");
  EXPECT_EQ(tr["labels"]["tekton.dev/memberOf"], "tasks");
  EXPECT_EQ(tr["object"]["metadata"]["ownerReferences"][0]["name"], "run");
  EXPECT_EQ(tr["object"]["spec"]["timeout"], "1h0m0s");
  EXPECT_EQ(tr["status"]["strake"]["ignoredImages"][0], "alpine");
  ASSERT_EQ(st["childReferences"].size(), 1u);
  EXPECT_EQ(st["childReferences"][0]["pipelineTaskName"], "a");
  EXPECT_EQ(st["childReferences"][0]["kind"], "TaskRun");
}

TEST_F(EngineTest, ObserversHearTheRunFromStartToEnd) {
  Run("  pipelineSpec:\n    tasks:\n" + Task("a") +
      Task("b", "        when: [{input: x, operator: in, values: [y]}]\n"));
  // Run started, a started, b skipped, a finished, run finished.
  auto events = Events(5);
  std::multiset<std::string> seen;
  for (const auto& e : events) {
    seen.insert(std::to_string(static_cast<int>(e.type)) + " " + e.pipeline_task + " " + e.state);
  }
  using T = ProgressEvent::Type;
  auto key = [](T t, const std::string& task, const std::string& state) {
    return std::to_string(static_cast<int>(t)) + " " + task + " " + state;
  };
  EXPECT_EQ(seen, (std::multiset<std::string>{
                      key(T::kRunStarted, "", ""), key(T::kTaskStarted, "a", "Running"),
                      key(T::kTaskSkipped, "b", "Skipped"), key(T::kTaskFinished, "a", "Succeeded"),
                      key(T::kRunFinished, "", "Completed")}));
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events.front().type, T::kRunStarted);
  EXPECT_EQ(events.front().total_tasks, 2u);
}

// A crash leaves the PipelineRun and a TaskRun recorded Running, with nothing
// running them: on resume, the finished TaskRun keeps its outcome and the
// running one is run again, after its orphans are killed.
TEST_F(EngineTest, AfterACrashATaskRunLeftRunningIsRunAgain) {
  runner_.OnResults("a", {StringResult("out", "1")});
  Json st = Run("  pipelineSpec:\n    tasks:\n" + Task("a") +
                Task("b", "        params: [{name: v, value: $(tasks.a.results.out)}]\n"));
  ASSERT_EQ(Reason(st), "Succeeded") << st.dump(2);
  engine_.reset();
  // What the store held at the crash: b Running, the run Running.
  Json running = {
      {"conditions", {{{"type", "Succeeded"}, {"status", "Unknown"}, {"reason", "Running"}}}}};
  Json b = TaskRun("run-b");
  std::string b_uid;
  {
    auto r = store_->Get({"TaskRun", "default", "run-b"});
    ASSERT_TRUE(r && *r);
    b_uid = (**r).uid;
  }
  Json b_status = b["status"];
  b_status["conditions"] = running["conditions"];
  ASSERT_TRUE(store_->UpdateStatus({"TaskRun", "default", "run-b"}, b_status, 0, "Running", ""));
  Json run_status = st;
  run_status["conditions"] = running["conditions"];
  run_status.erase("completionTime");
  run_status.erase("childReferences");
  ASSERT_TRUE(
      store_->UpdateStatus({"PipelineRun", "default", "run"}, run_status, 0, "Running", ""));

  StartEngine();
  ASSERT_TRUE(engine_->Resume("default", "run"));
  st = Finish();
  EXPECT_EQ(Reason(st), "Succeeded") << st.dump(2);
  EXPECT_EQ(runner_.CallsOf("a").size(), 1u) << "a finished before the crash";
  auto b_calls = runner_.CallsOf("b");
  ASSERT_EQ(b_calls.size(), 2u);
  EXPECT_EQ(ParamOf(b_calls[1], "v"), "1") << "a's result survives the crash";
  EXPECT_EQ(runner_.Killed(), std::vector<std::string>{b_uid});
  Json tr = TaskRun("run-b");
  EXPECT_EQ(Reason(tr["status"]), "Succeeded");
  EXPECT_EQ(Children(st), (std::set<std::string>{"run-a", "run-b"}));
}

TEST_F(EngineTest, ResumingAFinishedRunRunsNothing) {
  Json st = Run("  pipelineSpec:\n    tasks:\n" + Task("a"));
  ASSERT_EQ(Reason(st), "Succeeded");
  engine_.reset();
  StartEngine();
  ASSERT_TRUE(engine_->Resume("default", "run"));
  EXPECT_EQ(Reason(Finish()), "Succeeded");
  EXPECT_EQ(runner_.CallsOf("a").size(), 1u);
  EXPECT_TRUE(runner_.Killed().empty());
}

// --- pipelines in pipelines ---------------------------------------------------

const char* const kChildRun = R"Y(  workspaces: [{name: src, emptyDir: {}}]
  pipelineSpec:
    params: [{name: who, default: world}]
    workspaces: [{name: src}]
    tasks:
      - name: first
        taskSpec: {steps: [{script: 'true'}]}
      - name: child
        runAfter: [first]
        params: [{name: greeting, value: "hi $(params.who)"}]
        workspaces: [{name: source, workspace: src, subPath: sub}]
        pipelineSpec:
          params: [{name: greeting}]
          workspaces: [{name: source}]
          results: [{name: said, value: $(tasks.say.results.out)}]
          tasks:
            - name: say
              params: [{name: g, value: $(params.greeting)}]
              workspaces: [{name: w, workspace: source}]
              taskSpec:
                params: [{name: g}]
                workspaces: [{name: w}]
                results: [{name: out}]
                steps: [{script: 'true'}]
      - name: after
        params: [{name: v, value: $(tasks.child.results.said)}]
        taskSpec: {params: [{name: v}], steps: [{script: 'true'}]}
)Y";

// A PipelineRun as stored, with its uid and labels (null when there is none).
Json PipelineRunOf(store::Store& store, const std::string& name) {
  auto r = store.Get({"PipelineRun", "default", name});
  if (!r || !*r) return Json();
  return {{"uid", (**r).uid},
          {"owner", (**r).owner},
          {"labels", (**r).labels},
          {"object", (**r).object},
          {"status", (**r).status}};
}

TEST_F(EngineTest, ATaskThatRunsAPipelineRunsAChildPipelineRunAndReadsItsResults) {
  runner_.OnResults("say", {StringResult("out", "hello")});
  Json st = Run(kChildRun);
  ASSERT_EQ(Reason(st), "Succeeded") << st.dump(2);
  EXPECT_EQ(Message(st), "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0");
  Json child = PipelineRunOf(*store_, "run-child");
  ASSERT_FALSE(child.is_null());
  EXPECT_EQ(child["owner"], PipelineRunOf(*store_, "run")["uid"]);
  EXPECT_EQ(child["labels"]["tekton.dev/pipelineRun"], "run");
  EXPECT_EQ(child["labels"]["tekton.dev/pipelineTask"], "child");
  EXPECT_EQ(child["object"]["metadata"]["ownerReferences"][0]["kind"], "PipelineRun");
  EXPECT_EQ(child["object"]["spec"]["params"][0]["value"], "hi world");
  EXPECT_EQ(child["object"]["spec"]["workspaces"][0],
            Json::parse(R"({"name":"source","emptyDir":{},"subPath":"sub"})"));
  EXPECT_EQ(Reason(child["status"]), "Succeeded") << child["status"].dump(2);
  EXPECT_EQ(child["status"]["results"][0]["value"], "hello");
  // The parent lists it as Tekton does, and the next task reads its result.
  bool listed = false;
  for (const auto& c : st["childReferences"])
    listed = listed || (c["name"] == "run-child" && c["kind"] == "PipelineRun");
  EXPECT_TRUE(listed) << st["childReferences"].dump();
  ASSERT_EQ(runner_.CallsOf("after").size(), 1u);
  EXPECT_EQ(ParamOf(runner_.CallsOf("after")[0], "v"), "hello");
  // The child's task runs in the parent's workspace directory, at the subPath.
  auto say = runner_.CallsOf("say");
  ASSERT_EQ(say.size(), 1u);
  EXPECT_EQ(say[0].taskrun, "run-child-say");
  EXPECT_EQ(ParamOf(say[0], "g"), "hi world");
  ASSERT_EQ(say[0].workspaces.size(), 1u);
  auto parent_dir = RunWorkspaceDir(dir_, "default", "run", "src");
  ASSERT_TRUE(parent_dir);
  EXPECT_EQ(say[0].workspaces[0].host_path, *parent_dir);
  EXPECT_EQ(say[0].workspaces[0].sub_path, "sub");
  // Observers hear the child's tasks as the run's, by path.
  bool heard = false;
  for (const auto& e : Events()) {
    heard = heard || (e.type == ProgressEvent::Type::kTaskFinished && e.pipeline_run == "run" &&
                      e.pipeline_task == "child/say" && e.nested);
  }
  EXPECT_TRUE(heard);
}

TEST_F(EngineTest, CancellingTheParentCancelsItsChildPipelineRun) {
  runner_.Hold("say");
  Start(kChildRun);
  ASSERT_TRUE(runner_.WaitStarted("say"));
  Cancel("Cancelled");
  Json st = Finish();
  EXPECT_EQ(Reason(st), "Cancelled") << st.dump(2);
  EXPECT_EQ(Reason(PipelineRunOf(*store_, "run-child")["status"]), "Cancelled");
  EXPECT_EQ(Reason(TaskRun("run-child-say")["status"]), "TaskRunCancelled");
  EXPECT_EQ(SkipOf(st, "after"), skip::kCancelled);
}

TEST_F(EngineTest, AFailedChildPipelineRunFailsItsTask) {
  runner_.On("say", [](const TaskRunJob&, int) { return Failed(); });
  Json st = Run(kChildRun);
  EXPECT_EQ(Reason(st), "Failed") << st.dump(2);
  EXPECT_EQ(Reason(PipelineRunOf(*store_, "run-child")["status"]), "Failed");
  EXPECT_EQ(runner_.CallsOf("after").size(), 0u);
}

// kill -9 while the child runs: the parent resumes it (never a second
// child), in the parent's workspaces; the child alone is not resumed.
TEST_F(EngineTest, AfterACrashAChildPipelineRunLeftRunningIsResumedByItsParent) {
  runner_.OnResults("say", {StringResult("out", "hello")});
  Json st = Run(kChildRun);
  ASSERT_EQ(Reason(st), "Succeeded") << st.dump(2);
  engine_.reset();
  const std::string child_uid = PipelineRunOf(*store_, "run-child")["uid"];
  MarkRunning("PipelineRun", "run");
  MarkRunning("PipelineRun", "run-child");
  MarkRunning("TaskRun", "run-child-say");
  ASSERT_TRUE(store_->Delete({"TaskRun", "default", "run-after"}));

  StartEngine();
  auto alone = engine_->Resume("default", "run-child");
  ASSERT_FALSE(alone) << "a child is resumed by its parent";
  EXPECT_EQ(alone.error().message,
            "pipelinerun run-child runs a task of pipelinerun run: resume that one");
  EXPECT_EQ(engine_->RunsInMemory(), 0u);
  ASSERT_TRUE(engine_->Resume("default", "run"));
  st = Finish();
  EXPECT_EQ(Reason(st), "Succeeded") << st.dump(2);
  EXPECT_EQ(runner_.CallsOf("first").size(), 1u) << "first finished before the crash";
  auto say = runner_.CallsOf("say");
  ASSERT_EQ(say.size(), 2u);
  auto parent_dir = RunWorkspaceDir(dir_, "default", "run", "src");
  ASSERT_TRUE(parent_dir);
  EXPECT_EQ(say[1].workspaces.at(0).host_path, *parent_dir);
  Json child = PipelineRunOf(*store_, "run-child");
  EXPECT_EQ(child["uid"], child_uid) << "the same child, not a second one";
  EXPECT_EQ(Reason(child["status"]), "Succeeded");
  ASSERT_EQ(runner_.CallsOf("after").size(), 2u);
  EXPECT_EQ(ParamOf(runner_.CallsOf("after")[1], "v"), "hello");
}

// The parent resumed after kill -9 already cancelled: its child, left
// Running, is never planned again; it ends Cancelled with its TaskRuns, and
// their orphaned processes are killed.
TEST_F(EngineTest, AChildLeftRunningByACrashEndsWhenItsCancelledParentEnds) {
  runner_.OnResults("say", {StringResult("out", "hello")});
  Json st = Run(kChildRun);
  ASSERT_EQ(Reason(st), "Succeeded") << st.dump(2);
  engine_.reset();
  MarkRunning("PipelineRun", "run");
  MarkRunning("PipelineRun", "run-child");
  MarkRunning("TaskRun", "run-child-say");
  ASSERT_TRUE(store_->Delete({"TaskRun", "default", "run-after"}));
  auto run = store_->Get({"PipelineRun", "default", "run"});
  ASSERT_TRUE(run && *run);
  store::Resource cancelled = **run;
  cancelled.object["spec"]["status"] = "Cancelled";  // `strake cancel` while it was down
  ASSERT_TRUE(store_->Update(cancelled, 0));
  const std::string say_uid = TaskRun("run-child-say").is_null()
                                  ? ""
                                  : (*store_->Get({"TaskRun", "default", "run-child-say"}))->uid;

  StartEngine();
  ASSERT_TRUE(engine_->Resume("default", "run"));
  st = Finish();
  EXPECT_EQ(Reason(st), "Cancelled") << st.dump(2);
  EXPECT_EQ(Reason(PipelineRunOf(*store_, "run-child")["status"]), "Cancelled");
  EXPECT_EQ(Reason(TaskRun("run-child-say")["status"]), "TaskRunCancelled");
  auto killed = runner_.Killed();
  EXPECT_NE(std::find(killed.begin(), killed.end(), say_uid), killed.end());
  EXPECT_EQ(runner_.CallsOf("say").size(), 1u) << "not run again";
}

// CancelledRunFinally cancels the running tasks, then runs finally: a
// finally task that runs a Pipeline runs it whole.
TEST_F(EngineTest, AFinallyTasksChildRunsAfterCancelledRunFinally) {
  runner_.Hold("a");
  Start(R"Y(  pipelineSpec:
    tasks:
      - name: a
        taskSpec: {steps: [{script: 'true'}]}
    finally:
      - name: cleanup
        pipelineSpec:
          tasks:
            - name: tidy
              taskSpec: {steps: [{script: 'true'}]}
)Y");
  ASSERT_TRUE(runner_.WaitStarted("a"));
  Cancel("CancelledRunFinally");
  Json st = Finish();
  EXPECT_EQ(Reason(st), "Cancelled") << st.dump(2);
  EXPECT_EQ(runner_.CallsOf("tidy").size(), 1u);
  EXPECT_EQ(Reason(PipelineRunOf(*store_, "run-cleanup")["status"]), "Succeeded");
}

}  // namespace
}  // namespace strake::pipeline
