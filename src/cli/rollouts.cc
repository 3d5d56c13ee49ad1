#include "cli/rollouts.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "base/duration.h"
#include "cli/table.h"

namespace strake::cli {

namespace {

std::string RolloutPath(const Context& ctx, const std::string& name) {
  return Collection(*model::KindByPlural("rollouts"), ctx.ns) + "/" + name;
}

}  // namespace

std::optional<int> RolloutSettled(const Json& rollout) {
  const Json st = rollout.value("status", Json::object());
  // A status older than the spec describes the previous update (Argo's `rollouts status`
  // waits for the spec to be observed too).
  int64_t generation = rollout.value("metadata", Json::object()).value("generation", int64_t{0});
  if (st.value("observedGeneration", int64_t{0}) < generation) return std::nullopt;
  std::string phase = st.value("phase", "");
  if (phase == "Degraded") return 1;
  if (phase == "Healthy" && st.value("currentPodHash", "") == st.value("stableRS", "x")) return 0;
  return std::nullopt;
}

RolloutCommands::RolloutCommands(CLI::App& app, Context& ctx, CommandTable& table) : ctx_(ctx) {
  auto* rollout = app.add_subcommand("rollout", "watch and steer Argo Rollouts");
  rollout->require_subcommand(1);
  auto* status =
      rollout->add_subcommand("status", "show a rollout's step, weights, replicas and analysis");
  status->add_option("name", name_)->required();
  status->add_flag("-w,--watch", watch_, "follow until the rollout is Healthy or Degraded");
  status->add_option("--timeout", timeout_, "with --watch: give up after this long (default 10m)");
  AddApiFlags(status, ctx);
  table.Add(status, [this] { return Status(); });

  auto* promote = rollout->add_subcommand("promote", "go past the current pause or step");
  promote->add_option("name", name_)->required();
  promote->add_flag("--full", full_, "skip every remaining step and analysis");
  auto* abort =
      rollout->add_subcommand("abort", "send all traffic back to stable and stop the update");
  abort->add_option("name", name_)->required();
  auto* retry = rollout->add_subcommand("retry", "start an aborted update over");
  retry->add_option("name", name_)->required();
  auto* undo =
      rollout->add_subcommand("undo", "roll back to an earlier revision (as a new update)");
  undo->add_option("name", name_)->required();
  undo->add_option("--to-revision", to_revision_, "revision number (default: the previous one)");
  for (auto* action : {promote, abort, retry, undo}) {
    AddApiFlags(action, ctx);
    table.Add(action, [this, verb = action->get_name()] { return Act(verb); });
  }
}

int RolloutCommands::Status() {
  auto limit = ParseDuration(timeout_);
  if (!limit) return Die("--timeout: " + limit.error().message);
  auto end = std::chrono::steady_clock::now() + *limit;
  bool tty = ::isatty(1);
  Client c(ctx_, NoServer::kDefaultAddress);
  std::string last;
  while (true) {
    auto a = c.Call("GET", RolloutPath(ctx_, name_));
    if (!a) return Die(a.error().message);
    std::string text = RolloutText(a->body);
    if (!watch_) {
      fmt::print("{}", text);
      return a->body.value("status", Json::object()).value("phase", "") == "Degraded" ? 1 : 0;
    }
    if (text != last) {
      fmt::print("{}{}", tty ? "\x1b[H\x1b[2J" : (last.empty() ? "" : "---\n"), text);
      std::fflush(stdout);
      last = text;
    }
    if (auto rc = RolloutSettled(a->body)) return *rc;
    if (std::chrono::steady_clock::now() > end) return Die("timed out waiting for the rollout");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

int RolloutCommands::Act(const std::string& action) {
  Client c(ctx_, NoServer::kDefaultAddress);
  Json body = {{"full", full_}, {"toRevision", to_revision_}};
  auto a = c.Call("POST", RolloutPath(ctx_, name_) + "/" + action, body.dump());
  if (!a) return Die(a.error().message);
  fmt::print("rollout {} {}\n", name_,
             action == "promote" ? (full_ ? "fully promoted" : "promoted")
             : action == "abort" ? "aborted"
             : action == "retry" ? "retried"
                                 : "rolled back");
  return 0;
}

std::string RolloutText(const Json& ro) {
  const Json st = ro.value("status", Json::object());
  const Json spec = ro.value("spec", Json::object());
  const Json strategy = spec.value("strategy", Json::object());
  // A status the controller has not written yet has no "canary": read it as
  // empty (a const Json's operator[] on a missing key is undefined).
  const Json cst = st.value("canary", Json::object());
  bool canary = strategy.contains("canary");
  std::string out;
  out +=
      fmt::format("Name:            {}\n", ro.value("metadata", Json::object()).value("name", ""));
  out += fmt::format("Status:          {}\n", st.value("phase", "Pending"));
  if (!st.value("message", "").empty())
    out += fmt::format("Message:         {}\n", st.value("message", ""));
  out += fmt::format("Strategy:        {}\n", canary ? "Canary" : "BlueGreen");
  if (canary) {
    size_t steps = strategy["canary"].value("steps", Json::array()).size();
    int index = st.value("currentStepIndex", 0);
    out += fmt::format("  Step:          {}/{}\n",
                       std::min<size_t>(static_cast<size_t>(index), steps), steps);
    int w = cst.value("weight", 0);
    // The status says how the weights are made; a status written before it
    // did, the spec: without trafficRouting, by replica counts.
    bool approximated = !strategy["canary"].contains("trafficRouting");
    approximated = cst.value("weightsApproximated", approximated);
    std::string experiments;
    int stable = 100 - w;
    for (const auto& x : cst.value("additionalWeights", Json::array())) {
      stable -= x.value("weight", 0);
      experiments += fmt::format("  experiment {}/{} {}", x.value("experiment", ""),
                                 x.value("template", ""), x.value("weight", 0));
    }
    out += fmt::format(
        "  Weights:       stable {}  canary {}{}, {}\n", stable, w, experiments,
        approximated ? "approximated by replica counts (no trafficRouting)" : "exact (router)");
  } else if (st.contains("blueGreen")) {
    out += fmt::format("  Active:        {}\n", st["blueGreen"].value("activeSelector", ""));
    out += fmt::format("  Preview:       {}\n", st["blueGreen"].value("previewSelector", ""));
  }
  out += fmt::format("Revisions:       stable {}  current {}\n", st.value("stableRS", "-"),
                     st.value("currentPodHash", "-"));
  out += fmt::format("Replicas:        desired {}  current {}  updated {}  ready {}\n",
                     spec.value("replicas", 1), st.value("replicas", 0),
                     st.value("updatedReplicas", 0), st.value("readyReplicas", 0));
  for (const char* key : {"currentStepAnalysisRun", "currentBackgroundAnalysisRun"}) {
    std::string run = cst.value(key, "");
    if (!run.empty()) out += fmt::format("Analysis:        {}\n", run);
  }
  std::string experiment = cst.value("currentExperiment", "");
  if (!experiment.empty()) out += fmt::format("Experiment:      {}\n", experiment);
  for (const auto& p : st.value("pauseConditions", Json::array())) {
    out += fmt::format("Paused:          {} since {}\n", p.value("reason", ""),
                       p.value("startTime", ""));
  }
  return out;
}

int RolloutLogs(const Context& ctx, const std::string& name, const std::string& revision) {
  Client c(ctx, NoServer::kDefaultAddress);
  std::string q = revision.empty() ? "" : "?revision=" + revision;
  auto a = c.Call("GET", RolloutPath(ctx, name) + "/logs" + q);
  if (!a) return Die(a.error().message);
  fmt::print("{}", a->text);
  return 0;
}

}  // namespace strake::cli
