// Google Benchmark: the pure core on a 10,000-task pipeline.
#include <benchmark/benchmark.h>

#include <string>

#include "model/decode.h"
#include "pipeline/dag.h"
#include "pipeline/planner.h"
#include "pipeline/substitute.h"

namespace strake {
namespace {

std::string WidePipeline(int n) {
  std::string y =
      "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: wide}\nspec:\n  tasks:\n";
  for (int i = 0; i < n; ++i) {
    y += "    - name: t" + std::to_string(i) + "\n";
    if (i > 0) y += "      runAfter: [t" + std::to_string(i / 2) + "]\n";
    y += "      taskSpec: {steps: [{script: \"echo $(context.task.name)\"}]}\n";
  }
  return y;
}

void BM_ParseAndDecode(benchmark::State& state) {
  std::string text = WidePipeline(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto docs = model::ParseYaml(text, "bench.yaml");
    model::Diagnostics diags;
    auto resources = model::Decode(*docs, diags);
    benchmark::DoNotOptimize(resources);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ParseAndDecode)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_PlanHalfDone(benchmark::State& state) {
  int n = static_cast<int>(state.range(0));
  std::vector<pipeline::DagInput> nodes;
  for (int i = 0; i < n; ++i) {
    nodes.push_back(
        {"t" + std::to_string(i), i > 0 ? std::vector<std::string>{"t" + std::to_string(i / 2)}
                                        : std::vector<std::string>{}});
  }
  auto dag = pipeline::BuildDag(nodes);
  pipeline::RunFacts facts;
  for (int i = 0; i < n; ++i) {
    facts.tasks.push_back(
        {i < n / 2 ? pipeline::TaskState::kSucceeded : pipeline::TaskState::kPending, {}});
  }
  for (auto _ : state) benchmark::DoNotOptimize(pipeline::MakePlan(*dag, facts));
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_PlanHalfDone)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_Substitute(benchmark::State& state) {
  pipeline::Vars vars;
  for (int i = 0; i < 50; ++i)
    vars.SetString("params.p" + std::to_string(i), "value-" + std::to_string(i));
  std::string script;
  for (int i = 0; i < 50; ++i) script += "echo $(params.p" + std::to_string(i) + ") $(date)\n";
  for (auto _ : state) benchmark::DoNotOptimize(pipeline::Substitute(script, vars));
}
BENCHMARK(BM_Substitute);

}  // namespace
}  // namespace strake

BENCHMARK_MAIN();
