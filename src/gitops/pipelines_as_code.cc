#include "gitops/pipelines_as_code.h"

#include <fmt/format.h>

#include <set>

#include "base/fs.h"
#include "base/sha256.h"
#include "base/strings.h"
#include "model/decode.h"

namespace strake::gitops {

namespace {

constexpr const char* kPac = "pipelinesascode.tekton.dev/";
constexpr const char* kTektonDir = ".tekton";

bool IsYaml(const std::string& path) { return EndsWith(path, ".yaml") || EndsWith(path, ".yml"); }

std::string Annotation(const model::Node& doc, const std::string& name) {
  const model::Node* meta = doc.Get("metadata");
  const model::Node* ann = meta ? meta->Get("annotations") : nullptr;
  const model::Node* v = ann ? ann->Get(name) : nullptr;
  return v && v->IsScalar() ? v->scalar : "";
}

const model::Node* AnnotationNode(const model::Node& doc, const std::string& name) {
  const model::Node* meta = doc.Get("metadata");
  const model::Node* ann = meta ? meta->Get("annotations") : nullptr;
  return ann ? ann->Get(name) : nullptr;
}

bool BranchMatches(const std::vector<std::string>& patterns, const std::string& branch) {
  for (std::string p : patterns) {
    if (StartsWith(p, "refs/heads/")) p = p.substr(11);
    if (p == branch || GlobMatch(p, branch)) return true;
  }
  return false;
}

struct Var {
  std::string value;
  bool untrusted = false;
  std::string why;  // for untrusted ones: who controls it
};

// The {{name}} references in s (spaces allowed inside the braces), as
// (offset, length, name).
struct VarRef {
  size_t at = 0;
  size_t len = 0;
  std::string name;
};
std::vector<VarRef> FindVars(const std::string& s) {
  std::vector<VarRef> out;
  size_t i = 0;
  while ((i = s.find("{{", i)) != std::string::npos) {
    size_t end = s.find("}}", i + 2);
    if (end == std::string::npos) break;
    std::string name(Trim(std::string_view(s).substr(i + 2, end - i - 2)));
    bool ok = !name.empty();
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (ok) {
      out.push_back({i, end + 2 - i, name});
      i = end + 2;
    } else {
      i += 2;
    }
  }
  return out;
}

// Expands the variables in every string of `n`. `param_value` is true inside
// a PipelineRun's spec.params[i].value, the one place an untrusted value may
// go; `param` names that param.
Status Expand(model::Node& n, const std::string& file, const std::string& path,
              const std::map<std::string, Var>& vars, bool run_doc, const std::string& param,
              std::map<std::string, std::string>& untrusted) {
  switch (n.kind) {
    case model::Node::Kind::kNull:
      return Ok();
    case model::Node::Kind::kSeq:
      for (size_t i = 0; i < n.seq.size(); ++i) {
        std::string p = fmt::format("{}[{}]", path, i);
        std::string name = param;
        if (run_doc && path == "spec.params") {
          const model::Node* nm = n.seq[i].Get("name");
          name = nm && nm->IsScalar() ? nm->scalar : "";
        }
        STRAKE_TRY(Expand(n.seq[i], file, p, vars, run_doc, name, untrusted));
      }
      return Ok();
    case model::Node::Kind::kMap:
      for (auto& e : n.map) {
        std::string p = path.empty() ? e.key.scalar : path + "." + e.key.scalar;
        STRAKE_TRY(Expand(e.value, file, p, vars, run_doc, param, untrusted));
      }
      return Ok();
    case model::Node::Kind::kScalar:
      break;
  }
  auto refs = FindVars(n.scalar);
  if (refs.empty()) return Ok();
  bool in_param_value = run_doc && StartsWith(path, "spec.params[") && !param.empty() &&
                        (EndsWith(path, "].value") || path.find("].value[") != std::string::npos ||
                         path.find("].value.") != std::string::npos);
  std::string out;
  size_t from = 0;
  for (const auto& r : refs) {
    out += n.scalar.substr(from, r.at - from);
    from = r.at + r.len;
    auto v = vars.find(r.name);
    if (v == vars.end()) {
      out += n.scalar.substr(r.at, r.len);  // not ours: left as written
      continue;
    }
    if (v->second.untrusted) {
      if (!in_param_value) {
        return Failf(
            "{}: {}: {{{{{}}}}} is not trusted ({}) and may only be the value of one of the "
            "PipelineRun's spec.params; pass it as a param and read it from the environment in "
            "the step, so it stays data:\n"
            "  spec:\n    params:\n    - name: {}\n      value: \"{{{{{}}}}}\"\n"
            "  ... and in the Task:\n"
            "    steps:\n    - env:\n      - name: {}\n        value: $(params.{})\n"
            "      script: echo \"${}\"",
            model::PlaceOf(file, n), path, r.name, v->second.why, r.name, r.name,
            EnvVarName(r.name), r.name, EnvVarName(r.name));
      }
      untrusted[param] = "{{" + r.name + "}}";
    }
    out += v->second.value;
  }
  out += n.scalar.substr(from);
  n.scalar = std::move(out);
  n.quoted = true;  // a SHA of digits stays a string
  return Ok();
}

// "file:///srv/git/team/app.git" -> {"team", "app"}.
std::pair<std::string, std::string> OwnerAndName(const std::string& url) {
  std::string path = url;
  auto scheme = path.find("://");
  if (scheme != std::string::npos) {
    path = path.substr(scheme + 3);
    auto slash = path.find('/');
    path = slash == std::string::npos ? "" : path.substr(slash);
  } else if (auto colon = path.find(':'); colon != std::string::npos) {
    path = path.substr(colon + 1);  // scp-like user@host:team/app.git
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (EndsWith(path, ".git")) path.resize(path.size() - 4);
  auto parts = Split(path, '/');
  std::vector<std::string> segs;
  for (const auto& p : parts) {
    if (!p.empty()) segs.push_back(p);
  }
  if (segs.empty()) return {"", ""};
  if (segs.size() == 1) return {"", segs[0]};
  return {segs[segs.size() - 2], segs.back()};
}

struct TemplateDoc {
  size_t doc = 0;  // index into docs
  std::string prefix;
};

}  // namespace

std::vector<std::string> PacList(const std::string& value) {
  std::string v(Trim(value));
  if (v.size() >= 2 && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
  std::vector<std::string> out;
  for (const auto& part : Split(v, ',')) {
    std::string p(Trim(part));
    if (p.size() >= 2 && (p.front() == '"' || p.front() == '\'') && p.back() == p.front())
      p = p.substr(1, p.size() - 2);
    if (!p.empty()) out.push_back(p);
  }
  return out;
}

Result<std::vector<PacRun>> PipelineRunsForPush(const Mirror& mirror, const PushEvent& push,
                                                const model::ParseLimits& limits) {
  std::vector<PacRun> out;
  STRAKE_TRY_ASSIGN(has_dir, mirror.IsDir(push.sha, kTektonDir));
  if (!has_dir) return out;
  ReadLimits read;
  read.max_file_bytes = limits.max_bytes;
  STRAKE_TRY_ASSIGN(files, mirror.ReadDir(push.sha, kTektonDir, /*recurse=*/true, IsYaml, read));

  std::vector<model::Document> docs;
  std::set<std::string> read_paths;
  std::vector<std::string> errors;
  auto parse = [&](const std::string& path, const std::string& data) {
    read_paths.insert(path);
    auto parsed = model::ParseYaml(data, path, limits);
    if (!parsed) {
      errors.push_back(parsed.error().message);
      return;
    }
    for (auto& d : *parsed) docs.push_back(std::move(d));
  };
  for (const auto& f : files) parse(std::string(kTektonDir) + "/" + f.path, f.data);
  if (!errors.empty()) return Fail(Join(errors, "\n"));

  // Which PipelineRuns this push starts; the files their annotations name.
  std::vector<TemplateDoc> templates;
  std::vector<std::pair<std::string, std::string>> referenced;  // files the annotations name
  std::optional<std::vector<std::string>> changed;
  bool changed_known = false;
  size_t parsed_docs = docs.size();
  for (size_t i = 0; i < parsed_docs; ++i) {
    const model::Node& root = docs[i].root;
    const model::Node* kind = root.Get("kind");
    if (!kind || kind->scalar != "PipelineRun") continue;
    const std::string& file = docs[i].file;
    if (const model::Node* cel = AnnotationNode(root, std::string(kPac) + "on-cel-expression")) {
      return Failf(
          "{}: metadata.annotations.{}on-cel-expression: not supported; use on-event "
          "and on-target-branch",
          model::PlaceOf(file, *cel), kPac);
    }
    std::string on_event = Annotation(root, std::string(kPac) + "on-event");
    if (on_event.empty()) continue;  // not a trigger; maybe referenced by name
    auto events = PacList(on_event);
    if (std::find(events.begin(), events.end(), "push") == events.end()) continue;
    if (!BranchMatches(PacList(Annotation(root, std::string(kPac) + "on-target-branch")),
                       push.branch)) {
      continue;
    }
    std::string paths = Annotation(root, std::string(kPac) + "on-path-change");
    if (!paths.empty() && !push.before.empty()) {
      if (!changed_known) {
        STRAKE_TRY_ASSIGN(c, mirror.ChangedPaths(push.before, push.sha));
        changed = std::move(c);
        changed_known = true;
      }
      if (changed) {  // past the limit every pattern is taken to match
        bool hit = false;
        for (const auto& g : PacList(paths)) {
          for (const auto& p : *changed) hit = hit || GlobMatch(g, p);
        }
        if (!hit) continue;
      }
    }
    for (const char* which : {"task", "pipeline"}) {
      const model::Node* refs = AnnotationNode(root, std::string(kPac) + which);
      if (!refs || !refs->IsScalar()) continue;
      for (const auto& ref : PacList(refs->scalar)) {
        if (ref.find("://") != std::string::npos || !IsYaml(ref)) {
          return Failf(
              "{}: metadata.annotations.{}{}: {}: remote {}s (Tekton Hub, http URLs) are not "
              "supported; put it in .tekton/ or name a YAML file of this repository",
              model::PlaceOf(file, *refs), kPac, which, Quote(ref), which);
        }
        auto clean = CleanRepoPath(ref);
        if (!clean) {
          return Failf("{}: metadata.annotations.{}{}: {}", model::PlaceOf(file, *refs), kPac,
                       which, clean.error().message);
        }
        if (!read_paths.insert(*clean).second) continue;
        STRAKE_TRY_ASSIGN(data, mirror.ReadFileAt(push.sha, *clean, read));
        if (!data) {
          return Failf("{}: metadata.annotations.{}{}: {} does not exist at {}",
                       model::PlaceOf(file, *refs), kPac, which, *clean, push.sha.substr(0, 12));
        }
        // Parsed after this loop: `docs` must not grow under `root`.
        referenced.emplace_back(*clean, std::move(*data));
      }
    }
    const model::Node* meta = root.Get("metadata");
    const model::Node* name = meta ? meta->Get("name") : nullptr;
    const model::Node* gen = meta ? meta->Get("generateName") : nullptr;
    std::string prefix = gen && gen->IsScalar() && !gen->scalar.empty()      ? gen->scalar
                         : name && name->IsScalar() && !name->scalar.empty() ? name->scalar + "-"
                                                                             : "";
    if (prefix.empty()) {
      return Failf("{}: metadata: a PipelineRun needs a name or generateName",
                   model::PlaceOf(file, root));
    }
    templates.push_back({i, prefix});
  }
  for (const auto& [path, data] : referenced) parse(path, data);
  if (!errors.empty()) return Fail(Join(errors, "\n"));
  if (templates.empty()) return out;

  auto [owner, repo_name] = OwnerAndName(push.repo_url);
  const std::string branch_why = "anyone who can push names the branch";
  std::map<std::string, Var> vars = {
      {"revision", {push.sha, false, ""}},
      {"repo_url", {push.repo_url, false, ""}},
      {"source_url", {push.repo_url, false, ""}},
      {"repo_owner", {owner, false, ""}},
      {"repo_name", {repo_name, false, ""}},
      {"event_type", {"push", false, ""}},
      {"target_namespace", {push.ns, false, ""}},
      {"source_branch", {push.branch, true, branch_why}},
      {"target_branch", {push.branch, true, branch_why}},
      {"sender", {push.sender, true, "the commit's author is whatever its committer wrote"}},
  };
  // Expand every document: the runs, and the Pipelines and Tasks they use.
  std::vector<std::map<std::string, std::string>> untrusted(docs.size());
  std::set<size_t> run_docs;
  for (const auto& t : templates) run_docs.insert(t.doc);
  for (size_t i = 0; i < docs.size(); ++i) {
    const model::Node* kind = docs[i].root.Get("kind");
    bool is_run = kind && kind->scalar == "PipelineRun";
    if (is_run && !run_docs.count(i)) continue;  // not started: not checked either
    STRAKE_TRY(Expand(docs[i].root, docs[i].file, "", vars, is_run, "", untrusted[i]));
  }

  // The Pipelines and Tasks move out; the runs (all `templates` point at)
  // stay in `docs`.
  std::vector<model::Document> others;
  for (auto& doc : docs) {
    const model::Node* kind = doc.root.Get("kind");
    if (!kind || kind->scalar != "PipelineRun") others.push_back(std::move(doc));
  }
  model::Diagnostics diags;
  std::vector<model::Resource> resources = model::Decode(others, diags);
  if (diags.HasErrors()) return Fail(diags.ErrorText());

  for (const auto& t : templates) {
    const model::Document& d = docs[t.doc];
    auto decoded = model::Decode({d}, diags);
    if (diags.HasErrors() || decoded.size() != 1) return Fail(diags.ErrorText());
    PacRun r;
    r.file = d.file;
    r.run = std::move(decoded[0]);
    r.resources = resources;
    r.untrusted = untrusted[t.doc];
    // A name that is the same each time this push is seen, so a push
    // handled twice (a restart before its record was written) starts once.
    std::string prefix = t.prefix.substr(0, 63 - 9);
    std::string name =
        prefix + Sha256Hex(fmt::format("{}\n{}\n{}\n{}\n{}\n{}", push.repo_url, push.branch,
                                       push.before, push.sha, d.file, t.prefix))
                     .substr(0, 8);
    auto& pr = std::get<model::PipelineRun>(r.run.value);
    for (model::ObjectMeta* m : {&r.run.meta, &pr.meta}) {
      m->name = name;
      m->generate_name.clear();
      m->ns = push.ns;
    }
    std::string original = t.prefix;
    while (!original.empty() && original.back() == '-') original.pop_back();
    std::map<std::string, std::string> labels = {
        {"app.kubernetes.io/managed-by", "pipelinesascode.tekton.dev"},
        {std::string(kPac) + "event-type", "push"},
        {std::string(kPac) + "sha", push.sha},
        {std::string(kPac) + "repository", push.repository},
        {std::string(kPac) + "original-prname", original.substr(0, 63)},
    };
    model::Json& meta = r.run.raw["metadata"];
    meta["name"] = name;
    meta.erase("generateName");
    meta["namespace"] = push.ns;
    for (const auto& [k, v] : labels) {
      meta["labels"][k] = v;
      r.run.meta.labels[k] = v;
      pr.meta.labels[k] = v;
    }
    const std::map<std::string, std::string> annotations = {
        {std::string(kPac) + "branch", push.branch},
        {std::string(kPac) + "repo-url", push.repo_url},
        {std::string(kPac) + "sha", push.sha},
        {std::string(kPac) + "sender", push.sender},
        {"strake.dev/pac-file", d.file}};
    for (const auto& [k, v] : annotations) {
      meta["annotations"][k] = v;
      r.run.meta.annotations[k] = v;
      pr.meta.annotations[k] = v;
    }

    // The workspace the pushed commit is checked out into.
    std::string wanted = pr.meta.annotations.count("strake.dev/source-workspace")
                             ? pr.meta.annotations.at("strake.dev/source-workspace")
                             : "";
    for (const auto& b : pr.spec.workspaces) {
      bool fresh = b.kind == model::WorkspaceBinding::Kind::kEmptyDir ||
                   b.kind == model::WorkspaceBinding::Kind::kVolumeClaimTemplate;
      if (b.name == (wanted.empty() ? "source" : wanted) && fresh) r.source_workspace = b.name;
    }
    if (!wanted.empty() && r.source_workspace.empty()) {
      return Failf(
          "{}: metadata.annotations.strake.dev/source-workspace: {} is not a workspace "
          "of spec.workspaces bound to an emptyDir or volumeClaimTemplate",
          model::PlaceOf(d.file, d.root), Quote(wanted));
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace strake::gitops
