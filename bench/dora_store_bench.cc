// DORA through the store and the API, on issue 15's volume: deployments
// (default 1,000,000, over five years) each with changes (default ten:
// 10,000,000) written into a SQLite store as the recorder writes them; the
// ledger loaded from it as a server loads it at start; then random
// questions (any metric, any interval, any range up to five years, any
// tiers) answered through the API's handler, JSON included, with their
// p50, p99 and worst; and the answers cross-checked with Four Keys' SQL
// formulas run by SQLite on the same tables (queries/*.sql of
// dora-team/fourkeys, in SQLite's dialect: PERCENTILE_CONT as the mean of
// the middle one or two rows). Last, incidents: a commit's deployment
// found (a prefix of its SHA) and an hour-long incident applied, timed.
//
//   dora_store_bench [--deployments N] [--changes-each N] [--questions N]
//                    [--checks N] [--incidents N] [--dir DIR]
//
// Exits 1 if any cross-checked value differs. CI runs it small (tests/).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "base/fs.h"
#include "base/tz.h"
#include "insight/ledger.h"
#include "server/dora_api.h"
#include "store/sqlite_store.h"
#include "tests/dora_fourkeys.h"

namespace strake {
namespace {

using dora_data::Day;
using dora_data::kTiers;

struct Options {
  int64_t deployments = 1'000'000;
  int changes_each = 10;
  int questions = 1000;
  int checks = 40;
  int incidents = 100;
  std::string dir;
};

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

long RssMb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6)) / 1024;
  }
  return 0;
}

const int64_t kFirstDay = DaysFromCivil(2021, 1, 1);

// A random question in GitLab's parameters.
std::string Question(std::mt19937_64& rng) {
  static const char* metrics[] = {"deployment_frequency", "lead_time_for_changes",
                                  "time_to_restore_service", "change_failure_rate",
                                  "deployment_rework_rate"};
  static const char* intervals[] = {"daily", "monthly", "all"};
  std::uniform_int_distribution<int64_t> span(0, insight::kMaxRangeDays - 1);
  const int64_t length = span(rng);
  std::uniform_int_distribution<int64_t> start(0, insight::kMaxRangeDays - 1 - length);
  const int64_t first = kFirstDay + start(rng);
  std::string q = std::string("metric=") + metrics[rng() % 5] +
                  "&interval=" + intervals[rng() % 3] + "&start_date=" + Day(first) +
                  "&end_date=" + Day(first + length);
  const int tiers = 1 + static_cast<int>(rng() % 3);
  for (int t = 0; t < tiers; ++t) q += std::string("&environment_tiers[]=") + kTiers[rng() % 5];
  return q;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(std::ceil(p / 100 * static_cast<double>(v.size()))) - 1];
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--deployments")
      o.deployments = std::stoll(v);
    else if (k == "--changes-each")
      o.changes_each = std::stoi(v);
    else if (k == "--questions")
      o.questions = std::stoi(v);
    else if (k == "--checks")
      o.checks = std::stoi(v);
    else if (k == "--incidents")
      o.incidents = std::stoi(v);
    else if (k == "--dir")
      o.dir = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  bool made_dir = false;
  if (o.dir.empty()) {
    auto d = MakeTempDir("dora-store-bench");
    if (!d) return 2;
    o.dir = *d;
    made_dir = true;
  }
  const std::string db = o.dir + "/strake.db";
  int rc = 0;
  {
    auto st = store::OpenSqliteStore(db);
    if (!st) {
      std::fprintf(stderr, "%s\n", st.error().message.c_str());
      return 2;
    }
    auto t0 = std::chrono::steady_clock::now();
    if (auto made = dora_data::Generate(**st, o.deployments, o.changes_each, kFirstDay,
                                        insight::kMaxRangeDays);
        !made) {
      std::fprintf(stderr, "%s\n", made.error().message.c_str());
      return 2;
    }
    auto t1 = std::chrono::steady_clock::now();
    std::printf("wrote %lld deployments, %lld changes in %.1f s\n",
                static_cast<long long>(o.deployments),
                static_cast<long long>(o.deployments * o.changes_each), Seconds(t1 - t0));
    insight::Ledger ledger(**st);
    t0 = std::chrono::steady_clock::now();
    if (!ledger.Load()) return 2;
    t1 = std::chrono::steady_clock::now();
    std::printf("ledger loaded in %.2f s; resident %ld MB\n", Seconds(t1 - t0), RssMb());
    // Each question once before the clock runs is not done: the first ask
    // of a day sorts it, as a server's first ask would.
    std::mt19937_64 rng(99);
    std::vector<double> ms;
    for (int i = 0; i < o.questions; ++i) {
      server::Request req = server::MakeRequest("GET", "/dora/metrics?" + Question(rng));
      auto q0 = std::chrono::steady_clock::now();
      server::Response r =
          server::DoraMetrics(ledger, i % 2 ? "shop" : "", req, kFirstDay + insight::kMaxRangeDays);
      ms.push_back(Seconds(std::chrono::steady_clock::now() - q0) * 1000);
      if (r.status != 200) {
        std::fprintf(stderr, "%s\n", r.body.c_str());
        return 2;
      }
    }
    std::printf(
        "%d random questions through the API handler: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        o.questions, Percentile(ms, 50), Percentile(ms, 99), Percentile(ms, 100));
    auto checked = dora_data::CrossCheck(ledger, db, o.checks, kFirstDay, insight::kMaxRangeDays);
    if (!checked) {
      std::fprintf(stderr, "%s\n", checked.error().message.c_str());
      return 2;
    }
    std::printf("cross-check with Four Keys' SQL: %d daily values compared, %d differ%s%s\n",
                checked->compared, checked->differ, checked->differ ? "; first: " : "",
                checked->first.c_str());
    rc = checked->differ == 0 ? 0 : 1;
    // Incidents over the same store: finding a commit's deployment (as
    // the recorder links one named by commit) and applying an hour-long
    // incident (its deployment failed, the deployments meanwhile rework).
    std::vector<double> link_ms, apply_ms;
    for (int i = 0; i < o.incidents; ++i) {
      const std::string id =
          "Promotion/shop/p" + std::to_string(static_cast<int64_t>(rng() % o.deployments));
      auto d = (*st)->GetDeployment(id);
      if (!d || !*d || (*d)->changes.empty()) return 2;
      auto q0 = std::chrono::steady_clock::now();
      auto found = (*st)->FirstBringing("shop", "", (*d)->changes[0].sha.substr(0, 12));
      link_ms.push_back(Seconds(std::chrono::steady_clock::now() - q0) * 1000);
      if (!found || !*found || (*found)->id != id) {
        std::fprintf(stderr, "commit of %s not found\n", id.c_str());
        return 2;
      }
      insight::IncidentFacts facts;
      facts.key = "shop/incident-" + std::to_string(i);
      facts.ns = "shop";
      facts.environment = (*d)->environment;
      facts.title = "bench";
      facts.opened_ms = (*d)->finished_ms + 60'000;
      facts.closed_ms = facts.opened_ms + 3'600'000;
      facts.deployment = id;
      q0 = std::chrono::steady_clock::now();
      if (auto applied = ledger.ApplyIncident(facts); !applied) {
        std::fprintf(stderr, "%s\n", applied.error().message.c_str());
        return 2;
      }
      apply_ms.push_back(Seconds(std::chrono::steady_clock::now() - q0) * 1000);
    }
    if (o.incidents > 0) {
      std::printf(
          "%d incidents: a commit's deployment found in p50 %.2f ms, p99 %.2f ms; applied in "
          "p50 %.2f ms, p99 %.2f ms\n",
          o.incidents, Percentile(link_ms, 50), Percentile(link_ms, 99), Percentile(apply_ms, 50),
          Percentile(apply_ms, 99));
    }
  }
  if (made_dir) (void)RemoveAll(o.dir);
  return rc;
}

}  // namespace
}  // namespace strake

int main(int argc, char** argv) { return strake::Main(argc, argv); }
