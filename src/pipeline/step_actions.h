// StepActions and step results (Tekton's docs/stepactions.md).
//
// A step that names a StepAction in its `ref` takes the action's body, its
// params substituted from what the step passes (Tekton's resolveStepRef and
// applyStepActionParameters). A step's results are files under its own
// directory; later steps read them as $(steps.<step>.results.<name>) in
// their env, command, args and `when`, substituted as each step starts (as
// Tekton's entrypoint does), and a task result may take its value from
// one. Pure.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "model/tekton.h"
#include "pipeline/substitute.h"

namespace strake::pipeline {

// The StepActions a run may use, by name.
using StepActions = std::map<std::string, model::StepActionSpec>;

// The step with its StepAction merged in: the action's image, workingDir
// and (where it gives them) command, args, script, env, volumeMounts and
// results; the step keeps its name, when, onError and timeout. Each param
// is what the step passes, substituted with `vars` (the task's), or the
// action's default (a default may name the action's other params); an
// object param's keys the step does not pass come from its default. A param
// the step passes a step's result ("$(steps.s.results.r)", with [*] for an
// array or object) becomes that reference wherever the action uses it,
// read when the step starts. A param the action does not declare, or one it
// needs that nothing gives, is an error.
Result<model::Step> InlineStepAction(const model::Step& step, const model::StepActionSpec& action,
                                     const Vars& vars);

// The steps with every `ref` inlined (an unknown StepAction is an error
// that names it).
Result<std::vector<model::Step>> InlineStepActions(const std::vector<model::Step>& steps,
                                                   const StepActions* actions, const Vars& vars);

// Tekton's reading of a result file: a JSON array of strings or an object
// of strings is one; else a JSON string's content; else the text as written.
model::ParamValue ParseResultText(const std::string& text);

// A step result's file: <steps_dir>/step-<step>/results/<name>.
std::string StepResultPath(const std::string& steps_dir, const std::string& step,
                           const std::string& name);

// The step and result a reference's base names ("steps.s.results.r", or
// "steps.s.results.r.key" of an object: the key is dropped), or {"", ""}
// when it names none.
std::pair<std::string, std::string> StepResultNamed(std::string_view base);

// The same for a task result's `value`, which is one whole reference
// ("$(steps.s.results.r)").
std::pair<std::string, std::string> StepResultOf(const std::string& value);

}  // namespace strake::pipeline
