#include "server/cronjobs.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "base/cron.h"
#include "gitops/health.h"
#include "model/workloads.h"

namespace strake::server {

using store::Json;
using Millis = std::chrono::milliseconds;

namespace {

// While Jobs run, their CronJob looks again this often (its status lists
// them); otherwise at its next time, and at least once a minute (the clock
// may have moved).
constexpr Millis kActivePoll{5'000};
constexpr Millis kMaxWait{60'000};

struct Owned {
  std::vector<store::Resource> active, succeeded, failed;
};

Owned Classify(std::vector<store::Resource> jobs) {
  std::sort(jobs.begin(), jobs.end(), [](const store::Resource& a, const store::Resource& b) {
    return a.created_ms < b.created_ms;
  });
  Owned o;
  for (auto& j : jobs) {
    auto h = gitops::HealthOf("Job", j.status, 0);
    if (h == gitops::Health::kHealthy) {
      o.succeeded.push_back(std::move(j));
    } else if (h == gitops::Health::kDegraded) {
      o.failed.push_back(std::move(j));
    } else {
      o.active.push_back(std::move(j));
    }
  }
  return o;
}

Json ActiveRefs(const std::vector<store::Resource>& active) {
  Json refs = Json::array();
  for (const auto& j : active) {
    refs.push_back({{"apiVersion", "batch/v1"},
                    {"kind", "Job"},
                    {"name", j.key.name},
                    {"namespace", j.key.ns},
                    {"uid", j.uid}});
  }
  return refs;
}

// The name of the Job of the time `at`: <cronjob>-<minutes since the epoch>.
std::string JobNameAt(const std::string& cron, TimePoint at) {
  int64_t minutes = std::chrono::duration_cast<std::chrono::minutes>(at.time_since_epoch()).count();
  return fmt::format("{}-{}", cron, minutes);
}

// The Job of the time `at`, as Kubernetes' controller makes it: the
// template's metadata and spec, owned by the CronJob.
store::Resource JobAt(const store::Resource& cron, TimePoint at) {
  std::string name = JobNameAt(cron.key.name, at);
  const Json tmpl = cron.object["spec"].value("jobTemplate", Json::object());
  Json meta = tmpl.value("metadata", Json::object());
  if (!meta.is_object()) meta = Json::object();
  meta["name"] = name;
  meta["namespace"] = cron.key.ns;
  meta["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] = FormatRfc3339(at);
  meta["ownerReferences"] = Json::array({{{"apiVersion", "batch/v1"},
                                          {"kind", "CronJob"},
                                          {"name", cron.key.name},
                                          {"uid", cron.uid},
                                          {"controller", true},
                                          {"blockOwnerDeletion", true}}});
  store::Resource r;
  r.key = {"Job", cron.key.ns, name};
  r.owner = cron.uid;
  r.labels = model::StringMap(meta.value("labels", Json::object()));
  r.object = {{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata", meta},
              {"spec", tmpl.value("spec", Json::object())}};
  return r;
}

// The latest time of `schedule` after `last` and not after `now`, if any.
std::optional<TimePoint> LatestDue(const CronSchedule& schedule, TimePoint last, TimePoint now) {
  auto scan = [&](TimePoint from) {
    std::optional<TimePoint> due;
    for (int i = 0; i < 100'000; ++i) {
      auto next = schedule.Next(due.value_or(from));
      if (!next || *next > now) break;
      due = next;
    }
    return due;
  };
  // A minute schedule missed for months is many times, and only the last
  // runs: the last week is looked at first, the whole pause only when it
  // holds none (a sparse schedule: few times to walk).
  TimePoint week = now - std::chrono::hours(24 * 7);
  if (last < week) {
    if (auto due = scan(week)) return due;
  }
  return scan(last);
}

}  // namespace

Result<controller::ReconcileResult> CronJobReconciler::Reconcile(const std::string& key) {
  auto [ns, name] = controller::SplitObjectKey(key);
  STRAKE_TRY_ASSIGN(got, store_.Get({"CronJob", ns, name}));
  if (!got) return controller::ReconcileResult{};  // its Jobs went with it (the API)
  auto cron = model::DecodeCronJob(got->object);
  if (!cron) return controller::ReconcileResult{};  // refused at the API
  auto schedule = ParseCron(cron->schedule);
  if (!schedule) return controller::ReconcileResult{};
  schedule->local_time = cron->time_zone.empty();
  STRAKE_TRY_ASSIGN(jobs, store_.List("Job", ns, got->uid));
  Json status = got->status.is_object() ? got->status : Json::object();
  TimePoint now = clock_.Now();
  auto last = ParseRfc3339(status.value("lastScheduleTime", ""));
  TimePoint since = last ? *last : FromUnixMillis(got->created_ms);
  auto due = cron->suspend ? std::nullopt : LatestDue(*schedule, since, now);
  // The due time's Job exists already (a server killed before recording it,
  // or a status write that lost a race): it is recorded, never made again.
  std::string due_name = due ? JobNameAt(name, *due) : "";
  if (due && std::any_of(jobs.begin(), jobs.end(),
                         [&](const store::Resource& j) { return j.key.name == due_name; })) {
    status["lastScheduleTime"] = FormatRfc3339(*due);
    due.reset();
  }
  Owned owned = Classify(std::move(jobs));

  // History: the oldest finished Jobs beyond the limits go.
  auto trim = [&](std::vector<store::Resource>& finished, int keep) {
    while (finished.size() > static_cast<size_t>(keep)) {
      (void)store_.Delete(finished.front().key);
      finished.erase(finished.begin());
    }
  };
  trim(owned.succeeded, cron->successful_jobs_history_limit);
  trim(owned.failed, cron->failed_jobs_history_limit);

  std::string reason = "Updated", message;
  bool late = due && cron->starting_deadline_seconds > 0 &&
              now - *due > std::chrono::seconds(cron->starting_deadline_seconds);
  if (due && !late && cron->concurrency_policy == "Forbid" && !owned.active.empty()) {
    due.reset();  // skipped while one runs; tried again until its deadline
    reason = "JobAlreadyActive";
  } else if (due && !late) {
    if (cron->concurrency_policy == "Replace") {
      for (const auto& j : owned.active) STRAKE_TRY(store_.Delete(j.key));
      owned.active.clear();
    }
    store::Resource job = JobAt(*got, *due);
    auto made = store_.Create(job, "Created",
                              fmt::format("made by cronjob {} for {}", name, FormatRfc3339(*due)));
    if (!made && !made.error().Is(ErrorCode::kAlreadyExists)) return tl::unexpected(made.error());
    if (made) owned.active.push_back(*made);
    status["lastScheduleTime"] = FormatRfc3339(*due);
    reason = "SuccessfulCreate";
    message = fmt::format("created job {}", job.key.name);
  }
  status["active"] = ActiveRefs(owned.active);
  if (!owned.succeeded.empty()) {
    std::string done = owned.succeeded.back().status.value("completionTime", "");
    if (!done.empty()) status["lastSuccessfulTime"] = done;
  }
  if (status != got->status) {
    auto w = store_.UpdateStatus(got->key, status, got->resource_version, reason, message);
    if (!w) return tl::unexpected(w.error());
  }

  controller::ReconcileResult result;
  Millis wait = kMaxWait;
  if (!owned.active.empty() || reason == "JobAlreadyActive") wait = kActivePoll;
  if (auto next = schedule->Next(now); next && !cron->suspend) {
    wait = std::min(wait, std::chrono::duration_cast<Millis>(*next - now) + Millis(50));
  }
  result.requeue_after = std::max(wait, Millis(50));
  return result;
}

}  // namespace strake::server
