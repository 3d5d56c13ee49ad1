// Google Benchmark: 10,000 Argo CD Applications from one git repository,
// each with its own path, reconciled by the real ApplicationReconciler on a
// real SQLite store and a real git mirror (built by the git binary in a
// temp directory). The figure of issue 4: one full no-op reconcile of all
// of them (nothing changed: fetch skipped within the refresh interval,
// render cached, every live object compared), on 2 threads as `strake
// serve` runs its 2 application workers; and the process's RSS after.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "base/clock.h"
#include "base/fs.h"
#include "base/process.h"
#include "gitops/application.h"
#include "model/merge.h"
#include "store/sqlite_store.h"

namespace strake {
namespace {

using store::Json;

// Applies into the store as the API does (three-way, last-applied recorded).
class StoreWriter : public gitops::ResourceWriter {
 public:
  explicit StoreWriter(store::Store& st) : st_(st) {}
  Status Apply(const Json& object) override {
    const Json& meta = object["metadata"];
    store::Key key{object["kind"], meta.value("namespace", ""), meta["name"]};
    auto got = st_.Get(key);
    if (!got) return tl::unexpected(got.error());
    Json body = model::ThreeWayApply(*got ? (*got)->object : Json::object(),
                                     *got ? model::LastApplied((*got)->object) : Json(), object);
    body["metadata"]["annotations"][model::kLastApplied] = object.dump();
    if (!*got) {
      store::Resource r;
      r.key = key;
      r.object = body;
      auto c = st_.Create(r, "Created", "");
      if (!c) return tl::unexpected(c.error());
      return Ok();
    }
    store::Resource r = **got;
    r.object = body;
    auto u = st_.Update(r, r.resource_version);
    if (!u) return tl::unexpected(u.error());
    return Ok();
  }
  Status Replace(const Json& object) override { return Apply(object); }
  Status Delete(const store::Key& key) override { return st_.Delete(key); }
  std::optional<bool> Namespaced(const std::string&, const std::string&) override { return true; }

 private:
  store::Store& st_;
};

void Sh(const std::string& cmd) {
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) {
    std::fprintf(stderr, "failed: %s\n", cmd.c_str());
    std::exit(1);
  }
}

struct World {
  std::string dir;
  store::StorePtr st;
  SystemClock clock;
  std::unique_ptr<gitops::Sources> sources;
  std::unique_ptr<StoreWriter> writer;
  std::unique_ptr<gitops::ApplicationReconciler> apps;
  std::vector<std::string> keys;
};

World& Setup(int n) {
  static World* w = nullptr;
  if (w) return *w;
  w = new World;
  char tmpl[] = "/tmp/strake-gitops-benchXXXXXX";
  w->dir = ::mkdtemp(tmpl);
  std::string work = w->dir + "/work", bare = w->dir + "/apps.git";
  Sh("git init -q --bare -b main " + bare);
  Sh("git init -q -b main " + work);
  for (int i = 0; i < n; ++i) {
    std::string d = work + "/apps/app-" + std::to_string(i);
    (void)MakeDirs(d);
    (void)WriteFile(d + "/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-" +
                                        std::to_string(i) + "}\ndata: {index: \"" +
                                        std::to_string(i) + "\"}\n");
  }
  Sh("git -C " + work + " add -A");
  Sh("git -C " + work + " -c user.email=b@b -c user.name=b commit -q -m apps");
  Sh("git -C " + work + " push -q " + bare + " HEAD:main");
  w->st = std::move(*store::OpenSqliteStore(w->dir + "/strake.db"));
  w->sources =
      std::make_unique<gitops::Sources>(w->dir + "/git", *w->st, w->clock, EgressPolicy::Open());
  w->writer = std::make_unique<StoreWriter>(*w->st);
  w->apps =
      std::make_unique<gitops::ApplicationReconciler>(*w->st, *w->writer, *w->sources, w->clock);
  for (int i = 0; i < n; ++i) {
    std::string name = "app-" + std::to_string(i);
    store::Resource r;
    r.key = {"Application", "default", name};
    r.object = {{"apiVersion", "argoproj.io/v1alpha1"},
                {"kind", "Application"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec",
                 {{"source", {{"repoURL", "file://" + bare}, {"path", "apps/" + name}}},
                  {"destination", {{"name", "local"}}},
                  {"syncPolicy", {{"automated", {{"prune", true}}}}}}}};
    (void)w->st->Create(r, "Created", "");
    w->keys.push_back("default/" + name);
  }
  // Until every one is synced: start, run, compare.
  for (int round = 0; round < 4; ++round) {
    for (const auto& k : w->keys) (void)w->apps->Reconcile(k);
  }
  return *w;
}

void BM_NoOpReconcileAll(benchmark::State& state) {
  int n = static_cast<int>(state.range(0));
  bool cold = state.range(1) != 0;
  World& w = Setup(n);
  int64_t writes_before = *w.st->Revision();
  for (auto _ : state) {
    if (cold) {
      // As after a restart: new sources and reconciler, nothing cached.
      state.PauseTiming();
      w.apps.reset();
      w.sources =
          std::make_unique<gitops::Sources>(w.dir + "/git", *w.st, w.clock, EgressPolicy::Open());
      w.apps =
          std::make_unique<gitops::ApplicationReconciler>(*w.st, *w.writer, *w.sources, w.clock);
      state.ResumeTiming();
    }
    std::atomic<size_t> next{0};
    std::atomic<int> errors{0};
    auto worker = [&] {
      for (size_t i = next++; i < w.keys.size(); i = next++) {
        if (!w.apps->Reconcile(w.keys[i])) ++errors;
      }
    };
    std::thread a(worker), b(worker);
    a.join();
    b.join();
    if (errors) state.SkipWithError("a reconcile failed");
  }
  int64_t writes = *w.st->Revision() - writes_before;
  if (std::getenv("GITOPS_BENCH_DEBUG")) {
    auto changes = w.st->ChangesSince(writes_before, 20);
    for (const auto& c : changes.value_or(std::vector<store::Change>{})) {
      std::fprintf(stderr, "%s %s %s: %s\n", c.key.ToString().c_str(), c.type.c_str(),
                   c.reason.c_str(), c.message.c_str());
    }
  }
  auto synced = w.st->List("Application", "");
  size_t in_sync = 0;
  for (const auto& r : *synced) {
    if (r.status.value("sync", Json::object()).value("status", "") == "Synced") ++in_sync;
  }
  state.counters["apps"] = static_cast<double>(n);
  state.counters["synced"] = static_cast<double>(in_sync);
  state.counters["store_writes"] = static_cast<double>(writes);
  state.counters["rss_MiB"] = static_cast<double>(ResidentBytes()) / (1024.0 * 1024.0);
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_NoOpReconcileAll)
    ->Args({10000, 0})
    ->Args({10000, 1})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace strake

BENCHMARK_MAIN();
