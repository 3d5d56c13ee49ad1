#include "cli/pipelines.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "base/fs.h"
#include "base/http.h"
#include "base/process.h"
#include "base/strings.h"
#include "cli/columns.h"
#include "cli/table.h"

namespace strake::cli {

namespace {

std::string ValueText(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// "Params" or "Results": NAME = VALUE lines, or nothing when there are none.
std::string NamedValues(const char* title, const Json& list) {
  if (!list.is_array() || list.empty()) return "";
  std::string out = fmt::format("\n{}\n", title);
  for (const auto& p : list) {
    out += fmt::format("  {} = {}\n", p.value("name", ""), ValueText(p.value("value", Json(""))));
  }
  return out;
}

Result<std::string> TaskRunsText(Client& c, const Context& ctx, const std::string& run) {
  const model::KindInfo& k = *model::KindByName("taskrun");
  STRAKE_TRY_ASSIGN(a, c.Call("GET", Collection(k, ctx.ns) + "?labelSelector=" +
                                         http::UrlEncode("tekton.dev/pipelineRun=" + run)));
  const Json items = a.body.value("items", Json::array());
  if (items.empty()) return std::string();
  auto now = std::chrono::system_clock::now();
  std::vector<std::vector<std::string>> rows = {
      {"  NAME", "TASK", "STARTED", "DURATION", "STATUS"}};
  for (const auto& tr : items) {
    const Json meta = tr.value("metadata", Json::object());
    const Json st = tr.value("status", Json::object());
    rows.push_back({"  " + meta.value("name", ""),
                    meta.value("labels", Json::object()).value("tekton.dev/pipelineTask", ""),
                    st.value("startTime", ""), RunDuration(st, now), RunReason(st)});
  }
  return "\nTaskRuns\n" + TableText(rows);
}

std::string SkippedText(const Json& st) {
  const Json skipped = st.value("skippedTasks", Json::array());
  if (skipped.empty()) return "";
  std::string out = "\nSkipped\n";
  for (const auto& s : skipped)
    out += fmt::format("  {}: {}\n", s.value("name", ""), s.value("reason", ""));
  return out;
}

std::string StepsText(const Json& st) {
  if (!st.contains("steps")) return "";
  std::vector<std::vector<std::string>> rows = {{"  NAME", "STATUS", "EXIT"}};
  for (const auto& s : st["steps"]) {
    const Json t = s.value("terminated", Json::object());
    rows.push_back({"  " + s.value("name", ""), t.value("reason", "Running"),
                    t.contains("exitCode") ? ValueText(t["exitCode"]) : ""});
  }
  return "\nSteps\n" + TableText(rows);
}

void PrintLines(const Json& item) {
  std::string prefix = fmt::format("[{} : {}] ", item.value("task", ""), item.value("step", ""));
  auto lines = Split(item.value("text", ""), '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (const auto& line : lines) fmt::print("{}{}\n", prefix, line);
}

}  // namespace

PipelineCommands::PipelineCommands(CLI::App& app, Context& ctx, CommandTable& table) : ctx_(ctx) {
  auto* cancel = app.add_subcommand(
      "cancel", "cancel a running pipelinerun (sets its spec.status, as `tkn pr cancel` does)");
  cancel->add_option("name", name_)->required();
  cancel->add_option("--mode", mode_, "Cancelled, CancelledRunFinally or StoppedRunFinally")
      ->check(CLI::IsMember({"Cancelled", "CancelledRunFinally", "StoppedRunFinally"}));
  AddApiFlags(cancel, ctx);
  table.Add(cancel, [this] { return Cancel(); });
}

std::string RunLockPath(const std::string& data_dir, const std::string& ns,
                        const std::string& name) {
  return PathJoin(PathJoin(data_dir, "locks"), "pipelinerun." + ns + "." + name);
}

int PipelineCommands::Cancel() {
  Client c(ctx_, NoServer::kDataDirectory);
  Json patch = {{"spec", {{"status", mode_}}}};
  auto a = c.Call("PATCH", Collection(*model::KindByName("pipelinerun"), ctx_.ns) + "/" + name_,
                  patch.dump(), "application/merge-patch+json");
  if (!a) return Die(a.error().message);
  fmt::print("pipelinerun {}: spec.status set to {}\n", name_, mode_);
  std::fflush(stdout);
  if (!c.server().empty()) return 0;  // the server's engine acts on it
  // Answered from the data directory, and the run has not finished (a
  // finished one is refused above). A `strake run` holding its lock acts on
  // it within 200 ms; with none, the process that ran it died (kill -9):
  // ended here, as `strake run --resume` ends a cancelled run, its left-over
  // processes killed, instead of staying Running for ever.
  std::string lock_path = RunLockPath(ctx_.data_dir, ctx_.ns, name_);
  if (auto made = MakeDirs(PathJoin(ctx_.data_dir, "locks"), 0700); !made)
    return Die(made.error().message);
  auto lock = TryLockFile(lock_path);
  if (!lock && lock.error().Is(ErrorCode::kConflict)) return 0;  // held: its strake run acts
  if (!lock) return Die(lock.error().message);
  lock = Fd();  // the resume below takes it
  fmt::print("pipelinerun {}: no strake process runs it any more: ending it here\n", name_);
  std::fflush(stdout);
  auto p = Spawn({{SelfExe(), "--data-dir", ctx_.data_dir, "run", "--resume", name_, "-n", ctx_.ns},
                  CurrentEnv(),
                  "",
                  -1,
                  STDOUT_FILENO,
                  STDERR_FILENO,
                  {}});
  if (!p) return Die(p.error().message);
  auto w = WaitProcess(*p, std::nullopt);
  // `run` exits 1 for a run that did not succeed: here, the cancelled one.
  return w && w->outcome == WaitOutcome::kExited && w->exit_code <= 1 ? 0 : 2;
}

int RunLogs(const Context& ctx, const model::KindInfo* kind, const std::string& name,
            const RunLogOptions& options) {
  const model::KindInfo* k = kind ? kind : model::KindByName("pipelinerun");
  std::string filters;
  if (!options.task.empty()) filters += "&task=" + http::UrlEncode(options.task);
  if (!options.step.empty()) filters += "&step=" + http::UrlEncode(options.step);
  Client c(ctx, NoServer::kDataDirectory);
  std::string cursor;
  while (true) {
    auto a = c.Call("GET", fmt::format("{}/{}/logs?after={}{}", Collection(*k, ctx.ns), name,
                                       http::UrlEncode(cursor), filters));
    if (!a && !kind && a.error().Is(ErrorCode::kNotFound)) {
      if (k->kind == "PipelineRun") {  // then a TaskRun of that name
        k = model::KindByName("taskrun");
        continue;
      }
      return Die(
          fmt::format("no pipelinerun or taskrun named {} in namespace {}", Quote(name), ctx.ns));
    }
    if (!a) return Die(a.error().message);
    for (const auto& item : a->body.value("items", Json::array())) PrintLines(item);
    std::fflush(stdout);
    cursor = a->body.value("cursor", "");
    if (a->body.value("more", false)) continue;
    if (!options.follow || a->body.value("done", true)) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

Result<std::string> RunText(Client& c, const Context& ctx, const model::KindInfo& k,
                            const Json& run) {
  bool is_pr = k.kind == "PipelineRun";
  const Json meta = run.value("metadata", Json::object());
  const Json spec = run.value("spec", Json::object());
  const Json st = run.value("status", Json::object());
  std::string out = fmt::format("Name:        {}\nNamespace:   {}\n", meta.value("name", ""),
                                meta.value("namespace", ""));
  if (is_pr) {
    std::string pipeline = spec.value("pipelineRef", Json::object()).value("name", "");
    out += fmt::format("Pipeline:    {}\n", pipeline.empty() ? "(embedded)" : pipeline);
  }
  out += fmt::format("Status:      {} ({})\n", RunReason(st), RunMessage(st));
  out += fmt::format("Started:     {}\nDuration:    {}\n", st.value("startTime", ""),
                     RunDuration(st, std::chrono::system_clock::now()));
  out += NamedValues("Params", spec.value("params", Json::array()));
  out += NamedValues("Results", st.value("results", Json::array()));
  if (!is_pr) return out + StepsText(st);
  STRAKE_TRY_ASSIGN(task_runs, TaskRunsText(c, ctx, meta.value("name", "")));
  return out + task_runs + SkippedText(st);
}

}  // namespace strake::cli
