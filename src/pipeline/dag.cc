#include "pipeline/dag.h"

#include <algorithm>
#include <set>

#include "base/strings.h"
#include "pipeline/propagate.h"
#include "pipeline/substitute.h"

namespace strake::pipeline {

Result<Dag> BuildDag(const std::vector<DagInput>& nodes) {
  Dag dag;
  for (const auto& n : nodes) {
    if (!dag.index.emplace(n.name, dag.names.size()).second) {
      return Failf("duplicate task name \"{}\"", n.name);
    }
    dag.names.push_back(n.name);
  }
  dag.parents.resize(nodes.size());
  dag.children.resize(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::set<size_t> seen;
    for (const auto& d : nodes[i].deps) {
      auto it = dag.index.find(d);
      if (it == dag.index.end()) {
        return Failf("task \"{}\" depends on unknown task \"{}\"{}", nodes[i].name, d,
                     DidYouMean(d, dag.names));
      }
      if (it->second == i) return Failf("task \"{}\" depends on itself", nodes[i].name);
      if (!seen.insert(it->second).second) continue;
      dag.parents[i].push_back(it->second);
      dag.children[it->second].push_back(i);
    }
  }
  // Cycle detection by depth-first search, reporting the cycle's path.
  enum Color : char { kWhite, kGrey, kBlack };
  std::vector<Color> color(nodes.size(), kWhite);
  std::vector<size_t> stack;
  std::vector<std::pair<size_t, size_t>> work;  // node, next child position
  for (size_t root = 0; root < nodes.size(); ++root) {
    if (color[root] != kWhite) continue;
    work.emplace_back(root, 0);
    color[root] = kGrey;
    stack.push_back(root);
    while (!work.empty()) {
      auto& [node, pos] = work.back();
      if (pos < dag.children[node].size()) {
        size_t child = dag.children[node][pos++];
        if (color[child] == kGrey) {
          auto start = std::find(stack.begin(), stack.end(), child);
          std::vector<std::string> cycle;
          for (auto it = start; it != stack.end(); ++it) cycle.push_back(dag.names[*it]);
          cycle.push_back(dag.names[child]);
          return Failf("cycle detected: {}", Join(cycle, " -> "));
        }
        if (color[child] == kWhite) {
          color[child] = kGrey;
          stack.push_back(child);
          work.emplace_back(child, 0);
        }
      } else {
        color[node] = kBlack;
        stack.pop_back();
        work.pop_back();
      }
    }
  }
  dag.order = TopologicalOrder(dag);
  return dag;
}

static void CollectTaskRefs(std::string_view s, std::vector<std::string>& out) {
  for (const auto& ref : FindReferences(s)) {
    // tasks.<name>.results.<result>..., tasks.<name>.matrix.length and
    // tasks.<name>.matrix.<result>.length
    if (!StartsWith(ref.base, "tasks.")) continue;
    auto parts = Split(ref.base, '.');
    if (parts.size() >= 4 && (parts[2] == "results" || parts[2] == "matrix" ||
                              parts[2] == "inputs" || parts[2] == "outputs")) {
      if (std::find(out.begin(), out.end(), parts[1]) == out.end()) out.push_back(parts[1]);
    }
  }
}

static void CollectValueRefs(const model::ParamValue& v, std::vector<std::string>& out) {
  CollectTaskRefs(v.str, out);
  for (const auto& a : v.arr) CollectTaskRefs(a, out);
  for (const auto& [k, val] : v.obj) CollectTaskRefs(val, out);
}

std::vector<std::string> ResultDependencies(const model::PipelineTask& t) {
  std::vector<std::string> out;
  for (const auto& p : t.params) CollectValueRefs(p.value, out);
  for (const auto& w : t.workspaces) CollectTaskRefs(w.sub_path, out);
  for (const auto& w : t.when) {
    CollectTaskRefs(w.cel, out);
    CollectTaskRefs(w.input, out);
    for (const auto& v : w.values) CollectTaskRefs(v, out);
  }
  if (t.matrix) {
    for (const auto& p : t.matrix->params) CollectValueRefs(p.value, out);
    for (const auto& inc : t.matrix->include) {
      for (const auto& p : inc.params) CollectValueRefs(p.value, out);
    }
  }
  // Results an embedded spec reads directly (Tekton's propagated results).
  if (t.task_spec)
    ForEachTaskText(*t.task_spec, [&](std::string_view s) { CollectTaskRefs(s, out); });
  return out;
}

std::vector<std::string> TaskDependencies(const model::PipelineTask& t) {
  std::vector<std::string> out = t.run_after;
  for (auto& d : ResultDependencies(t)) {
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  }
  return out;
}

std::vector<size_t> TopologicalOrder(const Dag& dag) {
  std::vector<size_t> indegree(dag.names.size());
  for (size_t i = 0; i < dag.names.size(); ++i) indegree[i] = dag.parents[i].size();
  std::vector<size_t> order;
  std::vector<size_t> ready;
  for (size_t i = dag.names.size(); i-- > 0;) {
    if (indegree[i] == 0) ready.push_back(i);
  }
  while (!ready.empty()) {
    size_t n = ready.back();
    ready.pop_back();
    order.push_back(n);
    for (auto it = dag.children[n].rbegin(); it != dag.children[n].rend(); ++it) {
      if (--indegree[*it] == 0) ready.push_back(*it);
    }
  }
  return order;
}

}  // namespace strake::pipeline
