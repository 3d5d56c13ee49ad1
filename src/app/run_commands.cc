#include "app/run_commands.h"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>

#include "app/pick_run.h"
#include "app/progress.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/process.h"
#include "cli/columns.h"
#include "cli/table.h"
#include "model/decode.h"
#include "pipeline/engine.h"
#include "pipeline/step_runner.h"
#include "pipeline/validate.h"
#include "server/api.h"
#include "store/sqlite_store.h"

namespace strake::app {

using model::Json;

namespace {

// Params given as NAME=VALUE; a value that is JSON array/object keeps its type.
Result<std::vector<model::Param>> ParseParams(const std::vector<std::string>& given) {
  std::vector<model::Param> out;
  for (const auto& g : given) {
    size_t eq = g.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Failf("--param {}: expected NAME=VALUE", g);
    }
    std::string value = g.substr(eq + 1);
    model::ParamValue v = model::ParamValue::String(value);
    if (!value.empty() && (value[0] == '[' || value[0] == '{')) {
      auto j = cli::Json::parse(value, nullptr, false);
      if (!j.is_discarded()) v = model::ParamValue::FromJson(j);
    }
    out.push_back({g.substr(0, eq), v, {}});
  }
  return out;
}

bool UsesImages(const std::vector<model::Resource>& resources) {
  auto in_task = [](const model::TaskSpec& t) {
    return std::any_of(t.steps.begin(), t.steps.end(),
                       [](const auto& st) { return !st.image.empty(); });
  };
  auto in_pipeline = [&](const model::PipelineSpec& p) {
    for (const auto* list : {&p.tasks, &p.finally}) {
      for (const auto& t : *list) {
        if (t.task_spec && in_task(*t.task_spec)) return true;
      }
    }
    return false;
  };
  for (const auto& r : resources) {
    if (auto* t = std::get_if<model::Task>(&r.value); t && in_task(t->spec)) return true;
    if (auto* p = std::get_if<model::Pipeline>(&r.value); p && in_pipeline(p->spec)) return true;
    if (auto* pr = std::get_if<model::PipelineRun>(&r.value);
        pr && pr->spec.pipeline_spec && in_pipeline(*pr->spec.pipeline_spec)) {
      return true;
    }
    if (auto* tr = std::get_if<model::TaskRun>(&r.value);
        tr && tr->spec.task_spec && in_task(*tr->spec.task_spec)) {
      return true;
    }
  }
  return false;
}

std::atomic<int> g_interrupts{0};
void OnInterrupt(int) { g_interrupts.fetch_add(1); }

// Interrupts cancel the run (Tekton's Cancelled); a second one stops waiting.
// Installed before anything starts.
void CatchInterrupts() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Until `finished`: cancels the run at the first interrupt, exits at the second.
void WatchInterrupts(pipeline::Engine& engine, const std::string& ns, const std::string& name,
                     const std::atomic<bool>& finished) {
  int seen = 0;
  while (!finished) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    int n = g_interrupts.load();
    if (n > seen) {
      seen = n;
      fmt::print(stderr, "strake: cancelling {} (interrupt again to stop waiting)\n", name);
      (void)engine.Cancel(ns, name, "Cancelled");
      if (n > 1) std::_Exit(130);
    }
  }
}

}  // namespace

RunCommands::RunCommands(CLI::App& app, cli::Context& ctx, cli::CommandTable& table)
    : ctx_(ctx), parallel_(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))) {
  auto* run = app.add_subcommand(
      "run", "run a PipelineRun (or a lone Pipeline, Task or TaskRun) to completion");
  run->add_option("-f,--filename", files_, "YAML or JSON files")->type_name("FILE");
  run->add_option("-p,--param", params_, "NAME=VALUE (JSON for arrays and objects)");
  run->add_option("--parallel", parallel_, "TaskRuns at once (default: cores)");
  run->add_flag("--no-cache", no_cache_, "do not use or fill the task cache");
  run->add_flag("--no-sandbox", no_sandbox_, "run steps directly on the host, not in bubblewrap");
  run->add_option("--resume", resume_, "continue an interrupted PipelineRun");
  run->add_option("-n,--namespace", ns_, "the namespace of the run to --resume (default: default)");
  run->add_option("-o,--output", ctx.output, "text, json or yaml: the finished PipelineRun")
      ->check(CLI::IsMember({"text", "json", "yaml"}));
  table.Add(run, [this] { return Run(); });

  auto* validate = app.add_subcommand("validate", "check files without running them");
  validate->add_option("-f,--filename", files_, "YAML or JSON files")->required();
  table.Add(validate, [this] { return Validate(); });
}

int RunCommands::Validate() {
  auto loaded = model::LoadFiles(files_);
  if (!loaded) return cli::Die("invalid input:\n" + loaded.error().message);
  for (const auto& w : loaded->warnings) fmt::print(stderr, "{}\n", w);
  model::Diagnostics diags;
  pipeline::ValidateResources(loaded->resources, diags);
  if (diags.HasErrors()) return cli::Die("invalid input:\n" + diags.ErrorText());
  fmt::print("{} resources valid\n", loaded->resources.size());
  return 0;
}

int RunCommands::Start(pipeline::Engine& engine) {
  if (!resume_.empty()) {
    auto r = engine.Resume(ns_, resume_);
    if (!r) return cli::Die(r.error().message);
    name_ = resume_;
    return 0;
  }
  if (files_.empty()) return cli::Die("run: give -f FILE (or --resume NAME)");
  auto loaded = model::LoadFiles(files_);
  if (!loaded) return cli::Die("invalid input:\n" + loaded.error().message);
  model::Diagnostics diags;
  pipeline::ValidateResources(loaded->resources, diags);
  if (diags.HasErrors()) return cli::Die("invalid input:\n" + diags.ErrorText());
  for (const auto& w : loaded->warnings) fmt::print(stderr, "{}\n", w);
  auto run = PickRun(loaded->resources);
  if (!run) return cli::Die(run.error().message);
  auto params = ParseParams(params_);
  if (!params) return cli::Die(params.error().message);
  // Neither executor is a container runtime: say once that images are not used.
  if (UsesImages(loaded->resources)) {
    fmt::print(stderr,
               "strake: note: step images are ignored: steps run with this machine's programs{}\n",
               no_sandbox_ ? "" : " (in a bubblewrap sandbox when bwrap is installed)");
  }
  auto submitted = engine.Submit(loaded->resources[*run], loaded->resources, *params);
  if (!submitted) return cli::Die(submitted.error().message);
  name_ = *submitted;
  ns_ = loaded->resources[*run].meta.ns;
  *loaded = model::Loaded{};  // Freed before the run is built from the store.
  ::malloc_trim(0);
  auto started = engine.Resume(ns_, name_);
  if (!started) return cli::Die(started.error().message);
  return 0;
}

int RunCommands::Run() {
  if (parallel_ < 1) return cli::Die("--parallel must be at least 1");
  if (auto made = MakeDirs(ctx_.data_dir, 0700); !made) return cli::Die(made.error().message);
  auto store = store::OpenSqliteStore(PathJoin(ctx_.data_dir, "strake.db"));
  if (!store) return cli::Die(store.error().message);
  pipeline::EngineOptions opts;
  opts.parallel = parallel_;
  opts.executor.data_dir = ctx_.data_dir;
  opts.executor.sandbox = !no_sandbox_;
  opts.executor.no_cache = no_cache_;
  opts.executor.self_exe = SelfExe();
  SystemClock clock;
  bool text = ctx_.output == "text";
  bool live = text && ::isatty(STDERR_FILENO) && std::getenv("CI") == nullptr;
  Progress progress(stderr, live);
  CatchInterrupts();
  auto engine = std::make_unique<pipeline::Engine>(**store, opts, clock);
  if (text) engine->SetObserver([&](const pipeline::ProgressEvent& e) { progress.OnEvent(e); });
  if (int rc = Start(*engine); rc != 0) return rc;
  ::malloc_trim(0);  // What building the run freed goes back to the system.
  std::atomic<bool> finished{false};
  std::thread watcher([&] { WatchInterrupts(*engine, ns_, name_, finished); });
  auto result = engine->Wait(ns_, name_);
  finished = true;
  watcher.join();
  progress.Stop();
  engine.reset();
  if (!result) return cli::Die(result.error().message);
  // As `strake get pipelinerun NAME -o ...` shows it.
  if (ctx_.output == "json") fmt::print("{}\n", server::Api::Present(*result).dump(2));
  if (ctx_.output == "yaml") fmt::print("{}", model::ToYaml(server::Api::Present(*result)));
  return cli::RunConditionStatus(result->status) == "True" ? 0 : 1;
}

}  // namespace strake::app
