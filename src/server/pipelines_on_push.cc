#include "server/pipelines_on_push.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/fs.h"
#include "base/log.h"
#include "pipeline/untrusted.h"
#include "pipeline/validate.h"

namespace strake::server {

Result<gitops::PushResult> PipelinesOnPush::OnPush(const gitops::Mirror& mirror,
                                                   const gitops::PushEvent& push) {
  gitops::PushResult out;
  auto runs = gitops::PipelineRunsForPush(mirror, push);
  if (!runs) {
    out.error = runs.error().message;
    return out;
  }
  // Every run is checked before any starts: a push starts all or nothing.
  for (const auto& r : *runs) {
    std::vector<model::Resource> all = r.resources;
    all.push_back(r.run);
    model::Diagnostics diags;
    pipeline::ValidateResources(all, diags);
    if (diags.HasErrors()) {
      out.error = diags.ErrorText();
      return out;
    }
    auto safe = pipeline::CheckUntrusted(std::get<model::PipelineRun>(r.run.value), r.resources,
                                         r.untrusted);
    if (!safe) {
      out.error = safe.error().message;
      return out;
    }
  }
  for (const auto& r : *runs) {
    const std::string& ns = r.run.meta.ns;
    const std::string& name = r.run.meta.name;
    STRAKE_TRY_ASSIGN(existing, store_.Get({"PipelineRun", ns, name}));
    if (existing) {  // this push was handled before a restart
      out.runs.push_back(name);
      continue;
    }
    if (!r.source_workspace.empty()) {
      // Checked out beside, then moved into place: a run never sees half a tree.
      STRAKE_TRY_ASSIGN(dir, pipeline::RunWorkspaceDir(data_dir_, ns, name, r.source_workspace));
      std::string tmp = dir + ".checkout";
      (void)RemoveAll(tmp);
      STRAKE_TRY(mirror.Checkout(push.sha, tmp));
      (void)RemoveAll(dir);
      if (std::rename(tmp.c_str(), dir.c_str()) != 0)
        return Failf("{}: {}", dir, std::strerror(errno));
    }
    auto submitted = engine_.Submit(r.run, r.resources, {}, /*store_resources=*/false);
    if (!submitted) {
      out.error = fmt::format("{}: {}", r.file, submitted.error().message);
      return out;
    }
    if (auto st = engine_.Resume(ns, *submitted); !st) {
      // Stored but not started: recorded, not retried (the next start of
      // the server resumes it).
      out.error = fmt::format("{}: {}", r.file, st.error().message);
      return out;
    }
    Log(LogLevel::kInfo, "pipelines: {} started for {} on {} ({})", *submitted,
        push.sha.substr(0, 12), push.branch, r.file);
    out.runs.push_back(*submitted);
  }
  return out;
}

Status PipelinesOnPush::ResumeInterrupted() {
  STRAKE_TRY_ASSIGN(runs, store_.List("PipelineRun", ""));
  for (const auto& r : runs) {
    auto managed = r.labels.find("app.kubernetes.io/managed-by");
    if (managed == r.labels.end() || managed->second != "pipelinesascode.tekton.dev") continue;
    const auto& conditions = r.status.value("conditions", store::Json::array());
    if (!conditions.empty() && conditions[0].value("status", "") != "Unknown") continue;
    if (!r.owner.empty()) continue;  // a task's child PipelineRun: its parent resumes it
    // Resume itself knows a finished run and only records it.
    auto st = engine_.Resume(r.key.ns, r.key.name);
    if (!st) Log(LogLevel::kWarn, "pipelines: resume {}: {}", r.key.name, st.error().message);
  }
  return Ok();
}

}  // namespace strake::server
