// Test data for DORA over the store, and Four Keys' formulas to check the
// answers against: shared by tests/dora_fourkeys_test.cc (small, in CI)
// and bench/dora_store_bench.cc (issue 15's volume).
//
// The formulas are those of dora-team/fourkeys' queries/*.sql
// (deployment_frequency, lead_time_for_changes, change_failure_rate,
// time_to_restore_services), daily, in SQLite's dialect over the store's
// dora_deployments and dora_changes tables: PERCENTILE_CONT(x, 0.5) as the
// mean of the middle one or two rows. One difference, strake's: recovery
// counts on the day service came back (Four Keys: the incident's opening).
#pragma once

#include <sqlite3.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "base/tz.h"
#include "insight/ledger.h"
#include "server/dora_api.h"
#include "store/store.h"

namespace strake::dora_data {

inline constexpr int64_t kDayMs = 86'400'000;
inline const char* const kTiers[] = {"production", "staging", "testing", "development", "other"};

inline std::string Hex40(std::mt19937_64& rng) {
  static const char* digits = "0123456789abcdef";
  std::string s(40, '0');
  for (char& c : s) c = digits[rng() & 15];
  return s;
}

// Writes the records in batches, as many transactions as a recorder would
// write at most (it writes one per deployment).
// `deployments` records of namespace "shop" over `days` days from
// `first_day`, `changes_each` changes each (lead times exponential, mean
// 36 h), 8% failed (recovery exponential, mean 2 h; 3% of those not
// restored), 5% unplanned, tiers 80% production. Seeded: the same data
// every time.
inline Status Generate(store::Store& st, int64_t deployments, int changes_each, int64_t first_day,
                       int64_t days) {
  std::mt19937_64 rng(15);
  std::uniform_int_distribution<int64_t> when(0, days * kDayMs - 1);
  std::exponential_distribution<double> lead(1.0 / (36.0 * 3'600'000));
  std::exponential_distribution<double> recovery(1.0 / (2.0 * 3'600'000));
  std::bernoulli_distribution failed(0.08), unplanned(0.05), restored(0.97);
  std::discrete_distribution<int> tier({80, 10, 5, 4, 1});
  std::vector<store::DeploymentRecord> batch;
  for (int64_t i = 0; i < deployments; ++i) {
    store::DeploymentRecord d;
    d.id = "Promotion/shop/p" + std::to_string(i);
    d.ns = "shop";
    d.tier = kTiers[tier(rng)];
    d.environment = d.tier;
    d.revision = "f" + std::to_string(i);
    d.finished_ms = first_day * kDayMs + when(rng);
    d.unplanned = unplanned(rng);
    for (int c = 0; c < changes_each; ++c)
      d.changes.push_back({Hex40(rng), d.finished_ms - static_cast<int64_t>(lead(rng))});
    if (failed(rng)) {
      d.failed_ms = d.finished_ms + 600'000;
      d.failure = "verification failed";
      if (restored(rng)) d.restored_ms = *d.failed_ms + static_cast<int64_t>(recovery(rng));
    }
    batch.push_back(std::move(d));
    if (batch.size() == 10'000 || i + 1 == deployments) {
      STRAKE_TRY(st.PutDeployments(batch));
      batch.clear();
    }
  }
  return Ok();
}

inline std::string Day(int64_t day) {
  CivilDate c = CivilFromDays(day);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", c.year, c.month, c.day);
  return buf;
}

// Four Keys' daily formulas over [first, last], production only: day ->
// value, from SQLite.
struct Sql {
  sqlite3* db = nullptr;
  std::map<int64_t, double> Daily(const char* sql, int64_t first, int64_t last) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) return {};
    sqlite3_bind_int64(s, 1, first);
    sqlite3_bind_int64(s, 2, last);
    std::map<int64_t, double> out;
    while (sqlite3_step(s) == SQLITE_ROW)
      out[sqlite3_column_int64(s, 0)] = sqlite3_column_double(s, 1);
    sqlite3_finalize(s);
    return out;
  }
};

// deployment_frequency.sql: deployments per day.
inline const char* const kFrequency = R"sql(
SELECT finished_ms / 86400000 AS day, COUNT(DISTINCT id) FROM dora_deployments
WHERE tier = 'production' AND day BETWEEN ?1 AND ?2 GROUP BY day)sql";
// lead_time_for_changes.sql: per day, PERCENTILE_CONT(lead, 0.5) over the
// changes of the day's deployments, leads <= 0 left out.
inline const char* const kLeadTime = R"sql(
WITH lt AS (
  SELECT d.finished_ms / 86400000 AS day, d.finished_ms - c.committed_ms AS ms
  FROM dora_deployments d JOIN dora_changes c ON c.seq = d.seq
  WHERE d.tier = 'production' AND d.finished_ms - c.committed_ms > 0
    AND d.finished_ms / 86400000 BETWEEN ?1 AND ?2),
ranked AS (
  SELECT day, ms, ROW_NUMBER() OVER (PARTITION BY day ORDER BY ms) AS r,
         COUNT(*) OVER (PARTITION BY day) AS n FROM lt)
SELECT day, AVG(ms) / 1000.0 FROM ranked WHERE r IN ((n + 1) / 2, (n + 2) / 2) GROUP BY day)sql";
// change_failure_rate.sql: failed deployments over deployments, per day.
inline const char* const kFailureRate = R"sql(
SELECT finished_ms / 86400000 AS day,
       CAST(COUNT(DISTINCT CASE WHEN failed_ms IS NOT NULL THEN id END) AS REAL) / COUNT(DISTINCT id)
FROM dora_deployments WHERE tier = 'production' AND day BETWEEN ?1 AND ?2 GROUP BY day)sql";
// time_to_restore_services.sql: the daily median of restore times; here on
// the day service came back (strake's bucket; Four Keys buckets by the
// incident's opening).
inline const char* const kRestore = R"sql(
WITH tr AS (
  SELECT restored_ms / 86400000 AS day, restored_ms - failed_ms AS ms FROM dora_deployments
  WHERE tier = 'production' AND restored_ms IS NOT NULL AND restored_ms >= failed_ms
    AND restored_ms / 86400000 BETWEEN ?1 AND ?2),
ranked AS (
  SELECT day, ms, ROW_NUMBER() OVER (PARTITION BY day ORDER BY ms) AS r,
         COUNT(*) OVER (PARTITION BY day) AS n FROM tr)
SELECT day, AVG(ms) / 1000.0 FROM ranked WHERE r IN ((n + 1) / 2, (n + 2) / 2) GROUP BY day)sql";

struct Checked {
  int compared = 0;
  int differ = 0;
  std::string first;  // the first difference, said
};

// `checks` random 90-day ranges within [first_day, first_day + days), each
// metric daily: the API's answer for namespace "shop" against the SQL's.
inline Result<Checked> CrossCheck(insight::Ledger& ledger, const std::string& db_path, int checks,
                                  int64_t first_day, int64_t days) {
  Sql sql;
  if (sqlite3_open_v2(db_path.c_str(), &sql.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(sql.db);
    return Failf("open {}", db_path);
  }
  struct Pair {
    const char* metric;
    const char* sql;
  };
  const Pair pairs[] = {{"deployment_frequency", kFrequency},
                        {"lead_time_for_changes", kLeadTime},
                        {"change_failure_rate", kFailureRate},
                        {"time_to_restore_service", kRestore}};
  std::mt19937_64 rng(7);
  Checked out;
  for (int i = 0; i < checks; ++i) {
    const int64_t first =
        first_day + static_cast<int64_t>(rng() % static_cast<uint64_t>(days - 90));
    const int64_t last = first + 89;
    for (const Pair& p : pairs) {
      const auto want = sql.Daily(p.sql, first, last);
      server::Request req = server::MakeRequest(
          "GET", "/dora/metrics?metric=" + std::string(p.metric) + "&start_date=" + Day(first) +
                     "&end_date=" + Day(last) + "&interval=daily");
      server::Response r = server::DoraMetrics(ledger, "shop", req, last);
      auto got = nlohmann::json::parse(r.body, nullptr, false);
      if (r.status != 200 || !got.is_array() || got.size() != 90) {
        sqlite3_close(sql.db);
        return Failf("{}: status {}: {}", p.metric, r.status, r.body);
      }
      for (int64_t d = 0; d < 90; ++d) {
        const auto& v = got[static_cast<size_t>(d)]["value"];
        auto w = want.find(first + d);
        // An empty day: Four Keys has no row; strake says 0 (frequency) or null.
        const double expected = w != want.end() ? w->second : 0;
        const bool same = w == want.end()
                              ? (v.is_null() || v.get<double>() == 0)
                              : (v.is_number() && std::fabs(v.get<double>() - expected) <=
                                                      1e-9 * std::max(1.0, expected));
        ++out.compared;
        if (!same && out.differ++ == 0) {
          out.first = std::string(p.metric) + " " + Day(first + d) + ": strake " + v.dump() +
                      ", Four Keys " + std::to_string(expected);
        }
      }
    }
  }
  sqlite3_close(sql.db);
  return out;
}

}  // namespace strake::dora_data
