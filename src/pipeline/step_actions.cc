#include "pipeline/step_actions.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "base/strings.h"

namespace strake::pipeline {

namespace {

using model::ParamType;
using model::ParamValue;

// The step result a passed value names, as the base to rename the param to
// ("steps.s.results.r"); empty when the value is anything else.
std::string StepResultBase(const ParamValue& v) {
  if (v.type != ParamType::kString) return "";
  auto refs = FindReferences(v.str);
  if (refs.size() != 1 || v.str != "$(" + refs[0].expr + ")") return "";
  if (StepResultNamed(refs[0].base).first.empty()) return "";
  return refs[0].base;
}

// A passed value that is exactly $(x[*]) of a string: Tekton substitutes
// nothing for it, so the param keeps its default (taskruns/stepaction-params.yaml).
bool IsStarOfString(const ParamValue& v, const Vars& vars) {
  if (v.type != ParamType::kString) return false;
  auto refs = FindReferences(v.str);
  if (refs.size() != 1 || v.str != "$(" + refs[0].expr + ")") return false;
  const ParamValue* whole = vars.Find(refs[0].base);
  return refs[0].index == Reference::Index::kStar && whole && whole->type == ParamType::kString;
}

// One param's value: what the step passes, merged over an object's default.
Result<ParamValue> PassedValue(const model::ParamSpec& spec, const ParamValue& given,
                               const Vars& vars) {
  if (spec.type == ParamType::kObject && spec.default_value && IsStarOfString(given, vars)) {
    return *spec.default_value;
  }
  STRAKE_TRY_ASSIGN(v, SubstituteValue(given, vars));
  if (spec.type == ParamType::kObject) {
    if (v.type != ParamType::kObject) {
      return Failf("param \"{}\" is an object; the step passes a {}", spec.name,
                   model::ParamTypeName(v.type));
    }
    if (spec.default_value) {
      ParamValue merged = *spec.default_value;
      for (const auto& [k, val] : v.obj) merged.obj[k] = val;
      return merged;
    }
  } else if (spec.type == ParamType::kArray && v.type != ParamType::kArray) {
    return Failf("param \"{}\" is an array; the step passes a {}", spec.name,
                 model::ParamTypeName(v.type));
  } else if (spec.type == ParamType::kString && v.type != ParamType::kString) {
    return Failf("param \"{}\" is a string; the step passes an {}", spec.name,
                 model::ParamTypeName(v.type));
  }
  return v;
}

// The action's params as its body sees them, and the ones renamed to step
// results.
Status ActionVars(const model::Step& step, const model::StepActionSpec& action, const Vars& vars,
                  Vars& own, std::map<std::string, std::string>& renames) {
  std::vector<std::string> declared;
  for (const auto& p : action.params) declared.push_back(p.name);
  for (const auto& p : step.params) {
    if (std::find(declared.begin(), declared.end(), p.name) == declared.end()) {
      return Failf("the StepAction has no param \"{}\"{}", p.name, DidYouMean(p.name, declared));
    }
  }
  std::vector<const model::ParamSpec*> defaults;  // resolved once the others are
  for (const auto& spec : action.params) {
    auto given = std::find_if(step.params.begin(), step.params.end(),
                              [&](const auto& p) { return p.name == spec.name; });
    if (given != step.params.end()) {
      if (std::string base = StepResultBase(given->value); !base.empty()) {
        renames["params." + spec.name] = base;
        continue;
      }
      auto v = PassedValue(spec, given->value, vars);
      if (!v) return tl::unexpected(v.error());
      own.Set("params." + spec.name, *v);
    } else if (spec.default_value) {
      own.Set("params." + spec.name, *spec.default_value);
      if (spec.default_value->type == ParamType::kString &&
          spec.default_value->str.find("$(params.") != std::string::npos) {
        defaults.push_back(&spec);
      }
    } else {
      return Failf("param \"{}\" has no default and the step does not pass it", spec.name);
    }
  }
  // Defaults that name other params, in as many rounds as they chain.
  for (size_t round = 0; round <= defaults.size(); ++round) {
    bool changed = false;
    for (const auto* spec : defaults) {
      const ParamValue* now = own.Find("params." + spec->name);
      STRAKE_TRY_ASSIGN(next, Substitute(now->str, own));
      if (next != now->str) {
        own.SetString("params." + spec->name, next);
        changed = true;
      }
    }
    if (!changed) return Ok();
  }
  return Fail("the StepAction's param defaults refer to each other in a cycle");
}

}  // namespace

Result<model::Step> InlineStepAction(const model::Step& step, const model::StepActionSpec& action,
                                     const Vars& vars) {
  Vars own;
  std::map<std::string, std::string> renames;
  STRAKE_TRY(ActionVars(step, action, vars, own, renames));
  auto text = [&](const std::string& s) { return Substitute(RenameReferences(s, renames), own); };
  auto list = [&](const std::vector<std::string>& items) {
    std::vector<std::string> renamed;
    renamed.reserve(items.size());
    for (const auto& i : items) renamed.push_back(RenameReferences(i, renames));
    return SubstituteList(renamed, own);
  };
  const model::Step& body = action.step;
  model::Step out = step;
  out.ref.reset();
  out.params.clear();
  STRAKE_TRY_ASSIGN(image, text(body.image));
  out.image = std::move(image);
  STRAKE_TRY_ASSIGN(working_dir, text(body.working_dir));
  out.working_dir = std::move(working_dir);
  if (!body.command.empty()) {
    STRAKE_TRY_ASSIGN(command, list(body.command));
    out.command = std::move(command);
  }
  if (!body.args.empty()) {
    STRAKE_TRY_ASSIGN(args, list(body.args));
    out.args = std::move(args);
  }
  if (!body.script.empty()) {
    STRAKE_TRY_ASSIGN(script, text(body.script));
    out.script = std::move(script);
  }
  if (!body.env.empty()) {
    out.env = body.env;
    for (auto& e : out.env) {
      auto v = text(e.value);
      if (!v) return tl::unexpected(v.error().Wrap("env " + e.name));
      e.value = std::move(*v);
    }
  }
  if (!body.env_from.empty()) out.env_from = body.env_from;
  if (!body.volume_mounts.empty()) out.volume_mounts = body.volume_mounts;
  if (!action.results.empty()) out.results = action.results;
  return out;
}

Result<std::vector<model::Step>> InlineStepActions(const std::vector<model::Step>& steps,
                                                   const StepActions* actions, const Vars& vars) {
  std::vector<model::Step> out;
  out.reserve(steps.size());
  for (const auto& s : steps) {
    if (!s.ref) {
      out.push_back(s);
      continue;
    }
    const std::string& name = s.ref->name;
    auto it = actions ? actions->find(name) : StepActions::const_iterator{};
    if (!actions || it == actions->end()) {
      std::vector<std::string> known;
      if (actions) {
        for (const auto& [n, a] : *actions) known.push_back(n);
      }
      return Failf("step \"{}\": unknown StepAction \"{}\"{}", s.name, name,
                   DidYouMean(name, known));
    }
    auto inlined = InlineStepAction(s, it->second, vars);
    if (!inlined) {
      return tl::unexpected(
          inlined.error().Wrap(fmt::format("step \"{}\" (StepAction \"{}\")", s.name, name)));
    }
    out.push_back(std::move(*inlined));
  }
  return out;
}

ParamValue ParseResultText(const std::string& text) {
  if (!text.empty() && (text[0] == '[' || text[0] == '{' || text[0] == '"')) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    auto all_strings = [](const auto& items) {
      return std::all_of(items.begin(), items.end(), [](const auto& x) { return x.is_string(); });
    };
    if (j.is_array() && all_strings(j)) return ParamValue::FromJson(j);
    if (j.is_object() && all_strings(j)) return ParamValue::FromJson(j);
    if (j.is_string()) return ParamValue::String(j.get<std::string>());
  }
  return ParamValue::String(text);
}

std::string StepResultPath(const std::string& steps_dir, const std::string& step,
                           const std::string& name) {
  return steps_dir + "/step-" + step + "/results/" + name;
}

std::pair<std::string, std::string> StepResultNamed(std::string_view base) {
  if (!base.starts_with("steps.")) return {};
  base.remove_prefix(6);
  size_t at = base.find(".results.");
  if (at == std::string_view::npos || at == 0) return {};
  std::string_view result = base.substr(at + 9);
  result = result.substr(0, result.find('.'));
  if (result.empty()) return {};
  return {std::string(base.substr(0, at)), std::string(result)};
}

std::pair<std::string, std::string> StepResultOf(const std::string& value) {
  auto refs = FindReferences(value);
  if (refs.size() != 1 || value != "$(" + refs[0].expr + ")") return {};
  return StepResultNamed(refs[0].base);
}

}  // namespace strake::pipeline
