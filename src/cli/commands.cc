#include "cli/commands.h"

#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "base/clock.h"
#include "base/duration.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "cli/delivery.h"
#include "cli/pick_run.h"
#include "cli/progress.h"
#include "cli/table.h"
#include "model/decode.h"
#include "model/kinds.h"
#include "pipeline/engine.h"
#include "pipeline/step_runner.h"
#include "pipeline/validate.h"
#include "store/sqlite_store.h"

#ifndef STRAKE_VERSION
#define STRAKE_VERSION "0.0.0"
#endif

namespace strake::cli {

using model::Json;

namespace {

std::string DefaultDataDir() {
  if (const char* d = std::getenv("STRAKE_DATA_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/strake";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/strake";
  return ".strake";
}

Result<store::StorePtr> OpenStore(const std::string& data_dir) {
  STRAKE_TRY(MakeDirs(data_dir, 0700));
  return store::OpenSqliteStore(data_dir + "/strake.db");
}

std::string Age(const Json& status, const std::string& field) { return status.value(field, ""); }

std::string Reason(const Json& status) {
  if (!status.contains("conditions") || status["conditions"].empty()) return "Unknown";
  return status["conditions"][0].value("reason", "Unknown");
}

std::string StatusWord(const Json& status) {
  if (!status.contains("conditions") || status["conditions"].empty()) return "Unknown";
  return status["conditions"][0].value("status", "Unknown");
}

// Duration between two RFC 3339 timestamps, as "1m2s"; "---" if unknown.
std::string Span(const Json& status) {
  auto parse = [](const std::string& t) -> std::optional<int64_t> {
    std::tm tm{};
    if (t.empty() || !strptime(t.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return std::nullopt;
    return static_cast<int64_t>(timegm(&tm));
  };
  auto a = parse(status.value("startTime", ""));
  auto b = parse(status.value("completionTime", ""));
  if (status.contains("durationMs"))
    return FormatDuration(Millis(status["durationMs"].get<int64_t>()));
  if (!a) return "---";
  int64_t end = b ? *b : static_cast<int64_t>(std::time(nullptr));
  return FormatDuration(Millis((end - *a) * 1000));
}

Json AsDocument(const store::Resource& r) {
  Json doc = r.object;
  doc["metadata"]["uid"] = r.uid;
  doc["metadata"]["resourceVersion"] = std::to_string(r.resource_version);
  doc["metadata"]["generation"] = r.generation;
  doc["metadata"]["creationTimestamp"] = FormatRfc3339(FromUnixMillis(r.created_ms));
  Json status = r.status;
  status.erase("strake");
  status.erase("startTimeMs");
  status.erase("finallyStartTimeMs");
  doc["status"] = status;
  return doc;
}

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
      auto j = Json::parse(value, nullptr, false);
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

// --- commands -----------------------------------------------------------

struct Common {
  std::string data_dir = DefaultDataDir();
  std::string output = "text";
};

int CmdValidate(const std::vector<std::string>& files) {
  auto loaded = model::LoadFiles(files);
  if (!loaded) return Die("invalid input:\n" + loaded.error().message);
  for (const auto& w : loaded->warnings) fmt::print(stderr, "{}\n", w);
  model::Diagnostics diags;
  pipeline::ValidateResources(loaded->resources, diags);
  if (diags.HasErrors()) return Die("invalid input:\n" + diags.ErrorText());
  fmt::print("{} resources valid\n", loaded->resources.size());
  return 0;
}

struct RunFlags {
  std::vector<std::string> files;
  std::vector<std::string> params;
  int parallel = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool no_cache = false;
  bool no_sandbox = false;
  std::string resume;
  std::string ns = "default";  // of the run --resume names
};

int CmdRun(const Common& c, const RunFlags& f) {
  if (f.parallel < 1) return Die("--parallel must be at least 1");
  auto store = OpenStore(c.data_dir);
  if (!store) return Die(store.error().message);
  pipeline::EngineOptions opts;
  opts.parallel = f.parallel;
  opts.executor.data_dir = c.data_dir;
  opts.executor.sandbox = !f.no_sandbox;
  opts.executor.no_cache = f.no_cache;
  opts.executor.self_exe = SelfExe();
  SystemClock clock;
  bool live = c.output == "text" && ::isatty(STDERR_FILENO) && std::getenv("CI") == nullptr;
  Progress progress(stderr, live);
  std::string name, ns = f.ns;
  std::vector<std::string> warnings;
  // Interrupts cancel the run (Tekton's Cancelled); installed before anything starts.
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  auto engine = std::make_unique<pipeline::Engine>(**store, opts, clock);
  if (c.output == "text")
    engine->SetObserver([&](const pipeline::ProgressEvent& e) { progress.OnEvent(e); });
  if (!f.resume.empty()) {
    auto r = engine->Resume(ns, f.resume);
    if (!r) return Die(r.error().message);
    name = f.resume;
  } else {
    if (f.files.empty()) return Die("run: give -f FILE (or --resume NAME)");
    auto loaded = model::LoadFiles(f.files);
    if (!loaded) return Die("invalid input:\n" + loaded.error().message);
    model::Diagnostics diags;
    pipeline::ValidateResources(loaded->resources, diags);
    if (diags.HasErrors()) return Die("invalid input:\n" + diags.ErrorText());
    for (const auto& w : loaded->warnings) fmt::print(stderr, "{}\n", w);
    auto run = PickRun(loaded->resources);
    if (!run) return Die(run.error().message);
    auto params = ParseParams(f.params);
    if (!params) return Die(params.error().message);
    // Neither executor is a container runtime: say once that images are not used.
    if (UsesImages(loaded->resources)) {
      fmt::print(
          stderr,
          "strake: note: step images are ignored: steps run with this machine's programs{}\n",
          f.no_sandbox ? "" : " (in a bubblewrap sandbox when bwrap is installed)");
    }
    auto submitted = engine->Submit(loaded->resources[*run], loaded->resources, *params);
    if (!submitted) return Die(submitted.error().message);
    name = *submitted;
    ns = loaded->resources[*run].meta.ns;
    *loaded = model::Loaded{};  // Freed before the run is built from the store.
    ::malloc_trim(0);
    auto started = engine->Resume(ns, name);
    if (!started) return Die(started.error().message);
  }
  ::malloc_trim(0);  // What building the run freed goes back to the system.
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    int seen = 0;
    while (!finished) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      int n = g_interrupts.load();
      if (n > seen) {
        seen = n;
        fmt::print(stderr, "strake: cancelling {} (interrupt again to stop waiting)\n", name);
        (void)engine->Cancel(ns, name, "Cancelled");
        if (n > 1) std::_Exit(130);
      }
    }
  });
  auto result = engine->Wait(ns, name);
  finished = true;
  watcher.join();
  progress.Stop();
  engine.reset();
  if (!result) return Die(result.error().message);
  if (c.output == "json") {
    fmt::print("{}\n", AsDocument(*result).dump(2));
  } else if (c.output == "yaml") {
    return Die("-o yaml is not supported for run yet; use -o json");
  }
  return StatusWord(result->status) == "True" ? 0 : 1;
}

int CmdGet(const Common& c, const std::string& kind_arg, const std::string& name) {
  // The local store's kinds; every other kind goes to the server (delivery.cc).
  const model::KindInfo* k = model::KindByName(kind_arg);
  if (!k || (k->kind != "PipelineRun" && k->kind != "TaskRun" && k->kind != "Pipeline" &&
             k->kind != "Task")) {
    return Die(
        fmt::format("unknown kind \"{}\"{}", kind_arg, DidYouMean(kind_arg, model::KindNames())));
  }
  auto store = OpenStore(c.data_dir);
  if (!store) return Die(store.error().message);
  auto list = (*store)->List(k->kind, "");
  if (!list) return Die(list.error().message);
  std::vector<store::Resource> items;
  for (auto& r : *list) {
    if (name.empty() || r.key.name == name) items.push_back(std::move(r));
  }
  if (!name.empty() && items.empty()) return Die(fmt::format("{} {} not found", k->kind, name));
  if (c.output == "json") {
    if (!name.empty()) {
      fmt::print("{}\n", AsDocument(items[0]).dump(2));
    } else {
      Json out = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", Json::array()}};
      for (const auto& r : items) out["items"].push_back(AsDocument(r));
      fmt::print("{}\n", out.dump(2));
    }
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  bool runs = k->kind == "PipelineRun" || k->kind == "TaskRun";
  rows.push_back(runs ? std::vector<std::string>{"NAME", "STARTED", "DURATION", "STATUS"}
                      : std::vector<std::string>{"NAME", "CREATED"});
  for (const auto& r : items) {
    if (runs) {
      rows.push_back({r.key.name, Age(r.status, "startTime"), Span(r.status), Reason(r.status)});
    } else {
      rows.push_back({r.key.name, FormatRfc3339(FromUnixMillis(r.created_ms))});
    }
  }
  if (items.empty()) {
    fmt::print("No {} found\n", kind_arg);
    return 0;
  }
  PrintTable(rows);
  return 0;
}

int CmdDescribe(const Common& c, const std::string& kind, const std::string& name) {
  const model::KindInfo* k = model::KindByName(kind);
  if (!k || (k->kind != "PipelineRun" && k->kind != "TaskRun")) {
    return Die(fmt::format("describe: unknown kind \"{}\" (pipelinerun, taskrun)", kind));
  }
  bool is_pr = k->kind == "PipelineRun";
  auto store = OpenStore(c.data_dir);
  if (!store) return Die(store.error().message);
  auto r = (*store)->Get({is_pr ? "PipelineRun" : "TaskRun", "default", name});
  if (!r) return Die(r.error().message);
  if (!*r) return Die(fmt::format("{} {} not found", is_pr ? "pipelinerun" : "taskrun", name));
  const auto& res = **r;
  if (c.output == "json") {
    fmt::print("{}\n", AsDocument(res).dump(2));
    return 0;
  }
  const Json& st = res.status;
  fmt::print("Name:        {}\nNamespace:   {}\n", name, res.key.ns);
  if (is_pr) {
    std::string pipeline = st.value("strake", Json::object()).value("pipeline", "");
    fmt::print("Pipeline:    {}\n", pipeline.empty() ? "(embedded)" : pipeline);
  }
  fmt::print("Status:      {} ({})\n", Reason(st),
             st.contains("conditions") && !st["conditions"].empty()
                 ? st["conditions"][0].value("message", "")
                 : "");
  fmt::print("Started:     {}\nDuration:    {}\n", Age(st, "startTime"), Span(st));
  const Json& spec = res.object.value("spec", Json::object());
  if (spec.contains("params") && !spec["params"].empty()) {
    fmt::print("\nParams\n");
    for (const auto& p : spec["params"]) {
      fmt::print("  {} = {}\n", p.value("name", ""),
                 p["value"].is_string() ? p["value"].get<std::string>() : p["value"].dump());
    }
  }
  if (st.contains("results") && !st["results"].empty()) {
    fmt::print("\nResults\n");
    for (const auto& p : st["results"]) {
      fmt::print("  {} = {}\n", p.value("name", ""),
                 p["value"].is_string() ? p["value"].get<std::string>() : p["value"].dump());
    }
  }
  if (is_pr) {
    auto children = (*store)->List("TaskRun", res.key.ns, res.uid);
    if (children && !children->empty()) {
      fmt::print("\nTaskRuns\n");
      std::vector<std::vector<std::string>> rows = {
          {"  NAME", "TASK", "STARTED", "DURATION", "STATUS"}};
      for (const auto& ch : *children) {
        rows.push_back({"  " + ch.key.name,
                        ch.labels.count("tekton.dev/pipelineTask")
                            ? ch.labels.at("tekton.dev/pipelineTask")
                            : "",
                        Age(ch.status, "startTime"), Span(ch.status), Reason(ch.status)});
      }
      PrintTable(rows);
    }
    if (st.contains("skippedTasks") && !st["skippedTasks"].empty()) {
      fmt::print("\nSkipped\n");
      for (const auto& s : st["skippedTasks"])
        fmt::print("  {}: {}\n", s.value("name", ""), s.value("reason", ""));
    }
  } else if (st.contains("steps")) {
    fmt::print("\nSteps\n");
    std::vector<std::vector<std::string>> rows = {{"  NAME", "STATUS", "EXIT"}};
    for (const auto& s : st["steps"]) {
      const Json& t = s.value("terminated", Json::object());
      rows.push_back({"  " + s.value("name", ""), t.value("reason", "Running"),
                      t.contains("exitCode") ? std::to_string(t["exitCode"].get<int>()) : ""});
    }
    PrintTable(rows);
  }
  return 0;
}

int CmdLogs(const Common& c, const std::string& name, const std::string& task,
            const std::string& step, bool follow) {
  auto store = OpenStore(c.data_dir);
  if (!store) return Die(store.error().message);
  std::map<std::string, size_t> offsets;
  while (true) {
    std::vector<store::Resource> taskruns;
    bool terminal = true;
    auto pr = (*store)->Get({"PipelineRun", "default", name});
    if (!pr) return Die(pr.error().message);
    if (*pr) {
      auto children = (*store)->List("TaskRun", "default", (**pr).uid);
      if (!children) return Die(children.error().message);
      taskruns = std::move(*children);
      terminal = StatusWord((**pr).status) != "Unknown";
    } else {
      auto tr = (*store)->Get({"TaskRun", "default", name});
      if (!tr) return Die(tr.error().message);
      if (!*tr) return Die(fmt::format("no pipelinerun or taskrun named {}", name));
      terminal = StatusWord((**tr).status) != "Unknown";
      taskruns.push_back(**tr);
    }
    bool any_new = false;
    for (const auto& tr : taskruns) {
      std::string ptask = tr.labels.count("tekton.dev/pipelineTask")
                              ? tr.labels.at("tekton.dev/pipelineTask")
                              : tr.key.name;
      if (!task.empty() && ptask != task) continue;
      for (const auto& s : tr.status.value("steps", Json::array())) {
        std::string sname = s.value("name", "");
        if (!step.empty() && sname != step) continue;
        std::string path = s.value("log", "");
        if (path.empty()) continue;
        auto text = ReadFile(path, 64u << 20);
        if (!text) continue;
        size_t& off = offsets[path];
        if (text->size() <= off) continue;
        std::string chunk = text->substr(off);
        off = text->size();
        any_new = true;
        std::string prefix =
            fmt::format("[{} : {}] ", ptask, sname.empty() ? s.value("container", "") : sname);
        auto lines = Split(chunk, '\n');
        if (!lines.empty() && lines.back().empty()) lines.pop_back();
        for (const auto& line : lines) fmt::print("{}{}\n", prefix, line);
      }
    }
    std::fflush(stdout);
    if (!follow || (terminal && !any_new)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return 0;
}

int CmdCancel(const Common& c, const std::string& name, const std::string& mode) {
  auto store = OpenStore(c.data_dir);
  if (!store) return Die(store.error().message);
  auto r = (*store)->Get({"PipelineRun", "default", name});
  if (!r) return Die(r.error().message);
  if (!*r) return Die(fmt::format("pipelinerun {} not found", name));
  if (StatusWord((**r).status) != "Unknown")
    return Die(fmt::format("pipelinerun {} has already finished", name));
  store::Resource u = **r;
  u.object["spec"]["status"] = mode;
  auto w = (*store)->Update(u, 0);
  if (!w) return Die(w.error().message);
  fmt::print("pipelinerun {}: spec.status set to {}\n", name, mode);
  return 0;
}

}  // namespace

int Main(int argc, char** argv) {
  // Two malloc arenas are plenty for strake's few threads and keep freed
  // memory from being spread over one arena per thread (peak RSS).
  ::mallopt(M_ARENA_MAX, 2);
  if (argc >= 3 && std::string(argv[1]) == "__run-steps") return pipeline::RunStepsMain(argv[2]);
  CLI::App app{"strake: continuous delivery in one binary"};
  app.require_subcommand(1);
  Common common;
  app.add_option("--data-dir", common.data_dir,
                 "data directory (default $STRAKE_DATA_DIR or ~/.local/share/strake)");

  RunFlags rf;
  auto* run = app.add_subcommand(
      "run", "run a PipelineRun (or a lone Pipeline, Task or TaskRun) to completion");
  run->add_option("-f,--filename", rf.files, "YAML or JSON files")->type_name("FILE");
  run->add_option("-p,--param", rf.params, "NAME=VALUE (JSON for arrays and objects)");
  run->add_option("--parallel", rf.parallel, "TaskRuns at once (default: cores)");
  run->add_flag("--no-cache", rf.no_cache, "do not use or fill the task cache");
  run->add_flag("--no-sandbox", rf.no_sandbox, "run steps directly on the host, not in bubblewrap");
  run->add_option("--resume", rf.resume, "continue an interrupted PipelineRun");
  run->add_option("-n,--namespace", rf.ns,
                  "the namespace of the run to --resume (default: default)");
  run->add_option("-o,--output", common.output, "text or json")
      ->check(CLI::IsMember({"text", "json", "yaml"}));

  std::vector<std::string> vfiles;
  auto* validate = app.add_subcommand("validate", "check files without running them");
  validate->add_option("-f,--filename", vfiles, "YAML or JSON files")->required();

  DeliveryCommands delivery(app, common.data_dir);

  std::string get_kind, get_name, get_selector;
  auto* get = app.add_subcommand(
      "get", "list resources: pipelineruns, taskruns (local) or rollouts, services... (server)");
  get->add_option("kind", get_kind)->required();
  get->add_option("name", get_name);
  get->add_option("-o,--output", common.output, "text, json or yaml")
      ->check(CLI::IsMember({"text", "json", "yaml"}));
  get->add_option("-l,--selector", get_selector,
                  "label selector, e.g. app=web,tier (server kinds)");
  delivery.AddApiFlags(get);

  std::string d_kind, d_name;
  auto* describe = app.add_subcommand("describe", "show a resource in detail, with its events");
  describe->add_option("kind", d_kind)->required();
  describe->add_option("name", d_name)->required();
  describe->add_option("-o,--output", common.output, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  delivery.AddApiFlags(describe);

  std::string l_name, l_task, l_step, l_revision;
  bool l_follow = false;
  auto* logs = app.add_subcommand(
      "logs", "print the step logs of a pipelinerun or taskrun, or a rollout's (rollout/NAME)");
  logs->add_option("name", l_name)->required();
  logs->add_option("--task", l_task, "only this pipeline task");
  logs->add_option("--step", l_step, "only this step");
  logs->add_flag("-f,--follow", l_follow, "keep printing until the run ends");
  logs->add_option("--revision", l_revision, "rollout/NAME: stable or canary only")
      ->check(CLI::IsMember({"stable", "canary"}));
  delivery.AddApiFlags(logs);

  std::string c_name, c_mode = "Cancelled";
  auto* cancel = app.add_subcommand("cancel", "cancel a running pipelinerun");
  cancel->add_option("name", c_name)->required();
  cancel->add_option("--mode", c_mode, "Cancelled, CancelledRunFinally or StoppedRunFinally")
      ->check(CLI::IsMember({"Cancelled", "CancelledRunFinally", "StoppedRunFinally"}));

  auto* version = app.add_subcommand("version", "print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  // Absolute: steps run in other directories, and the sandbox hides it by path.
  common.data_dir = std::filesystem::absolute(common.data_dir).lexically_normal().string();
  if (*run) return CmdRun(common, rf);
  if (*validate) return CmdValidate(vfiles);
  if (int rc = delivery.Dispatch(); rc >= 0) return rc;
  if (*get && DeliveryCommands::IsApiKind(get_kind)) {
    return delivery.Get(get_kind, get_name, common.output, get_selector);
  }
  if (*get) return CmdGet(common, get_kind, get_name);
  if (*describe && DeliveryCommands::IsApiKind(d_kind)) return delivery.Describe(d_kind, d_name);
  if (*describe) return CmdDescribe(common, d_kind, d_name);
  if (*logs && l_name.find('/') != std::string::npos) return delivery.Logs(l_name, l_revision);
  if (*logs) return CmdLogs(common, l_name, l_task, l_step, l_follow);
  if (*cancel) return CmdCancel(common, c_name, c_mode);
  if (*version) {
    fmt::print("strake {}\n", STRAKE_VERSION);
    return 0;
  }
  return 2;
}

}  // namespace strake::cli
