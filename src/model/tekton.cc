#include "model/tekton.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "base/duration.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "model/decoders.h"

namespace strake::model {

const char* ParamTypeName(ParamType t) {
  switch (t) {
    case ParamType::kString:
      return "string";
    case ParamType::kArray:
      return "array";
    case ParamType::kObject:
      return "object";
  }
  return "?";
}

Json ParamValue::ToJson() const {
  switch (type) {
    case ParamType::kString:
      return str;
    case ParamType::kArray:
      return arr;
    case ParamType::kObject: {
      Json o = Json::object();
      for (const auto& [k, v] : obj) o[k] = v;
      return o;
    }
  }
  return nullptr;
}

ParamValue ParamValue::FromJson(const Json& j) {
  ParamValue v;
  if (j.is_array()) {
    v.type = ParamType::kArray;
    for (const auto& e : j) v.arr.push_back(e.is_string() ? e.get<std::string>() : e.dump());
  } else if (j.is_object()) {
    v.type = ParamType::kObject;
    for (const auto& [k, e] : j.items()) v.obj[k] = e.is_string() ? e.get<std::string>() : e.dump();
  } else {
    v.str = j.is_string() ? j.get<std::string>() : j.dump();
  }
  return v;
}

namespace {

// Cluster-only fields: accepted, reported once as ignored.
const std::set<std::string> kIgnoredStep = {"resources", "securityContext", "volumeDevices",
                                            "terminationMessagePath", "terminationMessagePolicy"};
// (serviceAccountName is honoured: its Secrets' credentials, pipeline/credentials.h.)
const std::set<std::string> kIgnoredRun = {"serviceAccountNames", "podTemplate", "managedBy"};

// A field whose value a variable gives ($(params.x) and the like).
bool HasVariable(std::string_view s) { return s.find("$(") != std::string_view::npos; }

bool IsVariableName(std::string_view s) {
  // Tekton param/result/workspace names: alphanumerics, '-', '_', '.', starting alpha or '_'.
  // Results and workspaces become file names: at most 253 characters.
  if (s.empty() || s.size() > 253) return false;
  char c0 = s[0];
  if (!(std::isalpha(static_cast<unsigned char>(c0)) || c0 == '_')) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

// A workspace name is a directory's name too: a variable name of at most 63.
bool IsWorkspaceName(std::string_view s) { return s.size() <= 63 && IsVariableName(s); }

ParamType DecodeParamType(Ctx& ctx, const Node* n, const std::string& path) {
  if (!n) return ParamType::kString;
  std::string t = ctx.Str(*n, path);
  if (t.empty() || t == "string") return ParamType::kString;
  if (t == "array") return ParamType::kArray;
  if (t == "object") return ParamType::kObject;
  ctx.Error(*n, path,
            fmt::format("unknown type \"{}\" (one of string, array, object){}", t,
                        DidYouMean(t, {"string", "array", "object"})));
  return ParamType::kString;
}

ParamValue DecodeParamValue(Ctx& ctx, const Node& n, const std::string& path) {
  ParamValue v;
  if (n.IsSeq()) {
    v.type = ParamType::kArray;
    v.arr = ctx.StrList(n, path);
  } else if (n.IsMap()) {
    v.type = ParamType::kObject;
    v.obj = ctx.StrMap(n, path);
  } else {
    v.str = n.IsNull() ? "" : n.scalar;
  }
  return v;
}

std::vector<ParamSpec> DecodeParamSpecs(Ctx& ctx, const Node* n, const std::string& path) {
  std::vector<ParamSpec> out;
  if (!n) return out;
  std::set<std::string> seen;
  ctx.List(*n, path, [&](const Node& item, const std::string& p) {
    Fields f(ctx, item, p);
    ParamSpec s;
    s.origin = ctx.At(item, p);
    if (const Node* name = f.Need("name")) {
      s.name = ctx.Str(*name, f.Sub("name"));
      if (!IsVariableName(s.name)) {
        ctx.Error(*name, f.Sub("name"), fmt::format("invalid param name \"{}\"", s.name));
      } else if (!seen.insert(s.name).second) {
        ctx.Error(*name, f.Sub("name"), fmt::format("duplicate param \"{}\"", s.name));
      }
    }
    const Node* type = f.Get("type");
    s.type = DecodeParamType(ctx, type, f.Sub("type"));
    s.description = f.Str("description");
    if (const Node* props = f.Get("properties")) {
      if (props->IsMap()) {
        for (const auto& [k, v] : props->map) {
          s.properties.push_back(k.scalar);
          Fields pf(ctx, v, f.Sub("properties") + "." + k.scalar);
          if (const Node* t = pf.Get("type")) {
            if (ctx.Str(*t, pf.Sub("type")) != "string") {
              ctx.Error(*t, pf.Sub("type"), "object properties must be of type string");
            }
          }
        }
      } else {
        ctx.Error(*props, f.Sub("properties"), "expected a mapping");
      }
    }
    if (const Node* e = f.Get("enum")) s.enum_values = ctx.StrList(*e, f.Sub("enum"));
    const Node* d = f.Get("default");
    if (d) s.default_value = DecodeParamValue(ctx, *d, f.Sub("default"));
    // Tekton's defaulting: without a type, properties make an object, and
    // an array or object default makes its own type.
    if (!type && !s.properties.empty()) {
      s.type = ParamType::kObject;
    } else if (!type && s.default_value) {
      s.type = s.default_value->type;
    }
    if (d && s.default_value->type != s.type) {
      ctx.Error(*d, f.Sub("default"),
                fmt::format("default is a {} but the param is of type {}",
                            ParamTypeName(s.default_value->type), ParamTypeName(s.type)));
    }
    if (!s.properties.empty() && s.type != ParamType::kObject) {
      ctx.Error(item, f.Sub("properties"), "properties are only for params of type object");
    }
    out.push_back(std::move(s));
  });
  return out;
}

std::vector<Param> DecodeParams(Ctx& ctx, const Node* n, const std::string& path) {
  std::vector<Param> out;
  if (!n) return out;
  std::set<std::string> seen;
  ctx.List(*n, path, [&](const Node& item, const std::string& p) {
    Fields f(ctx, item, p);
    Param param;
    param.origin = ctx.At(item, p);
    if (const Node* name = f.Need("name")) {
      param.name = ctx.Str(*name, f.Sub("name"));
      if (!seen.insert(param.name).second) {
        ctx.Error(*name, f.Sub("name"), fmt::format("duplicate param \"{}\"", param.name));
      }
    }
    if (const Node* v = f.Get("value")) {
      param.value = DecodeParamValue(ctx, *v, f.Sub("value"));
    } else if (f.ok()) {
      ctx.Error(item, f.Sub("value"), "required field is missing");
    }
    out.push_back(std::move(param));
  });
  return out;
}

// A taskRef's or pipelineRef's resolver and its params: git and cluster
// are resolved before validation; other resolvers need services strake
// does not run.
std::optional<ResolverRef> DecodeResolver(Ctx& ctx, Fields& rf, std::string_view kind) {
  const Node* r = rf.Get("resolver");
  const Node* params = rf.Get("params");
  if (!r) {
    if (params) ctx.Error(*params, rf.Sub("params"), "params are a resolver's: give resolver");
    return std::nullopt;
  }
  ResolverRef out;
  out.resolver = ctx.Str(*r, rf.Sub("resolver"));
  out.origin = ctx.At(*r, rf.Sub("resolver"));
  if (out.resolver != "git" && out.resolver != "cluster") {
    ctx.Error(*r, rf.Sub("resolver"),
              fmt::format("not supported: the {} resolver (git and cluster are; or apply the {} "
                          "with -f)",
                          out.resolver, kind));
  }
  out.params = DecodeParams(ctx, params, rf.Sub("params"));
  return out;
}

std::vector<VolumeMount> DecodeVolumeMounts(Ctx& ctx, const Node* n, const std::string& path) {
  auto IsWorkspaceVolumeRef = [](const std::string& name) {
    return StartsWith(name, "$(workspaces.") && EndsWith(name, ".volume)");
  };
  std::vector<VolumeMount> out;
  if (!n) return out;
  ctx.List(*n, path, [&](const Node& item, const std::string& p) {
    Fields f(ctx, item, p);
    VolumeMount m;
    // Tekton lets a sidecar or step mount a workspace's volume by the
    // variable that names it: $(workspaces.<w>.volume), at $(workspaces.<w>.path).
    if (const Node* v = f.Need("name")) {
      m.name = ctx.Str(*v, f.Sub("name"));
      if (!IsWorkspaceVolumeRef(m.name))
        ctx.CheckName(*v, f.Sub("name"), m.name, Ctx::NameRule::kDnsLabel);
    }
    if (const Node* v = f.Need("mountPath")) {
      m.mount_path = ctx.Str(*v, f.Sub("mountPath"));
      if (!StartsWith(m.mount_path, "/") && !StartsWith(m.mount_path, "$(workspaces.")) {
        ctx.Error(*v, f.Sub("mountPath"), "must be an absolute path");
      }
    }
    if (const Node* v = f.Get("subPath")) {
      m.sub_path = ctx.Str(*v, f.Sub("subPath"));
      ctx.CheckName(*v, f.Sub("subPath"), m.sub_path, Ctx::NameRule::kLocalPath);
    }
    if (const Node* v = f.Get("readOnly")) m.read_only = ctx.Bool(*v, f.Sub("readOnly"));
    f.Ignore({"mountPropagation"});
    out.push_back(std::move(m));
  });
  return out;
}

// stdoutConfig / stderrConfig: {path}, an absolute path or a variable.
std::string DecodeStreamPath(Ctx& ctx, Fields& f, const char* field) {
  const Node* n = f.Get(field);
  if (!n) return "";
  Fields sf(ctx, *n, f.Sub(field));
  const Node* p = sf.Need("path");
  if (!p) return "";
  std::string path = ctx.Str(*p, sf.Sub("path"));
  if (!StartsWith(path, "/") && !StartsWith(path, "$(")) {
    ctx.Error(*p, sf.Sub("path"), "must be an absolute path (or a result's or workspace's)");
  }
  return path;
}

enum class StepKind { kStep, kSidecar, kTemplate, kAction };

std::vector<WhenExpression> DecodeWhen(Ctx& ctx, const Node* n, const std::string& path) {
  std::vector<WhenExpression> out;
  if (!n) return out;
  ctx.List(*n, path, [&](const Node& item, const std::string& p) {
    Fields f(ctx, item, p);
    WhenExpression w;
    w.origin = ctx.At(item, p);
    if (const Node* v = f.Get("cel")) {
      w.cel = ctx.Str(*v, f.Sub("cel"));
      for (const char* other : {"input", "operator", "values"}) {
        if (const Node* o = f.Get(other)) {
          ctx.Error(*o, f.Sub(other), "give cel or input/operator/values, not both");
        }
      }
      out.push_back(std::move(w));
      return;
    }
    if (const Node* v = f.Need("input")) w.input = ctx.Str(*v, f.Sub("input"));
    if (const Node* v = f.Need("operator")) {
      w.op = ctx.Str(*v, f.Sub("operator"));
      if (w.op != "in" && w.op != "notin") {
        ctx.Error(*v, f.Sub("operator"),
                  fmt::format("operator must be \"in\" or \"notin\", found \"{}\"{}", w.op,
                              DidYouMean(w.op, {"in", "notin"})));
      }
    }
    if (const Node* v = f.Need("values")) {
      w.values = ctx.StrList(*v, f.Sub("values"));
      if (v->IsSeq() && v->seq.empty()) ctx.Error(*v, f.Sub("values"), "must not be empty");
    }
    out.push_back(std::move(w));
  });
  return out;
}

enum class ResultsOf { kTask, kStep };

// A task's or a step's (or StepAction's) results: names, types, object
// properties; a task result may take its value from a step's result.
std::vector<ResultSpec> DecodeResultSpecs(Ctx& ctx, const Node* n, const std::string& path,
                                          ResultsOf of) {
  std::vector<ResultSpec> out;
  if (!n) return out;
  std::set<std::string> seen;
  ctx.List(*n, path, [&](const Node& item, const std::string& p) {
    Fields rf(ctx, item, p);
    ResultSpec r;
    if (const Node* v = rf.Need("name")) {
      r.name = ctx.Str(*v, rf.Sub("name"));
      if (!IsVariableName(r.name)) {
        ctx.Error(*v, rf.Sub("name"), fmt::format("invalid result name \"{}\"", r.name));
      } else if (!seen.insert(r.name).second) {
        ctx.Error(*v, rf.Sub("name"), fmt::format("duplicate result \"{}\"", r.name));
      }
    }
    r.type = DecodeParamType(ctx, rf.Get("type"), rf.Sub("type"));
    r.description = rf.Str("description");
    if (const Node* props = rf.Get("properties"); props && props->IsMap()) {
      for (const auto& [k, v] : props->map) r.properties.push_back(k.scalar);
    }
    if (const Node* v = of == ResultsOf::kTask ? rf.Get("value") : nullptr) {
      r.value = ctx.Str(*v, rf.Sub("value"));
      if (!StartsWith(r.value, "$(steps.") || r.value.back() != ')') {
        ctx.Error(*v, rf.Sub("value"),
                  fmt::format("a result's value must be a step's result, "
                              "\"$(steps.<step>.results.<name>)\"; found \"{}\"",
                              r.value));
      }
    }
    out.push_back(std::move(r));
  });
  return out;
}

// A step's or sidecar's workspaces: names of the task's, each with an
// optional mountPath.
std::vector<StepWorkspace> DecodeStepWorkspaces(Ctx& ctx, const Node* n, const std::string& path) {
  std::vector<StepWorkspace> out;
  if (!n) return out;
  ctx.List(*n, path, [&](const Node& item, const std::string& p) {
    Fields f(ctx, item, p);
    StepWorkspace w;
    w.origin = ctx.At(item, p);
    if (const Node* v = f.Need("name")) w.name = ctx.Str(*v, f.Sub("name"));
    // Tekton decodes JSON field names without regard to case, and one of its
    // own examples (isolated-workspaces.yaml) spells it `mountpath`.
    const char* key =
        f.node().Get("mountpath") && !f.node().Get("mountPath") ? "mountpath" : "mountPath";
    if (const Node* v = f.Get(key)) {
      w.mount_path = ctx.Str(*v, f.Sub(key));
      if (!StartsWith(w.mount_path, "/")) ctx.Error(*v, f.Sub(key), "must be an absolute path");
      if (std::string_view(key) == "mountpath") {
        ctx.Warning(*v, f.Sub(key), "read as mountPath, as Tekton does");
      }
    }
    out.push_back(std::move(w));
  });
  return out;
}

// A step's ref: a StepAction by name, or a resolver (git or cluster).
std::optional<StepRef> DecodeStepRef(Ctx& ctx, const Node& n, const std::string& path) {
  Fields rf(ctx, n, path);
  if (!rf.ok()) return std::nullopt;
  StepRef ref;
  ref.origin = ctx.At(n, path);
  ref.name = rf.Str("name");
  ref.resolver = DecodeResolver(ctx, rf, "StepAction");
  if (ref.name.empty() && !ref.resolver) {
    ctx.Error(n, path, "a step's ref needs the StepAction's name or a resolver");
  } else if (!ref.name.empty() && ref.resolver) {
    ctx.Error(n, rf.Sub("name"), "give name or resolver, not both");
  }
  return ref;
}

Step DecodeStep(Ctx& ctx, const Node& n, const std::string& path, StepKind kind) {
  Fields f(ctx, n, path);
  Step s;
  s.origin = ctx.At(n, path);
  if (kind == StepKind::kStep || kind == StepKind::kSidecar) {
    if (const Node* v = f.Get("name")) {
      s.name = ctx.Str(*v, f.Sub("name"));
      if (!s.name.empty() && !IsDnsLabel(s.name)) {
        ctx.Error(*v, f.Sub("name"),
                  fmt::format("invalid name \"{}\": must be a DNS label (lower case "
                              "alphanumerics and '-')",
                              s.name));
      }
    }
  }
  if (kind != StepKind::kTemplate) {
    if (const Node* v = f.Get("script")) s.script = ctx.Str(*v, f.Sub("script"));
  }
  s.image = f.Str("image");
  if (const Node* v = f.Get("imagePullPolicy")) {
    s.image_pull_policy = ctx.Str(*v, f.Sub("imagePullPolicy"));
    static const std::vector<std::string> kPolicies = {"Always", "IfNotPresent", "Never"};
    if (std::find(kPolicies.begin(), kPolicies.end(), s.image_pull_policy) == kPolicies.end() &&
        !HasVariable(s.image_pull_policy)) {
      ctx.Error(*v, f.Sub("imagePullPolicy"),
                fmt::format("must be Always, IfNotPresent or Never, found \"{}\"{}",
                            s.image_pull_policy, DidYouMean(s.image_pull_policy, kPolicies)));
    }
  }
  if (const Node* v = f.Get("command")) s.command = ctx.StrList(*v, f.Sub("command"));
  if (const Node* v = f.Get("args")) s.args = ctx.StrList(*v, f.Sub("args"));
  s.env = DecodeEnv(ctx, f.Get("env"), f.Sub("env"));
  s.working_dir = f.Str("workingDir");
  s.volume_mounts = DecodeVolumeMounts(ctx, f.Get("volumeMounts"), f.Sub("volumeMounts"));
  // A StepAction has none (Tekton's StepActionSpec): the step that uses it
  // gives them; there it is an unknown field.
  if (const Node* v = kind != StepKind::kAction ? f.Get("computeResources") : nullptr)
    s.resources = DecodeResources(ctx, *v, f.Sub("computeResources"));
  f.Ignore(kIgnoredStep);
  f.Ignore({"displayName"}, "is for display on a cluster's dashboard");
  s.env_from = DecodeEnvFrom(ctx, f.Get("envFrom"), f.Sub("envFrom"));
  if (kind == StepKind::kStep || kind == StepKind::kSidecar) {
    s.workspaces = DecodeStepWorkspaces(ctx, f.Get("workspaces"), f.Sub("workspaces"));
  }
  if (kind == StepKind::kStep) {
    if (const Node* v = f.Get("timeout")) s.timeout = ctx.Duration(*v, f.Sub("timeout"));
    if (const Node* v = f.Get("onError")) {
      s.on_error = ctx.Str(*v, f.Sub("onError"));
      // $(params.x) is checked once the TaskRun has its value.
      if (s.on_error != "continue" && s.on_error != "stopAndFail" && !HasVariable(s.on_error)) {
        ctx.Error(*v, f.Sub("onError"),
                  fmt::format("must be \"continue\" or \"stopAndFail\", found \"{}\"{}", s.on_error,
                              DidYouMean(s.on_error, {"continue", "stopAndFail"})));
      }
    }
    s.stdout_path = DecodeStreamPath(ctx, f, "stdoutConfig");
    s.stderr_path = DecodeStreamPath(ctx, f, "stderrConfig");
    if (const Node* v = f.Get("ref")) s.ref = DecodeStepRef(ctx, *v, f.Sub("ref"));
    s.params = DecodeParams(ctx, f.Get("params"), f.Sub("params"));
    s.results = DecodeResultSpecs(ctx, f.Get("results"), f.Sub("results"), ResultsOf::kStep);
    s.when = DecodeWhen(ctx, f.Get("when"), f.Sub("when"));
    if (!s.params.empty() && !s.ref) {
      ctx.Error(*f.Get("params"), f.Sub("params"), "params are a StepAction's: give ref");
    }
  }
  if (kind == StepKind::kAction) {
    // The StepAction's own (decoded by DecodeStepActionKind).
    for (const char* own : {"params", "results", "description"}) f.Get(own);
  }
  if (kind == StepKind::kSidecar) {
    for (auto [key, probe] : {std::pair{"startupProbe", &s.startup_probe},
                              std::pair{"readinessProbe", &s.readiness_probe}}) {
      const Node* v = f.Get(key);
      if (!v) continue;
      *probe = DecodeProbe(ctx, *v, f.Sub(key));
      const std::string& port = (*probe)->port;
      if ((*probe)->kind != Probe::Kind::kExec &&
          (port.empty() ||
           !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))) {
        ctx.Error(*v, f.Sub(key),
                  fmt::format("a sidecar's probe needs a port number (a port's name is a pod's; "
                              "found \"{}\")",
                              port));
      }
    }
    f.NotSupported("livenessProbe", "sidecar liveness probes (a pod restarts the container)");
    f.Ignore({"ports"});
  }
  if (s.ref) {
    // Tekton: what the StepAction gives, the step cannot.
    for (const char* field :
         {"image", "command", "args", "script", "env", "volumeMounts", "workingDir"}) {
      if (const Node* v = n.Get(field)) {
        ctx.Error(*v, f.Sub(field),
                  fmt::format("{} cannot be used with ref (the StepAction "
                              "gives it)",
                              field));
      }
    }
  } else if ((kind == StepKind::kStep || kind == StepKind::kAction) && s.script.empty() &&
             s.command.empty() && s.args.empty() && s.image.empty() && f.ok()) {
    ctx.Error(n, path, "a step needs script, command, args or an image to run");
  }
  if (!s.script.empty() && !s.command.empty()) {
    ctx.Error(n, f.Sub("script"), "script cannot be used with command");
  }
  return s;
}

// A pod's volumes: emptyDir (the default), configMap, secret.
std::vector<Volume> DecodeVolumes(Ctx& ctx, const Node* n, const std::string& path) {
  std::vector<Volume> out;
  if (!n) return out;
  ctx.List(*n, path, [&](const Node& item, const std::string& p) {
    Fields vf(ctx, item, p);
    Volume v;
    if (const Node* x = vf.Need("name")) {
      v.name = ctx.Str(*x, vf.Sub("name"));
      ctx.CheckName(*x, vf.Sub("name"), v.name, Ctx::NameRule::kDnsLabel);
    }
    int kinds = 0;
    if (const Node* x = vf.Get("emptyDir")) {
      Fields ef(ctx, *x, vf.Sub("emptyDir"));
      ef.Ignore({"medium", "sizeLimit"});
      v.kind = Volume::Kind::kEmptyDir;
      ++kinds;
    }
    if (const Node* x = vf.Get("configMap")) {
      Fields cf(ctx, *x, vf.Sub("configMap"));
      if (const Node* nm = cf.Need("name")) {
        v.source = ctx.Str(*nm, cf.Sub("name"));
        // A name may come from a param ($(params.x)), resolved when the TaskRun runs.
        if (!HasVariable(v.source))
          ctx.CheckName(*nm, cf.Sub("name"), v.source, Ctx::NameRule::kDnsSubdomain);
      }
      if (const Node* o = cf.Get("optional")) v.optional = ctx.Bool(*o, cf.Sub("optional"));
      cf.Ignore({"defaultMode"});
      cf.NotSupported("items", "items on task volumes");
      v.kind = Volume::Kind::kConfigMap;
      ++kinds;
    }
    if (const Node* x = vf.Get("secret")) {
      Fields sf(ctx, *x, vf.Sub("secret"));
      if (const Node* nm = sf.Need("secretName")) {
        v.source = ctx.Str(*nm, sf.Sub("secretName"));
        if (!HasVariable(v.source))
          ctx.CheckName(*nm, sf.Sub("secretName"), v.source, Ctx::NameRule::kDnsSubdomain);
      }
      if (const Node* o = sf.Get("optional")) v.optional = ctx.Bool(*o, sf.Sub("optional"));
      sf.Ignore({"defaultMode"});
      sf.NotSupported("items", "items on task volumes");
      v.kind = Volume::Kind::kSecret;
      ++kinds;
    }
    if (const Node* x = vf.Get("gitRepo")) {
      Fields gf(ctx, *x, vf.Sub("gitRepo"));
      if (const Node* r = gf.Need("repository")) v.source = ctx.Str(*r, gf.Sub("repository"));
      v.revision = gf.Str("revision");
      if (StartsWith(v.revision, "-")) {
        ctx.Error(*gf.Get("revision"), gf.Sub("revision"), "must not start with '-'");
      }
      if (const Node* d = gf.Get("directory")) {
        v.directory = ctx.Str(*d, gf.Sub("directory"));
        if (v.directory != ".")
          ctx.CheckName(*d, gf.Sub("directory"), v.directory, Ctx::NameRule::kLocalPath);
      }
      v.kind = Volume::Kind::kGitRepo;
      ++kinds;
    }
    for (const char* k : {"hostPath", "persistentVolumeClaim", "projected", "csi", "nfs"}) {
      vf.NotSupported(k, fmt::format("{} volumes (emptyDir, configMap and secret are)", k));
    }
    // Kubernetes defaults a volume with no source to an emptyDir.
    if (kinds > 1 && vf.ok()) {
      ctx.Error(item, p, "a volume needs one of emptyDir, configMap, secret");
    }
    out.push_back(std::move(v));
  });
  return out;
}

std::optional<TaskSpec> DecodeTaskSpecNode(Ctx& ctx, const Node& n, const std::string& path,
                                           bool embedded) {
  Fields f(ctx, n, path);
  if (!f.ok()) return std::nullopt;
  TaskSpec t;
  t.description = f.Str("description");
  f.Get("displayName");
  if (embedded) {
    if (const Node* m = f.Get("metadata")) {
      Fields mf(ctx, *m, f.Sub("metadata"));
      mf.Get("labels");
      mf.Get("annotations");
    }
    f.NotSupported("apiVersion", "custom tasks (apiVersion/kind in taskSpec)");
    f.NotSupported("kind", "custom tasks (apiVersion/kind in taskSpec)");
    f.NotSupported("spec", "custom task spec");
  }
  t.params = DecodeParamSpecs(ctx, f.Get("params"), f.Sub("params"));
  if (const Node* ws = f.Get("workspaces")) {
    std::set<std::string> seen;
    ctx.List(*ws, f.Sub("workspaces"), [&](const Node& item, const std::string& p) {
      Fields wf(ctx, item, p);
      WorkspaceDecl w;
      if (const Node* v = wf.Need("name")) {
        w.name = ctx.Str(*v, wf.Sub("name"));
        if (!IsWorkspaceName(w.name)) {
          ctx.Error(*v, wf.Sub("name"), fmt::format("invalid workspace name {}", Quote(w.name)));
        } else if (!seen.insert(w.name).second) {
          ctx.Error(*v, wf.Sub("name"), fmt::format("duplicate workspace \"{}\"", w.name));
        }
      }
      w.description = wf.Str("description");
      w.mount_path = wf.Str("mountPath");
      if (w.mount_path.empty()) w.mount_path = "/workspace/" + w.name;
      if (const Node* v = wf.Get("readOnly")) w.read_only = ctx.Bool(*v, wf.Sub("readOnly"));
      if (const Node* v = wf.Get("optional")) w.optional = ctx.Bool(*v, wf.Sub("optional"));
      t.workspaces.push_back(std::move(w));
    });
  }
  t.results = DecodeResultSpecs(ctx, f.Get("results"), f.Sub("results"), ResultsOf::kTask);
  if (const Node* steps = f.Need("steps")) {
    std::set<std::string> seen;
    ctx.List(*steps, f.Sub("steps"), [&](const Node& item, const std::string& p) {
      Step s = DecodeStep(ctx, item, p, StepKind::kStep);
      if (!s.name.empty() && !seen.insert(s.name).second) {
        ctx.Error(item, p + ".name", fmt::format("duplicate step \"{}\"", s.name));
      }
      t.steps.push_back(std::move(s));
    });
    if (steps->IsSeq() && steps->seq.empty()) {
      ctx.Error(*steps, f.Sub("steps"), "a task needs at least one step");
    }
  }
  if (const Node* st = f.Get("stepTemplate")) {
    t.step_template = DecodeStep(ctx, *st, f.Sub("stepTemplate"), StepKind::kTemplate);
  }
  if (const Node* sc = f.Get("sidecars")) {
    ctx.List(*sc, f.Sub("sidecars"), [&](const Node& item, const std::string& p) {
      t.sidecars.push_back(DecodeStep(ctx, item, p, StepKind::kSidecar));
    });
  }
  t.volumes = DecodeVolumes(ctx, f.Get("volumes"), f.Sub("volumes"));
  if (const Node* c = f.Get("cache")) {
    Fields cf(ctx, *c, f.Sub("cache"));
    t.cache.enabled = true;
    if (const Node* v = cf.Get("enabled")) t.cache.enabled = ctx.Bool(*v, cf.Sub("enabled"));
    if (const Node* v = cf.Get("inputs")) t.cache.inputs = ctx.StrList(*v, cf.Sub("inputs"));
    if (const Node* v = cf.Get("params")) t.cache.params = ctx.StrList(*v, cf.Sub("params"));
    if (const Node* v = cf.Get("outputs")) t.cache.outputs = ctx.StrList(*v, cf.Sub("outputs"));
    for (const auto& [field, list] :
         {std::pair{"inputs", &t.cache.inputs}, std::pair{"outputs", &t.cache.outputs}}) {
      for (size_t i = 0; i < list->size(); ++i) {
        const std::string& e = (*list)[i];
        size_t colon = e.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == e.size()) {
          ctx.Error(*c, fmt::format("{}.{}[{}]", f.Sub("cache"), field, i),
                    fmt::format("\"{}\" must be WORKSPACE:PATH, as in \"source:src/**\"", e));
        } else if (e.find("..") != std::string::npos || e[colon + 1] == '/') {
          ctx.Error(*c, fmt::format("{}.{}[{}]", f.Sub("cache"), field, i),
                    fmt::format("\"{}\": the path must stay inside the workspace", e));
        }
      }
    }
  }
  f.NotSupported("resources", "PipelineResources (removed from Tekton)");
  return t;
}

std::optional<PipelineSpec> DecodePipelineSpecNode(Ctx& ctx, const Node& n,
                                                   const std::string& path);

// A pipeline task's pipelineRef or pipelineSpec: a child PipelineRun.
void DecodeChildPipeline(Ctx& ctx, Fields& f, const Node& n, const std::string& path,
                         PipelineTask& t) {
  const Node* ref = f.Get("pipelineRef");
  const Node* spec = f.Get("pipelineSpec");
  if (!ref && !spec) return;
  if (ref) {
    Fields rf(ctx, *ref, f.Sub("pipelineRef"));
    if (const Node* v = rf.Need("name")) t.pipeline_ref = ctx.Str(*v, rf.Sub("name"));
    rf.Get("apiVersion");
    rf.NotSupported("resolver", "a resolver in a pipeline task's pipelineRef (name a Pipeline)");
    rf.NotSupported("params", "a resolver in a pipeline task's pipelineRef (name a Pipeline)");
    rf.NotSupported("bundle", "Tekton bundles");
  }
  if (spec) {
    if (auto ps = DecodePipelineSpecNode(ctx, *spec, f.Sub("pipelineSpec")))
      t.pipeline_spec = std::make_shared<const PipelineSpec>(std::move(*ps));
  }
  if (ref && spec) ctx.Error(n, path, "pipelineRef and pipelineSpec cannot both be set");
  if (f.Get("taskRef") || f.Get("taskSpec")) {
    ctx.Error(n, path,
              "a task runs a Task (taskRef, taskSpec) or a Pipeline (pipelineRef, "
              "pipelineSpec), not both");
  }
  // What Tekton does not apply to a child PipelineRun is refused here, not
  // accepted and ignored.
  if (const Node* m = f.Get("matrix")) {
    ctx.Error(*m, f.Sub("matrix"),
              "not supported: a matrix on a task that runs a Pipeline (Tekton's too)");
  }
  if (const Node* r = f.Get("retries")) {
    ctx.Error(*r, f.Sub("retries"),
              "not supported: retries on a task that runs a Pipeline (Tekton's too)");
  }
}

PipelineTask DecodePipelineTask(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  PipelineTask t;
  t.origin = ctx.At(n, path);
  if (const Node* v = f.Need("name")) {
    t.name = ctx.Str(*v, f.Sub("name"));
    if (!IsDnsLabel(t.name)) {
      ctx.Error(*v, f.Sub("name"),
                fmt::format("invalid task name \"{}\": must be a DNS label (lower case "
                            "alphanumerics and '-', at most 63)",
                            t.name));
    }
  }
  f.Get("displayName");
  f.Get("description");
  const Node* ref = f.Get("taskRef");
  const Node* spec = f.Get("taskSpec");
  if (ref) {
    Fields rf(ctx, *ref, f.Sub("taskRef"));
    t.task_ref = rf.Str("name");
    if (const Node* k = rf.Get("kind")) {
      std::string kind = ctx.Str(*k, rf.Sub("kind"));
      if (kind != "Task" && kind != "ClusterTask") {
        ctx.Error(*k, rf.Sub("kind"),
                  fmt::format("not supported: custom task kind \"{}\" (Task is)", kind));
      }
    }
    rf.Get("apiVersion");
    t.task_resolver = DecodeResolver(ctx, rf, "Task");
    rf.NotSupported("bundle", "Tekton bundles");
    if (t.task_ref.empty() && !t.task_resolver && rf.ok()) {
      ctx.Error(*ref, rf.Sub("name"), "required field is missing");
    }
  }
  if (spec) t.task_spec = DecodeTaskSpecNode(ctx, *spec, f.Sub("taskSpec"), true);
  DecodeChildPipeline(ctx, f, n, path, t);
  if (const Node* v = f.Get("onError")) {
    std::string on_error = ctx.Str(*v, f.Sub("onError"));
    if (on_error != "continue" && on_error != "stopAndFail") {
      ctx.Error(*v, f.Sub("onError"),
                fmt::format("must be \"continue\" or \"stopAndFail\", found \"{}\"{}", on_error,
                            DidYouMean(on_error, {"continue", "stopAndFail"})));
    }
    t.continue_on_error = on_error == "continue";
  }
  if (!ref && !spec && !t.RunsPipeline() && f.ok())
    ctx.Error(n, path, "a task needs taskRef or taskSpec (or pipelineRef or pipelineSpec)");
  if (ref && spec) ctx.Error(n, path, "taskRef and taskSpec cannot both be set");
  if (const Node* v = f.Get("runAfter")) {
    t.run_after = ctx.StrList(*v, f.Sub("runAfter"));
    for (const auto& item : v->seq) t.run_after_marks.push_back(item.mark);
  }
  t.params = DecodeParams(ctx, f.Get("params"), f.Sub("params"));
  if (const Node* ws = f.Get("workspaces")) {
    ctx.List(*ws, f.Sub("workspaces"), [&](const Node& item, const std::string& p) {
      Fields wf(ctx, item, p);
      WorkspacePipelineTaskBinding b;
      if (const Node* v = wf.Need("name")) b.name = ctx.Str(*v, wf.Sub("name"));
      b.workspace = wf.Str("workspace");
      if (b.workspace.empty()) b.workspace = b.name;  // Tekton: defaults to the same name
      if (const Node* v = wf.Get("subPath")) {
        b.sub_path = ctx.Str(*v, wf.Sub("subPath"));
        ctx.CheckName(*v, wf.Sub("subPath"), b.sub_path, Ctx::NameRule::kLocalPath);
      }
      t.workspaces.push_back(std::move(b));
    });
  }
  t.when = DecodeWhen(ctx, f.Get("when"), f.Sub("when"));
  if (const Node* v = f.Get("retries")) {
    t.retries = ctx.Int(*v, f.Sub("retries"), 0, 1000);
    if (t.retries > 0 && t.continue_on_error) {
      ctx.Error(*v, f.Sub("retries"), "retries and onError: continue cannot be used together");
    }
  }
  if (const Node* v = f.Get("timeout")) t.timeout = ctx.Duration(*v, f.Sub("timeout"));
  if (const Node* m = f.Get("matrix")) {
    Fields mf(ctx, *m, f.Sub("matrix"));
    Matrix mx;
    mx.params = DecodeParams(ctx, mf.Get("params"), mf.Sub("params"));
    for (size_t i = 0; i < mx.params.size(); ++i) {
      // An array, or a whole array by reference ($(params.x[*]),
      // $(tasks.t.results.r[*])), checked once it is resolved.
      const ParamValue& v = mx.params[i].value;
      bool whole = v.type == ParamType::kString && StartsWith(v.str, "$(") &&
                   EndsWith(v.str, ")") && v.str.find("$(", 2) == std::string::npos;
      if (v.type != ParamType::kArray && !whole) {
        ctx.Error(*m, fmt::format("{}.params[{}].value", mf.Sub("matrix"), i),
                  "matrix params must be arrays, or a whole array by reference ($(params.x[*]))");
      }
    }
    if (const Node* inc = mf.Get("include")) {
      ctx.List(*inc, mf.Sub("include"), [&](const Node& item, const std::string& p) {
        Fields incf(ctx, item, p);
        MatrixInclude mi;
        mi.name = incf.Str("name");
        mi.params = DecodeParams(ctx, incf.Get("params"), incf.Sub("params"));
        mx.include.push_back(std::move(mi));
      });
    }
    t.matrix = std::move(mx);
  }
  return t;
}

std::optional<PipelineSpec> DecodePipelineSpecNode(Ctx& ctx, const Node& n,
                                                   const std::string& path) {
  Fields f(ctx, n, path);
  if (!f.ok()) return std::nullopt;
  PipelineSpec p;
  p.description = f.Str("description");
  f.Get("displayName");
  p.params = DecodeParamSpecs(ctx, f.Get("params"), f.Sub("params"));
  if (const Node* ws = f.Get("workspaces")) {
    std::set<std::string> seen;
    ctx.List(*ws, f.Sub("workspaces"), [&](const Node& item, const std::string& ip) {
      Fields wf(ctx, item, ip);
      PipelineWorkspaceDecl w;
      if (const Node* v = wf.Need("name")) {
        w.name = ctx.Str(*v, wf.Sub("name"));
        if (!IsWorkspaceName(w.name)) {
          ctx.Error(*v, wf.Sub("name"), fmt::format("invalid workspace name {}", Quote(w.name)));
        } else if (!seen.insert(w.name).second) {
          ctx.Error(*v, wf.Sub("name"), fmt::format("duplicate workspace \"{}\"", w.name));
        }
      }
      w.description = wf.Str("description");
      if (const Node* v = wf.Get("optional")) w.optional = ctx.Bool(*v, wf.Sub("optional"));
      p.workspaces.push_back(std::move(w));
    });
  }
  if (const Node* ts = f.Need("tasks")) {
    p.tasks.reserve(ts->seq.size());  // A pipeline may have 10,000 tasks: no growth copies.
    ctx.List(*ts, f.Sub("tasks"), [&](const Node& item, const std::string& ip) {
      p.tasks.push_back(DecodePipelineTask(ctx, item, ip));
    });
    if (ts->IsSeq() && ts->seq.empty()) ctx.Error(*ts, f.Sub("tasks"), "must not be empty");
  }
  if (const Node* fs = f.Get("finally")) {
    ctx.List(*fs, f.Sub("finally"), [&](const Node& item, const std::string& ip) {
      p.finally.push_back(DecodePipelineTask(ctx, item, ip));
    });
  }
  if (const Node* rs = f.Get("results")) {
    ctx.List(*rs, f.Sub("results"), [&](const Node& item, const std::string& ip) {
      Fields rf(ctx, item, ip);
      PipelineResult r;
      if (const Node* v = rf.Need("name")) r.name = ctx.Str(*v, rf.Sub("name"));
      r.type = DecodeParamType(ctx, rf.Get("type"), rf.Sub("type"));
      r.description = rf.Str("description");
      if (const Node* v = rf.Need("value")) r.value = DecodeParamValue(ctx, *v, rf.Sub("value"));
      p.results.push_back(std::move(r));
    });
  }
  f.NotSupported("resources", "PipelineResources (removed from Tekton)");
  return p;
}

// A ConfigMap's or Secret's `items`: which keys, at which paths.
void DecodeItems(Ctx& ctx, Fields& sf, std::vector<KeyToPath>& into) {
  if (const Node* it = sf.Get("items")) {
    ctx.List(*it, sf.Sub("items"), [&](const Node& i, const std::string& ipath) {
      Fields kf(ctx, i, ipath);
      KeyToPath k;
      if (const Node* x = kf.Need("key")) {
        k.key = ctx.Str(*x, kf.Sub("key"));
        ctx.CheckName(*x, kf.Sub("key"), k.key, Ctx::NameRule::kConfigMapKey);
      }
      if (const Node* x = kf.Need("path")) {
        k.path = ctx.Str(*x, kf.Sub("path"));
        // Kubernetes also refuses a path that starts with "..".
        if (ctx.CheckName(*x, kf.Sub("path"), k.path, Ctx::NameRule::kLocalPath) &&
            (k.path.empty() || StartsWith(k.path, ".."))) {
          ctx.Error(*x, kf.Sub("path"), "must not be empty or start with \"..\"");
        }
      }
      kf.Ignore({"mode"});
      into.push_back(std::move(k));
    });
  }
}

// A projected workspace's sources: ConfigMaps and Secrets, in order.
std::vector<ProjectedSource> DecodeProjected(Ctx& ctx, const Node& n, const std::string& path) {
  std::vector<ProjectedSource> out;
  Fields pf(ctx, n, path);
  pf.Ignore({"defaultMode"});
  const Node* sources = pf.Need("sources");
  if (!sources) return out;
  ctx.List(*sources, pf.Sub("sources"), [&](const Node& item_node, const std::string& sp) {
    Fields srcf(ctx, item_node, sp);
    for (const char* kind : {"configMap", "secret"}) {
      const Node* src = srcf.Get(kind);
      if (!src) continue;
      Fields kf(ctx, *src, srcf.Sub(kind));
      ProjectedSource ps;
      ps.secret = std::string_view(kind) == "secret";
      if (const Node* c = kf.Need("name")) {
        ps.name = ctx.Str(*c, kf.Sub("name"));
        ctx.CheckName(*c, kf.Sub("name"), ps.name, Ctx::NameRule::kDnsSubdomain);
      }
      if (const Node* o = kf.Get("optional")) ps.optional = ctx.Bool(*o, kf.Sub("optional"));
      DecodeItems(ctx, kf, ps.items);
      out.push_back(std::move(ps));
    }
    for (const char* k : {"downwardAPI", "serviceAccountToken", "clusterTrustBundle"}) {
      srcf.NotSupported(k, fmt::format("{} projections (configMap and secret are)", k));
    }
  });
  return out;
}

std::vector<WorkspaceBinding> DecodeWorkspaceBindings(Ctx& ctx, const Node* n,
                                                      const std::string& path) {
  std::vector<WorkspaceBinding> out;
  if (!n) return out;
  ctx.List(*n, path, [&](const Node& item, const std::string& p) {
    Fields f(ctx, item, p);
    WorkspaceBinding b;
    if (const Node* v = f.Need("name")) b.name = ctx.Str(*v, f.Sub("name"));
    if (const Node* v = f.Get("subPath")) {
      b.sub_path = ctx.Str(*v, f.Sub("subPath"));
      ctx.CheckName(*v, f.Sub("subPath"), b.sub_path, Ctx::NameRule::kLocalPath);
    }
    int kinds = 0;
    if (const Node* v = f.Get("emptyDir")) {
      Fields ef(ctx, *v, f.Sub("emptyDir"));
      ef.Ignore({"medium", "sizeLimit"});
      b.kind = WorkspaceBinding::Kind::kEmptyDir;
      ++kinds;
    }
    if (const Node* v = f.Get("persistentVolumeClaim")) {
      Fields pf(ctx, *v, f.Sub("persistentVolumeClaim"));
      if (const Node* c = pf.Need("claimName")) {
        b.source = ctx.Str(*c, pf.Sub("claimName"));
        ctx.CheckName(*c, pf.Sub("claimName"), b.source, Ctx::NameRule::kDnsSubdomain);
      }
      pf.Get("readOnly");
      b.kind = WorkspaceBinding::Kind::kPersistentVolumeClaim;
      ++kinds;
    }
    if (const Node* v = f.Get("volumeClaimTemplate")) {
      // Size and storage class only matter on a cluster.
      ctx.Warning(*v, f.Sub("volumeClaimTemplate"),
                  "volumeClaimTemplate: a directory kept for the run is used; size and "
                  "storage class are ignored");
      b.kind = WorkspaceBinding::Kind::kVolumeClaimTemplate;
      ++kinds;
    }
    if (const Node* v = f.Get("configMap")) {
      Fields cf(ctx, *v, f.Sub("configMap"));
      if (const Node* c = cf.Need("name")) {
        b.source = ctx.Str(*c, cf.Sub("name"));
        ctx.CheckName(*c, cf.Sub("name"), b.source, Ctx::NameRule::kDnsSubdomain);
      }
      cf.Ignore({"defaultMode", "optional"});
      DecodeItems(ctx, cf, b.items);
      b.kind = WorkspaceBinding::Kind::kConfigMap;
      ++kinds;
    }
    if (const Node* v = f.Get("secret")) {
      Fields sf(ctx, *v, f.Sub("secret"));
      if (const Node* c = sf.Need("secretName")) {
        b.source = ctx.Str(*c, sf.Sub("secretName"));
        ctx.CheckName(*c, sf.Sub("secretName"), b.source, Ctx::NameRule::kDnsSubdomain);
      }
      sf.Ignore({"defaultMode", "optional"});
      DecodeItems(ctx, sf, b.items);
      b.kind = WorkspaceBinding::Kind::kSecret;
      ++kinds;
    }
    if (const Node* v = f.Get("projected")) {
      b.projected = DecodeProjected(ctx, *v, f.Sub("projected"));
      b.kind = WorkspaceBinding::Kind::kProjected;
      ++kinds;
    }
    f.NotSupported("csi", "csi workspaces");
    if (kinds != 1 && f.ok()) {
      ctx.Error(item, p,
                "a workspace binding needs exactly one of emptyDir, persistentVolumeClaim, "
                "volumeClaimTemplate, configMap, secret, projected");
    }
    out.push_back(std::move(b));
  });
  return out;
}

}  // namespace

bool DecodeTaskKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) -> decltype(r.value) {
    auto t = DecodeTaskSpecNode(ctx, spec, "spec", false);
    return Task{r.meta, t.value_or(TaskSpec{})};
  });
}

StepActionSpec DecodeStepActionSpecNode(Ctx& ctx, const Node& n, const std::string& path) {
  StepActionSpec a;
  a.step = DecodeStep(ctx, n, path, StepKind::kAction);
  if (!n.IsMap()) return a;
  if (const Node* v = n.Get("description")) a.description = ctx.Str(*v, path + ".description");
  a.params = DecodeParamSpecs(ctx, n.Get("params"), path + ".params");
  a.results = DecodeResultSpecs(ctx, n.Get("results"), path + ".results", ResultsOf::kStep);
  return a;
}

bool DecodeStepActionKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) -> decltype(r.value) {
    return StepAction{r.meta, DecodeStepActionSpecNode(ctx, spec, "spec")};
  });
}

Result<StepActionSpec> DecodeStepActionSpec(const Json& j) {
  return FromStoredJson<StepActionSpec>(
      j, [](Ctx& ctx, const Node& n) { return DecodeStepActionSpecNode(ctx, n, "spec"); });
}

bool DecodePipelineKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) -> decltype(r.value) {
    auto p = DecodePipelineSpecNode(ctx, spec, "spec");
    return Pipeline{r.meta, p.value_or(PipelineSpec{})};
  });
}

// A TaskRun's (or a taskRunSpecs entry's) computeResources, stepSpecs and
// sidecarSpecs in `f`. As Tekton validates: names unique, and no step's
// resources beside the TaskRun's own.
ComputeOverrides DecodeComputeOverrides(Ctx& ctx, Fields& f) {
  ComputeOverrides out;
  const Node* task = f.Get("computeResources");
  if (task) out.task = DecodeResources(ctx, *task, f.Sub("computeResources"));
  for (const auto& which :
       {std::pair{"stepSpecs", &out.steps}, std::pair{"sidecarSpecs", &out.sidecars}}) {
    const char* key = which.first;
    auto* into = which.second;
    const Node* list = f.Get(key);
    if (!list) continue;
    ctx.List(*list, f.Sub(key), [&](const Node& item, const std::string& p) {
      Fields sf(ctx, item, p);
      std::string name;
      if (const Node* v = sf.Need("name")) name = ctx.Str(*v, sf.Sub("name"));
      const Node* res = sf.Get("computeResources");
      if (!res) return;
      if (task) {
        ctx.Error(*res, sf.Sub("computeResources"),
                  "a step's computeResources cannot be given beside the TaskRun's own "
                  "computeResources");
      }
      if (into->count(name)) {
        ctx.Error(item, sf.Sub("name"), fmt::format("\"{}\" is given twice", name));
      }
      (*into)[name] = DecodeResources(ctx, *res, sf.Sub("computeResources"));
    });
  }
  return out;
}

// taskRunSpecs: a pipeline task's timeout and compute resources are
// honoured; what only a pod has (service account, pod template, metadata)
// is reported once.
std::vector<PipelineTaskRunSpec> DecodeTaskRunSpecs(Ctx& ctx, const Node* n,
                                                    const std::string& path) {
  std::vector<PipelineTaskRunSpec> out;
  if (!n) return out;
  std::set<std::string> seen;
  ctx.List(*n, path, [&](const Node& item, const std::string& p) {
    Fields f(ctx, item, p);
    PipelineTaskRunSpec s;
    s.origin = ctx.At(item, p);
    if (const Node* name = f.Need("pipelineTaskName")) {
      s.pipeline_task = ctx.Str(*name, f.Sub("pipelineTaskName"));
      if (!seen.insert(s.pipeline_task).second) {
        ctx.Error(*name, f.Sub("pipelineTaskName"),
                  fmt::format("duplicate taskRunSpecs entry for \"{}\"", s.pipeline_task));
      }
    }
    if (const Node* t = f.Get("timeout")) s.timeout = ctx.Duration(*t, f.Sub("timeout"));
    s.compute = DecodeComputeOverrides(ctx, f);
    f.Ignore({"serviceAccountName", "podTemplate", "metadata"});
    out.push_back(std::move(s));
  });
  return out;
}

// spec of a PipelineRun.
bool DecodePipelineRunKind(Ctx& ctx, Fields& f, Resource& r) {
  const Node* spec = f.Need("spec");
  if (!spec) return false;
  Fields sf(ctx, *spec, "spec");
  PipelineRunSpec s;
  const Node* ref = sf.Get("pipelineRef");
  const Node* ps = sf.Get("pipelineSpec");
  if (ref) {
    Fields rf(ctx, *ref, "spec.pipelineRef");
    s.pipeline_resolver = DecodeResolver(ctx, rf, "Pipeline");
    if (!s.pipeline_resolver) {
      if (const Node* v = rf.Need("name")) s.pipeline_ref = ctx.Str(*v, "spec.pipelineRef.name");
    } else {
      s.pipeline_ref = rf.Str("name");
    }
    rf.Get("apiVersion");
    rf.NotSupported("bundle", "Tekton bundles");
  }
  if (ps) s.pipeline_spec = DecodePipelineSpecNode(ctx, *ps, "spec.pipelineSpec");
  if (!ref && !ps && sf.ok()) ctx.Error(*spec, "spec", "needs pipelineRef or pipelineSpec");
  if (ref && ps) ctx.Error(*spec, "spec", "pipelineRef and pipelineSpec cannot both be set");
  s.params = DecodeParams(ctx, sf.Get("params"), "spec.params");
  s.workspaces = DecodeWorkspaceBindings(ctx, sf.Get("workspaces"), "spec.workspaces");
  if (const Node* t = sf.Get("timeouts")) {
    Fields tf(ctx, *t, "spec.timeouts");
    if (const Node* v = tf.Get("pipeline"))
      s.timeouts.pipeline = ctx.Duration(*v, tf.Sub("pipeline"));
    if (const Node* v = tf.Get("tasks")) s.timeouts.tasks = ctx.Duration(*v, tf.Sub("tasks"));
    if (const Node* v = tf.Get("finally")) s.timeouts.finally = ctx.Duration(*v, tf.Sub("finally"));
  }
  if (r.api_version == "tekton.dev/v1beta1") {
    if (const Node* v = sf.Get("timeout")) s.timeouts.pipeline = ctx.Duration(*v, "spec.timeout");
    sf.NotSupported("resources", "PipelineResources (removed from Tekton)");
  }
  if (const Node* v = sf.Get("status")) {
    s.status = ctx.Str(*v, "spec.status");
    static const std::vector<std::string> kStatuses = {"Cancelled", "CancelledRunFinally",
                                                       "StoppedRunFinally", "PipelineRunPending"};
    if (std::find(kStatuses.begin(), kStatuses.end(), s.status) == kStatuses.end()) {
      ctx.Error(*v, "spec.status",
                fmt::format("unknown status \"{}\"{}", s.status, DidYouMean(s.status, kStatuses)));
    }
  }
  sf.Ignore(kIgnoredRun);
  if (const Node* t = sf.Get("taskRunTemplate")) {
    Fields tf(ctx, *t, "spec.taskRunTemplate");
    s.service_account = tf.Str("serviceAccountName");
    if (const Node* pt = tf.Get("podTemplate"); pt && pt->IsMap()) {
      Fields pf(ctx, *pt, "spec.taskRunTemplate.podTemplate");
      s.image_pull_secrets = DecodeImagePullSecrets(ctx, pf);
      for (const auto& entry : pt->map) {
        if (entry.key.scalar != "imagePullSecrets")
          pf.Ignore({entry.key.scalar}, "only matters to a pod");
      }
    }
  }
  s.task_run_specs = DecodeTaskRunSpecs(ctx, sf.Get("taskRunSpecs"), "spec.taskRunSpecs");
  r.value = PipelineRun{r.meta, std::move(s)};
  return true;
}

// spec of a TaskRun.
bool DecodeTaskRunKind(Ctx& ctx, Fields& f, Resource& r) {
  const Node* spec = f.Need("spec");
  if (!spec) return false;
  Fields sf(ctx, *spec, "spec");
  TaskRunSpec s;
  const Node* ref = sf.Get("taskRef");
  const Node* ts = sf.Get("taskSpec");
  if (ref) {
    Fields rf(ctx, *ref, "spec.taskRef");
    s.task_resolver = DecodeResolver(ctx, rf, "Task");
    if (!s.task_resolver) {
      if (const Node* v = rf.Need("name")) s.task_ref = ctx.Str(*v, "spec.taskRef.name");
    } else {
      s.task_ref = rf.Str("name");
    }
    rf.Get("kind");
    rf.Get("apiVersion");
    rf.NotSupported("bundle", "Tekton bundles");
  }
  if (ts) s.task_spec = DecodeTaskSpecNode(ctx, *ts, "spec.taskSpec", false);
  if (!ref && !ts && sf.ok()) ctx.Error(*spec, "spec", "needs taskRef or taskSpec");
  s.params = DecodeParams(ctx, sf.Get("params"), "spec.params");
  s.workspaces = DecodeWorkspaceBindings(ctx, sf.Get("workspaces"), "spec.workspaces");
  if (const Node* v = sf.Get("timeout")) s.timeout = ctx.Duration(*v, "spec.timeout");
  if (const Node* v = sf.Get("retries")) s.retries = ctx.Int(*v, "spec.retries", 0, 1000);
  if (const Node* v = sf.Get("status")) {
    s.status = ctx.Str(*v, "spec.status");
    if (s.status != "TaskRunCancelled") {
      ctx.Error(*v, "spec.status", "the only status a TaskRun accepts is TaskRunCancelled");
    }
  }
  sf.Get("statusMessage");
  // A pod template's volumes are the task's too (steps may mount them);
  // the rest of it only a pod has.
  if (const Node* pt = sf.Get("podTemplate"); pt && pt->IsMap()) {
    Fields pf(ctx, *pt, "spec.podTemplate");
    s.pod_volumes = DecodeVolumes(ctx, pf.Get("volumes"), "spec.podTemplate.volumes");
    s.image_pull_secrets = DecodeImagePullSecrets(ctx, pf);
    for (const auto& entry : pt->map) {
      if (entry.key.scalar != "volumes" && entry.key.scalar != "imagePullSecrets")
        pf.Ignore({entry.key.scalar}, "only matters to a pod");
    }
    for (const auto& v : s.pod_volumes) {
      if (!s.task_spec) break;
      auto& vols = s.task_spec->volumes;
      bool declared =
          std::any_of(vols.begin(), vols.end(), [&](const auto& x) { return x.name == v.name; });
      if (!declared) vols.push_back(v);
    }
  }
  std::set<std::string> ignored = kIgnoredRun;
  ignored.erase("podTemplate");
  sf.Ignore(ignored);
  s.service_account = sf.Str("serviceAccountName");
  (void)DecodeComputeOverrides(ctx, sf);  // checked here; `strake run` carries them (pick_run)
  sf.NotSupported("stepOverrides", "stepOverrides (v1beta1's name); use stepSpecs");
  sf.NotSupported("sidecarOverrides", "sidecarOverrides (v1beta1's name); use sidecarSpecs");
  sf.NotSupported("debug", "TaskRun debug breakpoints");
  sf.NotSupported("resources", "PipelineResources (removed from Tekton)");
  r.value = TaskRun{r.meta, std::move(s)};
  return true;
}

Result<PipelineSpec> DecodePipelineSpec(const Json& j) {
  Diagnostics diags;
  std::string file = "<stored pipelineSpec>";
  Ctx ctx(file, diags);
  Node node = FromJson(j);
  auto p = DecodePipelineSpecNode(ctx, node, "spec");
  if (diags.HasErrors() || !p) return Fail(diags.ErrorText());
  return *p;
}

Json EncodeParams(const std::vector<Param>& params) {
  Json a = Json::array();
  for (const auto& p : params) a.push_back({{"name", p.name}, {"value", p.value.ToJson()}});
  return a;
}

}  // namespace strake::model
