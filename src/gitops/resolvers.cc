#include "gitops/resolvers.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "base/strings.h"
#include "gitops/git.h"
#include "model/decode.h"
#include "model/diag.h"

namespace strake::gitops {

namespace {

using model::Json;
using model::ResolverRef;
using model::Resource;

std::string Where(const model::Origin& o) {
  return model::Diagnostic{model::Diagnostic::Severity::kError, o.file, o.mark, o.path, ""}
      .ToString();
}

Error RefError(const ResolverRef& ref, const std::string& message) {
  std::string where = Where(ref.origin);  // "file:l:c: path: "
  return Error{where + message};
}

const model::ParamValue* ParamOf(const ResolverRef& ref, std::string_view name) {
  for (const auto& p : ref.params) {
    if (p.name == name) return &p.value;
  }
  return nullptr;
}

std::string StringParam(const ResolverRef& ref, std::string_view name,
                        const std::string& fallback = "") {
  const auto* v = ParamOf(ref, name);
  return v && v->type == model::ParamType::kString ? v->str : fallback;
}

// The one Task or Pipeline a fetched file holds.
Result<Resource> OneOfKind(const std::string& text, const std::string& source,
                           const std::string& kind) {
  auto docs = model::ParseYaml(text, source);
  if (!docs) return tl::unexpected(docs.error());
  model::Diagnostics diags;
  auto resources = model::Decode(*docs, diags);
  if (diags.HasErrors()) return Fail(diags.ErrorText());
  std::vector<Resource> of_kind;
  for (auto& r : resources) {
    if (r.kind == kind) of_kind.push_back(std::move(r));
  }
  if (of_kind.size() != 1) {
    return Failf("{} holds {} {}s (the resolver needs exactly one)", source, of_kind.size(), kind);
  }
  return std::move(of_kind[0]);
}

// git-resolver.md's anonymous mode: url, revision (default main), pathInRepo.
Result<Resource> FromGit(const ResolverRef& ref, const std::string& kind,
                         const ResolverContext& ctx) {
  for (const char* scm : {"org", "repo", "token", "scmType", "serverURL"}) {
    if (ParamOf(ref, scm)) {
      return tl::unexpected(RefError(
          ref, fmt::format("the git resolver's API mode (param \"{}\") is not supported: give "
                           "url, revision and pathInRepo",
                           scm)));
    }
  }
  std::string url = StringParam(ref, "url");
  std::string path = StringParam(ref, "pathInRepo");
  std::string revision = StringParam(ref, "revision", "main");
  if (url.empty() || path.empty())
    return tl::unexpected(RefError(ref, "the git resolver needs params url and pathInRepo"));
  // Tekton's own examples write "/task/…": the repository's root.
  while (StartsWith(path, "/")) path.erase(0, 1);
  auto clean = CleanRepoPath(path);
  if (!clean) return tl::unexpected(RefError(ref, clean.error().message));
  auto fail = [&](const Error& e) {
    return tl::unexpected(RefError(ref, fmt::format("git {}@{}: {}", url, revision, e.message)));
  };
  auto mirror = Mirror::Open(ctx.mirror_root, url, ctx.egress);
  if (!mirror) return fail(mirror.error());
  if (auto fetched = (*mirror)->Fetch({}, ctx.fetch_timeout); !fetched)
    return fail(fetched.error());
  auto sha = (*mirror)->Resolve(revision);
  if (!sha) return fail(sha.error());
  auto text = (*mirror)->ReadFileAt(*sha, *clean);
  if (!text) return fail(text.error());
  if (!*text) return fail(Error{fmt::format("no file {}", *clean)});
  auto r = OneOfKind(**text, fmt::format("{}@{}:{}", url, revision, *clean), kind);
  if (!r) return fail(r.error());
  return r;
}

// cluster-resolver.md: kind (task or pipeline), name, namespace (the
// referring run's by default); from the files given, else from the store.
Result<Resource> FromCluster(const ResolverRef& ref, const std::string& kind, const std::string& ns,
                             const std::vector<Resource>& given, const ResolverContext& ctx) {
  std::string want = ToLower(StringParam(ref, "kind", "task"));
  if (want != ToLower(kind)) {
    return tl::unexpected(RefError(
        ref,
        fmt::format("the cluster resolver's kind is \"{}\" where a {} is needed", want, kind)));
  }
  std::string name = StringParam(ref, "name");
  if (name.empty()) return tl::unexpected(RefError(ref, "the cluster resolver needs param name"));
  std::string in = StringParam(ref, "namespace", ns);
  for (const auto& r : given) {
    if (r.kind == kind && r.meta.name == name && (r.meta.ns.empty() ? "default" : r.meta.ns) == in)
      return r;
  }
  if (ctx.stored) {
    auto stored = ctx.stored(kind, in, name);
    if (!stored) return tl::unexpected(RefError(ref, stored.error().message));
    if (*stored) return std::move(**stored);
  }
  return tl::unexpected(RefError(ref, fmt::format("no {} \"{}\" in namespace {}", kind, name, in)));
}

// Resolves the references of each resource in turn; what resolving one
// resource brings is appended after it is done (so references into it stay
// valid) and resolved in its turn, one level deeper.
class Resolver {
 public:
  Resolver(std::vector<Resource>& resources, const ResolverContext& ctx)
      : resources_(resources), ctx_(ctx), depth_(resources.size(), 0) {}

  Status Run() {
    for (size_t i = 0; i < resources_.size(); ++i) {
      STRAKE_TRY(ResolveIn(resources_[i], depth_[i]));
      int depth = depth_[i] + 1;
      for (auto& r : added_) {
        resources_.push_back(std::move(r));
        depth_.push_back(depth);
      }
      added_.clear();
    }
    return Ok();
  }

 private:
  // The name the resolved resource goes by: added once; one already there
  // by that name must be the same.
  Result<std::string> Add(Resource r, const ResolverRef& ref, int depth) {
    if (depth + 1 > kMaxResolveDepth) {
      return tl::unexpected(
          RefError(ref, fmt::format("resolution nested more than {} deep", kMaxResolveDepth)));
    }
    for (const auto* list : {&resources_, &added_}) {
      for (const auto& have : *list) {
        if (have.kind != r.kind || have.meta.name != r.meta.name) continue;
        if (have.raw.value("spec", Json::object()) == r.raw.value("spec", Json::object()))
          return r.meta.name;
        return tl::unexpected(RefError(
            ref, fmt::format("resolves to a {} \"{}\" that differs from the {} of that name given",
                             r.kind, r.meta.name, r.kind)));
      }
    }
    std::string name = r.meta.name;
    added_.push_back(std::move(r));
    return name;
  }

  Result<std::string> Resolve(const ResolverRef& ref, const std::string& kind, const Resource& from,
                              int depth) {
    std::string ns = from.meta.ns.empty() ? "default" : from.meta.ns;
    auto r = ref.resolver == "git" ? FromGit(ref, kind, ctx_)
                                   : FromCluster(ref, kind, ns, resources_, ctx_);
    if (!r) return tl::unexpected(r.error());
    return Add(std::move(*r), ref, depth);
  }

  // A task spec's steps' StepActions, and its JSON `raw` kept in step.
  Status ResolveSteps(const Resource& from, int depth, model::TaskSpec& spec, Json& raw) {
    for (size_t i = 0; i < spec.steps.size(); ++i) {
      auto& ref = spec.steps[i].ref;
      if (!ref || !ref->resolver) continue;
      STRAKE_TRY_ASSIGN(name, Resolve(*ref->resolver, "StepAction", from, depth));
      ref->name = name;
      ref->resolver.reset();
      raw["steps"][i]["ref"] = Json{{"name", name}};
    }
    return Ok();
  }

  // A spec's pipeline tasks, and its JSON `raw` kept in step.
  Status ResolveTasks(const Resource& from, int depth, model::PipelineSpec& spec, Json& raw) {
    for (const char* list : {"tasks", "finally"}) {
      auto& tasks = std::string_view(list) == "tasks" ? spec.tasks : spec.finally;
      for (size_t t = 0; t < tasks.size(); ++t) {
        if (tasks[t].task_spec) {
          STRAKE_TRY(ResolveSteps(from, depth, *tasks[t].task_spec, raw[list][t]["taskSpec"]));
        }
        if (tasks[t].pipeline_spec) {  // a task that runs an embedded Pipeline
          auto child = std::make_shared<model::PipelineSpec>(*tasks[t].pipeline_spec);
          STRAKE_TRY(ResolveTasks(from, depth, *child, raw[list][t]["pipelineSpec"]));
          tasks[t].pipeline_spec = std::move(child);
        }
        if (!tasks[t].task_resolver) continue;
        STRAKE_TRY_ASSIGN(name, Resolve(*tasks[t].task_resolver, "Task", from, depth));
        tasks[t].task_ref = name;
        tasks[t].task_resolver.reset();
        raw[list][t]["taskRef"] = Json{{"name", name}, {"kind", "Task"}};
      }
    }
    return Ok();
  }

  Status ResolveIn(Resource& r, int depth) {
    if (auto* p = std::get_if<model::Pipeline>(&r.value))
      return ResolveTasks(r, depth, p->spec, r.raw["spec"]);
    if (auto* t = std::get_if<model::Task>(&r.value))
      return ResolveSteps(r, depth, t->spec, r.raw["spec"]);
    if (auto* tr = std::get_if<model::TaskRun>(&r.value); tr && tr->spec.task_spec)
      return ResolveSteps(r, depth, *tr->spec.task_spec, r.raw["spec"]["taskSpec"]);
    if (auto* tr = std::get_if<model::TaskRun>(&r.value); tr && tr->spec.task_resolver) {
      STRAKE_TRY_ASSIGN(name, Resolve(*tr->spec.task_resolver, "Task", r, depth));
      tr->spec.task_ref = name;
      tr->spec.task_resolver.reset();
      r.raw["spec"]["taskRef"] = Json{{"name", name}, {"kind", "Task"}};
      return Ok();
    }
    auto* pr = std::get_if<model::PipelineRun>(&r.value);
    if (!pr) return Ok();
    if (pr->spec.pipeline_resolver) {
      STRAKE_TRY_ASSIGN(name, Resolve(*pr->spec.pipeline_resolver, "Pipeline", r, depth));
      pr->spec.pipeline_ref = name;
      pr->spec.pipeline_resolver.reset();
      r.raw["spec"]["pipelineRef"] = Json{{"name", name}};
      return Ok();
    }
    if (!pr->spec.pipeline_spec) return Ok();
    return ResolveTasks(r, depth, *pr->spec.pipeline_spec, r.raw["spec"]["pipelineSpec"]);
  }

  std::vector<Resource>& resources_;
  const ResolverContext& ctx_;
  std::vector<int> depth_;
  std::vector<Resource> added_;
};

bool StepsHaveRefs(const model::TaskSpec& spec) {
  return std::any_of(spec.steps.begin(), spec.steps.end(),
                     [](const model::Step& s) { return s.ref && s.ref->resolver; });
}

bool SpecHasRefs(const model::PipelineSpec& spec) {
  auto has = [](const model::PipelineTask& t) {
    return t.task_resolver.has_value() || (t.task_spec && StepsHaveRefs(*t.task_spec)) ||
           (t.pipeline_spec && SpecHasRefs(*t.pipeline_spec));
  };
  return std::any_of(spec.tasks.begin(), spec.tasks.end(), has) ||
         std::any_of(spec.finally.begin(), spec.finally.end(), has);
}

}  // namespace

bool HasResolverRefs(const std::vector<model::Resource>& resources) {
  for (const auto& r : resources) {
    if (auto* p = std::get_if<model::Pipeline>(&r.value); p && SpecHasRefs(p->spec)) return true;
    if (auto* tr = std::get_if<model::TaskRun>(&r.value); tr && tr->spec.task_resolver) return true;
    if (auto* tr = std::get_if<model::TaskRun>(&r.value);
        tr && tr->spec.task_spec && StepsHaveRefs(*tr->spec.task_spec)) {
      return true;
    }
    if (auto* t = std::get_if<model::Task>(&r.value); t && StepsHaveRefs(t->spec)) return true;
    if (auto* pr = std::get_if<model::PipelineRun>(&r.value)) {
      if (pr->spec.pipeline_resolver) return true;
      if (pr->spec.pipeline_spec && SpecHasRefs(*pr->spec.pipeline_spec)) return true;
    }
  }
  return false;
}

Status ResolveRemoteRefs(std::vector<model::Resource>& resources, const ResolverContext& ctx) {
  if (!HasResolverRefs(resources)) return Ok();
  return Resolver(resources, ctx).Run();
}

}  // namespace strake::gitops
