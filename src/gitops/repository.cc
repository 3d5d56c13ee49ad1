#include "gitops/repository.h"

#include <fmt/format.h>

#include <random>

#include "base/net.h"
#include "base/strings.h"
#include "model/decode.h"

namespace strake::gitops {

using store::Json;

RepositoryReconciler::RepositoryReconciler(store::Store& store, Sources& sources,
                                           const Clock& clock,
                                           std::function<void(const std::string&)> changed,
                                           PushHandler pushed)
    : store_(store),
      sources_(sources),
      clock_(clock),
      changed_(std::move(changed)),
      pushed_(std::move(pushed)) {}

void RepositoryReconciler::RequestRefresh(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  refresh_.insert(key);
}

Result<controller::ReconcileResult> RepositoryReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  STRAKE_TRY_ASSIGN(got, store_.Get({"Repository", ns, name}));
  if (!got) return controller::ReconcileResult{};
  auto decoded = model::DecodeObject(got->object, "repository " + name);
  if (!decoded) return controller::ReconcileResult{};  // refused at the API; nothing to fetch
  const auto& spec = std::get<model::Repository>(decoded->value).spec;
  const Json status = got->status.is_object() ? got->status : Json::object();
  uint64_t before = status.value("fetchGeneration", uint64_t{0});
  thread_local std::mt19937 rng{std::random_device{}()};
  int64_t every = spec.poll_interval.count();
  controller::ReconcileResult r;
  r.requeue_after = Millis(every + std::uniform_int_distribution<int64_t>(0, every / 10)(rng));
  auto now = std::chrono::steady_clock::now();
  {
    // A reconcile caused by this one's own status write (or any edit) does
    // not fetch again before the poll is due, unless a webhook asked.
    std::lock_guard<std::mutex> lock(mu_);
    bool asked = refresh_.erase(key) > 0;
    auto last = fetched_.find(key);
    if (!asked && last != fetched_.end() && now - last->second < spec.poll_interval) {
      r.requeue_after =
          std::chrono::duration_cast<Millis>(spec.poll_interval - (now - last->second));
      return r;
    }
    fetched_[key] = now;
  }
  SourceState s = sources_.Get(spec.url, /*force=*/true);
  Json next = status;
  next["url"] = RedactUrl(spec.url);
  if (s.error.empty() && s.mirror) {
    next["phase"] = "Fetched";
    next.erase("message");
    next["lastFetchTime"] = FormatRfc3339(clock_.Now());
    Json branches = Json::object();
    if (auto b = s.mirror->Branches()) {
      for (const auto& [branch, sha] : *b) branches[branch] = sha;
    }
    next["branches"] = branches;
  } else {
    next["phase"] = "Error";
    next["message"] = s.error;
  }
  bool moved = next.value("branches", Json::object()) != status.value("branches", Json::object());
  next["fetchGeneration"] = s.generation;
  if (moved || before != s.generation) changed_(spec.url);
  std::string reason, message;
  const Json old_branches = status.value("branches", Json());
  if (moved && pushed_ && s.mirror && old_branches.is_object()) {
    Json history = status.value("pipelinesAsCode", Json::array());
    for (const auto& [branch, sha_json] : next["branches"].items()) {
      std::string sha = sha_json.get<std::string>();
      std::string was = old_branches.value(branch, "");
      if (was == sha) continue;
      PushEvent push{ns, name, RedactUrl(spec.url), branch, was, sha, ""};
      if (auto c = s.mirror->Commit(sha)) push.sender = c->author;
      STRAKE_TRY_ASSIGN(started, pushed_(*s.mirror, push));
      if (started.runs.empty() && started.error.empty()) continue;
      Json entry = {{"branch", branch}, {"sha", sha}, {"time", FormatRfc3339(clock_.Now())}};
      if (!started.runs.empty()) {
        entry["pipelineRuns"] = started.runs;
        reason = "PipelineRunsStarted";
        message = fmt::format("{} on {}: {}", sha.substr(0, 12), branch, Join(started.runs, ", "));
      } else {
        entry["error"] = started.error;
        reason = "PipelinesRefused";
        message = fmt::format("{} on {}: {}", sha.substr(0, 12), branch, started.error);
      }
      history.push_back(std::move(entry));
    }
    while (history.size() > 20) history.erase(history.begin());
    if (!history.empty()) next["pipelinesAsCode"] = history;
  }
  Json a = next, b = status;
  a.erase("lastFetchTime");
  b.erase("lastFetchTime");
  if (a == b) return r;  // a fetch that found nothing new is not a change
  if (reason.empty()) {
    reason = next["phase"] == "Error" ? "FetchFailed" : "Fetched";
    message = next["phase"] == "Error" ? next.value("message", "")
                                       : fmt::format("{} branches", next["branches"].size());
  }
  auto w = store_.UpdateStatus(got->key, next, got->resource_version, reason, message);
  if (!w && w.error().Is(ErrorCode::kConflict)) {
    r.requeue_after = Millis(1);
    return r;
  }
  if (!w) return tl::unexpected(w.error());
  return r;
}

}  // namespace strake::gitops
