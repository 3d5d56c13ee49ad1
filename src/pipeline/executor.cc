#include "pipeline/executor.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

#include "base/clock.h"
#include "base/container.h"
#include "base/duration.h"
#include "base/fs.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/mask.h"
#include "base/process.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "pipeline/artifacts.h"
#include "pipeline/images.h"
#include "pipeline/step_actions.h"
#include "pipeline/substitute.h"

namespace strake::pipeline {

namespace {

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr const char* kCacheFormat = "strake-cache-v1";

std::string HostPath() {
  const char* p = std::getenv("PATH");
  return p && *p ? p : kDefaultPath;
}

// "#!/usr/bin/env python3 -u" -> {"/usr/bin/env", "python3 -u"}: the kernel
// passes everything after the interpreter as one argument.
std::vector<std::string> ShebangArgv(const std::string& script) {
  std::string line = script.substr(2, script.find('\n') - 2);
  std::string_view rest = Trim(line);
  size_t space = rest.find_first_of(" \t");
  std::vector<std::string> argv = {std::string(rest.substr(0, space))};
  if (space != std::string_view::npos) {
    std::string_view arg = Trim(rest.substr(space));
    if (!arg.empty()) argv.emplace_back(arg);
  }
  return argv;
}

// Debian's BusyBox, for the images whose /bin/sh is BusyBox's ("" when it
// is not installed: the host's /bin/sh then).
const std::string& BusyboxPath() {
  static const std::string path = ::access("/usr/bin/busybox", X_OK) == 0 ? "/usr/bin/busybox" : "";
  return path;
}

std::string StepContainerName(const model::Step& s, size_t i) {
  return s.name.empty() ? "step-unnamed-" + std::to_string(i) : "step-" + s.name;
}

// Merges stepTemplate into a step: the step wins; env merges by name.
// computeResources merged key by key, as a strategic merge of the two maps
// does: what `over` sets wins, the rest is `base`'s.
CgroupLimits MergedLimits(const CgroupLimits& base, const CgroupLimits& over) {
  CgroupLimits out = base;
  if (over.memory_bytes > 0) out.memory_bytes = over.memory_bytes;
  if (over.cpu_limit_millis > 0) out.cpu_limit_millis = over.cpu_limit_millis;
  if (over.cpu_request_millis > 0) out.cpu_request_millis = over.cpu_request_millis;
  return out;
}

model::Step ApplyTemplate(const model::Step& tmpl, const model::Step& step) {
  model::Step out = step;
  if (out.image.empty()) out.image = tmpl.image;
  if (out.image_pull_policy.empty()) out.image_pull_policy = tmpl.image_pull_policy;
  if (out.command.empty() && out.script.empty()) out.command = tmpl.command;
  if (out.args.empty() && out.script.empty()) out.args = tmpl.args;
  if (out.working_dir.empty()) out.working_dir = tmpl.working_dir;
  std::vector<model::EnvVar> env = tmpl.env;
  for (const auto& e : step.env) {
    auto it = std::find_if(env.begin(), env.end(), [&](const auto& x) { return x.name == e.name; });
    if (it != env.end())
      *it = e;
    else
      env.push_back(e);
  }
  out.env = env;
  out.env_from = tmpl.env_from;
  out.env_from.insert(out.env_from.end(), step.env_from.begin(), step.env_from.end());
  out.resources = MergedLimits(tmpl.resources, step.resources);
  for (const auto& m : tmpl.volume_mounts) {
    bool have = std::any_of(out.volume_mounts.begin(), out.volume_mounts.end(),
                            [&](const auto& x) { return x.mount_path == m.mount_path; });
    if (!have) out.volume_mounts.push_back(m);
  }
  return out;
}

// Effective params: declared defaults overridden by given values; type and enum checked.
Result<std::map<std::string, model::ParamValue>> ResolveParams(const TaskRunJob& job) {
  std::map<std::string, model::ParamValue> out;
  std::map<std::string, const model::Param*> given;
  for (const auto& p : job.params) given[p.name] = &p;
  for (const auto& spec : job.spec.params) {
    auto it = given.find(spec.name);
    model::ParamValue v;
    if (it != given.end()) {
      v = it->second->value;
      if (v.type != spec.type) {
        return Failf("param \"{}\" is of type {} but was given a {}", spec.name,
                     model::ParamTypeName(spec.type), model::ParamTypeName(v.type));
      }
    } else if (spec.default_value) {
      v = *spec.default_value;
    } else {
      return Failf("missing value for param \"{}\" (it has no default)", spec.name);
    }
    if (!spec.enum_values.empty() && v.type == model::ParamType::kString &&
        std::find(spec.enum_values.begin(), spec.enum_values.end(), v.str) ==
            spec.enum_values.end()) {
      return Failf("param \"{}\": value \"{}\" is not one of the allowed values [{}]", spec.name,
                   v.str, Join(spec.enum_values, ", "));
    }
    if (v.type == model::ParamType::kObject) {
      for (const auto& key : spec.properties) {
        if (!v.obj.count(key)) {
          if (spec.default_value && spec.default_value->obj.count(key)) {
            v.obj[key] = spec.default_value->obj.at(key);
          } else {
            return Failf("param \"{}\" misses the key \"{}\"", spec.name, key);
          }
        }
      }
    }
    out[spec.name] = v;
  }
  // Values given for undeclared params stay visible (Tekton's propagation).
  for (const auto& p : job.params) {
    if (!out.count(p.name)) out[p.name] = p.value;
  }
  return out;
}

struct Layout {
  std::string run_dir, results, steps, scripts, home, work, status, plan;
};

// The paths a step sees: inside the sandbox, Tekton's; on the host, real ones.
struct Paths {
  std::string results, steps, scripts, home, work;
  std::map<std::string, std::string> workspaces;  // name -> path as seen by the step
  std::map<std::string, std::string> volumes;     // mountPath -> host dir
};

// Tekton's /tekton/steps/<container>/exitCode in the sandbox; a flat file on the host.
std::string ExitCodePath(const std::string& steps_dir, const std::string& container,
                         bool sandboxed) {
  return sandboxed ? PathJoin(steps_dir, container + "/exitCode")
                   : PathJoin(steps_dir, container + ".exitCode");
}

Vars MakeVars(const TaskRunJob& job, const std::map<std::string, model::ParamValue>& params,
              const Paths& paths, int attempt, bool sandboxed) {
  Vars v;
  for (const auto& w : job.workspaces) {
    bool bound = !w.host_path.empty();
    v.SetString("workspaces." + w.name + ".bound", bound ? "true" : "false");
    v.SetString("workspaces." + w.name + ".path", bound ? paths.workspaces.at(w.name) : "");
    v.SetString("workspaces." + w.name + ".claim", w.claim);
    v.SetString("workspaces." + w.name + ".volume", "ws-" + w.name);
  }
  for (const auto& w : job.spec.workspaces) {
    if (!v.Find("workspaces." + w.name + ".bound")) {
      v.SetString("workspaces." + w.name + ".bound", "false");
      v.SetString("workspaces." + w.name + ".path", "");
    }
  }
  for (const auto& r : job.spec.results) {
    v.SetString("results." + r.name + ".path", PathJoin(paths.results, r.name));
  }
  for (size_t i = 0; i < job.spec.steps.size(); ++i) {
    std::string c = StepContainerName(job.spec.steps[i], i);
    v.SetString("steps." + c + ".exitCode.path", ExitCodePath(paths.steps, c, sandboxed));
  }
  v.SetString("context.taskRun.name", job.name);
  v.SetString("context.taskRun.namespace", job.ns);
  v.SetString("context.taskRun.uid", job.uid);
  v.SetString("context.task.name", job.task_name);
  v.SetString("context.task.retry-count", std::to_string(attempt));
  v.SetString("context.pipelineRun.name", job.pipeline_run);
  v.SetString("context.pipelineRun.namespace", job.ns);
  v.SetString("context.pipelineRun.uid", job.pipeline_run_uid);
  v.SetString("context.pipeline.name", job.pipeline);
  v.SetString("context.pipelineTask.retries", std::to_string(job.retries));
  v.SetString("credentials.path", paths.home);
  // Tekton substitutes the params first and the task's own variables after:
  // a value that names the task's workspace or context (a pipeline passing
  // `$(workspaces.source.path)/Dockerfile`) reaches the steps resolved.
  for (const auto& [name, value] : params) {
    auto resolved = SubstituteValue(value, v);
    v.Set("params." + name, resolved ? *resolved : value);
  }
  return v;
}

// The job with its volumes' names resolved from its params, when a name
// holds a variable (null: none does).
Result<std::unique_ptr<TaskRunJob>> VolumesResolved(
    const TaskRunJob& job, const std::map<std::string, model::ParamValue>& params) {
  auto named = [](const model::Volume& v) { return v.source.find("$(") != std::string::npos; };
  if (std::none_of(job.spec.volumes.begin(), job.spec.volumes.end(), named)) return nullptr;
  Vars vars;
  for (const auto& [name, value] : params) vars.Set("params." + name, value);
  auto out = std::make_unique<TaskRunJob>(job);
  for (auto& v : out->spec.volumes) {
    auto source = Substitute(v.source, vars);
    if (!source) return tl::unexpected(source.error().Wrap("volume " + v.name));
    v.source = *source;
  }
  return out;
}

struct ResolvedStep {
  std::string container;
  model::Step step;               // substituted
  bool writes_artifacts = false;  // it names $(step.artifacts.path) or $(artifacts.path)
};

// Whether a step names its artifacts file.
bool StepWritesArtifacts(const model::Step& s) {
  auto names = [](const std::string& text) { return WritesArtifacts(text); };
  return names(s.script) || std::any_of(s.command.begin(), s.command.end(), names) ||
         std::any_of(s.args.begin(), s.args.end(), names) ||
         std::any_of(s.env.begin(), s.env.end(), [&](const auto& e) { return names(e.value); });
}

// Kubernetes' rule for an environment variable's name.
bool IsEnvVarName(std::string_view n) {
  if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

// envFrom as the env entries it stands for, each key of the ConfigMap or
// Secret a valueFrom reference (so values, masking and the cache key go as
// env's do). A later source wins over an earlier one, and env over both,
// as in Kubernetes; a key that is no variable name is skipped.
Status ExpandEnvFrom(model::Step& s, const TaskRunJob& job) {
  std::vector<model::EnvVar> from;
  for (const auto& src : s.env_from) {
    const auto& maps = src.secret ? job.secrets : job.config_maps;
    auto it = maps ? maps->find(src.name) : decltype(maps->end()){};
    if (!maps || it == maps->end()) {
      if (src.optional) continue;
      return Failf("envFrom: {} \"{}\" not found", src.secret ? "Secret" : "ConfigMap", src.name);
    }
    for (const auto& [key, value] : it->second.data) {
      std::string name = src.prefix + key;
      if (!IsEnvVarName(name)) continue;
      std::erase_if(from, [&](const auto& e) { return e.name == name; });
      model::EnvVar e;
      e.name = name;
      (src.secret ? e.secret_key_ref : e.config_map_key_ref) = model::KeyRef{src.name, key, false};
      from.push_back(std::move(e));
    }
  }
  for (auto& e : from) {
    bool explicit_env =
        std::any_of(s.env.begin(), s.env.end(), [&](const auto& x) { return x.name == e.name; });
    if (!explicit_env) s.env.push_back(std::move(e));
  }
  s.env_from.clear();
  return Ok();
}

// A step's own variables over the task's: $(step.results.<name>.path),
// $(step.artifacts.path) and $(artifacts.path).
const Vars& StepVars(const model::Step& s, const std::string& container, const Vars& task,
                     const std::string& steps_dir, bool writes_artifacts, Vars& scratch) {
  if (s.results.empty() && !writes_artifacts) return task;
  scratch = task;
  if (writes_artifacts) {
    scratch.SetString("step.artifacts.path", StepArtifactsPath(steps_dir, container));
    scratch.SetString("artifacts.path", StepArtifactsPath(steps_dir, container));
  }
  for (const auto& r : s.results) {
    scratch.SetString("step.results." + r.name + ".path",
                      PathJoin(steps_dir, container + "/results/" + r.name));
  }
  return scratch;
}

Status SubstituteWhen(std::vector<model::WhenExpression>& when, const Vars& vars) {
  for (auto& w : when) {
    STRAKE_TRY_ASSIGN(input, Substitute(w.input, vars));
    STRAKE_TRY_ASSIGN(values, SubstituteList(w.values, vars));
    w.input = std::move(input);
    w.values = std::move(values);
  }
  return Ok();
}

// The steps (or sidecars) as they run: StepActions inlined, the
// stepTemplate applied, envFrom expanded, variables substituted.
Result<std::vector<ResolvedStep>> ResolveSteps(const std::vector<model::Step>& written,
                                               const std::optional<model::Step>& tmpl,
                                               const Vars& task_vars, const std::string& prefix,
                                               const TaskRunJob& job,
                                               const std::string& steps_dir) {
  STRAKE_TRY_ASSIGN(steps, InlineStepActions(written, job.step_actions.get(), task_vars));
  std::vector<ResolvedStep> out;
  Vars scratch;
  for (size_t i = 0; i < steps.size(); ++i) {
    model::Step s = tmpl ? ApplyTemplate(*tmpl, steps[i]) : steps[i];
    std::string container = prefix == "step"
                                ? StepContainerName(s, i)
                                : "sidecar-" + (s.name.empty() ? std::to_string(i) : s.name);
    auto ctx = [&](const Error& e) { return tl::unexpected(e.Wrap(container)); };
    const bool writes_artifacts = prefix == "step" && StepWritesArtifacts(s);
    const Vars& vars = StepVars(s, container, task_vars, steps_dir, writes_artifacts, scratch);
    if (auto when = SubstituteWhen(s.when, vars); !when) return ctx(when.error().Wrap("when"));
    if (auto expanded = ExpandEnvFrom(s, job); !expanded) return ctx(expanded.error());
    auto script = Substitute(s.script, vars);
    if (!script) return ctx(script.error());
    s.script = *script;
    auto cmd = SubstituteList(s.command, vars);
    if (!cmd) return ctx(cmd.error());
    s.command = *cmd;
    auto args = SubstituteList(s.args, vars);
    if (!args) return ctx(args.error());
    s.args = *args;
    std::vector<std::string*> texts = {&s.image, &s.image_pull_policy, &s.working_dir,
                                       &s.stdout_path, &s.stderr_path};
    for (auto& m : s.volume_mounts) texts.insert(texts.end(), {&m.name, &m.mount_path});
    for (auto* text : texts) {
      auto done = Substitute(*text, vars);
      if (!done) return ctx(done.error());
      *text = std::move(*done);
    }
    for (auto& e : s.env) {
      auto val = Substitute(e.value, vars);
      if (!val) return ctx(val.error().Wrap("env " + e.name));
      e.value = *val;
    }
    auto on_error = Substitute(s.on_error, vars);
    if (!on_error) return ctx(on_error.error().Wrap("onError"));
    s.on_error = *on_error;
    if (!s.on_error.empty() && s.on_error != "continue" && s.on_error != "stopAndFail") {
      return ctx(Error{fmt::format("onError must be \"continue\" or \"stopAndFail\", found \"{}\"",
                                   s.on_error)});
    }
    out.push_back({container, std::move(s), writes_artifacts});
  }
  return out;
}

Result<std::string> EnvValue(const model::EnvVar& e, const TaskRunJob& job) {
  auto lookup = [&](const model::KeyRef& ref, const auto& maps,
                    const char* kind) -> Result<std::string> {
    if (maps) {
      auto it = maps->find(ref.name);
      if (it != maps->end()) {
        auto k = it->second.data.find(ref.key);
        if (k != it->second.data.end()) return k->second;
        if (ref.optional) return std::string();
        return Failf("env {}: {} \"{}\" has no key \"{}\"", e.name, kind, ref.name, ref.key);
      }
    }
    if (ref.optional) return std::string();
    return Failf("env {}: {} \"{}\" not found (apply it with -f)", e.name, kind, ref.name);
  };
  if (e.config_map_key_ref) return lookup(*e.config_map_key_ref, job.config_maps, "ConfigMap");
  if (e.secret_key_ref) return lookup(*e.secret_key_ref, job.secrets, "Secret");
  return e.value;
}

// Results are files the steps wrote: opened beneath the results directory,
// so a result that is a link to a host file, a FIFO or a device is refused.
// A result whose `value` names a step's result is read from that step's
// results directory. They are read as Tekton's `results-from: sidecar-logs`
// reads them (files, not a container's termination message), so the limit
// is Tekton's for that mode: `limit` bytes a result (its max-result-size).
Result<std::vector<TaskResult>> ReadResults(const model::TaskSpec& spec, const std::string& dir,
                                            const std::string& steps_dir, size_t limit,
                                            std::string* reason) {
  std::vector<TaskResult> out;
  for (const auto& r : spec.results) {
    const auto [step, step_result] = StepResultOf(r.value);
    auto fd = step.empty()
                  ? OpenBeneath(dir, r.name, O_RDONLY | O_NONBLOCK | O_NOCTTY)
                  : OpenBeneath(steps_dir, fmt::format("step-{}/results/{}", step, step_result),
                                O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (!fd && fd.error().Is(ErrorCode::kNotFound)) continue;  // not written: no result
    *reason = "Failed";
    if (!fd) return Failf("result \"{}\": {}", r.name, fd.error().message);
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return Failf("result \"{}\" is not a regular file", r.name);
    }
    auto text = static_cast<size_t>(st.st_size) <= limit
                    ? ReadFd(fd->get(), r.name, limit)
                    : Result<std::string>(Fail("over the limit"));
    if (!text) {
      *reason = "TaskRunResultLargerThanAllowedLimit";
      return Failf("result \"{}\" is over the {}-byte limit of a result", r.name, limit);
    }
    TaskResult tr{r.name, model::ParamValue::String(*text)};
    if (r.type != model::ParamType::kString) {
      auto j = nlohmann::json::parse(*text, nullptr, false);
      bool ok = r.type == model::ParamType::kArray ? j.is_array() : j.is_object();
      if (!ok) {
        *reason = "Failed";
        return Failf("result \"{}\" is declared {} but its file is not a JSON {}", r.name,
                     model::ParamTypeName(r.type), model::ParamTypeName(r.type));
      }
      tr.value = model::ParamValue::FromJson(model::Json::parse(*text));
    }
    out.push_back(std::move(tr));
  }
  return out;
}

// The steps' artifacts, each read beneath its step's directory (as results
// are), merged; "" when none wrote any.
Result<std::string> ReadArtifacts(const std::vector<ResolvedStep>& steps, const std::string& dir) {
  std::vector<Json> per_step;
  for (const auto& rs : steps) {
    if (!rs.writes_artifacts) continue;
    auto text = ReadFileBeneath(dir, rs.container + "/artifacts/provenance.json", 1 << 20);
    if (!text && text.error().Is(ErrorCode::kNotFound)) continue;
    if (!text) return Failf("{}: artifacts: {}", rs.container, text.error().message);
    Json j = Json::parse(*text, nullptr, false);
    if (!j.is_object()) return Failf("{}: artifacts: not a JSON object", rs.container);
    per_step.push_back(std::move(j));
  }
  Json merged = MergeArtifacts(per_step);
  return merged.is_null() ? std::string() : merged.dump();
}

// --- cache ---------------------------------------------------------------

std::string CacheEntryDir(const std::string& data_dir, const std::string& key) {
  return PathJoin(PathJoin(data_dir, "cache"), key);
}

// The real directory a mount stands for: its subPath made and resolved
// beneath the volume's directory.
Result<std::string> MountDir(const WorkspaceMount& m) {
  if (m.sub_path.empty()) return m.host_path;
  auto made = MakeDirsBeneath(m.host_path, m.sub_path, 0777);
  if (!made) return tl::unexpected(made.error());
  return ResolveBeneath(m.host_path, m.sub_path);
}

// A cache input's digest: mode and content of a file, the target of a link
// (never followed: a step may have pointed it anywhere).
Result<std::string> FileDigest(const std::string& root, const std::string& rel) {
  std::string full = PathJoin(root, rel);
  struct stat st {};
  if (::lstat(full.c_str(), &st) != 0) return Failf("{}: {}", full, std::strerror(errno));
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = ::readlink(full.c_str(), target, sizeof target);
    if (n < 0) return Failf("{}: {}", full, std::strerror(errno));
    return "link:" + Sha256Hex(std::string_view(target, static_cast<size_t>(n)));
  }
  auto fd = OpenBeneath(root, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (!fd) return tl::unexpected(fd.error());
  if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Failf("cache input {} is not a regular file", full);
  }
  auto digest = Sha256Fd(fd->get(), full);
  if (!digest) return tl::unexpected(digest.error());
  return std::string((st.st_mode & 0111) ? "x:" : "-:") + *digest;
}

std::pair<std::string, std::string> SplitWorkspacePath(const std::string& spec) {
  size_t colon = spec.find(':');
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

// Whether the cache key holds a Secret's value (an env var from a Secret, or
// a cache input in a workspace bound to one): those enter it keyed.
bool ReadsSecrets(const TaskRunJob& job, const std::vector<ResolvedStep>& steps) {
  bool env = std::any_of(steps.begin(), steps.end(), [](const ResolvedStep& rs) {
    return std::any_of(rs.step.env.begin(), rs.step.env.end(),
                       [](const model::EnvVar& e) { return e.secret_key_ref.has_value(); });
  });
  return env || std::any_of(job.workspaces.begin(), job.workspaces.end(),
                            [](const auto& w) { return w.secret && !w.host_path.empty(); });
}

// `secret_key` keys the values of Secrets (TaskExecutor::CacheSecretKey);
// `image_digests`: the steps run in their images, these (null: on this
// machine's programs).
Result<std::string> CacheKey(const TaskRunJob& job, const std::vector<ResolvedStep>& steps,
                             const std::map<std::string, model::ParamValue>& params,
                             const std::string& secret_key,
                             const std::vector<std::string>* image_digests) {
  Sha256 h;
  h.Field(kCacheFormat);
  // What ran in images and what ran with this machine's programs differ,
  // and so do two images a tag named: the bytes are in the key.
  if (image_digests) {
    h.Field("in-images");
    for (const auto& d : *image_digests) h.Field(d);
  }
  for (const auto& rs : steps) {
    const auto& s = rs.step;
    h.Field(rs.container);
    h.Field(s.image);
    h.Field(s.script);
    h.Field(Join(s.command, "\x1f"));
    h.Field(Join(s.args, "\x1f"));
    h.Field(s.working_dir);
    h.Field(s.on_error);
    for (const auto& e : s.env) {
      h.Field(e.name);
      auto v = EnvValue(e, job);
      std::string value = v ? *v : "";
      h.Field(e.secret_key_ref ? HmacSha256Hex(secret_key, value) : value);
    }
  }
  for (const auto& [name, value] : job.context_env) {
    h.Field("context:" + name);
    h.Field(value);
  }
  for (const auto& [name, value] : params) {
    const auto& sel = job.spec.cache.params;
    if (!sel.empty() && std::find(sel.begin(), sel.end(), name) == sel.end()) continue;
    h.Field(name);
    h.Field(value.ToJson().dump());
  }
  for (const auto& out : job.spec.cache.outputs) h.Field("out:" + out);
  for (const auto& in : job.spec.cache.inputs) {
    const auto parts = SplitWorkspacePath(in);
    const std::string& ws = parts.first;
    const std::string& glob = parts.second;
    h.Field("in:" + in);
    auto mount = std::find_if(job.workspaces.begin(), job.workspaces.end(),
                              [&](const auto& w) { return w.name == ws; });
    if (mount == job.workspaces.end() || mount->host_path.empty()) continue;
    auto root = MountDir(*mount);
    if (!root) return tl::unexpected(root.error());
    auto files = ListFilesRecursive(*root);
    if (!files) return tl::unexpected(files.error());
    for (const auto& f : *files) {
      if (!GlobMatch(glob, f)) continue;
      auto digest = FileDigest(*root, f);
      if (!digest) return tl::unexpected(digest.error());
      h.Field(f);
      // A Secret file's plain digest would let a reader of the key test
      // guesses of its value offline.
      h.Field(mount->secret ? "hmac:" + HmacSha256Hex(secret_key, *digest) : *digest);
    }
  }
  return h.HexDigest();
}

// The host directory of a workspace of the job ("" when it is not bound).
Result<std::string> HostWorkspacePath(const TaskRunJob& job, const std::string& ws) {
  for (const auto& w : job.workspaces) {
    if (w.name == ws) return w.host_path.empty() ? Result<std::string>("") : MountDir(w);
  }
  return std::string();
}

// Restores a cache entry: outputs into their workspaces, results returned.
Result<std::optional<std::vector<TaskResult>>> CacheRestore(const TaskRunJob& job,
                                                            const std::string& entry) {
  std::string results_file = PathJoin(entry, "results.json");
  if (!PathExists(results_file)) return std::optional<std::vector<TaskResult>>();
  auto text = ReadFile(results_file);
  if (!text) return tl::unexpected(text.error());
  auto j = model::Json::parse(*text, nullptr, false);
  if (!j.is_array()) return std::optional<std::vector<TaskResult>>();  // Corrupt: a miss.
  for (size_t i = 0; i < job.spec.cache.outputs.size(); ++i) {
    auto [ws, path] = SplitWorkspacePath(job.spec.cache.outputs[i]);
    std::string from = PathJoin(PathJoin(entry, "outputs/" + std::to_string(i)), path);
    auto host = HostWorkspacePath(job, ws);
    if (!host) return tl::unexpected(host.error());
    if (host->empty() || !PathExists(from)) continue;
    // Written beneath the workspace: a link a step left cannot redirect it.
    size_t slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
    STRAKE_TRY(MakeDirsBeneath(*host, parent, 0777).map([](Fd) {}));
    auto dir = ResolveBeneath(*host, parent);
    if (!dir) return tl::unexpected(dir.error());
    STRAKE_TRY(CopyTree(from, PathJoin(*dir, path.substr(slash + 1))));
  }
  std::vector<TaskResult> results;
  for (const auto& r : j) {
    results.push_back({r.value("name", ""), model::ParamValue::FromJson(r["value"])});
  }
  return std::optional<std::vector<TaskResult>>(std::move(results));
}

Status CacheSave(const TaskRunJob& job, const std::string& data_dir, const std::string& key,
                 const std::vector<TaskResult>& results) {
  std::string entry = CacheEntryDir(data_dir, key);
  std::string tmp = entry + ".tmp." + RandomSuffix(8);
  STRAKE_TRY(MakeDirs(tmp));
  for (size_t i = 0; i < job.spec.cache.outputs.size(); ++i) {
    auto [ws, path] = SplitWorkspacePath(job.spec.cache.outputs[i]);
    auto host = HostWorkspacePath(job, ws);
    // Resolved beneath the workspace: an output that is (or passes through)
    // a link out of it is not produced, and no host file enters the cache.
    auto from = host && !host->empty() ? ResolveBeneath(*host, path) : Result<std::string>("");
    if (!from || from->empty()) {
      (void)RemoveAll(tmp);
      return Failf("cache output \"{}\" was not produced{}", job.spec.cache.outputs[i],
                   from ? "" : ": " + from.error().message);
    }
    STRAKE_TRY(CopyTree(*from, PathJoin(PathJoin(tmp, "outputs/" + std::to_string(i)), path)));
  }
  model::Json j = model::Json::array();
  for (const auto& r : results) j.push_back({{"name", r.name}, {"value", r.value.ToJson()}});
  STRAKE_TRY(WriteFile(PathJoin(tmp, "results.json"), j.dump()));
  if (::rename(tmp.c_str(), entry.c_str()) != 0) {
    (void)RemoveAll(tmp);  // Another run stored the same key first: equally good.
  }
  return Ok();
}

}  // namespace

namespace {

// Entries of the host root that the sandbox makes itself.
const std::set<std::string> kOwnRoot = {"proc", "dev",       "sys",    "tmp",
                                        "run",  "workspace", "tekton", "lost+found"};

void EmitTree(const std::string& dir, const std::set<std::string>& expand,
              std::vector<std::string>& args) {
  if (dir != "/") args.insert(args.end(), {"--tmpfs", dir});
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (dir == "/" && kOwnRoot.count(name)) continue;
    names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::string path = dir == "/" ? std::string() : dir;
    path += '/';
    path += name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
      if (n > 0)
        args.insert(args.end(), {"--symlink", std::string(target, static_cast<size_t>(n)), path});
    } else if (S_ISDIR(st.st_mode)) {
      if (expand.count(path)) {
        EmitTree(path, expand, args);
      } else {
        args.insert(args.end(), {"--ro-bind", path, path});
      }
    } else if (S_ISREG(st.st_mode)) {
      args.insert(args.end(), {"--ro-bind", path, path});
    }
  }
}

}  // namespace

std::vector<std::string> SandboxRootArgs(const std::vector<std::string>& mount_points) {
  std::set<std::string> expand;
  for (const auto& mp : mount_points) {
    if (PathExists(mp)) continue;  // bwrap mounts over an existing directory.
    // Every existing directory above a missing mount point is expanded.
    std::string prefix;
    for (const auto& part : Split(mp, '/')) {
      if (part.empty()) continue;
      prefix += "/" + part;
      struct stat st {};
      if (::lstat(prefix.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) break;
      if (prefix != mp) expand.insert(prefix);
    }
  }
  std::vector<std::string> args;
  EmitTree("/", expand, args);
  return args;
}

TaskExecutor::TaskExecutor(ExecutorOptions options) : options_(std::move(options)) {
  if (options_.sandbox) {
    bwrap_ = FindExecutable("bwrap", HostPath());
    if (bwrap_.empty()) {
      Log(LogLevel::kWarn,
          "bwrap not found: steps run without a sandbox, with this machine's programs, not in "
          "their images (install bubblewrap)");
    }
  }
  if (bwrap_.empty()) sweeper_ = std::make_unique<MarkedSweeper>();
}

Status TaskExecutor::EnsureNamespaceDirs(const std::string& ns) const {
  std::lock_guard<std::mutex> lock(dirs_mu_);
  if (namespaces_.count(ns)) return Ok();
  STRAKE_TRY(MakeDirs(PathJoin(options_.data_dir, "runs/" + ns), 0755));
  STRAKE_TRY(MakeDirs(PathJoin(options_.data_dir, "logs/" + ns), 0755));
  namespaces_.insert(ns);
  return Ok();
}

Result<std::string> TaskExecutor::CacheSecretKey() const {
  std::lock_guard<std::mutex> lock(cache_key_mu_);
  if (!cache_secret_key_.empty()) return cache_secret_key_;
  std::string dir = PathJoin(options_.data_dir, "cache");
  std::string path = PathJoin(dir, "key");
  // Two processes making it at once: the last one's stays, and the other's
  // keys only miss until it reads the file again.
  if (!PathExists(path)) {
    STRAKE_TRY(MakeDirs(dir, 0700));
    STRAKE_TRY(WriteFileAtomic(path, HexEncode(RandomBytes(32)), 0600));
  }
  STRAKE_TRY_ASSIGN(key, ReadFile(path, 4096));
  if (key.size() < 32) return Failf("{}: too short to be a key", path);
  cache_secret_key_ = std::move(key);
  return cache_secret_key_;
}

Result<TaskRunOutcome> TaskExecutor::TryCache(const TaskRunJob& job) const {
  TaskRunOutcome out;
  auto params = ResolveParams(job);
  if (!params) return tl::unexpected(params.error());
  // The key sees Tekton's paths and no run names, so it is the same in every run.
  Paths canonical{
      "/tekton/results", "/tekton/steps", "/tekton/scripts", "/tekton/home", "/workspace", {}, {}};
  for (const auto& w : job.spec.workspaces) canonical.workspaces[w.name] = w.mount_path;
  TaskRunJob keyjob = job;
  keyjob.name = keyjob.uid = keyjob.pipeline_run = keyjob.pipeline_run_uid = "";
  Vars kv = MakeVars(keyjob, *params, canonical, 0, true);
  auto ksteps =
      ResolveSteps(job.spec.steps, job.spec.step_template, kv, "step", job, canonical.steps);
  if (!ksteps) return tl::unexpected(ksteps.error());
  std::string secret_key;
  if (ReadsSecrets(job, *ksteps)) {
    auto k = CacheSecretKey();
    if (!k) return tl::unexpected(k.error().Wrap("cache key"));
    secret_key = std::move(*k);
  }
  // In images: each step's, pinned for the run (what the steps will run).
  std::optional<std::vector<std::string>> digests;
  if (sandboxed() && options_.images) {
    digests.emplace();
    for (const auto& rs : *ksteps) {
      if (options_.images->OnHost(rs.step.image)) {
        digests->push_back("host");
        continue;
      }
      auto img = options_.images->Get(rs.step.image, rs.step.image_pull_policy, job);
      if (!img) return out;  // no hit: the attempt fails saying why
      digests->push_back(img->digest);
    }
    // Every step on the host: the key of a run without images.
    if (std::all_of(digests->begin(), digests->end(),
                    [](const std::string& d) { return d == "host"; }))
      digests.reset();
  }
  auto key = CacheKey(job, *ksteps, *params, secret_key, digests ? &*digests : nullptr);
  if (!key) return tl::unexpected(key.error().Wrap("cache key"));
  out.cache_key = *key;
  auto hit = CacheRestore(job, CacheEntryDir(options_.data_dir, *key));
  if (!hit) {
    Log(LogLevel::kWarn, "taskrun {}: cache restore failed: {}", job.name, hit.error().message);
  } else if (*hit) {
    out.succeeded = true;
    out.reason = "Cached";
    out.message = "Restored from cache " + key->substr(0, 12);
    out.results = std::move(**hit);
  }
  return out;
}

std::string TaskExecutor::LogPath(const std::string& ns, const std::string& taskrun,
                                  const std::string& step) const {
  return PathJoin(options_.data_dir, "logs/" + ns + "/" + taskrun + "." + step + ".log");
}

namespace {

// Tekton's exitCode files are only read through $(steps.<step>.exitCode.path).
// True when a text reads an earlier step's artifacts ($(steps.<s>.outputs.<n>)).
bool ReadsStepArtifacts(const std::string& text) {
  auto refs = FindReferences(text);
  return std::any_of(refs.begin(), refs.end(),
                     [](const Reference& r) { return !ArtifactNamed(r.base, "steps").of.empty(); });
}

// True when a step's argv, env or when read an earlier step's result.
bool ReadsStepResults(const StepPlan& sp) {
  auto reads = [](const std::string& text) {
    auto refs = FindReferences(text);
    return std::any_of(refs.begin(), refs.end(), [](const Reference& r) {
      return !StepResultNamed(r.base).first.empty() || !ArtifactNamed(r.base, "steps").of.empty();
    });
  };
  return reads(sp.script_text) || std::any_of(sp.argv.begin(), sp.argv.end(), reads) ||
         std::any_of(sp.env.begin(), sp.env.end(), reads) ||
         std::any_of(sp.when.begin(), sp.when.end(), [&](const StepWhen& w) {
           return reads(w.input) || std::any_of(w.values.begin(), w.values.end(), reads);
         });
}

ProbePlan ProbePlanOf(const char* name, const model::Probe& p) {
  ProbePlan out;
  out.name = name;
  out.handler = p.kind == model::Probe::Kind::kExec        ? "exec"
                : p.kind == model::Probe::Kind::kTcpSocket ? "tcpSocket"
                                                           : "httpGet";
  out.command = p.command;
  out.port = p.port.empty() ? 0 : std::stoi(p.port);  // a number: decoding says so
  out.path = p.path;
  out.headers = p.http_headers;
  out.initial_delay_seconds = p.initial_delay_seconds;
  out.period_seconds = p.period_seconds;
  out.timeout_seconds = p.timeout_seconds;
  out.success_threshold = p.success_threshold;
  out.failure_threshold = p.failure_threshold;
  return out;
}

// Runs git (the user's environment: their credentials and proxy), within
// ten minutes.
Status Git(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"git"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto p = Spawn({argv, CurrentEnv(), "", -1, -1, -1, {}});
  if (!p) return tl::unexpected(p.error());
  auto w = WaitProcess(*p, std::chrono::minutes(10));
  if (!w || w->outcome != WaitOutcome::kExited) {
    KillAndReap(*p);
    return Failf("{}: did not finish in 10 minutes", Join(argv, " "));
  }
  if (w->exit_code != 0) return Failf("{} exited with code {}", Join(argv, " "), w->exit_code);
  return Ok();
}

// Kubernetes' gitRepo volume: the repository cloned into `dir` (or its
// `directory` there, "." the volume itself), at `revision` when given.
Status CloneGitRepo(const model::Volume& v, const std::string& dir) {
  std::string name = v.directory;
  if (name.empty()) {
    std::string repo = v.source;
    while (!repo.empty() && repo.back() == '/') repo.pop_back();
    name = repo.substr(repo.rfind('/') + 1);
    if (EndsWith(name, ".git")) name.resize(name.size() - 4);
  }
  std::string target = name == "." ? dir : PathJoin(dir, name);
  STRAKE_TRY(Git({"clone", "--quiet", "--", v.source, target}));
  if (!v.revision.empty()) {
    STRAKE_TRY(Git({"-C", target, "checkout", "--quiet", v.revision, "--"}));
  }
  return Ok();
}

// True when a step keeps results of its own (or a task result reads one).
bool UsesStepResults(const model::TaskSpec& spec) {
  return std::any_of(spec.steps.begin(), spec.steps.end(),
                     [](const model::Step& s) {
                       return s.ref || !s.results.empty() || StepWritesArtifacts(s);
                     }) ||
         std::any_of(spec.results.begin(), spec.results.end(),
                     [](const model::ResultSpec& r) { return !r.value.empty(); });
}

bool UsesExitCodes(const model::TaskSpec& spec) {
  auto mentions = [](const std::string& text) {
    return text.find(".exitCode.path") != std::string::npos;
  };
  for (const auto& st : spec.steps) {
    if (mentions(st.script) || mentions(st.working_dir)) return true;
    for (const auto* list : {&st.args, &st.command}) {
      if (std::any_of(list->begin(), list->end(), mentions)) return true;
    }
    for (const auto& e : st.env) {
      if (mentions(e.value)) return true;
    }
  }
  return false;
}

}  // namespace

// One attempt of a TaskRun, in the order it goes: the run directory, the
// workspaces and volumes, the step plan, the steps (on the host or in the
// sandbox), then the results and the cache. Each part fails with the
// message of the TaskRun's condition.
class TaskExecutor::Attempt {
 public:
  Attempt(const TaskExecutor& ex, const TaskRunJob& job)
      : ex_(ex), job_(job), sandbox_(!ex.bwrap_.empty()) {}

  Status MakeRunDir();
  // Each container's image, pulled where needed (ExecutorOptions::images).
  Status PullImages(const std::vector<ResolvedStep>& steps,
                    const std::vector<ResolvedStep>& sidecars);
  Status WriteCredentials();
  Status OpenWorkspaces();
  Status MaterializeVolumes();
  Result<TaskPlan> Plan(const std::vector<ResolvedStep>& steps,
                        const std::vector<ResolvedStep>& sidecars);
  StepsOutcome RunOnHost(const TaskPlan& plan, int cancel_fd, Slot* slot) const;
  Result<StepsOutcome> RunInSandbox(TaskPlan& plan, std::optional<model::Millis> timeout,
                                    int cancel_fd);
  // Each container's computeResources as a cgroup of its own (ExecutorOptions::
  // cgroups), its descriptors in its plan; where there are none, a notice in
  // its log that the limits do not hold.
  Status LimitResources(TaskPlan& plan, const std::vector<ResolvedStep>& steps,
                        const std::vector<ResolvedStep>& sidecars);
  // A step the kernel killed for its memory limit: OOMKilled, as a kubelet
  // reports it.
  void MarkOomKilled(StepsOutcome& so) const;
  ~Attempt() {
    for (auto& c : cgroups_) c.second.Remove();
  }

  const Layout& layout() const { return lay_; }
  const Paths& paths() const { return paths_; }
  std::map<std::string, std::string>& logs() { return logs_; }
  const std::map<std::string, std::string>& image_ids() const { return image_ids_; }
  std::string Marker() const { return std::string(kTaskRunMarker) + "=" + job_.uid; }

 private:
  Result<std::vector<std::string>> ScriptArgv(const ResolvedStep& rs, size_t i, bool is_sidecar,
                                              StepPlan& sp);
  Result<StepPlan> PlanStep(const ResolvedStep& rs, size_t i, bool is_sidecar,
                            bool uses_exit_codes);
  // A mount of a workspace's volume at the workspace's own path: there
  // already, unless the workspace is isolated to the containers that name it.
  bool IsWorkspaceItself(const model::VolumeMount& m) const {
    if (!StartsWith(m.name, "ws-") || isolated_.count(m.name.substr(3))) return false;
    auto it = paths_.workspaces.find(m.name.substr(3));
    return it != paths_.workspaces.end() && it->second == m.mount_path && m.sub_path.empty();
  }
  std::vector<model::VolumeMount> OwnMounts(const model::Step& s) const;
  Status CheckHostMounts(const ResolvedStep& rs) const;
  void PlanMounts(const std::vector<ResolvedStep>& steps,
                  const std::vector<ResolvedStep>& sidecars);
  void WrapInMounts(StepPlan& sp, const std::vector<model::VolumeMount>& own) const;
  // The container `c` (steps, then sidecars) in its image: `strake
  // __image-exec` with its root, user, binds and working directory.
  void WrapInImage(StepPlan& sp, size_t c) const;
  const StepImage* ImageOf(size_t c) const {
    return c < images_.size() && images_[c] ? &*images_[c] : nullptr;
  }
  Status BindMounts(const std::vector<model::VolumeMount>& mounts, std::vector<std::string>& argv,
                    std::vector<int>& inherit, std::vector<Fd>& volume_fds) const;
  Result<std::vector<std::string>> SandboxArgv(std::vector<int>& inherit,
                                               std::vector<Fd>& volume_fds) const;

  const TaskExecutor& ex_;
  const TaskRunJob& job_;
  const bool sandbox_;
  Layout lay_;
  Paths paths_;
  // Each bound workspace opened beneath its volume, bound into the sandbox
  // by that descriptor.
  std::map<std::string, Fd> workspace_fds_;
  std::map<std::string, std::pair<std::string, bool>> volume_dirs_;  // host dir, read-only
  std::vector<std::pair<std::string, std::string>> log_binds_;       // host file, sandbox path
  std::map<std::string, std::string> logs_;                          // container -> host log
  std::vector<Fd> script_fds_;  // on the host: the steps' scripts, until the attempt ends
  // Workspaces that steps or sidecars name (Tekton's isolated workspaces):
  // mounted in those containers only.
  std::set<std::string> isolated_;
  // Each container's mounts (steps, then sidecars). When they differ, each
  // container runs in a mount namespace of its own (a nested bwrap) that
  // binds its mounts from `staged_`, the sources bound at
  // /tekton/mounts/<index> in the sandbox and hidden from every container.
  std::vector<std::vector<model::VolumeMount>> own_mounts_;
  bool per_container_ = false;
  std::vector<model::VolumeMount> staged_;  // mount_path: the staging path
  // Each container's image (steps, then sidecars), its root's place among
  // image_roots_ (bound at /tekton/images/<i>), and the user it runs as.
  std::vector<std::optional<StepImage>> images_;
  std::vector<size_t> image_slot_;
  std::vector<std::pair<unsigned, unsigned>> image_users_;
  std::vector<std::string> image_roots_;
  std::map<std::string, std::string> image_ids_;  // container -> repository@digest
  size_t step_count_ = 0;
  std::vector<std::pair<std::string, Cgroup>> cgroups_;  // container -> its cgroup
};

constexpr char kMountStage[] = "/tekton/mounts";
// Where the sandbox shows the image roots its containers run in.
constexpr char kImageStage[] = "/tekton/images";
// A container's PATH when its image gives none (Docker's default).
constexpr char kImageDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The run directory: few directories, made with one syscall each; the
// per-task filesystem work is a large part of a trivial task's cost.
Status TaskExecutor::Attempt::MakeRunDir() {
  lay_.run_dir = PathJoin(ex_.options_.data_dir, "runs/" + job_.ns + "/" + job_.name);
  lay_.results = lay_.run_dir + "/results";
  lay_.steps = sandbox_ ? lay_.run_dir + "/steps" : lay_.run_dir;
  lay_.scripts = lay_.run_dir + "/scripts";  // The sandbox's; on the host, scripts are memfds.
  // On the host, HOME is the work dir. A task that keeps nothing else in its
  // run directory (no results, exit codes or volumes) works in the run
  // directory itself: one inode fewer, and still an empty directory.
  const bool bare = !sandbox_ && job_.spec.results.empty() && job_.spec.volumes.empty() &&
                    !UsesExitCodes(job_.spec) && !UsesStepResults(job_.spec);
  lay_.work = bare ? lay_.run_dir : lay_.run_dir + "/work";
  lay_.home = sandbox_ ? lay_.run_dir + "/home" : lay_.work;
  lay_.status = lay_.run_dir + "/status";
  lay_.plan = lay_.run_dir + "/plan.json";
  STRAKE_TRY(ex_.EnsureNamespaceDirs(job_.ns));
  // A retry or a re-run starts clean: mkdir first, as it is the common case.
  if (::mkdir(lay_.run_dir.c_str(), 0777) != 0) {
    (void)RemoveAll(lay_.run_dir);
    STRAKE_TRY(MakeDir(lay_.run_dir, 0777));
  }
  std::vector<std::string> dirs;
  if (!bare) dirs.push_back(lay_.work);
  if (sandbox_ || !job_.spec.results.empty()) dirs.push_back(lay_.results);
  if (sandbox_) dirs.insert(dirs.end(), {lay_.home, lay_.steps, lay_.status, lay_.scripts});
  for (const auto& d : dirs) STRAKE_TRY(MakeDir(d, 0777));
  if (sandbox_) {
    paths_ = {"/tekton/results",
              "/tekton/steps",
              "/tekton/scripts",
              "/tekton/home",
              "/workspace",
              {},
              {}};
  } else {
    paths_ = {lay_.results, lay_.steps, lay_.scripts, lay_.home, lay_.work, {}, {}};
  }
  return Ok();
}

// Tekton's creds-init: the ServiceAccount's credentials as files in HOME
// (the run directory's home, fresh for each attempt).
Status TaskExecutor::Attempt::WriteCredentials() {
  if (job_.credentials.empty()) return Ok();
  static const std::map<std::string, model::ConfigMapData> kNone;
  STRAKE_TRY_ASSIGN(
      files, CredentialFiles(job_.credentials, job_.secrets ? *job_.secrets : kNone, paths_.home));
  for (const auto& [rel, file] : files) {
    STRAKE_TRY_ASSIGN(path, PathUnder(lay_.home, rel));
    STRAKE_TRY(MakeDirs(path.substr(0, path.rfind('/')), 0700));
    STRAKE_TRY(WriteFile(path, file.content, file.mode));
  }
  return Ok();
}

// Each bound workspace is opened beneath its volume now and bound into the
// sandbox by that descriptor: a link a step left in the volume cannot make
// it bind a host directory.
Status TaskExecutor::Attempt::OpenWorkspaces() {
  for (const auto& w : job_.workspaces) {
    auto decl = std::find_if(job_.spec.workspaces.begin(), job_.spec.workspaces.end(),
                             [&](const auto& d) { return d.name == w.name; });
    std::string mount =
        decl != job_.spec.workspaces.end() ? decl->mount_path : "/workspace/" + w.name;
    if (w.host_path.empty()) {
      paths_.workspaces[w.name] = sandbox_ ? mount : "";
      continue;
    }
    if (sandbox_) {
      auto fd = MakeDirsBeneath(w.host_path, w.sub_path, 0777);
      if (!fd) return Failf("workspace \"{}\": {}", w.name, fd.error().message);
      workspace_fds_[w.name] = std::move(*fd);
      paths_.workspaces[w.name] = mount;
    } else {
      auto dir = MountDir(w);
      if (!dir) return Failf("workspace \"{}\": {}", w.name, dir.error().message);
      paths_.workspaces[w.name] = *dir;
    }
  }
  return Ok();
}

// Volumes of the task, materialized under the run dir.
Status TaskExecutor::Attempt::MaterializeVolumes() {
  for (const auto& v : job_.spec.volumes) {
    std::string dir = lay_.run_dir + "/volumes/" + v.name;
    if (v.kind == model::Volume::Kind::kEmptyDir) {
      STRAKE_TRY(MakeDirs(dir, 0777));
    } else if (v.kind == model::Volume::Kind::kGitRepo) {
      STRAKE_TRY(MakeDirs(dir, 0777));
      if (auto cloned = CloneGitRepo(v, dir); !cloned) {
        return Failf("volume \"{}\": {}", v.name, cloned.error().message);
      }
    } else {
      const auto& maps =
          v.kind == model::Volume::Kind::kConfigMap ? job_.config_maps : job_.secrets;
      const char* kind = v.kind == model::Volume::Kind::kConfigMap ? "ConfigMap" : "Secret";
      auto it = maps ? maps->find(v.source) : decltype(maps->end()){};
      if (!maps || it == maps->end()) {
        if (!v.optional) return Failf("volume \"{}\": {} \"{}\" not found", v.name, kind, v.source);
        STRAKE_TRY(MakeDirs(dir, 0555));
      } else {
        STRAKE_TRY(Materialize(it->second, dir, {}));
      }
    }
    volume_dirs_[v.name] = {dir, v.kind != model::Volume::Kind::kEmptyDir};
  }
  return Ok();
}

// A step's directory in /tekton/steps, also named by its index, as in Tekton.
static Status MakeStepDir(const std::string& steps_dir, const std::string& container,
                          size_t index) {
  STRAKE_TRY(MakeDir(PathJoin(steps_dir, container), 0777));
  std::string link = PathJoin(steps_dir, std::to_string(index));
  if (::symlink(container.c_str(), link.c_str()) != 0 && errno != EEXIST) {
    return Failf("{}: {}", link, std::strerror(errno));
  }
  return Ok();
}

// On the host every step sees the same filesystem: a step's own mounts and
// isolated workspaces need the sandbox.
Status TaskExecutor::Attempt::CheckHostMounts(const ResolvedStep& rs) const {
  const model::Step& s = rs.step;
  if (!sandbox_ && !s.workspaces.empty()) {
    return Failf(
        "{}: a workspace isolated to some steps (workspaces: {}) needs the sandbox; install "
        "bubblewrap or drop --no-sandbox",
        rs.container, s.workspaces.front().name);
  }
  if (!sandbox_ && std::any_of(s.volume_mounts.begin(), s.volume_mounts.end(),
                               [&](const auto& m) { return !IsWorkspaceItself(m); })) {
    return Failf(
        "{}: volumeMounts need the sandbox (mountPath {}); install bubblewrap or drop "
        "--no-sandbox",
        rs.container, s.volume_mounts.front().mount_path);
  }
  return Ok();
}

// A script step's argv: its shebang's interpreter and the script, written
// to a file (the sandbox), a sealed memfd (the host), or as the step starts
// (when it reads earlier steps' artifacts).
Result<std::vector<std::string>> TaskExecutor::Attempt::ScriptArgv(const ResolvedStep& rs, size_t i,
                                                                   bool is_sidecar, StepPlan& sp) {
  const model::Step& s = rs.step;
  std::string script = s.script;
  const bool in_image = ImageOf(is_sidecar ? step_count_ + i : i) != nullptr;
  if (!StartsWith(script, "#!")) {
    // Tekton's preamble: the image's own /bin/sh in its image; on the host
    // root, what the well-known image's sh would be.
    script = (in_image ? std::string("#!/bin/sh") : DefaultShebang(s.image, BusyboxPath())) +
             "\nset -e\n" + script;
  } else if (!in_image) {
    size_t eol = script.find('\n');
    std::string line = script.substr(0, eol);
    std::string own = ImageShebang(s.image, line, BusyboxPath());
    if (own != line) script = own + (eol == std::string::npos ? "" : script.substr(eol));
  }
  std::string file = (is_sidecar ? "sidecar-script-" : "script-") + std::to_string(i);
  // Run the shebang's interpreter with the script as its argument, as the
  // kernel would. The script file itself is never exec'd, so another
  // thread's spawn holding it open for a moment cannot fail it with ETXTBSY.
  std::vector<std::string> argv = ShebangArgv(script);
  if (!is_sidecar && ReadsStepArtifacts(script)) {
    // Written as the step starts, with earlier steps' artifacts in it.
    sp.script_text = script;
    sp.script_path = sandbox_ ? PathJoin(paths_.steps, rs.container + "/script")
                              : PathJoin(lay_.steps, rs.container + ".script");
    argv.push_back(sp.script_path);
  } else if (sandbox_) {
    STRAKE_TRY(WriteFile(PathJoin(lay_.scripts, file), script, 0755));
    argv.push_back(PathJoin(paths_.scripts, file));
  } else {
    // On the host, in a sealed memfd the step inherits: no file to create
    // (inodes are most of a trivial task's cost) and none to clean up.
    STRAKE_TRY_ASSIGN(fd, SealedMemfd(file, script));
    sp.script_fd = fd.get();
    argv.push_back("/dev/fd/" + std::to_string(fd.get()));
    script_fds_.push_back(std::move(fd));
  }
  argv.insert(argv.end(), s.args.begin(), s.args.end());
  return argv;
}

Result<StepPlan> TaskExecutor::Attempt::PlanStep(const ResolvedStep& rs, size_t i, bool is_sidecar,
                                                 bool uses_exit_codes) {
  const model::Step& s = rs.step;
  StepPlan sp;
  sp.name = rs.container;
  std::vector<std::string> argv;
  if (!s.script.empty()) {
    STRAKE_TRY_ASSIGN(script_argv, ScriptArgv(rs, i, is_sidecar, sp));
    argv = std::move(script_argv);
  } else if (!s.command.empty()) {
    argv = s.command;
    argv.insert(argv.end(), s.args.begin(), s.args.end());
  } else if (const StepImage* img = ImageOf(is_sidecar ? step_count_ + i : i)) {
    // Kubernetes' rule: args replace the image's Cmd, after its Entrypoint.
    auto in_image = ImageArgv(*img, {}, s.args);
    if (!in_image) {
      return Failf("{}: image {} has no Entrypoint or Cmd; give the step a command or a script",
                   rs.container, s.image);
    }
    argv = std::move(*in_image);
  } else {
    // The image's entrypoint, where strake knows it.
    auto entry = EntrypointArgv(s.image, s.args, BusyboxPath());
    if (!entry) return tl::unexpected(entry.error().Wrap(rs.container));
    argv = std::move(*entry);
  }
  sp.argv = std::move(argv);
  const StepImage* image = ImageOf(is_sidecar ? step_count_ + i : i);
  std::string path_env = image ? std::string(kImageDefaultPath) : HostPath();
  std::vector<std::string> env;
  // The image's Env first; the step's own variables replace them.
  if (image) {
    for (const auto& e : image->env) {
      const std::string name = e.substr(0, e.find('='));
      if (std::any_of(s.env.begin(), s.env.end(), [&](const auto& v) { return v.name == name; }))
        continue;
      if (name == "PATH") {
        path_env = e.substr(e.find('=') + 1);
      } else if (e.find('=') != std::string::npos) {
        env.push_back(e);
      }
    }
  }
  for (const auto& e : s.env) {
    auto v = EnvValue(e, job_);
    if (!v) return tl::unexpected(v.error().Wrap(rs.container));
    if (e.secret_key_ref && !v->empty() && v->size() < kMinSecretLength) {
      sp.notice += fmt::format(
          "warning: env {} (Secret {} key {}) is shorter than {} characters and cannot be "
          "masked in this log. ",
          e.name, e.secret_key_ref->name, e.secret_key_ref->key, kMinSecretLength);
    }
    if (e.name == "PATH") {
      path_env = *v;
    } else {
      env.push_back(e.name + "=" + *v);
    }
  }
  env.push_back("PATH=" + path_env);
  auto has = [&env](const std::string& name) {
    return std::any_of(env.begin(), env.end(),
                       [&](const std::string& x) { return StartsWith(x, name + "="); });
  };
  if (!has("HOME")) env.push_back("HOME=" + paths_.home);
  for (const auto& [name, value] : job_.context_env) {
    if (!has(name)) env.push_back(fmt::format("{}={}", name, value));
  }
  env.push_back(Marker());
  sp.env = std::move(env);
  sp.cwd = !s.working_dir.empty()       ? s.working_dir
           : !image                     ? paths_.work
           : image->working_dir.empty() ? std::string("/")
                                        : image->working_dir;
  if (is_sidecar) {
    for (auto [name, probe] : {std::pair{"startupProbe", &s.startup_probe},
                               std::pair{"readinessProbe", &s.readiness_probe}}) {
      if (*probe) sp.probes.push_back(ProbePlanOf(name, **probe));
    }
  }
  if (!is_sidecar) {
    for (const auto& w : s.when) sp.when.push_back({w.input, w.op, w.values});
    sp.stdout_path = s.stdout_path;
    sp.stderr_path = s.stderr_path;
    if (ReadsStepResults(sp)) sp.step_results_dir = paths_.steps;
    if (!s.results.empty()) STRAKE_TRY(MakeDirs(PathJoin(lay_.steps, rs.container + "/results")));
    sp.continue_on_error = s.on_error == "continue";
    if (s.timeout) sp.timeout_ms = s.timeout->count();
    if (sandbox_) STRAKE_TRY(MakeStepDir(lay_.steps, rs.container, i));
    if (rs.writes_artifacts)
      STRAKE_TRY(MakeDirs(PathJoin(lay_.steps, rs.container + "/artifacts"), 0777));
    if (sandbox_ || uses_exit_codes)
      sp.exit_code_path = ExitCodePath(paths_.steps, rs.container, sandbox_);
  }
  std::string host_log = ex_.LogPath(job_.ns, job_.name, rs.container);
  if (sandbox_) (void)WriteFile(host_log, "");  // A bind mount needs the file to exist.
  logs_[rs.container] = host_log;
  if (sandbox_) {
    sp.log_path = "/tekton/logs/" + rs.container + ".log";
    log_binds_.emplace_back(host_log, sp.log_path);
  } else {
    sp.log_path = host_log;
  }
  STRAKE_TRY(CheckHostMounts(rs));
  return sp;
}

namespace {

// Tekton's ApplyTaskLevelComputeResources: a TaskRun's own limits replace
// each step's, its requests are shared evenly among the steps; sidecars
// keep theirs. Then stepSpecs and sidecarSpecs, merged key by key into
// their container's (a strategic merge).
Status OverrideResources(const model::ComputeOverrides& compute, std::vector<ResolvedStep>& steps,
                         std::vector<ResolvedStep>& sidecars) {
  const CgroupLimits& task = compute.task;
  for (auto& rs : steps) {
    if (task.memory_bytes > 0 || task.cpu_limit_millis > 0) {
      rs.step.resources.memory_bytes = task.memory_bytes;
      rs.step.resources.cpu_limit_millis = task.cpu_limit_millis;
    }
    if (task.cpu_request_millis > 0) {
      const auto n = static_cast<int64_t>(steps.size());
      rs.step.resources.cpu_request_millis = (task.cpu_request_millis + n - 1) / n;
    }
  }
  for (auto [given, list, what] : {std::tuple{&compute.steps, &steps, "stepSpecs"},
                                   std::tuple{&compute.sidecars, &sidecars, "sidecarSpecs"}}) {
    for (const auto& entry : *given) {
      const std::string& name = entry.first;
      const CgroupLimits& limits = entry.second;
      auto it = std::find_if(list->begin(), list->end(),
                             [&](const ResolvedStep& rs) { return rs.step.name == name; });
      if (it == list->end())
        return Failf("{}: the task has no {} named \"{}\"", what,
                     list == &steps ? "step" : "sidecar", name);
      it->step.resources = MergedLimits(it->step.resources, limits);
    }
  }
  return Ok();
}

}  // namespace

Status TaskExecutor::Attempt::LimitResources(TaskPlan& plan, const std::vector<ResolvedStep>& steps,
                                             const std::vector<ResolvedStep>& sidecars) {
  const Cgroups* cgroups = ex_.options_.cgroups;
  // A new cgroup per attempt: nothing of an earlier one (its processes,
  // its OOM count) carries over to a retry.
  const std::string attempt = NewUid().substr(0, 8);
  auto limit = [&](StepPlan& sp, const model::Step& s) -> Status {
    if (s.resources.empty()) return Ok();
    if (!cgroups) {
      sp.notice += fmt::format("warning: computeResources are not applied on this machine: {}. ",
                               ex_.options_.cgroups_unavailable);
      return Ok();
    }
    auto cg = cgroups->Create(fmt::format("tr-{}-{}-{}", job_.uid, attempt, sp.name), s.resources);
    if (!cg) return tl::unexpected(cg.error().Wrap(sp.name + ": computeResources"));
    sp.cgroup_fds = cg->join_fds();
    cgroups_.emplace_back(sp.name, std::move(*cg));
    return Ok();
  };
  for (size_t i = 0; i < steps.size(); ++i) STRAKE_TRY(limit(plan.steps[i], steps[i].step));
  for (size_t i = 0; i < sidecars.size(); ++i)
    STRAKE_TRY(limit(plan.sidecars[i], sidecars[i].step));
  return Ok();
}

void TaskExecutor::Attempt::MarkOomKilled(StepsOutcome& so) const {
  for (auto& st : so.steps) {
    auto it = std::find_if(cgroups_.begin(), cgroups_.end(),
                           [&](const auto& c) { return c.first == st.name; });
    if (it == cgroups_.end() || st.exit_code == 0 || !it->second.OomKilled()) continue;
    st.reason = "OOMKilled";
    st.message =
        "the step ran out of memory: the kernel killed it at its computeResources "
        "memory limit";
    if (StartsWith(so.message, "\"" + st.name + "\" exited")) so.message += " (OOMKilled)";
  }
}

// The plan: argv, env and files for each step and sidecar. Step logs are
// flat files, logs/<ns>/<taskrun>.<container>.log (no directory per
// TaskRun); in the sandbox each is bound at /tekton/logs/.
Result<TaskPlan> TaskExecutor::Attempt::Plan(const std::vector<ResolvedStep>& steps,
                                             const std::vector<ResolvedStep>& sidecars) {
  TaskPlan plan;
  bool uses_exit_codes = UsesExitCodes(job_.spec);
  step_count_ = steps.size();
  PlanMounts(steps, sidecars);
  auto wrap = [&](StepPlan& sp, size_t c) {
    if (ImageOf(c)) {
      WrapInImage(sp, c);
    } else if (per_container_) {
      WrapInMounts(sp, own_mounts_[c]);
    }
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    STRAKE_TRY_ASSIGN(sp, PlanStep(steps[i], i, false, uses_exit_codes));
    wrap(sp, i);
    plan.steps.push_back(std::move(sp));
  }
  for (size_t i = 0; i < sidecars.size(); ++i) {
    STRAKE_TRY_ASSIGN(sp, PlanStep(sidecars[i], i, true, uses_exit_codes));
    wrap(sp, steps.size() + i);
    plan.sidecars.push_back(std::move(sp));
  }
  // Every value of every Secret the task can read is masked in its logs.
  plan.secrets = SecretValues(job_);
  return plan;
}

// A container's mounts: its volumeMounts (less a workspace's volume at the
// workspace's own path, which every container has) and the workspaces it
// names, at their mountPath or the workspace's.
std::vector<model::VolumeMount> TaskExecutor::Attempt::OwnMounts(const model::Step& s) const {
  std::vector<model::VolumeMount> out;
  for (const auto& m : s.volume_mounts) {
    if (!IsWorkspaceItself(m)) out.push_back(m);
  }
  for (const auto& w : s.workspaces) {
    auto bound = std::find_if(job_.workspaces.begin(), job_.workspaces.end(),
                              [&](const auto& b) { return b.name == w.name; });
    if (bound == job_.workspaces.end() || bound->host_path.empty()) continue;  // optional
    model::VolumeMount m;
    m.name = "ws-" + w.name;
    m.mount_path = w.mount_path.empty() ? paths_.workspaces.at(w.name) : w.mount_path;
    m.read_only = bound->read_only;
    out.push_back(std::move(m));
  }
  return out;
}

// Two mounts of the same source (bound once at the stage).
static bool SameSource(const model::VolumeMount& a, const model::VolumeMount& b) {
  return a.name == b.name && a.sub_path == b.sub_path && a.read_only == b.read_only;
}

// Whether the containers' mounts differ (or a workspace is isolated): then
// each container gets its own, and their sources are staged.
void TaskExecutor::Attempt::PlanMounts(const std::vector<ResolvedStep>& steps,
                                       const std::vector<ResolvedStep>& sidecars) {
  isolated_.clear();
  for (const auto* list : {&steps, &sidecars}) {
    for (const auto& rs : *list) {
      for (const auto& w : rs.step.workspaces) isolated_.insert(w.name);
    }
  }
  own_mounts_.clear();
  for (const auto* list : {&steps, &sidecars}) {
    for (const auto& rs : *list) own_mounts_.push_back(OwnMounts(rs.step));
  }
  auto same = [](const model::VolumeMount& a, const model::VolumeMount& b) {
    return a.name == b.name && a.mount_path == b.mount_path && a.sub_path == b.sub_path &&
           a.read_only == b.read_only;
  };
  auto equal = [&](const auto& a, const auto& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), same);
  };
  per_container_ =
      sandbox_ && (!isolated_.empty() ||
                   std::any_of(own_mounts_.begin(), own_mounts_.end(),
                               [&](const auto& m) { return !equal(m, own_mounts_.front()); }));
  staged_.clear();
  if (!per_container_) return;
  for (const auto& mounts : own_mounts_) {
    for (const auto& m : mounts) {
      if (std::none_of(staged_.begin(), staged_.end(),
                       [&](const auto& s) { return SameSource(s, m); })) {
        model::VolumeMount s = m;
        s.mount_path = fmt::format("{}/{}", kMountStage, staged_.size());
        staged_.push_back(std::move(s));
      }
    }
  }
}

// The container runs in a mount namespace of its own: a bwrap inside the
// sandbox binds its mounts from the stage and hides the stage.
void TaskExecutor::Attempt::WrapInMounts(StepPlan& sp,
                                         const std::vector<model::VolumeMount>& own) const {
  // A user namespace of its own: root without CAP_SYS_ADMIN (the sandbox
  // dropped it) could not mount otherwise.
  std::vector<std::string> argv = {ex_.bwrap_, "--die-with-parent", "--unshare-user", "--bind", "/",
                                   "/"};
  for (const auto& m : own) {
    auto staged = std::find_if(staged_.begin(), staged_.end(),
                               [&](const auto& s) { return SameSource(s, m); });
    argv.insert(argv.end(),
                {m.read_only ? "--ro-bind" : "--bind", staged->mount_path, m.mount_path});
  }
  argv.insert(argv.end(), {"--tmpfs", kMountStage, "--chdir", sp.cwd, "--"});
  argv.insert(argv.end(), std::make_move_iterator(sp.argv.begin()),
              std::make_move_iterator(sp.argv.end()));
  sp.argv = std::move(argv);
}

void TaskExecutor::Attempt::WrapInImage(StepPlan& sp, size_t c) const {
  ContainerSpec spec;
  spec.image_root = fmt::format("{}/{}", kImageStage, image_slot_[c]);
  std::tie(spec.uid, spec.gid) = image_users_[c];
  std::set<std::string> targets;
  auto bind = [&](const std::string& source, const std::string& target, bool read_only) {
    if (targets.insert(target).second) spec.binds.push_back({source, target, read_only});
  };
  // Tekton's paths (results, steps, scripts, home, logs, this binary) and
  // the workspaces, as the sandbox has them.
  bind("/tekton", "/tekton", false);
  for (const auto& [name, path] : paths_.workspaces) {
    if (!path.empty() && !isolated_.count(name) && workspace_fds_.count(name))
      bind(path, path, false);
  }
  for (const auto& m : own_mounts_[c]) {
    if (!per_container_) {
      bind(m.mount_path, m.mount_path, m.read_only);
      continue;
    }
    auto staged = std::find_if(staged_.begin(), staged_.end(),
                               [&](const auto& st) { return SameSource(st, m); });
    if (staged != staged_.end()) bind(staged->mount_path, m.mount_path, m.read_only);
  }
  // What the sandbox keeps for other containers is not this one's.
  if (per_container_) spec.hidden.emplace_back(kMountStage);
  spec.hidden.emplace_back(kImageStage);
  // Each container its own PID namespace, as in a pod.
  spec.pid_namespace = true;
  spec.host_proc_fallback = true;  // the sandbox's /proc: its own processes only
  spec.sandbox_dev = true;         // bubblewrap's minimal /dev already
  spec.cwd = sp.cwd;
  sp.cwd = "/";
  sp.container = ContainerArgs(spec);
}

Status TaskExecutor::Attempt::PullImages(const std::vector<ResolvedStep>& steps,
                                         const std::vector<ResolvedStep>& sidecars) {
  images_.clear();
  image_slot_.clear();
  image_users_.clear();
  image_roots_.clear();
  image_ids_.clear();
  if (!sandbox_ || !ex_.options_.images) return Ok();
  for (const auto* list : {&steps, &sidecars}) {
    for (const auto& rs : *list) {
      if (ex_.options_.images->OnHost(rs.step.image)) {
        image_slot_.push_back(0);
        image_users_.emplace_back(0, 0);
        images_.emplace_back(std::nullopt);
        continue;
      }
      auto img = ex_.options_.images->Get(rs.step.image, rs.step.image_pull_policy, job_);
      if (!img) return tl::unexpected(img.error().Wrap(rs.container));
      auto user = ImageUser(img->user, img->root);
      if (!user)
        return tl::unexpected(user.error().Wrap(rs.container + ": image " + rs.step.image));
      auto at = std::find(image_roots_.begin(), image_roots_.end(), img->root);
      image_slot_.push_back(static_cast<size_t>(at - image_roots_.begin()));
      if (at == image_roots_.end()) image_roots_.push_back(img->root);
      image_users_.push_back(*user);
      image_ids_[rs.container] = img->name.empty() ? img->digest : img->name + "@" + img->digest;
      images_.emplace_back(std::move(*img));
    }
  }
  return Ok();
}

// Host: the step runner in this thread. What the steps leave running, even
// out of their process groups (setsid, a daemon), ends with the task, as the
// sandbox's PID namespace ends it: found by the marker, within the
// sweeper's batch (20 ms) of the task's end.
StepsOutcome TaskExecutor::Attempt::RunOnHost(const TaskPlan& plan, int cancel_fd,
                                              Slot* slot) const {
  StepsOutcome so = RunSteps(plan, cancel_fd, slot);
  if (slot) slot->Release();
  if (!job_.uid.empty()) ex_.sweeper_->Add(Marker());
  return so;
}

// bwrap's command line: the host read-only, the data directory hidden, the
// workspaces and volumes bound by descriptor, the run directory at /tekton.
Result<std::vector<std::string>> TaskExecutor::Attempt::SandboxArgv(
    std::vector<int>& inherit, std::vector<Fd>& volume_fds) const {
  std::vector<std::string> argv = {ex_.bwrap_,      "--die-with-parent", "--unshare-pid",
                                   "--unshare-ipc", "--unshare-uts",     "--hostname",
                                   "strake"};
  std::vector<std::string> mount_points;
  for (const auto& [name, path] : paths_.workspaces) mount_points.push_back(path);
  for (const auto& mounts : own_mounts_) {
    for (const auto& m : mounts) mount_points.push_back(m.mount_path);
  }
  auto root = SandboxRootArgs(mount_points);
  argv.insert(argv.end(), root.begin(), root.end());
  auto caps = SandboxCapabilityArgs();
  argv.insert(argv.end(), caps.begin(), caps.end());
  argv.insert(argv.end(), {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run",
                           "--tmpfs", ex_.options_.data_dir});
  // The data directory (its keys, every run's logs) hidden under the name it
  // was given and where it really is, when a symbolic link leads there.
  const std::string real_data = RealPath(ex_.options_.data_dir);
  if (!real_data.empty() && real_data != ex_.options_.data_dir)
    argv.insert(argv.end(), {"--tmpfs", real_data});
  argv.insert(argv.end(), {"--dir", "/workspace"});
  for (const auto& w : job_.workspaces) {
    auto fd = workspace_fds_.find(w.name);
    if (fd == workspace_fds_.end() || isolated_.count(w.name)) continue;
    inherit.push_back(fd->second.get());
    argv.insert(argv.end(), {w.read_only ? "--ro-bind-fd" : "--bind-fd",
                             std::to_string(fd->second.get()), paths_.workspaces.at(w.name)});
  }
  argv.insert(argv.end(), {"--bind",
                           lay_.results,
                           "/tekton/results",
                           "--bind",
                           lay_.steps,
                           "/tekton/steps",
                           "--ro-bind",
                           lay_.scripts,
                           "/tekton/scripts",
                           "--bind",
                           lay_.home,
                           "/tekton/home",
                           "--bind",
                           lay_.status,
                           "/tekton/status",
                           "--ro-bind",
                           lay_.plan,
                           "/tekton/plan.json",
                           "--ro-bind",
                           ex_.options_.self_exe,
                           "/tekton/bin/strake"});
  for (const auto& [host, inside] : log_binds_) argv.insert(argv.end(), {"--bind", host, inside});
  for (size_t k = 0; k < image_roots_.size(); ++k) {
    argv.insert(argv.end(), {"--ro-bind", image_roots_[k], fmt::format("{}/{}", kImageStage, k)});
  }
  if (!per_container_ && !own_mounts_.empty()) {
    STRAKE_TRY(BindMounts(own_mounts_.front(), argv, inherit, volume_fds));
  } else if (per_container_) {
    STRAKE_TRY(BindMounts(staged_, argv, inherit, volume_fds));
    // Each container's mount points, for its own bwrap to mount on.
    std::set<std::string> targets;
    for (const auto& mounts : own_mounts_) {
      for (const auto& m : mounts) {
        if (targets.insert(m.mount_path).second) argv.insert(argv.end(), {"--dir", m.mount_path});
      }
    }
  }
  argv.insert(argv.end(), {"--clearenv", "--setenv", "PATH", kDefaultPath, "--chdir", "/",
                           "/tekton/bin/strake", "__run-steps", "/tekton/plan.json"});
  return argv;
}

// Binds each mount's source (a volume's directory, a workspace's) at its
// mount path, by descriptor.
Status TaskExecutor::Attempt::BindMounts(const std::vector<model::VolumeMount>& mounts,
                                         std::vector<std::string>& argv, std::vector<int>& inherit,
                                         std::vector<Fd>& volume_fds) const {
  std::set<std::string> mounted;
  for (const auto& m : mounts) {
    if (!mounted.insert(m.mount_path).second) continue;
    if (StartsWith(m.name, "ws-")) {  // a workspace's volume ($(workspaces.w.volume))
      auto ws = workspace_fds_.find(m.name.substr(3));
      if (ws == workspace_fds_.end()) continue;
      inherit.push_back(ws->second.get());
      argv.insert(argv.end(), {m.read_only ? "--ro-bind-fd" : "--bind-fd",
                               std::to_string(ws->second.get()), m.mount_path});
      continue;
    }
    auto it = volume_dirs_.find(m.name);
    if (it == volume_dirs_.end()) continue;
    auto fd = MakeDirsBeneath(it->second.first, m.sub_path, 0777);
    if (!fd) return Failf("volume \"{}\": {}", m.name, fd.error().message);
    inherit.push_back(fd->get());
    argv.insert(argv.end(), {(m.read_only || it->second.second) ? "--ro-bind-fd" : "--bind-fd",
                             std::to_string(fd->get()), m.mount_path});
    volume_fds.push_back(std::move(*fd));
  }
  return Ok();
}

// The sandbox: `strake __run-steps` inside bwrap runs the plan and writes
// its outcome to /tekton/status. An error is a sandbox that could not
// start; one that exited badly is a failed outcome with its stderr.
Result<StepsOutcome> TaskExecutor::Attempt::RunInSandbox(TaskPlan& plan,
                                                         std::optional<model::Millis> timeout,
                                                         int cancel_fd) {
  plan.status_path = "/tekton/status/status.json";
  // A value that is not UTF-8 (an env var from a binary Secret) is written
  // as U+FFFD rather than failing the TaskRun for ever.
  STRAKE_TRY(
      WriteFile(lay_.plan, ToJson(plan).dump(-1, ' ', false, Json::error_handler_t::replace)));
  std::vector<int> inherit;
  for (const auto& c : cgroups_) {
    for (int fd : c.second.join_fds()) inherit.push_back(fd);
  }
  std::vector<Fd> volume_fds;
  STRAKE_TRY_ASSIGN(argv, SandboxArgv(inherit, volume_fds));
  std::string sandbox_log = ex_.LogPath(job_.ns, job_.name, "sandbox");
  int err_fd = ::open(sandbox_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  auto p = Spawn({argv, {"PATH=" + HostPath(), Marker()}, "", -1, err_fd, err_fd, inherit});
  if (err_fd >= 0) ::close(err_fd);
  if (!p) return tl::unexpected(p.error().Wrap("sandbox"));
  // The runner inside enforces the timeout; the grace here covers a runner that hangs.
  std::optional<model::Millis> wait_for;
  if (timeout) wait_for = *timeout + model::Millis(5000);
  StepsOutcome so;
  auto w = WaitProcess(*p, wait_for, cancel_fd);
  if (!w || w->outcome != WaitOutcome::kExited) {
    KillAndReap(*p);
    if (w && w->outcome == WaitOutcome::kTimedOut) {
      so.timed_out = true;
    } else {
      so.cancelled = true;
    }
  } else if (w->exit_code != 0) {
    std::string why(Trim(ReadFile(sandbox_log, 4096).value_or("")));
    so.failed = true;
    so.message =
        fmt::format("sandbox exited with status {}{}", w->exit_code, why.empty() ? "" : ": " + why);
    return so;
  }
  // Written inside the sandbox: read beneath its directory, never through a link.
  auto status = ReadFileBeneath(lay_.status, "status.json", 16 << 20);
  if (status) {
    bool cancelled = so.cancelled, killed_at_deadline = so.timed_out;
    so = StepsOutcomeFromJson(model::Json::parse(*status, nullptr, false));
    so.cancelled = so.cancelled || cancelled;
    so.timed_out = so.timed_out || killed_at_deadline;
  }
  return so;
}

TaskRunOutcome TaskExecutor::Run(const TaskRunJob& job, int attempt,
                                 std::optional<model::Millis> timeout, int cancel_fd,
                                 Slot* slot) const {
  TaskRunOutcome out;
  auto fail = [&](std::string reason, std::string message) {
    out.succeeded = false;
    out.reason = std::move(reason);
    out.message = std::move(message);
    return out;
  };
  auto invalid = [&](const Error& e) { return fail("TaskRunValidationFailed", e.message); };
  auto params = ResolveParams(job);
  if (!params) return invalid(params.error());

  // The cache: a hit restores outputs and results without running anything.
  bool use_cache = job.spec.cache.enabled && !options_.no_cache;
  if (use_cache && job.cache_checked) {
    out.cache_key = job.cache_key;  // The engine looked already: a miss.
  } else if (use_cache) {
    auto hit = TryCache(job);
    if (!hit) return invalid(hit.error());
    if (hit->succeeded) return *hit;
    out.cache_key = hit->cache_key;
  }

  // Volume names a param gives ($(params.x)), as Tekton's ApplyParameters does.
  auto with_volumes = VolumesResolved(job, *params);
  if (!with_volumes) return invalid(with_volumes.error());
  const TaskRunJob& run_job = *with_volumes ? **with_volumes : job;
  Attempt at(*this, run_job);
  for (auto part : {&Attempt::MakeRunDir, &Attempt::WriteCredentials, &Attempt::OpenWorkspaces,
                    &Attempt::MaterializeVolumes}) {
    if (auto st = (at.*part)(); !st) return invalid(st.error());
  }
  Vars vars = MakeVars(job, *params, at.paths(), attempt, sandboxed());
  const std::string& steps_dir = at.paths().steps;
  auto steps = ResolveSteps(job.spec.steps, job.spec.step_template, vars, "step", job, steps_dir);
  if (!steps) return invalid(steps.error());
  auto sidecars = ResolveSteps(job.spec.sidecars, std::nullopt, vars, "sidecar", job, steps_dir);
  if (!sidecars) return invalid(sidecars.error());
  if (auto over = OverrideResources(job.compute, *steps, *sidecars); !over)
    return invalid(over.error());
  if (auto pulled = at.PullImages(*steps, *sidecars); !pulled) {
    return fail("TaskRunImagePullFailed", pulled.error().message);
  }
  out.image_ids = at.image_ids();
  for (const auto& rs : *steps) {
    if (!rs.step.image.empty() && !out.image_ids.contains(rs.container))
      out.ignored_images.push_back(rs.step.image);
  }
  auto plan = at.Plan(*steps, *sidecars);
  out.logs = at.logs();
  if (!plan) return invalid(plan.error());
  if (timeout) plan->timeout_ms = timeout->count();
  if (auto limited = at.LimitResources(*plan, *steps, *sidecars); !limited)
    return invalid(limited.error());

  // Everything is ready: the first process starts as soon as a slot is free.
  StepsOutcome so;
  if (!sandboxed()) {
    so = at.RunOnHost(*plan, cancel_fd, slot);
  } else {
    if (slot && !slot->Acquire({})) so.cancelled = true;
    auto ran = so.cancelled ? Result<StepsOutcome>(so) : at.RunInSandbox(*plan, timeout, cancel_fd);
    if (slot) slot->Release();  // Results and the cache need no slot (RunOnHost's too).
    if (!ran) return invalid(ran.error());
    so = std::move(*ran);
  }
  at.MarkOomKilled(so);
  out.steps = so.steps;
  if (so.timed_out) {
    return fail("TaskRunTimeout", fmt::format("TaskRun \"{}\" failed to finish within \"{}\"",
                                              job.name, FormatDuration(*timeout)));
  }
  if (so.cancelled)
    return fail("TaskRunCancelled", fmt::format("TaskRun \"{}\" was cancelled", job.name));
  if (so.failed) return fail("Failed", so.message);

  std::string reason;
  auto results = ReadResults(job.spec, at.layout().results, at.layout().steps,
                             options_.max_result_bytes, &reason);
  if (!results) return fail(reason, results.error().message);
  out.results = std::move(*results);
  auto artifacts = ReadArtifacts(*steps, at.layout().steps);
  if (!artifacts) return fail("Failed", artifacts.error().message);
  out.artifacts = std::move(*artifacts);
  out.succeeded = true;
  out.reason = "Succeeded";
  out.message = "All Steps have completed executing";
  if (use_cache && !out.cache_key.empty()) {
    auto st = CacheSave(job, options_.data_dir, out.cache_key, out.results);
    if (!st) Log(LogLevel::kWarn, "taskrun {}: not cached: {}", job.name, st.error().message);
  }
  return out;
}

Status Materialize(const model::ConfigMapData& data, const std::string& dir,
                   const std::vector<model::KeyToPath>& items) {
  STRAKE_TRY(MakeDirs(dir, 0755));
  auto write = [&](const std::string& rel, const std::string& value) -> Status {
    STRAKE_TRY_ASSIGN(path, PathUnder(dir, rel));
    STRAKE_TRY(MakeDirs(path.substr(0, path.rfind('/')), 0755));
    return WriteFile(path, value, 0444);
  };
  if (items.empty()) {
    for (const auto& [k, v] : data.data) STRAKE_TRY(write(k, v));
    return Ok();
  }
  for (const auto& item : items) {
    auto it = data.data.find(item.key);
    if (it == data.data.end()) return Failf("key \"{}\" not found", item.key);
    STRAKE_TRY(write(item.path, it->second));
  }
  return Ok();
}

int KillOrphans(const std::vector<std::string>& uids) {
  std::vector<std::string> markers;
  markers.reserve(uids.size());
  for (const auto& u : uids) markers.push_back(std::string(kTaskRunMarker) + "=" + u);
  return KillMarked(markers);
}

}  // namespace strake::pipeline
