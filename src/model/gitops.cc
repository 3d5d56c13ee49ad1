#include "model/gitops.h"

#include <set>

#include "base/net.h"
#include "base/strings.h"
#include "model/decode.h"
#include "model/decoders.h"
#include "model/merge.h"

namespace strake::model {

bool ApplicationSpec::SyncOption(const std::string& name) const {
  for (const auto& o : sync_options) {
    if (o == name + "=true") return true;
  }
  return false;
}

bool KustomizeOverrides::Empty() const {
  return name_prefix.empty() && name_suffix.empty() && ns.empty() && images.empty() &&
         replicas.empty() && common_labels.empty() && common_annotations.empty() && patches.empty();
}

std::string KustomizeOverrides::Key() const {
  Json replica_list = Json::array();
  for (const auto& [name, count] : replicas) replica_list.push_back({name, count});
  return Json::array({name_prefix, name_suffix, ns, images, replica_list, common_labels,
                      common_annotations, force_common_labels, force_common_annotations,
                      common_annotations_envsubst, label_without_selector, label_include_templates,
                      patches})
      .dump();
}

std::string ApplicationSpec::SyncOptionValue(const std::string& name) const {
  for (const auto& o : sync_options) {
    if (StartsWith(o, name + "=")) return o.substr(name.size() + 1);
  }
  return "";
}

bool SupportedRepoUrl(const std::string& url) {
  if (url.find("::") != std::string::npos || url.find_first_of(" \t\r\n") != std::string::npos) {
    return false;  // git's <transport>::<address> runs commands
  }
  for (const char* scheme : {"file://", "http://", "https://", "ssh://"}) {
    if (StartsWith(url, scheme) && url.size() > std::string(scheme).size()) return true;
  }
  // scp-like, as Argo CD takes it: user@host:path
  size_t at = url.find('@');
  size_t colon = url.find(':');
  return url.find("://") == std::string::npos && at != std::string::npos && at > 0 &&
         colon != std::string::npos && colon > at + 1 && colon + 1 < url.size() &&
         url.find('/') > colon;
}

namespace {

void CheckRepoUrl(Ctx& ctx, const Node& n, const std::string& path, const std::string& url) {
  if (!url.empty() && !SupportedRepoUrl(url)) {
    ctx.Error(n, path,
              fmt::format("unsupported repository URL \"{}\": use https://, http://, ssh://, "
                          "user@host:path or file://",
                          RedactUrl(url)));
  }
}

// A path inside the repository: relative, no "..".
void CheckRepoPath(Ctx& ctx, const Node& n, const std::string& path, const std::string& p) {
  if (!p.empty() && p[0] == '/') {
    ctx.Error(n, path, fmt::format("\"{}\" must be relative to the repository's root", p));
    return;
  }
  for (const auto& part : Split(p, '/')) {
    if (part == "..") {
      ctx.Error(n, path, fmt::format("\"{}\" leaves the repository (\"..\")", p));
      return;
    }
  }
}

std::vector<JsonnetVar> DecodeJsonnetVars(Ctx& ctx, Fields& jf, const std::string& key) {
  std::vector<JsonnetVar> out;
  std::set<std::string> seen;
  jf.List(key, [&](const Node& item, const std::string& path) {
    Fields f(ctx, item, path);
    JsonnetVar v;
    if (const Node* n = f.Need("name")) {
      v.name = ctx.Str(*n, f.Sub("name"));
      if (!seen.insert(v.name).second)
        ctx.Error(*n, f.Sub("name"), fmt::format("\"{}\" is given twice", v.name));
    }
    // Argo CD takes an empty value (its CLI writes `name=`).
    if (const Node* n = f.Get("value")) v.value = ctx.Str(*n, f.Sub("value"));
    if (const Node* n = f.Get("code")) v.code = ctx.Bool(*n, f.Sub("code"));
    out.push_back(std::move(v));
  });
  return out;
}

void DecodeJsonnet(Ctx& ctx, const Node& j, ApplicationSource& s) {
  Fields jf(ctx, j, "spec.source.directory.jsonnet");
  s.jsonnet_ext_vars = DecodeJsonnetVars(ctx, jf, "extVars");
  s.jsonnet_tlas = DecodeJsonnetVars(ctx, jf, "tlas");
  jf.List("libs", [&](const Node& item, const std::string& path) {
    std::string lib = ctx.Str(item, path);
    CheckRepoPath(ctx, item, path, lib);
    s.jsonnet_libs.push_back(lib.empty() ? "." : lib);
  });
}

// Argo CD's ApplicationSourceKustomize.
void DecodeKustomizeOverrides(Ctx& ctx, const Node& k, KustomizeOverrides& o) {
  Fields kf(ctx, k, "spec.source.kustomize");
  o.name_prefix = kf.Str("namePrefix");
  o.name_suffix = kf.Str("nameSuffix");
  o.ns = kf.Str("namespace");
  if (!o.ns.empty())
    ctx.CheckName(*kf.Get("namespace"), kf.Sub("namespace"), o.ns, Ctx::NameRule::kDnsLabel);
  if (const Node* v = kf.Get("images")) o.images = ctx.StrList(*v, kf.Sub("images"));
  kf.List("replicas", [&](const Node& item, const std::string& path) {
    Fields rf(ctx, item, path);
    std::string name;
    if (const Node* n = rf.Need("name")) name = ctx.Str(*n, path + ".name");
    int count = 0;
    if (const Node* c = rf.Need("count")) {
      // Argo CD's IntOrString: a number, or a string holding one.
      Node number = *c;
      number.quoted = false;
      count = ctx.Int(number, path + ".count", 0, 1'000'000);
    }
    o.replicas.emplace_back(name, count);
  });
  if (const Node* v = kf.Get("commonLabels"))
    o.common_labels = ctx.StrMap(*v, kf.Sub("commonLabels"));
  if (const Node* v = kf.Get("commonAnnotations"))
    o.common_annotations = ctx.StrMap(*v, kf.Sub("commonAnnotations"));
  auto flag = [&](const char* key, bool& out) {
    if (const Node* v = kf.Get(key)) out = ctx.Bool(*v, kf.Sub(key));
  };
  flag("forceCommonLabels", o.force_common_labels);
  flag("forceCommonAnnotations", o.force_common_annotations);
  flag("commonAnnotationsEnvsubst", o.common_annotations_envsubst);
  flag("labelWithoutSelector", o.label_without_selector);
  flag("labelIncludeTemplates", o.label_include_templates);
  kf.List("patches", [&](const Node& item, const std::string& path) {
    Fields pf(ctx, item, path);
    pf.Str("path");
    pf.Str("patch");
    pf.Get("target");
    pf.Get("options");
    o.patches.push_back(ToJson(item));
  });
  kf.NotSupported("version", "strake builds kustomizations itself (one kustomize, no versions)");
  kf.NotSupported("components", "kustomize components are not supported yet");
  kf.NotSupported("ignoreMissingComponents", "kustomize components are not supported yet");
  kf.NotSupported("kubeVersion", "it is for Helm charts, which are not supported yet");
  kf.NotSupported("apiVersions", "it is for Helm charts, which are not supported yet");
}

void DecodeSource(Ctx& ctx, const Node& src, ApplicationSource& s) {
  Fields sf(ctx, src, "spec.source");
  if (const Node* v = sf.Need("repoURL")) {
    s.repo_url = ctx.Str(*v, "spec.source.repoURL");
    CheckRepoUrl(ctx, *v, "spec.source.repoURL", s.repo_url);
  }
  if (const Node* v = sf.Get("path")) {
    s.path = ctx.Str(*v, "spec.source.path");
    if (s.path.empty()) s.path = ".";
    CheckRepoPath(ctx, *v, "spec.source.path", s.path);
  }
  if (const Node* v = sf.Get("targetRevision")) {
    s.target_revision = ctx.Str(*v, "spec.source.targetRevision");
    if (s.target_revision.empty()) s.target_revision = "HEAD";
  }
  if (const Node* d = sf.Get("directory")) {
    Fields df(ctx, *d, "spec.source.directory");
    if (const Node* v = df.Get("recurse")) s.recurse = ctx.Bool(*v, df.Sub("recurse"));
    s.include = df.Str("include");
    s.exclude = df.Str("exclude");
    if (const Node* j = df.Get("jsonnet")) DecodeJsonnet(ctx, *j, s);
  }
  if (const Node* k = sf.Get("kustomize")) {
    s.kustomize = true;
    DecodeKustomizeOverrides(ctx, *k, s.kustomize_overrides);
  }
  sf.NotSupported("helm", "Helm charts are not supported yet");
  sf.NotSupported("chart", "Helm charts are not supported yet");
  sf.NotSupported("plugin", "config management plugins");
  sf.NotSupported("ref", "multiple sources");
  sf.Get("name");
}

void DecodeDestination(Ctx& ctx, const Node& dest, ApplicationSpec& a) {
  Fields df(ctx, dest, "spec.destination");
  std::string name = df.Str("name");
  std::string server = df.Str("server");
  if (const Node* v = df.Get("namespace")) {
    a.destination_namespace = ctx.Str(*v, "spec.destination.namespace");
    if (!a.destination_namespace.empty()) {
      ctx.CheckName(*v, "spec.destination.namespace", a.destination_namespace,
                    Ctx::NameRule::kDnsLabel);
    }
  }
  // "in-cluster" and its server URL name the cluster strake runs in: on
  // one machine, the local target.
  if (!name.empty() && name != "local" && name != "in-cluster") {
    ctx.Error(dest, "spec.destination.name",
              fmt::format("unknown destination \"{}\": the local target is \"local\"", name));
  }
  if (!server.empty() && server != "https://kubernetes.default.svc") {
    ctx.Error(dest, "spec.destination.server",
              fmt::format("unknown destination server \"{}\": use name: local", server));
  }
  if (name.empty() && server.empty() && df.ok()) {
    ctx.Error(dest, "spec.destination", "name or server is required (name: local)");
  }
}

// Argo CD's options, NAME=VALUE: the values each name takes, and the
// options refused with why.
struct OptionTable {
  const char* what;  // "sync option"
  std::map<std::string, std::vector<std::string>> values;
  std::map<std::string, std::string> refused;
};

std::optional<std::string> OptionProblem(const OptionTable& t, const std::string& option) {
  auto eq = option.find('=');
  std::string key = option.substr(0, eq);
  std::vector<std::string> names;
  names.reserve(t.values.size());
  for (const auto& [name, values] : t.values) names.push_back(name);
  auto known = t.values.find(key);
  if (eq == std::string::npos || known == t.values.end()) {
    return fmt::format("unknown {} \"{}\"{}", t.what, option, DidYouMean(key, names));
  }
  if (auto refused = t.refused.find(option); refused != t.refused.end())
    return fmt::format("not supported: {}: {}", option, refused->second);
  std::string value = option.substr(eq + 1);
  const auto& values = known->second;
  if (std::find(values.begin(), values.end(), value) == values.end()) {
    return fmt::format("{} takes {}, not \"{}\"", key, Join(values, " or "), value);
  }
  return std::nullopt;
}

const std::vector<std::string> kBool = {"true", "false"};

}  // namespace

// Argo CD's docs/user-guide/sync-options.md: each honoured as docs/gitops.md
// says, or refused here with why.
std::optional<std::string> SyncOptionProblem(const std::string& option) {
  static const OptionTable kTable = {
      "sync option",
      {{"PruneLast", kBool},
       {"ApplyOutOfSyncOnly", kBool},
       {"Prune", kBool},
       {"Validate", kBool},
       {"CreateNamespace", kBool},
       {"ServerSideApply", kBool},
       {"ClientSideApplyMigration", kBool},
       {"SkipDryRunOnMissingResource", kBool},
       {"PrunePropagationPolicy", {"foreground", "background"}},
       {"Replace", kBool},
       {"RespectIgnoreDifferences", kBool},
       {"FailOnSharedResource", kBool}},
      {{"PrunePropagationPolicy=orphan",
        "a pruned object's dependents (a Deployment's replicas, a Job's process) go with it here"},
       {"Prune=confirm", "a prune that waits for a confirmation"}}};
  return OptionProblem(kTable, option);
}

std::optional<std::string> ResourceSyncOptionProblem(const std::string& option) {
  static const OptionTable kTable = {
      "sync option",
      {{"Prune", kBool},
       {"Delete", kBool},
       {"PruneLast", kBool},
       {"Replace", kBool},
       {"ServerSideApply", kBool},
       {"ClientSideApplyMigration", kBool},
       {"SkipDryRunOnMissingResource", kBool},
       {"Validate", kBool},
       {"Force", {"false"}}},
      {{"Prune=confirm", "a prune that waits for a confirmation"},
       {"Delete=confirm", "a deletion that waits for a confirmation"},
       {"Force=true", "a replace that deletes the object and makes it again"}}};
  return OptionProblem(kTable, option);
}

std::optional<std::string> CompareOptionProblem(const std::string& option) {
  if (option == "IgnoreExtraneous") return std::nullopt;
  static const OptionTable kTable = {
      "compare option", {{"ServerSideDiff", kBool}, {"IncludeMutationWebhook", kBool}}, {}};
  if (option.find('=') == std::string::npos) {
    return fmt::format("unknown compare option \"{}\"{}", option,
                       DidYouMean(option, {"IgnoreExtraneous"}));
  }
  return OptionProblem(kTable, option);
}

namespace {

void DecodeSyncPolicy(Ctx& ctx, const Node& policy, ApplicationSpec& a) {
  Fields pf(ctx, policy, "spec.syncPolicy");
  if (const Node* au = pf.Get("automated")) {
    Fields af(ctx, *au, "spec.syncPolicy.automated");
    a.automated = true;
    if (const Node* v = af.Get("enabled")) a.automated = ctx.Bool(*v, af.Sub("enabled"));
    if (const Node* v = af.Get("prune")) a.prune = ctx.Bool(*v, af.Sub("prune"));
    if (const Node* v = af.Get("selfHeal")) a.self_heal = ctx.Bool(*v, af.Sub("selfHeal"));
    if (const Node* v = af.Get("allowEmpty")) a.allow_empty = ctx.Bool(*v, af.Sub("allowEmpty"));
  }
  if (const Node* v = pf.Get("syncOptions")) {
    a.sync_options = ctx.StrList(*v, "spec.syncOptions");
    for (size_t i = 0; i < a.sync_options.size(); ++i) {
      if (auto problem = SyncOptionProblem(a.sync_options[i]))
        ctx.Error(*v, fmt::format("spec.syncPolicy.syncOptions[{}]", i), *problem);
    }
  }
  if (const Node* m = pf.Get("managedNamespaceMetadata")) {
    Fields mf(ctx, *m, "spec.syncPolicy.managedNamespaceMetadata");
    if (const Node* l = mf.Get("labels"))
      a.managed_namespace_labels = ctx.StrMap(*l, mf.Sub("labels"));
    if (const Node* an = mf.Get("annotations"))
      a.managed_namespace_annotations = ctx.StrMap(*an, mf.Sub("annotations"));
  }
  if (const Node* r = pf.Get("retry")) {
    Fields rf(ctx, *r, "spec.syncPolicy.retry");
    SyncRetry retry;
    if (const Node* v = rf.Get("limit")) retry.limit = ctx.Int(*v, rf.Sub("limit"), -1, 1000);
    if (const Node* b = rf.Get("backoff")) {
      Fields bf(ctx, *b, "spec.syncPolicy.retry.backoff");
      if (const Node* v = bf.Get("duration")) {
        if (auto d = ctx.Duration(*v, bf.Sub("duration"))) retry.duration = *d;
      }
      if (const Node* v = bf.Get("factor")) retry.factor = ctx.Int(*v, bf.Sub("factor"), 1, 100);
      if (const Node* v = bf.Get("maxDuration")) {
        if (auto d = ctx.Duration(*v, bf.Sub("maxDuration"))) retry.max_duration = *d;
      }
    }
    rf.Get("refresh");
    a.retry = retry;
  }
}

void DecodeIgnoreDifferences(Ctx& ctx, const Node& ids, ApplicationSpec& a) {
  ctx.List(ids, "spec.ignoreDifferences", [&](const Node& item, const std::string& p) {
    Fields idf(ctx, item, p);
    IgnoreDifference d;
    d.group = idf.Str("group");
    if (const Node* v = idf.Need("kind")) d.kind = ctx.Str(*v, idf.Sub("kind"));
    d.name = idf.Str("name");
    d.ns = idf.Str("namespace");
    if (const Node* v = idf.Get("jsonPointers")) {
      d.json_pointers = ctx.StrList(*v, idf.Sub("jsonPointers"));
      for (size_t i = 0; i < d.json_pointers.size(); ++i) {
        if (d.json_pointers[i].empty() || d.json_pointers[i][0] != '/') {
          ctx.Error(*v, fmt::format("{}[{}]", idf.Sub("jsonPointers"), i),
                    "a JSON pointer starts with \"/\"");
        }
      }
    }
    idf.NotSupported("jqPathExpressions", "jqPathExpressions; use jsonPointers");
    idf.Ignore({"managedFieldsManagers"});
    a.ignore_differences.push_back(std::move(d));
  });
}

ApplicationSpec DecodeApplicationSpecNode(Ctx& ctx, const Node& spec) {
  Fields f(ctx, spec, "spec");
  ApplicationSpec a;
  if (const Node* v = f.Get("project")) a.project = ctx.Str(*v, "spec.project");
  if (a.project.empty()) a.project = "default";
  if (const Node* src = f.Get("source")) {
    DecodeSource(ctx, *src, a.source);
  } else if (f.ok()) {
    ctx.Error(spec, "spec.source", "required field is missing");
  }
  f.NotSupported("sources", "multiple sources; use spec.source");
  f.NotSupported("sourceHydrator", "the source hydrator");
  if (const Node* d = f.Need("destination")) DecodeDestination(ctx, *d, a);
  if (const Node* sp = f.Get("syncPolicy")) DecodeSyncPolicy(ctx, *sp, a);
  if (const Node* ids = f.Get("ignoreDifferences")) DecodeIgnoreDifferences(ctx, *ids, a);
  if (const Node* v = f.Get("revisionHistoryLimit")) {
    a.revision_history_limit = ctx.Int(*v, "spec.revisionHistoryLimit", 0, 1000);
  }
  f.Get("info");
  return a;
}

RepositorySpec DecodeRepositorySpecNode(Ctx& ctx, const Node& spec) {
  Fields f(ctx, spec, "spec");
  RepositorySpec r;
  if (const Node* v = f.Need("url")) {
    r.url = ctx.Str(*v, "spec.url");
    CheckRepoUrl(ctx, *v, "spec.url", r.url);
  }
  if (const Node* s = f.Get("secretRef")) {
    Fields sf(ctx, *s, "spec.secretRef");
    if (const Node* v = sf.Need("name")) r.secret_ref = ctx.Str(*v, sf.Sub("name"));
  }
  if (const Node* v = f.Get("pollInterval")) {
    if (auto d = ctx.Duration(*v, "spec.pollInterval")) {
      if (d->count() < 1000) {
        ctx.Error(*v, "spec.pollInterval", "must be at least 1s");
      } else {
        r.poll_interval = *d;
      }
    }
  }
  if (const Node* s = f.Get("webhookSecretRef")) {
    Fields sf(ctx, *s, "spec.webhookSecretRef");
    if (const Node* v = sf.Need("name")) r.webhook_secret_ref = ctx.Str(*v, sf.Sub("name"));
  }
  return r;
}

}  // namespace

bool DecodeApplicationKind(Ctx& ctx, Fields& f, Resource& r) {
  f.Get("operation");  // Argo CD's way of asking for a sync; strake has its own verbs
  return WithSpec(f, r, [&](const Node& spec) {
    return Application{r.meta, DecodeApplicationSpecNode(ctx, spec)};
  });
}

bool DecodeRepositoryKind(Ctx& ctx, Fields& f, Resource& r) {
  return WithSpec(f, r, [&](const Node& spec) {
    return Repository{r.meta, DecodeRepositorySpecNode(ctx, spec)};
  });
}

Result<ApplicationSource> OverrideSource(const Json& application,
                                         const std::vector<SourceOverride>& overrides) {
  if (!application.is_object() || !application.contains("spec") ||
      !application["spec"].is_object()) {
    return Fail("an Application without a spec");
  }
  Json object = application;
  Json& source = object["spec"]["source"];
  static const std::set<std::string> kTaken = {"directory", "kustomize", "helm", "plugin"};
  for (const auto& o : overrides) {
    STRAKE_TRY_ASSIGN(docs, ParseYaml(o.text, o.file));
    if (docs.empty() || docs[0].root.IsNull()) continue;  // an empty file sets nothing
    if (docs.size() > 1) return Failf("{}: one document expected, found {}", o.file, docs.size());
    const Node& root = docs[0].root;
    if (!root.IsMap()) {
      return Failf("{}:{}:{}: a mapping of source parameters expected, found a {}", o.file,
                   root.mark.line, root.mark.col, root.TypeName());
    }
    for (const auto& e : root.map) {
      if (kTaken.count(e.key.scalar)) continue;
      return Failf(
          "{}:{}:{}: {}: Argo CD takes only directory, kustomize, helm and plugin from this "
          "file{}",
          o.file, e.key.mark.line, e.key.mark.col, e.key.scalar,
          DidYouMean(e.key.scalar, {kTaken.begin(), kTaken.end()}));
    }
    source = MergePatch(source.is_object() ? source : Json::object(), ToJson(root));
  }
  std::vector<std::string> files;
  files.reserve(overrides.size());
  for (const auto& o : overrides) files.push_back(o.file);
  auto decoded = DecodeObject(object, Join(files, " and ") + " over the Application's source");
  if (!decoded) return tl::unexpected(decoded.error());
  return std::get<Application>(decoded->value).spec.source;
}

}  // namespace strake::model
