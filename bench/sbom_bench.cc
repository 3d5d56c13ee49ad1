// The overhead of SBOMs (delivery/sbom.h) per run, on issue 15's bar of
// 50 ms: a run whose image has a syft-sized SBOM (3,000 components, about
// 1 MiB of CycloneDX 1.6 JSON) recorded as the server records it — the
// blob fetched (here from memory: the registry's time is the network's),
// checked against its digest, read and checked (model/sbom.h), and the
// Artifact with its components written to SQLite — and a gate's check of
// a deny-list over those components.
//
//   sbom_bench [benchmark flags]
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "base/clock.h"
#include "base/sha256.h"
#include "delivery/artifact.h"
#include "delivery/criteria.h"
#include "model/sbom.h"
#include "store/temp_store.h"

namespace strake::delivery {
namespace {

constexpr int kComponents = 3000;

// A CycloneDX document as syft writes one: flat components with a
// bom-ref, purl, licenses and properties.
std::string SyftLike() {
  Json components = Json::array();
  for (int i = 0; i < kComponents; ++i) {
    const std::string name = fmt::format("lib{}", i);
    const std::string purl =
        fmt::format("pkg:maven/org.example.g{}/{}@1.{}.{}", i % 50, name, i % 10, i % 7);
    components.push_back(
        {{"bom-ref", purl + "?package-id=" + Sha256Hex(name).substr(0, 16)},
         {"type", "library"},
         {"group", fmt::format("org.example.g{}", i % 50)},
         {"name", name},
         {"version", fmt::format("1.{}.{}", i % 10, i % 7)},
         {"licenses", Json::array({{{"license", {{"id", "Apache-2.0"}}}}})},
         {"purl", purl},
         {"properties", Json::array({{{"name", "syft:package:type"}, {"value", "java-archive"}},
                                     {{"name", "syft:location:0:path"},
                                      {"value", "/app/lib/" + name + ".jar"}}})}});
  }
  return Json{{"$schema", "http://cyclonedx.org/schema/bom-1.6.schema.json"},
              {"bomFormat", "CycloneDX"},
              {"specVersion", "1.6"},
              {"serialNumber", "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"},
              {"version", 1},
              {"metadata", {{"component", {{"type", "container"}, {"name", "web"}}}}},
              {"components", std::move(components)}}
      .dump();
}

const std::string& Doc() {
  static const std::string doc = SyftLike();
  return doc;
}

void SbomRead(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(model::ParseSbom(Doc(), "sbom.json"));
  state.counters["bytes"] = static_cast<double>(Doc().size());
}
BENCHMARK(SbomRead)->Unit(benchmark::kMillisecond);

struct Fixture {
  Fixture() : temp(std::move(*store::TempStore::Make("sbom-bench"))), recorder(temp.store()) {
    recorder.SetSbomFetcher(
        [](const std::string&, const std::string&, const std::string& digest,
           size_t) -> Result<std::string> {
          if ("sha256:" + Sha256Hex(Doc()) != digest) return Fail(ErrorCode::kInvalid, "digest");
          return Doc();
        },
        clock);
  }
  // A finished run that built image i and names its SBOM.
  void Put(int i) {
    store::Resource run;
    run.key = {"PipelineRun", "bench", fmt::format("build-{}", i)};
    run.object = {{"apiVersion", "tekton.dev/v1"}, {"kind", "PipelineRun"}};
    const std::string sbom = "127.0.0.1:5000/web@sha256:" + Sha256Hex(Doc());
    run.status = {{"conditions", Json::array({{{"type", "Succeeded"}, {"status", "True"}}})},
                  {"completionTime", FormatRfc3339(clock.Now())},
                  {"results",
                   {{{"name", "IMAGE_URL"}, {"value", fmt::format("127.0.0.1:5000/web:{}", i)}},
                    {{"name", "IMAGE_DIGEST"}, {"value", "sha256:" + Sha256Hex(std::to_string(i))}},
                    {{"name", "SBOM_BLOB_URL"}, {"value", sbom}}}}};
    (void)temp.store().Create(run, "Created", "");
  }
  SystemClock clock;
  store::TempStore temp;
  ArtifactRecorder recorder;
};

Fixture& F() {
  static Fixture f;
  return f;
}

// What the server does when such a run ends: its Artifact recorded with
// the SBOM's 3,000 components.
void RunRecordedWithSbom(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    F().Put(++i);
    state.ResumeTiming();
    auto done = F().recorder.Reconcile(fmt::format("bench/build-{}", i));
    if (!done) state.SkipWithError(done.error().message.c_str());
  }
}
BENCHMARK(RunRecordedWithSbom)->Unit(benchmark::kMillisecond)->Iterations(50);

// A promotion gate over the components: the Artifact read, a deny-list
// checked against each of the 3,000.
void GateOverComponents(benchmark::State& state) {
  F().Put(1'000'000);
  (void)F().recorder.Reconcile("bench/build-1000000");
  store::Resource freight;
  freight.key = {"Freight", "bench", std::string(40, 'f')};
  freight.object = {
      {"artifacts", Json::array({{{"artifactType", "image"},
                                  {"subscriptionName", "web"},
                                  {"version", "sha256:" + Sha256Hex("1000000")},
                                  {"metadata", {{"uri", "127.0.0.1:5000/web:1000000"}}}}})}};
  auto expr = CompileCriterion(
      "none(sbom.components, {.name == 'log4j-core' && semverMatches(.version, '<2.17.1')})");
  std::vector<Criterion> criteria = {{"log4j", "ProjectConfig bench", *expr, ""}};
  ArtifactReader read = [](const std::string& name) {
    return F().temp.store().Get({"Artifact", "bench", name});
  };
  for (auto _ : state) {
    auto denied = CriteriaDenial(criteria, freight, "prod", 0, read, {});
    if (!denied || *denied) state.SkipWithError("denied");
  }
}
BENCHMARK(GateOverComponents)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace strake::delivery

BENCHMARK_MAIN();
