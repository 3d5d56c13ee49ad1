#include "cli/dora.h"

#include <fmt/format.h>

#include <cmath>

#include "base/http.h"
#include "cli/table.h"

namespace strake::cli {

namespace {

constexpr double kHour = 3600, kDay = 24 * kHour, kWeek = 7 * kDay, kMonth = 30 * kDay;

struct MetricName {
  const char* api;
  const char* shown;
};
constexpr MetricName kMetrics[] = {
    {"deployment_frequency", "deployment frequency"},
    {"lead_time_for_changes", "lead time for changes"},
    {"change_failure_rate", "change failure rate"},
    {"time_to_restore_service", "failed deployment recovery time"},
    {"deployment_rework_rate", "deployment rework rate"},
};

bool IsDuration(const std::string& metric) {
  return metric == "lead_time_for_changes" || metric == "time_to_restore_service" ||
         metric == "failed_deployment_recovery_time";
}

bool IsRate(const std::string& metric) {
  return metric == "change_failure_rate" || metric == "deployment_rework_rate";
}

std::string Seconds(double s) {
  if (s < 60) return fmt::format("{:.0f}s", s);
  const auto total = static_cast<int64_t>(std::llround(s / 60));  // minutes
  const int64_t d = total / (int64_t{24} * 60), h = total / 60 % 24, m = total % 60;
  if (d > 0) return h > 0 ? fmt::format("{}d {}h", d, h) : fmt::format("{}d", d);
  if (h > 0) return m > 0 ? fmt::format("{}h {}m", h, m) : fmt::format("{}h", h);
  return fmt::format("{}m", m);
}

std::optional<double> Number(const Json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number()) return std::nullopt;
  return j[key].get<double>();
}

}  // namespace

std::string DoraBand(const std::string& metric, std::optional<double> v) {
  if (!v) return "";
  if (metric == "deployment_frequency") {
    // On demand (daily or more), daily to weekly, weekly to monthly, less.
    return *v >= 1 ? "elite" : *v >= 1 / 7.0 ? "high" : *v >= 1 / 30.0 ? "medium" : "low";
  }
  if (metric == "lead_time_for_changes") {
    return *v < kDay ? "elite" : *v < kWeek ? "high" : *v < kMonth ? "medium" : "low";
  }
  if (metric == "change_failure_rate") {
    return *v <= 0.05 ? "elite" : *v <= 0.10 ? "high" : *v <= 0.15 ? "medium" : "low";
  }
  if (IsDuration(metric)) {  // recovery
    return *v < kHour ? "elite" : *v < kDay ? "high" : *v < kWeek ? "medium" : "low";
  }
  return "";
}

std::string DoraValue(const std::string& metric, std::optional<double> v) {
  if (!v) return "-";
  if (metric == "deployment_frequency") return fmt::format("{:.2f}/day", *v);
  if (IsRate(metric)) return fmt::format("{:.1f}%", *v * 100);
  return Seconds(*v);
}

DoraCommands::DoraCommands(CLI::App& app, Context& ctx, CommandTable& table) : ctx_(ctx) {
  auto* dora = app.add_subcommand(
      "dora", "DORA metrics: deployment frequency, lead time, failure rate, recovery, rework");
  dora->add_option("metric", metric_,
                   "one metric, per day or month (deployment_frequency, lead_time_for_changes, "
                   "change_failure_rate, time_to_restore_service, deployment_rework_rate)");
  dora->add_option("--start", start_, "first day, YYYY-MM-DD (default: 90 days before --end)");
  dora->add_option("--end", end_, "last day, YYYY-MM-DD (default: today, UTC)");
  dora->add_option("--interval", interval_, "daily, monthly or all (one metric; default daily)")
      ->check(CLI::IsMember({"daily", "monthly", "all"}));
  dora->add_option("--tier", tiers_,
                   "environment tier, repeatable (production, staging, testing, development, "
                   "other; default production)");
  dora->add_flag("-A,--all-namespaces", all_namespaces_, "every namespace's deployments");
  dora->add_flag("--explain", explain_,
                 "list the deployments, changes or failures behind each value (one metric)");
  dora->add_option("-o,--output", ctx.output, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  AddApiFlags(dora, ctx);
  table.Add(dora, [this] { return Run(); });
}

std::string DoraCommands::Query(const std::string& metric, const std::string& interval) const {
  std::string path = all_namespaces_ ? "/apis/strake.dev/v1/dora/metrics"
                                     : fmt::format("/apis/strake.dev/v1/namespaces/{}/dora/metrics",
                                                   http::UrlEncode(ctx_.ns));
  path += "?metric=" + http::UrlEncode(metric) + "&interval=" + interval;
  if (!start_.empty()) path += "&start_date=" + http::UrlEncode(start_);
  if (!end_.empty()) path += "&end_date=" + http::UrlEncode(end_);
  for (const auto& t : tiers_) path += "&environment_tiers[]=" + http::UrlEncode(t);
  if (explain_) path += "&explain=1";
  return path;
}

int DoraCommands::Run() {
  if (metric_.empty() && (explain_ || !interval_.empty()))
    return Die("--interval and --explain are for one metric: strake dora METRIC --explain");
  Client c(ctx_, NoServer::kDataDirectory);
  return metric_.empty() ? Summary(c) : OneMetric(c);
}

int DoraCommands::Summary(Client& c) {
  Json all = Json::object();
  std::vector<std::vector<std::string>> rows{{"METRIC", "VALUE", "P90", "BAND"}};
  for (const MetricName& m : kMetrics) {
    auto a = c.Call("GET", Query(m.api, "all"));
    if (!a) return Die(a.error().message);
    const Json first = a->body.is_array() && !a->body.empty() ? a->body[0] : Json::object();
    all[m.api] = first;
    const auto value = Number(first, "value");
    const auto p90 = Number(first, "p90");
    rows.push_back({m.shown, DoraValue(m.api, value), p90 ? DoraValue(m.api, p90) : "",
                    DoraBand(m.api, value)});
  }
  if (ctx_.output == "json") {
    fmt::print("{}\n", all.dump(2));
    return 0;
  }
  PrintTable(rows);
  return 0;
}

int DoraCommands::OneMetric(Client& c) {
  auto a = c.Call("GET", Query(metric_, interval_.empty() ? "daily" : interval_));
  if (!a) return Die(a.error().message);
  if (ctx_.output == "json") {
    fmt::print("{}\n", a->body.dump(2));
    return 0;
  }
  const bool durations = IsDuration(metric_);
  std::vector<std::vector<std::string>> rows{{"DATE", "VALUE"}};
  if (durations) rows[0].push_back("P90");
  rows[0].push_back("BAND");
  for (const Json& b : a->body) {
    std::vector<std::string> row{
        b.value("date", Json()).is_string() ? b["date"].get<std::string>() : "(all)",
        DoraValue(metric_, Number(b, "value"))};
    if (durations) row.push_back(Number(b, "p90") ? DoraValue(metric_, Number(b, "p90")) : "-");
    row.push_back(DoraBand(metric_, Number(b, "value")));
    rows.push_back(std::move(row));
  }
  PrintTable(rows);
  if (!explain_) return 0;
  for (const Json& b : a->body) {
    for (const char* key : {"deployments", "changes", "failures"}) {
      if (!b.contains(key) || b[key].empty()) continue;
      fmt::print("\n{} — {}:\n",
                 b.value("date", Json()).is_string() ? b["date"].get<std::string>() : "(all)", key);
      for (const Json& s : b[key]) {
        if (std::string(key) == "changes") {
          fmt::print("  {} committed {}  deployed by {} at {}  ({})\n",
                     s.value("commit", "").substr(0, 12), s.value("committedAt", ""),
                     s.value("deployment", ""), s.value("deployedAt", ""),
                     Seconds(s.value("seconds", 0.0)));
        } else if (std::string(key) == "failures") {
          fmt::print("  {} failed {} restored {}  ({}): {}\n", s.value("deployment", ""),
                     s.value("failedAt", ""), s.value("restoredAt", ""),
                     Seconds(s.value("seconds", 0.0)), s.value("failure", ""));
        } else {
          fmt::print("  {} {} {} at {}{}\n", s.value("id", ""), s.value("environment", ""),
                     s.value("revision", "").substr(0, 12), s.value("finishedAt", ""),
                     s.contains("failure") ? "  FAILED: " + s.value("failure", "") : "");
        }
      }
    }
  }
  return 0;
}

}  // namespace strake::cli
