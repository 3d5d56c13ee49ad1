// The overhead of provenance (insight/provenance.h) per run, on issue 15's
// bar of 50 ms: a finished PipelineRun of 20 TaskRuns (each with 5 steps'
// images and 6 results, one an image it built), as the server handles it —
// its statement built, signed (ECDSA P-256) and stored as an Attestation in
// SQLite, with the 20 TaskRuns' own — and the parts alone: the statement,
// the signature, and a gate's verification of an artifact's provenance.
//
//   provenance_bench [benchmark flags]
#include <benchmark/benchmark.h>

#include <memory>

#include "insight/provenance.h"
#include "store/temp_store.h"

namespace strake::insight {
namespace {

constexpr int kTasks = 20;

store::Resource PipelineRunOf(int i) {
  store::Resource r;
  r.key = {"PipelineRun", "bench", "build-" + std::to_string(i)};
  r.uid = "00000000-0000-4000-8000-" + fmt::format("{:012d}", i);
  Json tasks = Json::array();
  for (int t = 0; t < kTasks; ++t) {
    Json steps = Json::array();
    for (int s = 0; s < 5; ++s)
      steps.push_back({{"name", fmt::format("s{}", s)},
                       {"image", "127.0.0.1:5000/tools:1"},
                       {"script", std::string(400, 'x')}});
    tasks.push_back({{"name", fmt::format("t{}", t)}, {"taskSpec", {{"steps", steps}}}});
  }
  r.object = {{"apiVersion", "tekton.dev/v1"},
              {"kind", "PipelineRun"},
              {"metadata", {{"name", r.key.name}, {"namespace", "bench"}}},
              {"spec", {{"pipelineRef", {{"name", "build"}}}}}};
  r.status = {
      {"startTime", "2026-12-07T10:00:00Z"},
      {"completionTime", "2026-12-07T10:05:00Z"},
      {"pipelineSpec", {{"tasks", tasks}}},
      {"results",
       {{{"name", "IMAGE_URL"}, {"value", "127.0.0.1:5000/web:v1"}},
        {{"name", "IMAGE_DIGEST"}, {"value", "sha256:" + std::string(64, 'a')}}}},
      {"strake",
       {{"pipeline", "build"},
        {"source", {{"repoURL", "http://git/app.git"}, {"commit", std::string(40, 'e')}}}}}};
  return r;
}

store::Resource TaskRunOf(const store::Resource& run, int t) {
  store::Resource r;
  r.key = {"TaskRun", "bench", run.key.name + fmt::format("-t{}", t)};
  r.uid = run.uid.substr(0, 24) + fmt::format("{:06d}{:06d}", t, std::stoi(run.uid.substr(24)));
  r.owner = run.uid;
  r.labels = {{"tekton.dev/pipelineRun", run.key.name},
              {"tekton.dev/pipelineTask", fmt::format("t{}", t)}};
  r.object = {{"apiVersion", "tekton.dev/v1"},
              {"kind", "TaskRun"},
              {"metadata", {{"name", r.key.name}, {"namespace", "bench"}}},
              {"spec", {{"params", Json::array()}}}};
  Json steps = Json::array();
  for (int s = 0; s < 5; ++s)
    steps.push_back({{"name", fmt::format("s{}", s)},
                     {"imageID", fmt::format("127.0.0.1:5000/tools{}@sha256:{}", s,
                                             std::string(64, static_cast<char>('0' + s)))}});
  Json results = Json::array();
  for (int k = 0; k < 4; ++k)
    results.push_back({{"name", fmt::format("R{}", k)}, {"value", std::string(200, 'r')}});
  results.push_back({{"name", "IMAGE_URL"}, {"value", fmt::format("127.0.0.1:5000/t{}:v1", t)}});
  results.push_back({{"name", "IMAGE_DIGEST"}, {"value", "sha256:" + std::string(64, 'b')}});
  r.status = {{"startTime", "2026-12-07T10:00:00Z"},
              {"completionTime", "2026-12-07T10:04:00Z"},
              {"steps", steps},
              {"results", results}};
  return r;
}

struct Fixture {
  Fixture() {
    temp = std::move(*store::TempStore::Make("provenance-bench"));
    keys = std::make_unique<Keyring>(temp.dir() + "/keys");
    signer = std::make_unique<ProvenanceRecorder>(temp.store(), *keys);
    key = std::make_unique<EcKey>(std::move(*keys->KeyFor("bench")));
  }
  // Stores run i with its TaskRuns.
  void Put(int i) {
    store::Resource run = PipelineRunOf(i);
    auto put = [&](store::Resource r) {
      Json status = r.status;
      (void)temp.store().Create(r, "Created", "");
      (void)temp.store().UpdateStatus(r.key, status, 0, "Succeeded", "");
    };
    put(run);
    for (int t = 0; t < kTasks; ++t) put(TaskRunOf(run, t));
  }
  store::TempStore temp;
  std::unique_ptr<Keyring> keys;
  std::unique_ptr<ProvenanceRecorder> signer;
  std::unique_ptr<EcKey> key;
};

Fixture& F() {
  static Fixture f;
  return f;
}

// What the server does when a run of 20 tasks ends: 21 statements built,
// signed and stored (the run's, reading its TaskRuns, and each TaskRun's).
void RunSigned(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    F().Put(++i);
    store::Resource run = PipelineRunOf(i);
    state.ResumeTiming();
    benchmark::DoNotOptimize(F().signer->Reconcile(ProvenanceRecorder::KeyOf(run.key)));
    for (int t = 0; t < kTasks; ++t)
      benchmark::DoNotOptimize(
          F().signer->Reconcile(ProvenanceRecorder::KeyOf(TaskRunOf(run, t).key)));
  }
}
BENCHMARK(RunSigned)->Unit(benchmark::kMillisecond)->Iterations(200);

void StatementBuilt(benchmark::State& state) {
  store::Resource run = PipelineRunOf(0);
  std::vector<store::Resource> trs;
  for (int t = 0; t < kTasks; ++t) trs.push_back(TaskRunOf(run, t));
  for (auto _ : state) benchmark::DoNotOptimize(PipelineRunStatement(run, trs, {}, {}));
}
BENCHMARK(StatementBuilt)->Unit(benchmark::kMicrosecond);

void StatementSigned(benchmark::State& state) {
  store::Resource run = PipelineRunOf(0);
  std::vector<store::Resource> trs;
  for (int t = 0; t < kTasks; ++t) trs.push_back(TaskRunOf(run, t));
  Json st = PipelineRunStatement(run, trs, {}, {});
  for (auto _ : state) benchmark::DoNotOptimize(model::SignStatement(st, *F().key));
}
BENCHMARK(StatementSigned)->Unit(benchmark::kMicrosecond);

// A gate's check: the Attestation read, its signature verified, the
// artifact's digest among its subjects.
void GateVerified(benchmark::State& state) {
  F().Put(1'000'000);
  store::Resource run = PipelineRunOf(1'000'000);
  (void)F().signer->Reconcile(ProvenanceRecorder::KeyOf(run.key));
  Json spec = {{"digest", "sha256:" + std::string(64, 'a')},
               {"builtBy", {{"pipelineRun", run.key.name}, {"uid", run.uid}}}};
  for (auto _ : state) {
    auto p = ArtifactProvenance(F().temp.store(), *F().keys, "bench", spec);
    if (!p || !(*p)["verified"].get<bool>()) state.SkipWithError("not verified");
  }
}
BENCHMARK(GateVerified)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace strake::insight

BENCHMARK_MAIN();
