// Ctx and Fields: the strict decoding helpers every kind's decoder uses.
//
// A Ctx reads scalars, lists and maps of one document and reports each
// problem with file:line:col and the field path; a Fields takes the keys of
// one mapping by name and reports whatever is left as an unknown field,
// with a near-miss suggestion. Internal to model/; not thread-safe.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/duration.h"
#include "base/strings.h"
#include "model/core.h"
#include "model/diag.h"
#include "model/node.h"

namespace strake::model {

// Decoding context: one document.
class Ctx {
 public:
  Ctx(const std::string& file, Diagnostics& diags) : file_(file), diags_(diags) {}

  void Error(const Node& at, const std::string& path, std::string msg) {
    diags_.Error(file_, at.mark, path, std::move(msg));
  }
  void Warning(const Node& at, const std::string& path, std::string msg) {
    diags_.Warning(file_, at.mark, path, std::move(msg));
  }
  Origin At(const Node& n, const std::string& path) const { return Origin{file_, n.mark, path}; }
  const std::string& file() const { return file_; }

  std::string Str(const Node& n, const std::string& path) {
    if (n.IsNull()) return "";
    if (!n.IsScalar()) {
      Error(n, path, fmt::format("expected a string, found a {}", n.TypeName()));
      return "";
    }
    return n.scalar;
  }

  bool Bool(const Node& n, const std::string& path) {
    if (n.IsScalar() && !n.quoted && (n.scalar == "true" || n.scalar == "false")) {
      return n.scalar == "true";
    }
    Error(n, path, fmt::format("expected true or false, found {}", Describe(n)));
    return false;
  }

  int Int(const Node& n, const std::string& path, int min, int max) {
    if (n.IsScalar() && !n.quoted) {
      try {
        size_t used = 0;
        long v = std::stol(n.scalar, &used);
        if (used == n.scalar.size()) {
          if (v < min || v > max) {
            Error(n, path, fmt::format("must be between {} and {}, found {}", min, max, v));
            return min;
          }
          return static_cast<int>(v);
        }
      } catch (const std::exception&) {
      }
    }
    Error(n, path, fmt::format("expected an integer, found {}", Describe(n)));
    return min;
  }

  std::optional<Millis> Duration(const Node& n, const std::string& path) {
    std::string s = Str(n, path);
    if (s.empty()) return std::nullopt;
    auto d = ParseDuration(s);
    if (!d) {
      Error(n, path, d.error().message);
      return std::nullopt;
    }
    if (d->count() < 0) {
      Error(n, path, "must not be negative");
      return std::nullopt;
    }
    return *d;
  }

  std::vector<std::string> StrList(const Node& n, const std::string& path) {
    std::vector<std::string> out;
    if (n.IsNull()) return out;
    if (!n.IsSeq()) {
      Error(n, path, fmt::format("expected a list, found a {}", n.TypeName()));
      return out;
    }
    for (size_t i = 0; i < n.seq.size(); ++i) {
      out.push_back(Str(n.seq[i], fmt::format("{}[{}]", path, i)));
    }
    return out;
  }

  std::map<std::string, std::string> StrMap(const Node& n, const std::string& path) {
    std::map<std::string, std::string> out;
    if (n.IsNull()) return out;
    if (!n.IsMap()) {
      Error(n, path, fmt::format("expected a mapping, found a {}", n.TypeName()));
      return out;
    }
    for (const auto& [k, v] : n.map) out[k.scalar] = Str(v, path + "." + k.scalar);
    return out;
  }

  // Calls fn(item, path) for each element of a list field.
  void List(const Node& n, const std::string& path,
            const std::function<void(const Node&, const std::string&)>& fn) {
    if (n.IsNull()) return;
    if (!n.IsSeq()) {
      Error(n, path, fmt::format("expected a list, found a {}", n.TypeName()));
      return;
    }
    for (size_t i = 0; i < n.seq.size(); ++i) fn(n.seq[i], fmt::format("{}[{}]", path, i));
  }

  // Names that become file names or paths (object names, namespaces, claim
  // and volume names, keys, subPaths) are checked as Kubernetes checks them;
  // a bad one is an error at n. Returns whether the value passed.
  // kPathSegment: what Kubernetes takes for RBAC objects' names
  // ("system:auth-delegator"): any name but "." and ".." with no '/' or '%'.
  enum class NameRule { kDnsLabel, kDnsSubdomain, kConfigMapKey, kLocalPath, kPathSegment };
  bool CheckName(const Node& n, const std::string& path, std::string_view value, NameRule rule) {
    switch (rule) {
      case NameRule::kDnsLabel:
        if (IsDnsLabel(value)) return true;
        Error(n, path,
              fmt::format("invalid name {}: must be a DNS-1123 label (at most 63 lower case "
                          "alphanumerics or '-', starting and ending alphanumeric)",
                          Quote(value.substr(0, 300))));
        return false;
      case NameRule::kDnsSubdomain:
        if (IsDnsSubdomain(value)) return true;
        Error(n, path,
              fmt::format("invalid name {}: must be a DNS-1123 subdomain (at most 253 lower "
                          "case alphanumerics, '-' or '.', each part starting and ending "
                          "alphanumeric)",
                          Quote(value.substr(0, 300))));
        return false;
      case NameRule::kPathSegment:
        if (!value.empty() && value.size() <= 253 && value != "." && value != ".." &&
            value.find_first_of("/%") == std::string_view::npos) {
          return true;
        }
        Error(n, path,
              fmt::format("invalid name {}: at most 253 characters, no '/' or '%', and neither "
                          "\".\" nor \"..\"",
                          Quote(value.substr(0, 300))));
        return false;
      case NameRule::kConfigMapKey:
        if (IsConfigMapKey(value)) return true;
        Error(n, path,
              fmt::format("invalid key {}: at most 253 alphanumerics, '-', '_' or '.', and "
                          "neither \".\" nor starting with \"..\"",
                          Quote(value.substr(0, 300))));
        return false;
      case NameRule::kLocalPath:
        if (IsLocalDescendingPath(value)) return true;
        Error(n, path,
              fmt::format("{} must be a relative path that stays inside its volume (no "
                          "leading '/', no \"..\")",
                          Quote(value.substr(0, 300))));
        return false;
    }
    return false;
  }

  static std::string Describe(const Node& n) {
    if (n.IsScalar()) return Quote(n.scalar);
    return "a " + n.TypeName();
  }

 private:
  const std::string& file_;
  Diagnostics& diags_;
};

// The fields of one mapping: each is taken by name; whatever is left at the
// end is an unknown field.
class Fields {
 public:
  Fields(Ctx& ctx, const Node& node, std::string path)
      : ctx_(ctx), node_(node), path_(std::move(path)) {
    if (!node.IsMap() && !node.IsNull()) {
      ctx.Error(node, path_, fmt::format("expected a mapping, found a {}", node.TypeName()));
      ok_ = false;
    }
  }
  Fields(const Fields&) = delete;
  Fields& operator=(const Fields&) = delete;

  ~Fields() {
    if (!ok_) return;
    for (const auto& [k, v] : node_.map) {
      if (known_.count(k.scalar)) continue;
      std::vector<std::string> names(known_.begin(), known_.end());
      ctx_.Error(k, Sub(k.scalar),
                 fmt::format("unknown field \"{}\"{}", k.scalar, DidYouMean(k.scalar, names)));
    }
  }

  bool ok() const { return ok_; }
  const Node& node() const { return node_; }
  std::string Sub(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  // The value of key, or nullptr; the key counts as known.
  const Node* Get(const std::string& key) {
    known_.insert(key);
    return ok_ ? node_.Get(key) : nullptr;
  }

  // A required field: reports it missing.
  const Node* Need(const std::string& key) {
    const Node* n = Get(key);
    if (ok_ && (!n || n->IsNull() || (n->IsScalar() && n->scalar.empty()))) {
      ctx_.Error(node_, Sub(key), "required field is missing");
      return nullptr;
    }
    return n;
  }

  std::string Str(const std::string& key) {
    const Node* n = Get(key);
    return n ? ctx_.Str(*n, Sub(key)) : "";
  }

  // Calls fn(item, path) for each element of the list field `key`, if set.
  // The items are the document's own nodes: a decoder may keep pointers to
  // them (a copy of the list would be gone when this returns).
  void List(const std::string& key,
            const std::function<void(const Node&, const std::string&)>& fn) {
    if (const Node* n = Get(key)) ctx_.List(*n, Sub(key), fn);
  }

  void Ignore(const std::set<std::string>& keys,
              std::string_view why = "only matters on a cluster") {
    for (const auto& k : keys) {
      if (const Node* n = Get(k)) {
        ctx_.Warning(*n, Sub(k), fmt::format("\"{}\" is ignored: it {}", k, why));
      }
    }
  }

  void NotSupported(const std::string& key, std::string_view what) {
    if (const Node* n = Get(key)) {
      if (n->IsNull()) return;
      ctx_.Error(*n, Sub(key), fmt::format("not supported: {}", what));
    }
  }

 private:
  Ctx& ctx_;
  const Node& node_;
  std::string path_;
  std::set<std::string> known_;
  bool ok_ = true;
};

// Kubernetes env entries (name, value, valueFrom ConfigMap/Secret keys).
inline KeyRef DecodeKeyRef(Ctx& ctx, const Node& n, const std::string& path) {
  Fields f(ctx, n, path);
  KeyRef r;
  if (const Node* v = f.Need("name")) r.name = ctx.Str(*v, f.Sub("name"));
  if (const Node* v = f.Need("key")) r.key = ctx.Str(*v, f.Sub("key"));
  if (const Node* v = f.Get("optional")) r.optional = ctx.Bool(*v, f.Sub("optional"));
  return r;
}

// The pod fields the downward API reads (valueFrom.fieldRef.fieldPath), as
// Kubernetes takes them.
inline bool IsDownwardField(std::string_view p) {
  for (std::string_view f : {"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                             "spec.serviceAccountName", "status.podIP", "status.podIPs",
                             "status.hostIP", "status.hostIPs"}) {
    if (p == f) return true;
  }
  for (std::string_view m : {"metadata.labels['", "metadata.annotations['"}) {
    if (p.size() > m.size() + 2 && p.substr(0, m.size()) == m && p.substr(p.size() - 2) == "']")
      return true;
  }
  return false;
}

// `field_refs`: whether valueFrom.fieldRef is taken (a pod's containers) or
// refused (a Tekton step's).
inline std::vector<EnvVar> DecodeEnv(Ctx& ctx, const Node* n, const std::string& path,
                                     bool field_refs = false) {
  std::vector<EnvVar> out;
  if (!n) return out;
  ctx.List(*n, path, [&](const Node& item, const std::string& p) {
    Fields f(ctx, item, p);
    EnvVar e;
    if (const Node* v = f.Need("name")) e.name = ctx.Str(*v, f.Sub("name"));
    e.value = f.Str("value");
    if (const Node* vf = f.Get("valueFrom")) {
      Fields vff(ctx, *vf, f.Sub("valueFrom"));
      if (const Node* r = vff.Get("configMapKeyRef")) {
        e.config_map_key_ref = DecodeKeyRef(ctx, *r, vff.Sub("configMapKeyRef"));
      }
      if (const Node* r = vff.Get("secretKeyRef")) {
        e.secret_key_ref = DecodeKeyRef(ctx, *r, vff.Sub("secretKeyRef"));
      }
      if (!field_refs) {
        vff.NotSupported("fieldRef", "fieldRef reads pod fields that exist only on a cluster");
      } else if (const Node* r = vff.Get("fieldRef")) {
        Fields rf(ctx, *r, vff.Sub("fieldRef"));
        rf.Get("apiVersion");
        if (const Node* fp = rf.Need("fieldPath")) {
          e.field_path = ctx.Str(*fp, rf.Sub("fieldPath"));
          if (!IsDownwardField(e.field_path)) {
            ctx.Error(*fp, rf.Sub("fieldPath"),
                      fmt::format("{} is not a field the downward API gives (metadata.name, "
                                  "metadata.namespace, metadata.uid, metadata.labels['KEY'], "
                                  "metadata.annotations['KEY'], spec.nodeName, "
                                  "spec.serviceAccountName, status.podIP(s), status.hostIP(s))",
                                  Quote(e.field_path)));
          }
        }
      }
      vff.NotSupported("resourceFieldRef", "resourceFieldRef exists only on a cluster");
    }
    out.push_back(std::move(e));
  });
  return out;
}

// Kubernetes envFrom entries: prefix, and one of configMapRef and secretRef.
inline std::vector<EnvFromSource> DecodeEnvFrom(Ctx& ctx, const Node* n, const std::string& path) {
  std::vector<EnvFromSource> out;
  if (!n) return out;
  ctx.List(*n, path, [&](const Node& item, const std::string& p) {
    Fields f(ctx, item, p);
    EnvFromSource e;
    e.prefix = f.Str("prefix");
    int refs = 0;
    for (const char* key : {"configMapRef", "secretRef"}) {
      const Node* r = f.Get(key);
      if (!r) continue;
      ++refs;
      Fields rf(ctx, *r, f.Sub(key));
      if (const Node* v = rf.Need("name")) e.name = ctx.Str(*v, rf.Sub("name"));
      if (const Node* v = rf.Get("optional")) e.optional = ctx.Bool(*v, rf.Sub("optional"));
      e.secret = std::string_view(key) == "secretRef";
    }
    if (refs != 1 && f.ok()) ctx.Error(item, p, "needs exactly one of configMapRef and secretRef");
    out.push_back(std::move(e));
  });
  return out;
}

}  // namespace strake::model
