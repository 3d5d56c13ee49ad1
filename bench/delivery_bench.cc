// Google Benchmark: the delivery loop's gates and lists (issue 14 §4).
//
// - WindowEvaluation: one Stage's schedule (10 windows: weekly Allow hours in
//   Berlin, a monthly last-Friday Deny, yearly holiday freezes, one-shot
//   Denies) evaluated at a random instant of 2027, next change included.
// - GateCheck: what a Promotion's creation pays: ReadGates on a real SQLite
//   store holding the ProjectConfig, 100 Stages and 1,000 Freight — read the
//   ProjectConfig, decode it, select and compile the Stage's windows,
//   evaluate. p50 and p99 over the run as counters (the issue's bar: p99
//   under 5 ms).
// - ListFreight: GET .../freights through the API with 10,000 Freight in the
//   namespace (the issue's bar: under 100 ms), as a running server answers
//   it (the presented texts kept by resourceVersion); ListFreightCold: the
//   first such list, nothing kept yet.
// - ImageOrderTags: an image subscription's SemVer selection over 100,000
//   tags.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>

#include "base/fs.h"
#include "base/tz.h"
#include "delivery/artifact.h"
#include "delivery/gates.h"
#include "delivery/image_discovery.h"
#include "model/decode.h"
#include "server/api.h"
#include "store/sqlite_store.h"

namespace strake {
namespace {

using store::Json;

const char* kWindows = R"([
  {"name": "business-hours", "kind": "Allow", "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH",
   "dtstart": "TZID=Europe/Berlin:20260105T090000", "dtend": "TZID=Europe/Berlin:20260105T170000"},
  {"name": "friday-morning", "kind": "Allow", "rrule": "FREQ=WEEKLY;BYDAY=FR",
   "dtstart": "TZID=Europe/Berlin:20260109T090000", "dtend": "TZID=Europe/Berlin:20260109T120000"},
  {"name": "month-end", "kind": "Deny", "rrule": "FREQ=MONTHLY;BYDAY=-1FR",
   "dtstart": "20260130T000000Z", "dtend": "20260131T000000Z"},
  {"name": "holidays", "kind": "Deny", "rrule": "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=20",
   "dtstart": "20261220T000000Z", "dtend": "20270104T090000Z"},
  {"name": "summer-sale", "kind": "Deny", "rrule": "FREQ=YEARLY;BYMONTH=7;BYMONTHDAY=1",
   "dtstart": "20260701T000000Z", "dtend": "20260708T000000Z"},
  {"name": "quarter-close", "kind": "Deny", "rrule": "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=-1",
   "dtstart": "20260331T000000Z", "dtend": "20260401T120000Z"},
  {"name": "audit-2027", "kind": "Deny", "dtstart": "20270301T000000Z", "dtend": "20270305T000000Z"},
  {"name": "migration", "kind": "Deny", "dtstart": "20270610T220000Z", "dtend": "20270611T040000Z"},
  {"name": "nightly-backup", "kind": "Deny", "rrule": "FREQ=DAILY",
   "dtstart": "20260101T020000Z", "dtend": "20260101T023000Z"},
  {"name": "dev-free", "kind": "Deny", "stageSelector": {"name": "glob:dev-*"},
   "dtstart": "20270101T000000Z", "dtend": "20270102T000000Z"}])";

int64_t Year2027(std::mt19937& rng) {
  int64_t start = DaysFromCivil(2027, 1, 1) * 86400;
  return std::uniform_int_distribution<int64_t>(start, start + 365 * 86400LL)(rng);
}

model::ProjectConfig Config() {
  Json pc = {{"apiVersion", "kargo.akuity.io/v1alpha1"},
             {"kind", "ProjectConfig"},
             {"metadata", {{"name", "demo"}, {"namespace", "demo"}}},
             {"spec", {{"promotionWindows", Json::parse(kWindows)}}}};
  auto d = model::DecodeObject(pc, "bench");
  if (!d) std::abort();
  return std::get<model::ProjectConfig>(d->value);
}

void WindowEvaluation(benchmark::State& state) {
  auto windows = delivery::WindowsFor(Config(), "prod-eu", {});
  if (!windows) std::abort();
  std::mt19937 rng(7);
  size_t closed = 0;
  for (auto _ : state) {
    auto st = delivery::EvaluateWindows(*windows, Year2027(rng));
    closed += st.closed ? 1 : 0;
    benchmark::DoNotOptimize(st);
  }
  state.counters["closed%"] = 100.0 * static_cast<double>(closed) /
                              static_cast<double>(std::max<int64_t>(1, state.iterations()));
}
BENCHMARK(WindowEvaluation)->Unit(benchmark::kMicrosecond);

// A store in a temp dir with the ProjectConfig, `stages` Stages and `freight`
// Freight of namespace demo.
struct Loaded {
  std::string dir;
  store::StorePtr store;
  std::vector<model::Stage> stages;
  ~Loaded() { (void)RemoveAll(dir); }
};

// The criteria of the gate check: evidence and an image tag, as a team
// would write them.
const char* kCriteria = R"([
  {"name": "coverage", "expression": "evidence('test').COVERAGE >= 80"},
  {"name": "no-latest", "stageSelector": {"name": "glob:prod-*"},
   "expression": "!(imageFrom('reg/web').Tag endsWith 'latest') && evidence('scan').CRITICAL == 0"}])";

// With `evidence`, each Freight references an artifact whose Artifact the
// server recorded (coverage 70..99.9, no critical findings).
std::unique_ptr<Loaded> Load(int stages, int freight, bool evidence = false) {
  auto l = std::make_unique<Loaded>();
  l->dir = *MakeTempDir("delivery-bench-");
  l->store = std::move(*store::OpenSqliteStore(l->dir + "/strake.db"));
  auto put = [&](const std::string& kind, const std::string& name, Json body) {
    body["apiVersion"] = "kargo.akuity.io/v1alpha1";
    body["kind"] = kind;
    body["metadata"] = {{"name", name}, {"namespace", "demo"}};
    store::Resource r;
    r.key = {kind, "demo", name};
    r.object = body;
    if (!l->store->Create(r, "Created", "")) std::abort();
    return r.object;
  };
  Json pc_spec = {{"promotionWindows", Json::parse(kWindows)}};
  if (evidence) pc_spec["promotionCriteria"] = Json::parse(kCriteria);
  put("ProjectConfig", "demo", {{"spec", pc_spec}});
  for (int i = 0; i < stages; ++i) {
    Json s = put("Stage", (i % 10 == 0 ? "dev-" : "prod-") + std::to_string(i),
                 Json::parse(R"({"spec": {"requestedFreight": [{"origin": {"kind": "Warehouse",
                     "name": "w"}, "sources": {"direct": true}}], "promotionTemplate": {"spec":
                     {"steps": [{"uses": "compose-output"}]}}}})"));
    auto d = model::DecodeObject(s, "bench");
    if (!d) std::abort();
    l->stages.push_back(std::get<model::Stage>(d->value));
  }
  for (int i = 0; i < freight; ++i) {
    Json f = {{"origin", {{"kind", "Warehouse"}, {"name", "w"}}},
              {"alias", fmt::format("gentle-otter-{}", i)},
              {"commits",
               {{{"repoURL", "https://git.example.com/app.git"},
                 {"id", fmt::format("{:040x}", i * 7919)}}}}};
    if (evidence) {
      const std::string uri = fmt::format("reg/web:1.{}", i);
      const std::string digest = fmt::format("sha256:{:064x}", i);
      f["artifacts"] = {{{"artifactType", "image"},
                         {"subscriptionName", "web"},
                         {"version", digest},
                         {"metadata", {{"uri", uri}}}}};
      Json evidence_of = {
          {"test", {{"results", {{"COVERAGE", fmt::format("{:.1f}", 70 + (i % 300) / 10.0)}}}}},
          {"scan", {{"results", {{"CRITICAL", "0"}}}}}};
      store::Resource a;
      a.key = {"Artifact", "demo", delivery::ArtifactName(uri, digest)};
      a.object = {{"apiVersion", "strake.dev/v1"},
                  {"kind", "Artifact"},
                  {"spec",
                   {{"uri", uri},
                    {"digest", digest},
                    {"builtBy", {{"pipelineRun", fmt::format("build-{}", i)}}},
                    {"evidence", evidence_of}}}};
      if (!l->store->Create(a, "Recorded", "")) std::abort();
    }
    put("Freight", fmt::format("{:040x}", i), f);
  }
  return l;
}

// One whole gate check, as a Promotion's creation makes it: the gates of a
// Stage read (ProjectConfig, ClusterConfig, windows, criteria compiled)
// and a Freight judged (its Artifact read for the evidence).
void GateCheck(benchmark::State& state) {
  auto l = Load(100, 1000, /*evidence=*/true);
  std::mt19937 rng(11);
  std::vector<double> us;
  size_t denied = 0;
  for (auto _ : state) {
    const auto& stage = l->stages[rng() % l->stages.size()];
    auto freight = l->store->Get({"Freight", "demo", fmt::format("{:040x}", rng() % 1000)});
    if (!freight || !*freight) std::abort();
    auto t0 = std::chrono::steady_clock::now();
    auto r = delivery::ReadGates(*l->store, stage, Year2027(rng) * 1000, nullptr);
    if (!r) std::abort();
    auto why = r->Denial(**freight);
    auto t1 = std::chrono::steady_clock::now();
    if (!why) std::abort();
    denied += *why ? 1 : 0;
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[us.size() * 99 / 100];
  state.counters["denied%"] = 100.0 * static_cast<double>(denied) / static_cast<double>(us.size());
}
BENCHMARK(GateCheck)->Unit(benchmark::kMicrosecond);

void ListFreight(benchmark::State& state) {
  auto l = Load(1, 10000);
  server::Api api(*l->store);
  for (auto _ : state) {
    auto r = api.Handle(
        server::MakeRequest("GET", "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/freights"));
    if (r.status != 200) std::abort();
    benchmark::DoNotOptimize(r.body);
  }
}
BENCHMARK(ListFreight)->Unit(benchmark::kMillisecond);

// The first list a server answers (nothing kept yet): every object read
// and presented.
void ListFreightCold(benchmark::State& state) {
  auto l = Load(1, 10000);
  for (auto _ : state) {
    state.PauseTiming();
    auto api = std::make_unique<server::Api>(*l->store);
    state.ResumeTiming();
    auto r = api->Handle(
        server::MakeRequest("GET", "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/freights"));
    if (r.status != 200) std::abort();
    benchmark::DoNotOptimize(r.body);
    state.PauseTiming();
    api.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(ListFreightCold)->Unit(benchmark::kMillisecond);

// The store's part of it: 10,000 rows read and their JSON parsed.
void StoreListFreight(benchmark::State& state) {
  auto l = Load(1, 10000);
  for (auto _ : state) {
    auto r = l->store->List("Freight", "demo");
    if (!r || r->size() != 10000) std::abort();
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(StoreListFreight)->Unit(benchmark::kMillisecond);

// An image subscription's selection over a registry's whole tag list:
// 100,000 tags (RegistryClient::kMaxTags), half of them versions, ordered
// by SemVer under a constraint, with an ignore regex (what one discovery
// pays before it reads any manifest).
void ImageOrderTags(benchmark::State& state) {
  std::mt19937 rng(7);
  std::vector<std::string> tags;
  for (int i = 0; i < 100'000; ++i) {
    if (i % 2) {
      tags.push_back(fmt::format("v{}.{}.{}", rng() % 5, rng() % 40, rng() % 100));
    } else {
      tags.push_back(fmt::format("main-{:07x}", rng() % 0xfffffff));
    }
  }
  model::ImageSubscription sub;
  sub.repo_url = "ghcr.io/team/app";
  sub.constraint = ">=1.2.0, <4";
  sub.ignore_tags_regexes = {"-rc"};
  size_t n = 0;
  for (auto _ : state) {
    auto ordered = delivery::OrderTags(sub, tags);
    if (!ordered) std::abort();
    n = ordered->size();
    benchmark::DoNotOptimize(ordered);
  }
  state.counters["kept"] = static_cast<double>(n);
}
BENCHMARK(ImageOrderTags)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace strake

BENCHMARK_MAIN();
