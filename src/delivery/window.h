// Promotion windows: whether a Stage's schedule lets a Promotion start now,
// and when that next changes — Kargo's PromotionWindow semantics, which
// Kargo enforces only in its Enterprise edition. A schedule is the union of
// the ProjectConfig's windows that select the Stage; it is open when no Deny
// window is active and, if any Allow window selects the Stage, one of them is
// active. Every Promotion (manual, automatic, or a rollback) is held to it,
// when it is created and again when it would start.
//
// A window that cannot be evaluated (its rule too costly to expand) counts
// as closed: a Deny stays in force, an Allow does not open. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/cron.h"
#include "base/result.h"
#include "base/rrule.h"
#include "base/tz.h"
#include "model/kargo.h"

namespace strake::delivery {

using model::Json;

// A GitLab freeze period's crons, read in its zone.
struct CronFreeze {
  CronSchedule start, end;
  std::shared_ptr<const TimeZone> zone;
};

// One window ready to evaluate: a PromotionWindow, or a freeze period (a
// Deny whose occurrences run from a firing of its start cron to the next
// firing of its end cron; GitLab: frozen while the last start is later than
// the last end).
struct Window {
  std::string name;
  bool deny = false;
  std::optional<Recurrence> recurrence;  // none: one interval from `start`
  int64_t start = 0;                     // the instant of dtstart
  int64_t length = 0;                    // dtend - dtstart, seconds
  std::optional<CronFreeze> freeze;      // a freeze period (then the above are unused)
  std::string source;                    // "" (its Project's), or "ClusterConfig"

  // How a reason names it: "window holiday-freeze", "freeze period weekend".
  std::string Label() const;

  // The occurrences overlapping [from, to) as [start, end) pairs, in order
  // (at most `limit`); an error when the rule cannot be expanded that far.
  Result<std::vector<std::pair<int64_t, int64_t>>> Between(int64_t from, int64_t to,
                                                           size_t limit = 20000) const;
};

Result<Window> CompileWindow(const model::PromotionWindow& w);
Result<Window> CompileFreeze(const model::FreezePeriod& f);

// The windows of `config` that select the Stage `stage` with `labels`, in
// their order; one that no longer compiles (a zone gone from the machine)
// comes back as an error naming it.
Result<std::vector<Window>> WindowsFor(const model::ProjectConfig& config, const std::string& stage,
                                       const std::map<std::string, std::string>& labels);

// The schedule at one instant and its next change, as Kargo's
// promotionWindowStatus says it (times in Unix seconds).
struct WindowState {
  bool closed = false;
  std::string reason;  // why closed ("window holiday-freeze closed until …")
  std::optional<int64_t> next_open;
  std::optional<int64_t> next_close;
  std::string next_close_reason;
};

// The state at `now`; the next change is looked for up to 400 days ahead.
WindowState EvaluateWindows(const std::vector<Window>& windows, int64_t now);

// Kargo's Stage status.promotionWindowStatus; null when no window applies.
Json WindowStatusToJson(const WindowState& state, bool any_window);

}  // namespace strake::delivery
