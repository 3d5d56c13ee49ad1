// Pipelines-as-Code: the PipelineRuns a push starts, read from the pushed
// commit's `.tekton/` directory with Tekton Pipelines-as-Code's layout and
// annotations:
//
//   pipelinesascode.tekton.dev/on-event: "[push]"
//   pipelinesascode.tekton.dev/on-target-branch: "[main, release-*]"
//   pipelinesascode.tekton.dev/on-path-change: "[src/**, go.mod]"   (optional)
//   pipelinesascode.tekton.dev/task: "[.tekton/tasks/lint.yaml]"     (repository paths)
//
// Every *.yaml/*.yml under .tekton/ is read; PipelineRuns with a matching
// on-event and on-target-branch run, Pipelines and Tasks there are what
// they reference. `{{revision}}`, `{{repo_url}}`, `{{repo_owner}}`,
// `{{repo_name}}`, `{{source_url}}`, `{{event_type}}`,
// `{{target_namespace}}`, `{{source_branch}}`, `{{target_branch}}` and
// `{{sender}}` are expanded in string values after parsing (never in the YAML
// text, so no value can change the document's structure); unknown ones stay
// as written, as Pipelines-as-Code leaves them.
//
// Untrusted values — a branch name (anyone who can push names it) and the
// sender — may only be the value of one of the PipelineRun's spec.params;
// anywhere else is an error that shows the safe form. The params that carry
// them are returned, for the pipeline-level check that they never reach a
// script (pipeline/untrusted.h).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "gitops/git.h"
#include "model/node.h"
#include "model/resource.h"

namespace strake::gitops {

struct PushEvent {
  std::string ns;          // the Repository's namespace: runs are created there
  std::string repository;  // the Repository's name
  std::string repo_url;    // as the Repository names it, credentials removed
  std::string branch;      // "main"
  std::string before;      // the branch's previous commit; "" for a new branch
  std::string sha;         // the pushed commit
  std::string sender;      // the pushed commit's author (a poll knows no pusher)
};

struct PacRun {
  std::string file;                        // ".tekton/push.yaml"
  model::Resource run;                     // the PipelineRun, named, variables expanded
  std::string source_workspace;            // the workspace the commit is checked out into; "" none
  std::vector<model::Resource> resources;  // Pipelines and Tasks it may reference
  std::map<std::string, std::string>
      untrusted;  // run param -> what it carries, "{{source_branch}}"
};

// The PipelineRuns `push` starts. An error (a file that does not parse, a
// PipelineRun that pastes an untrusted value, an unsupported annotation)
// names file:line:col and the field, and starts nothing.
Result<std::vector<PacRun>> PipelineRunsForPush(const Mirror& mirror, const PushEvent& push,
                                                const model::ParseLimits& limits = {});

// Pipelines-as-Code's list annotations: "[a, b]" or "a".
std::vector<std::string> PacList(const std::string& value);

}  // namespace strake::gitops
