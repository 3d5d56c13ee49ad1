#include "delivery/window.h"

#include <algorithm>

#include "base/clock.h"
#include "base/tz.h"

namespace strake::delivery {

namespace {

constexpr int64_t kDay = kSecondsPerDay;
// How far ahead the next change is looked for, in growing steps: a daily
// window is found in the first, a yearly one in the last.
constexpr int64_t kHorizons[] = {kDay, 8 * kDay, 40 * kDay, 400 * kDay};

std::string At(int64_t t) { return FormatRfc3339(FromUnixMillis(t * 1000)); }

// The windows' occurrences over [from, to), each window's own list; a window
// that could not be expanded is `broken` (a Deny always on, an Allow never).
struct Timeline {
  struct Entry {
    const Window* window;
    std::vector<std::pair<int64_t, int64_t>> intervals;
    bool broken = false;
    std::string error;
  };
  std::vector<Entry> entries;
  int64_t known_until = 0;  // events after this are not known (a list was cut short)
  bool has_allow = false;

  Timeline(const std::vector<Window>& windows, int64_t from, int64_t to) : known_until(to) {
    constexpr size_t kLimit = 20000;
    for (const auto& w : windows) {
      Entry e{&w, {}, false, ""};
      auto got = w.Between(from, to, kLimit);
      if (got) {
        e.intervals = std::move(*got);
        if (e.intervals.size() == kLimit)
          known_until = std::min(known_until, e.intervals.back().first);
      } else {
        e.broken = true;
        e.error = got.error().message;
      }
      has_allow = has_allow || !w.deny;
      entries.push_back(std::move(e));
    }
  }

  static bool Active(const Entry& e, int64_t t) {
    if (e.broken) return e.window->deny;
    return std::any_of(e.intervals.begin(), e.intervals.end(),
                       [t](const auto& i) { return i.first <= t && t < i.second; });
  }

  bool Open(int64_t t) const {
    bool allowed = !has_allow;
    for (const auto& e : entries) {
      bool active = Active(e, t);
      if (active && e.window->deny) return false;
      if (active && !e.window->deny) allowed = true;
    }
    return allowed;
  }

  // The first instant after `now` (up to `known_until`) where Open changes.
  std::optional<int64_t> NextChange(int64_t now) const {
    std::vector<int64_t> events;
    for (const auto& e : entries)
      for (const auto& [s, end] : e.intervals)
        for (int64_t t : {s, end})
          if (t > now && t < known_until) events.push_back(t);  // Between drops starts at `to`
    std::sort(events.begin(), events.end());
    bool open = Open(now);
    for (int64_t t : events)
      if (Open(t) != open) return t;
    return std::nullopt;
  }

  // Why the schedule is closed at `t`: the Deny windows in force, else the
  // Allow windows, none of them open.
  std::string ClosedBy(int64_t t) const {
    std::vector<std::string> names;
    std::string broken;
    for (const auto& e : entries) {
      if (e.window->deny && Active(e, t)) names.push_back(e.window->Label());
      if (e.broken)
        broken += fmt::format("; {} cannot be evaluated: {}", e.window->Label(), e.error);
    }
    if (names.empty()) {
      for (const auto& e : entries)
        if (!e.window->deny) names.push_back(e.window->Label());
    }
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    if (list.empty()) return "the schedule" + broken;
    return list + broken;
  }
};

struct Found {
  bool open;
  std::optional<int64_t> change;
  std::string closed_by;  // when closed
};

Found Look(const std::vector<Window>& windows, int64_t now) {
  for (int64_t horizon : kHorizons) {
    Timeline tl(windows, now, now + horizon);
    bool open = tl.Open(now);
    std::string by = open ? "" : tl.ClosedBy(now);
    if (auto change = tl.NextChange(now)) return {open, change, by};
    if (horizon == kHorizons[3] || tl.known_until < now + horizon) return {open, std::nullopt, by};
  }
  return {true, std::nullopt, ""};
}

std::string ClosedReason(const Found& f) {
  return f.change ? fmt::format("{} closed until {}", f.closed_by, At(*f.change))
                  : fmt::format("{} closed, with no known reopening", f.closed_by);
}

// A freeze period's intervals overlapping [from, to): frozen at t when the
// start cron's last firing at or before t is later than the end cron's
// (GitLab's rule), so an interval runs from the first start after an end to
// the next end. An end that never comes again leaves it frozen (to `to`).
// Starts that fire with an end count against `limit` too: a pair of crons
// that mostly fire together is an error (a Deny that cannot be evaluated
// stays in force), not minutes of work.
Result<std::vector<std::pair<int64_t, int64_t>>> FreezeBetween(const CronFreeze& f, int64_t from,
                                                               int64_t to, size_t limit) {
  std::vector<std::pair<int64_t, int64_t>> out;
  const TimeZone& zone = *f.zone;
  auto last_start = f.start.PrevIn(zone, from);
  auto last_end = f.end.PrevIn(zone, from);
  std::optional<int64_t> s;
  if (last_start && (!last_end || *last_start > *last_end)) {
    // Frozen at `from`, since the first start after the last end.
    s = last_end ? f.start.NextIn(zone, *last_end) : last_start;
  } else {
    s = f.start.NextIn(zone, from);
  }
  size_t skipped = 0;
  while (s && *s < to && out.size() < limit) {
    if (f.end.PrevIn(zone, *s) == s) {  // both fire at once: the start does not count
      if (++skipped > limit)
        return Failf("its start and end fire together more than {} times", limit);
      s = f.start.NextIn(zone, *s);
      continue;
    }
    auto e = f.end.NextIn(zone, *s);
    out.emplace_back(*s, e ? *e : to);
    if (!e) break;
    s = f.start.NextIn(zone, *e);  // a start at the same minute as the end is not one
  }
  return out;
}

}  // namespace

std::string Window::Label() const {
  std::string where = source.empty() ? "" : " (" + source + ")";
  return (freeze ? "freeze period " : "window ") + name + where;
}

Result<std::vector<std::pair<int64_t, int64_t>>> Window::Between(int64_t from, int64_t to,
                                                                 size_t limit) const {
  std::vector<std::pair<int64_t, int64_t>> out;
  if (freeze) return FreezeBetween(*freeze, from, to, limit);
  if (!recurrence) {
    if (start < to && start + length > from) out.emplace_back(start, start + length);
    return out;
  }
  auto done = recurrence->Expand(from - length, to, [&](int64_t s) {
    if (s >= to) return false;
    if (s + length > from) out.emplace_back(s, s + length);
    return out.size() < limit;
  });
  if (!done) return tl::unexpected(done.error());
  return out;
}

Result<Window> CompileWindow(const model::PromotionWindow& w) {
  Window out;
  out.name = w.name;
  out.deny = w.deny;
  auto fail = [&](const Error& e) { return tl::unexpected(e.Wrap("promotion window " + w.name)); };
  auto start = ParseIcalTime(w.dtstart);
  if (!start) return fail(start.error());
  auto end = ParseIcalTime(w.dtend);
  if (!end) return fail(end.error());
  out.start = start->Utc();
  out.length = end->Utc() - out.start;
  if (out.length <= 0) return fail(Error{"dtend must be after dtstart", ErrorCode::kInvalid});
  if (!w.rrule.empty()) {
    auto rule = ParseRRule(w.rrule);
    if (!rule) return fail(rule.error());
    auto rec = Recurrence::Make(*rule, *start);
    if (!rec) return fail(rec.error());
    out.recurrence = std::move(*rec);
  }
  return out;
}

Result<Window> CompileFreeze(const model::FreezePeriod& f) {
  auto fail = [&](const Error& e) { return tl::unexpected(e.Wrap("freeze period " + f.name)); };
  auto start = ParseCron(f.freeze_start);
  if (!start) return fail(start.error().Wrap("freezeStart"));
  auto end = ParseCron(f.freeze_end);
  if (!end) return fail(end.error().Wrap("freezeEnd"));
  auto zone = TimeZone::Get(f.cron_timezone);
  if (!zone) return fail(zone.error().Wrap("cronTimezone"));
  Window out;
  out.name = f.name;
  out.deny = true;
  out.freeze = CronFreeze{*start, *end, *zone};
  return out;
}

Result<std::vector<Window>> WindowsFor(const model::ProjectConfig& config, const std::string& stage,
                                       const std::map<std::string, std::string>& labels) {
  std::vector<Window> out;
  for (const auto& w : config.promotion_windows) {
    if (w.stage_selector && !model::SelectsStage(*w.stage_selector, stage, labels)) continue;
    STRAKE_TRY_ASSIGN(compiled, CompileWindow(w));
    out.push_back(std::move(compiled));
  }
  for (const auto& f : config.freeze_periods) {
    if (f.stage_selector && !model::SelectsStage(*f.stage_selector, stage, labels)) continue;
    STRAKE_TRY_ASSIGN(compiled, CompileFreeze(f));
    out.push_back(std::move(compiled));
  }
  return out;
}

WindowState EvaluateWindows(const std::vector<Window>& windows, int64_t now) {
  WindowState st;
  if (windows.empty()) return st;
  Found here = Look(windows, now);
  st.closed = !here.open;
  if (st.closed) {
    st.reason = ClosedReason(here);
    st.next_open = here.change;
    return st;
  }
  st.next_close = here.change;
  if (here.change) st.next_close_reason = ClosedReason(Look(windows, *here.change));
  return st;
}

Json WindowStatusToJson(const WindowState& state, bool any_window) {
  if (!any_window) return nullptr;
  Json j = {{"closed", state.closed}};
  if (!state.reason.empty()) j["reason"] = state.reason;
  if (state.next_open) j["nextOpen"] = At(*state.next_open);
  if (state.next_close) j["nextClose"] = At(*state.next_close);
  if (!state.next_close_reason.empty()) j["nextCloseReason"] = state.next_close_reason;
  return j;
}

}  // namespace strake::delivery
